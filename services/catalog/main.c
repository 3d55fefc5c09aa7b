/*  bazaar-catalog - learns the committed trades; answers lookups; publishes changes. */
#include "catalog.h"
#include "cli.h"
#include "log.h"
#include "sockets.h"

#include <czmq.h>
#include <signal.h>

static const cli_option_t s_options[] = {
    {"broker", "tcp://127.0.0.1:5555", "broker endpoint"},
    {"pub", "tcp://127.0.0.1:5556", "PUB endpoint for cache invalidations"},
    {"data", "./data", "data directory (NAME.stocks, NAME.journal)"},
    //  Several catalogs on one host: a distinct name or data directory
    //  each (the journal is locked while open: a second catalog on the
    //  same files stops with a message).
    {"name", "catalog", "this catalog's file names in the data directory"},
    {"stocks", "", "file of 'name price [quantity]' lines used when no data exists"},
    {"sync", "data", "data: fdatasync the journal every 100 ms (a learner copies again what a machine crash lost); none: never"},
    {"keys", "", "CURVE key directory made by 'bazaar keys DIR' (default: none, no CURVE)"},
    {NULL, NULL, NULL}};

//  Opens the store and serves until interrupted. Returns the exit code.
static int
s_serve (cli_t *cli, const char *broker, const char *pub, bool sync)
{
    char error[512] = "";
    //  No idempotency keys: the leader deduplicates, a learner applies
    //  what committed (32 bytes a trade in memory, not 91).
    tradelog_window_t no_keys = TRADELOG_WINDOW_NONE;
    const char *stocks = cli_get (cli, "stocks");
    const char *name = cli_get (cli, "name");
    if (!*name || strchr (name, '/')) {
        log_error ("--name must be a file name (no '/'), got '%s'", name);
        return 2;
    }
    store_config_t config = {.dir = cli_get (cli, "data"), .name = name,
                             .log_suffix = "journal", .stocks_file = *stocks ? stocks : NULL,
                             .sync = sync, .key_window = &no_keys};
    store_t *store = store_open_config (&config, error, sizeof (error));
    if (!store) {
        log_error ("%s", error);
        return 1;
    }
    for (size_t i = 0; store_recovered (store, i); i++)
        log_warn ("%s", store_recovered (store, i));
    log_info ("%" PRIu64 " trades in %s.journal, under %s", store_trade_count (store), name,
              cli_get (cli, "data"));
    catalog_t *catalog = catalog_new (&store, broker, pub, error, sizeof (error));
    if (!catalog) {
        log_error ("%s", error);
        store_destroy (&store);
        return 1;
    }
    log_info ("serving catalog via %s, invalidations on %s", broker, pub);
    int rc = catalog_run (catalog);
    log_info ("exiting");
    catalog_destroy (&catalog);
    return rc ? 1 : 0;
}

int
main (int argc, char **argv)
{
    int exit_code;
    cli_t *cli = cli_new ("catalog", "The Bazaar catalog: stocks, trades, invalidations.",
                          s_options, argc, argv, &exit_code);
    if (!cli)
        return exit_code;
    bool sync;
    const char *broker = cli_get_endpoint (cli, "broker", false);
    const char *pub = cli_get_endpoint (cli, "pub", false);
    if (!broker || !pub || cli_get_sync (cli, &sync)) {
        cli_destroy (&cli);
        return 2;
    }
    zsys_init ();
    //  A write past RLIMIT_FSIZE is then an error (EFBIG) that stops the
    //  process with a message, not a signal that kills it silently.
    signal (SIGXFSZ, SIG_IGN);
    zsys_set_logstream (NULL);
    char error[512] = "";
    if (sockets_setup (cli_get (cli, "keys"), "catalog", true, error, sizeof (error))) {
        log_error ("%s", error);
        cli_destroy (&cli);
        return 2;
    }
    //  From here every exit stops the ZAP handler first: czmq's exit-time
    //  cleanup of a live one aborts.
    int rc = s_serve (cli, broker, pub, sync);
    sockets_shutdown ();
    cli_destroy (&cli);
    return rc;
}
