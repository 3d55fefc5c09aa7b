/*  bazaar-order - an order replica. */
#include "cli.h"
#include "journal.h"
#include "log.h"
#include "order.h"
#include "sockets.h"

#include <czmq.h>
#include <signal.h>

static const cli_option_t s_options[] = {
    {"id", "1", "replica id, a unique positive integer; the highest live id leads"},
    {"broker", "tcp://127.0.0.1:5555", "broker endpoint"},
    {"pub", "", "PUB endpoint for committed orders (default tcp://127.0.0.1:5600+id)"},
    {"rep", "", "REP endpoint for range requests (default tcp://127.0.0.1:5700+id)"},
    {"data", "./data", "data directory (order-<id>.log)"},
    {"sync", "data", "data: fdatasync every commit; none: no sync (benchmarks only, unsafe)"},
    {"catalog-timeout", "1500", "ms to wait for the catalog (and for a gap in the log to fill) before answering 503"},
    {"keys", "", "CURVE key directory made by 'bazaar keys DIR' (default: none, no CURVE)"},
    {"idempotency-trades", "1000000", "keep the Idempotency-Keys of at least this many last trades in memory"},
    {"idempotency-hours", "24", "... and of every trade this recent (at most 10,000,000 keys)"},
    {"follower-ack", "on", "on: answer a trade only after an in-sync follower holds it; off: leader's own sync only (benchmarks)"},
    {NULL, NULL, NULL}};

int
main (int argc, char **argv)
{
    int exit_code;
    cli_t *cli = cli_new ("order", "A Bazaar order replica.", s_options, argc, argv, &exit_code);
    if (!cli)
        return exit_code;
    int64_t id, timeout;
    bool sync;
    tradelog_window_t window = {.max_keys = TRADELOG_KEYS_MAX};
    if (cli_get_key_window (cli, &window.trades, &window.age_ms)
        || cli_get_int (cli, "id", 1, 1000, &id)
        || cli_get_int (cli, "catalog-timeout", 10, 60000, &timeout) || cli_get_sync (cli, &sync)) {
        cli_destroy (&cli);
        return 2;
    }
    if (!cli_get_endpoint (cli, "broker", false) || !cli_get_endpoint (cli, "pub", true)
        || !cli_get_endpoint (cli, "rep", true)) {
        cli_destroy (&cli);
        return 2;
    }
    const char *follower_ack = cli_get (cli, "follower-ack");
    if (!streq (follower_ack, "on") && !streq (follower_ack, "off")) {
        fprintf (stderr, "order: --follower-ack must be on or off, not '%s'\n", follower_ack);
        cli_destroy (&cli);
        return 2;
    }
    char pub[64], rep[64];
    snprintf (pub, sizeof (pub), "tcp://127.0.0.1:%d", 5600 + (int) id);
    snprintf (rep, sizeof (rep), "tcp://127.0.0.1:%d", 5700 + (int) id);
    order_config_t config = {.replica_id = (uint64_t) id,
                             .broker = cli_get (cli, "broker"),
                             .pub = *cli_get (cli, "pub") ? cli_get (cli, "pub") : pub,
                             .rep = *cli_get (cli, "rep") ? cli_get (cli, "rep") : rep,
                             .catalog_timeout_ms = timeout,
                             .follower_ack = streq (follower_ack, "on")};
    zsys_init ();
    //  A write past RLIMIT_FSIZE is then an error (EFBIG) that stops the
    //  process with a message, not a signal that kills it silently.
    signal (SIGXFSZ, SIG_IGN);
    zsys_set_logstream (NULL);
    char error[512] = "";
    if (sockets_setup (cli_get (cli, "keys"), "order", true, error, sizeof (error))) {
        log_error ("%s", error);
        cli_destroy (&cli);
        return 2;
    }
    const char *data = cli_get (cli, "data");
    if (journal_make_dir (data)) {
        log_error ("cannot create %s: %s", data, strerror (errno));
        cli_destroy (&cli);
        return 1;
    }
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/order-%" PRIu64 ".log", data, config.replica_id);
    tradelog_t *log = tradelog_open (path, sync, &window, error, sizeof (error));
    if (!log) {
        log_error ("%s", error);
        cli_destroy (&cli);
        return 1;
    }
    order_t *order = order_new (&log, &config, error, sizeof (error));
    if (!order) {
        log_error ("%s", error);
        tradelog_destroy (&log);
        cli_destroy (&cli);
        return 1;
    }
    log_info ("replica %" PRId64 " via %s, orders published on %s, ranges on %s", id,
              config.broker, config.pub, config.rep);
    int rc = order_run (order);
    log_info ("exiting");
    order_destroy (&order);
    sockets_shutdown ();
    cli_destroy (&cli);
    return rc ? 1 : 0;
}
