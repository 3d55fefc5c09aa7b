/*  bazaar-order - an order replica. */
#include "cli.h"
#include "consensus.h"
#include "journal.h"
#include "log.h"
#include "replica.h"
#include "sockets.h"
#include "store.h"

#include <czmq.h>
#include <signal.h>

static const cli_option_t s_options[] = {
    {"id", "1", "replica id, a unique positive integer; the highest live id leads"},
    {"broker", "tcp://127.0.0.1:5555", "broker endpoint"},
    {"pub", "", "PUB endpoint for proposals and committed orders (default tcp://127.0.0.1:5600+id)"},
    {"rep", "", "REP endpoint for range requests (default tcp://127.0.0.1:5700+id)"},
    {"data", "./data", "data directory (order-<id>.log)"},
    {"sync", "data", "data: fdatasync every commit; none: no sync (benchmarks only, unsafe)"},
    {"members", "1,2,3", "the replica ids of the consensus (every replica lists the same; a majority commits)"},
    {"new", NULL, "a new system's first start: with no state in --data, vote at once (without it such a replica joins a running system and votes once it holds its leader's log)"},
    {"stocks", "", "stock list 'name price [quantity]' for a first start (default: the built-in ten); kept in order-<id>.stocks"},
    {"timeout", "300", "quorum timeout, ms: a leader that hears no majority this long steps down"},
    {"keys", "", "CURVE key directory made by 'bazaar keys DIR' (default: none, no CURVE)"},
    {"idempotency-trades", "1000000", "keep the Idempotency-Keys of at least this many last trades in memory"},
    {"idempotency-hours", "24", "... and of every trade this recent (at most 10,000,000 keys)"},
    {NULL, NULL, NULL}};

//  "1,2,3": the members, which must include self. Returns 0 or -1 (said).
static int
s_parse_members (const char *text, uint32_t self, uint32_t *members, size_t *count)
{
    const char *cursor = text;
    bool has_self = false;
    *count = 0;
    while (*cursor) {
        char *end;
        unsigned long id = strtoul (cursor, &end, 10);
        if (end == cursor || id == 0 || id > 1000 || *count == CONSENSUS_MAX_MEMBERS
            || (*end && *end != ',')) {
            fprintf (stderr, "bazaar-order: --members must be 1 to %d ids from 1 to 1000, comma "
                     "separated, not '%s'\n", CONSENSUS_MAX_MEMBERS, text);
            return -1;
        }
        for (size_t i = 0; i < *count; i++)
            if (members[i] == id) {
                fprintf (stderr, "bazaar-order: --members lists %lu twice\n", id);
                return -1;
            }
        has_self |= id == self;
        members[(*count)++] = (uint32_t) id;
        cursor = *end ? end + 1 : end;
    }
    if (!has_self) {
        fprintf (stderr, "bazaar-order: --members '%s' does not list this replica's --id %u\n",
                 text, self);
        return -1;
    }
    return 0;
}

//  Opens the data directory and the log and serves until interrupted.
//  Returns the exit code.
static int
s_serve (cli_t *cli, replica_config_t *config, bool sync, tradelog_window_t *window)
{
    char error[512] = "";
    const char *data = cli_get (cli, "data");
    if (journal_make_dir (data)) {
        log_error ("cannot create %s: %s", data, strerror (errno));
        return 1;
    }
    char name[64], promise_path[PATH_MAX], joining_path[PATH_MAX];
    snprintf (name, sizeof (name), "order-%" PRIu64, config->replica_id);
    snprintf (promise_path, sizeof (promise_path), "%s/%s.promise", data, name);
    snprintf (joining_path, sizeof (joining_path), "%s/%s.joining", data, name);
    config->promise_path = promise_path;
    config->joining_path = joining_path;
    config->new_system = cli_flag (cli, "new");
    const char *stocks = cli_get (cli, "stocks");
    store_config_t store_config = {.dir = data, .name = name, .log_suffix = "log",
                                   .stamped = true, .stocks_file = *stocks ? stocks : NULL,
                                   .sync = sync, .key_window = window};
    store_t *store = store_open_config (&store_config, error, sizeof (error));
    if (!store) {
        log_error ("%s", error);
        return 1;
    }
    for (size_t i = 0; store_recovered (store, i); i++)
        log_warn ("%s", store_recovered (store, i));
    replica_t *replica = replica_new (&store, config, error, sizeof (error));
    if (!replica) {
        log_error ("%s", error);
        store_destroy (&store);
        return 1;
    }
    log_info ("replica %" PRIu64 " via %s, orders published on %s, ranges on %s",
              config->replica_id, config->broker, config->pub, config->rep);
    int rc = replica_run (replica);
    log_info ("exiting");
    replica_destroy (&replica);
    return rc ? 1 : 0;
}

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
        || cli_get_int (cli, "timeout", 10, 60000, &timeout) || cli_get_sync (cli, &sync)) {
        cli_destroy (&cli);
        return 2;
    }
    if (!cli_get_endpoint (cli, "broker", false) || !cli_get_endpoint (cli, "pub", true)
        || !cli_get_endpoint (cli, "rep", true)) {
        cli_destroy (&cli);
        return 2;
    }
    uint32_t members[CONSENSUS_MAX_MEMBERS];
    size_t n_members = 0;
    if (s_parse_members (cli_get (cli, "members"), (uint32_t) id, members, &n_members)) {
        cli_destroy (&cli);
        return 2;
    }
    char pub[64], rep[64];
    snprintf (pub, sizeof (pub), "tcp://127.0.0.1:%d", 5600 + (int) id);
    snprintf (rep, sizeof (rep), "tcp://127.0.0.1:%d", 5700 + (int) id);
    replica_config_t config = {.replica_id = (uint64_t) id,
                               .broker = cli_get (cli, "broker"),
                               .pub = *cli_get (cli, "pub") ? cli_get (cli, "pub") : pub,
                               .rep = *cli_get (cli, "rep") ? cli_get (cli, "rep") : rep,
                               .members = members,
                               .n_members = n_members,
                               .timeout_ms = timeout};
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
    //  From here every exit stops the ZAP handler first: czmq's exit-time
    //  cleanup of a live one aborts.
    int rc = s_serve (cli, &config, sync, &window);
    sockets_shutdown ();
    cli_destroy (&cli);
    return rc;
}
