/*  bazaar-broker - routes requests from gateways to workers by service. */
#include "broker.h"
#include "cli.h"
#include "log.h"
#include "sockets.h"

#include <czmq.h>

static const cli_option_t s_options[] = {
    {"bind", "tcp://127.0.0.1:5555", "ROUTER endpoint clients and workers connect to"},
    {"broker", "", "same as --bind (every process takes --broker)"},
    {"tap", "tcp://127.0.0.1:5557", "PUB endpoint copying every routed message (\"\" for none)"},
    {"keys", "", "CURVE key directory made by 'bazaar keys DIR' (default: none, no CURVE)"},
    {"heartbeat-expiry", "1000", "ms without a heartbeat after which a worker is dead"},
    {NULL, NULL, NULL}};

int
main (int argc, char **argv)
{
    int exit_code;
    cli_t *cli = cli_new ("broker", "Routes Bazaar requests to catalog and order workers.",
                         s_options, argc, argv, &exit_code);
    if (!cli)
        return exit_code;
    int64_t expiry_ms;
    if (cli_get_int (cli, "heartbeat-expiry", 100, 3600000, &expiry_ms)) {
        cli_destroy (&cli);
        return 2;
    }
    zsys_init ();
    zsys_set_logstream (NULL);
    const char *bind = *cli_get (cli, "broker") ? cli_get_endpoint (cli, "broker", false)
                                                : cli_get_endpoint (cli, "bind", false);
    const char *tap = cli_get_endpoint (cli, "tap", true);
    if (!bind || !tap) {
        cli_destroy (&cli);
        return 2;
    }
    char error[512];
    if (sockets_setup (cli_get (cli, "keys"), "broker", true, error, sizeof (error))) {
        log_error ("%s", error);
        cli_destroy (&cli);
        return 2;
    }
    //  From here every exit stops the ZAP handler first: czmq's exit-time
    //  cleanup of a live one aborts.
    int rc = 0;
    broker_t *broker = broker_new (bind, tap, expiry_ms, error, sizeof (error));
    if (broker) {
        log_info ("routing on %s, tap on %s", bind, *tap ? tap : "(none)");
        broker_run (broker);
        log_info ("interrupted, exiting");
        broker_destroy (&broker);
    }
    else {
        log_error ("%s", error);
        rc = 1;
    }
    sockets_shutdown ();
    cli_destroy (&cli);
    return rc;
}
