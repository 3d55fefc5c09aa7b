/*  fill.c - a data directory holding COUNT committed trades, as if the
    system had taken them: for the benchmark of a full system (SPEC
    section 7: latency, throughput, restart time and memory with
    1,000,000 orders).

        fill DIR COUNT [REPLICAS]

    DIR must hold no catalog.journal and no order-1.log yet (it is
    created if missing). The files are what the consensus design
    (docs/DESIGN.md "Consensus") leaves after a leader of epoch 1 proposed
    COUNT trades, a majority held each, and the catalog learned them all:
     1. The catalog's store opens DIR (store_open, as bazaar-catalog does
        at its first start): catalog.stocks, the SPEC's initial ten
        stocks, and an empty catalog.journal.
     2. COUNT trades numbered 0 .. COUNT-1 are appended to catalog.journal
        through the tradelog (TRADEREC, what the catalog's learner
        writes): trade n is 1 share of the stock n % 10 (in
        tests/bench/lib.sh's trade.lua order: apple, tesla, ...), a sell
        when (n / 10) is even and a buy otherwise, so each stock goes
        1000, 1001, 1000, ...; its idempotency key is the gateway's
        format, gw-<prefix>-<n>, with a fixed prefix no gateway picks in
        practice (gateways pick theirs at random). Synced every
        FILL_SYNC_EVERY trades.
     3. The same trades go to replica 1's store, opened as bazaar-order
        opens it (store_open_config, stamped: order-1.stocks and
        order-1.log, ORDEREC records): each with the stamp of an entry
        proposed under epoch 1 (2e + 1 = 3, consensus.h) and the commit
        position n (everything before it committed).
     4. order-1.log and order-1.stocks are copied to order-2 .. order-
        REPLICAS (3), each written to a .tmp file, fdatasynced and
        renamed: replicas that took the same entries hold the same bytes.
     5. order-N.promise for every replica (promise_open, promise_store):
        epoch 1 promised, commit position COUNT.
     6. Check: the catalog's store replays catalog.journal and every
        replica's store its order log (each trade must apply; each
        stock's quantity must be what step 2 computed; COUNT trades, the
        last carrying commit position COUNT - 1); every promise file
        reopens with (1, COUNT).

    Prints one line: "fill: COUNT trades, B bytes in catalog.journal, ..."
    and exits 0, or prints why not on stderr and exits 1 (2 for bad usage).
*/
#include "store.h"
#include "journal.h"
#include "msgs.h"
#include "promise.h"
#include "tradelog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILL_KEY_PREFIX 0xf1110000f1110000ULL   //  trades.sh retries a trade with its key
#define FILL_SYNC_EVERY 65536
#define FILL_COUNT_MAX 100000000ULL
#define FILL_REPLICAS_MAX 9
#define FILL_STOCKS 10
#define FILL_COPY_CHUNK (1 << 20)
#define FILL_EPOCH 1                          //  the epoch whose leader proposed every trade
#define FILL_STAMP (2 * FILL_EPOCH + 1)       //  consensus.h: proposed under FILL_EPOCH

//  The order trade.lua cycles through (tests/bench/lib.sh).
static const char *const s_names[FILL_STOCKS] = {
    "apple", "tesla", "ford", "amazon", "nvidia", "intel", "meta", "nike", "amc", "gamestop",
};

typedef struct {
    const char *dir;
    uint64_t count;
    unsigned replicas;
    uint64_t quantity[FILL_STOCKS];   //  what each stock must hold after the trades
    char error[2 * PATH_MAX + 128];
} fill_t;

//  Step 1: catalog.stocks and an empty catalog.journal, written by the
//  catalog's own store; reads the initial quantities. Returns 0 or -1.
//  Replica id's store in dir, as bazaar-order opens it (services/order/
//  main.c): order-<id>.stocks and the stamped order-<id>.log. Returns the
//  store or NULL (error set).
static store_t *
s_open_replica (fill_t *self, unsigned id)
{
    char name[32];
    snprintf (name, sizeof (name), "order-%u", id);
    store_config_t config = {.dir = self->dir, .name = name, .log_suffix = "log",
                             .stamped = true, .sync = true};
    return store_open_config (&config, self->error, sizeof (self->error));
}

//  Step 1: catalog.stocks and an empty catalog.journal, written by the
//  catalog's own store; reads the initial quantities. Returns 0 or -1.
static int
s_create_store (fill_t *self)
{
    const char *taken[] = {"catalog.journal", "order-1.log"};
    for (size_t i = 0; i < sizeof (taken) / sizeof (taken[0]); i++) {
        char path[PATH_MAX];
        snprintf (path, sizeof (path), "%s/%s", self->dir, taken[i]);
        if (access (path, F_OK) == 0) {
            snprintf (self->error, sizeof (self->error),
                      "%s exists: fill wants a new data dir", path);
            return -1;
        }
    }
    //  The catalog's store, opened as bazaar-catalog opens it: no keys.
    tradelog_window_t no_keys = TRADELOG_WINDOW_NONE;
    store_t *store = store_open (self->dir, NULL, true, &no_keys, self->error,
                                sizeof (self->error));
    if (!store)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < FILL_STOCKS && rc == 0; i++) {
        const store_stock_t *stock = store_lookup (store, s_names[i]);
        if (stock)
            self->quantity[i] = stock->quantity;
        else {
            snprintf (self->error, sizeof (self->error), "no stock %s in the initial list",
                      s_names[i]);
            rc = -1;
        }
    }
    store_destroy (&store);
    return rc;
}

//  Trade number as step 2 describes it; updates the expected quantity.
static void
s_make_trade (fill_t *self, uint64_t number, msg_trade_t *trade)
{
    size_t stock = (size_t) (number % FILL_STOCKS);
    memset (trade, 0, sizeof (*trade));
    trade->number = number;
    snprintf (trade->name, sizeof (trade->name), "%s", s_names[stock]);
    trade->side = (number / FILL_STOCKS) % 2 == 0 ? MSG_SIDE_SELL : MSG_SIDE_BUY;
    trade->quantity = 1;
    snprintf (trade->key, sizeof (trade->key), "gw-%016" PRIx64 "-%" PRIu64,
              (uint64_t) FILL_KEY_PREFIX, number);
    if (trade->side == MSG_SIDE_SELL)
        self->quantity[stock]++;
    else
        self->quantity[stock]--;
}

//  Steps 2 and 3: the trades, into catalog.journal through the tradelog
//  and into replica 1's store (as its entries, stamped). Returns 0 or -1.
static int
s_append_trades (fill_t *self)
{
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/catalog.journal", self->dir);
    tradelog_t *log = tradelog_open (path, true, NULL, self->error, sizeof (self->error));
    if (!log)
        return -1;
    store_t *replica = s_open_replica (self, 1);
    if (!replica) {
        tradelog_destroy (&log);
        return -1;
    }
    int rc = tradelog_count (log) == 0 && store_trade_count (replica) == 0 ? 0 : -1;
    if (rc)
        snprintf (self->error, sizeof (self->error), "%s or order-1.log is not empty", path);
    for (uint64_t number = 0; number < self->count && rc == 0; number++) {
        msg_trade_t trade;
        s_make_trade (self, number, &trade);
        rc = tradelog_append (log, &trade);
        if (rc == 0)
            rc = store_append_entry (replica, &trade, FILL_STAMP, number);
        if (rc == 0 && ((number + 1) % FILL_SYNC_EVERY == 0 || number + 1 == self->count))
            rc = tradelog_sync (log) || store_sync (replica) ? -1 : 0;
        if (rc)
            snprintf (self->error, sizeof (self->error), "%s: trade %" PRIu64 ": %s", self->dir,
                      number, errno ? strerror (errno) : "refused");
    }
    store_destroy (&replica);
    tradelog_destroy (&log);
    return rc;
}

//  Copies from_fd to to_fd from the start. Returns 0 or -1 (errno set).
static int
s_copy_fd (int from_fd, int to_fd)
{
    char *buffer = malloc (FILL_COPY_CHUNK);
    if (!buffer)
        return -1;
    int rc = 0;
    while (rc == 0) {
        ssize_t got = read (from_fd, buffer, FILL_COPY_CHUNK);
        if (got <= 0) {
            rc = got < 0 ? -1 : 0;
            break;
        }
        for (ssize_t done = 0; done < got && rc == 0;) {
            ssize_t put = write (to_fd, buffer + done, (size_t) (got - done));
            if (put < 0)
                rc = -1;
            else
                done += put;
        }
    }
    free (buffer);
    return rc;
}

//  Copies DIR/from to DIR/to durably (tmp, fdatasync, rename, sync of the
//  dir). Returns 0 or -1.
static int
s_copy_file (fill_t *self, const char *from_name, const char *to_name)
{
    char from[PATH_MAX], to[PATH_MAX], tmp[PATH_MAX + 8];
    snprintf (from, sizeof (from), "%s/%s", self->dir, from_name);
    snprintf (to, sizeof (to), "%s/%s", self->dir, to_name);
    snprintf (tmp, sizeof (tmp), "%s.tmp", to);
    int from_fd = open (from, O_RDONLY | O_CLOEXEC);
    int to_fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = from_fd < 0 || to_fd < 0 ? -1 : 0;
    if (rc == 0)
        rc = s_copy_fd (from_fd, to_fd);
    if (rc == 0)
        rc = fdatasync (to_fd);
    int saved = errno;
    if (from_fd >= 0)
        close (from_fd);
    if (to_fd >= 0)
        close (to_fd);
    if (rc == 0)
        rc = rename (tmp, to);
    else
        errno = saved;
    if (rc == 0)
        rc = journal_sync_dir (self->dir);
    if (rc)
        snprintf (self->error, sizeof (self->error), "cannot copy %s to %s: %s", from, to,
                  strerror (errno));
    return rc;
}

//  Step 4: replica id's log and stocks, copied from replica 1's.
static int
s_copy_replica (fill_t *self, unsigned id)
{
    char log[32], stocks[32];
    snprintf (log, sizeof (log), "order-%u.log", id);
    snprintf (stocks, sizeof (stocks), "order-%u.stocks", id);
    return s_copy_file (self, "order-1.log", log) || s_copy_file (self, "order-1.stocks", stocks)
               ? -1 : 0;
}

//  Step 5: replica id's promise file, epoch FILL_EPOCH promised and every
//  trade committed. Returns 0 or -1.
static int
s_write_promise (fill_t *self, unsigned id)
{
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/order-%u.promise", self->dir, id);
    promise_t *promise = NULL;
    if (promise_open (path, &promise, self->error, sizeof (self->error)))
        return -1;
    int rc = promise_store (promise, FILL_EPOCH, self->count);
    if (rc)
        snprintf (self->error, sizeof (self->error), "%s: %s", path, strerror (errno));
    promise_destroy (&promise);
    return rc;
}

//  Step 6 for one store (the catalog's or a replica's, called what): it
//  replayed count trades to the quantities step 2 computed. Returns 0 or -1.
static int
s_check_store (fill_t *self, store_t *store, const char *what)
{
    if (store_trade_count (store) != self->count) {
        snprintf (self->error, sizeof (self->error), "%s replayed %" PRIu64 " trades, not %" PRIu64,
                  what, store_trade_count (store), self->count);
        return -1;
    }
    for (size_t i = 0; i < FILL_STOCKS; i++) {
        const store_stock_t *stock = store_lookup (store, s_names[i]);
        if (!stock || stock->quantity != self->quantity[i]) {
            snprintf (self->error, sizeof (self->error),
                      "%s replayed %s to %" PRIu64 ", not %" PRIu64, what, s_names[i],
                      stock ? stock->quantity : 0, self->quantity[i]);
            return -1;
        }
    }
    return 0;
}

//  Step 6: every store replays the trades, every replica's last record
//  carries commit COUNT - 1 and its promise file reads (FILL_EPOCH, COUNT).
static int
s_check (fill_t *self)
{
    tradelog_window_t no_keys = TRADELOG_WINDOW_NONE;
    store_t *store = store_open (self->dir, NULL, true, &no_keys, self->error,
                                sizeof (self->error));
    if (!store)
        return -1;
    int rc = s_check_store (self, store, "catalog.journal");
    store_destroy (&store);
    for (unsigned id = 1; id <= self->replicas && rc == 0; id++) {
        char what[32], path[PATH_MAX];
        snprintf (what, sizeof (what), "order-%u.log", id);
        store = s_open_replica (self, id);
        if (!store)
            return -1;
        rc = s_check_store (self, store, what);
        uint64_t carried = tradelog_carried_commit (store_log (store));
        if (rc == 0 && self->count > 0 && carried != self->count - 1) {
            snprintf (self->error, sizeof (self->error),
                      "%s carries commit %" PRIu64 ", not %" PRIu64, what, carried,
                      self->count - 1);
            rc = -1;
        }
        store_destroy (&store);
        promise_t *promise = NULL;
        snprintf (path, sizeof (path), "%s/order-%u.promise", self->dir, id);
        if (rc == 0 && promise_open (path, &promise, self->error, sizeof (self->error)))
            return -1;
        if (rc == 0 && (promise_epoch (promise) != FILL_EPOCH
                        || promise_commit (promise) != self->count)) {
            snprintf (self->error, sizeof (self->error), "%s holds epoch %" PRIu64
                      " commit %" PRIu64, path, promise_epoch (promise), promise_commit (promise));
            rc = -1;
        }
        promise_destroy (&promise);
    }
    return rc;
}

//  Parses an unsigned decimal in [min, max]. Returns 0 or -1.
static int
s_parse (const char *text, uint64_t min, uint64_t max, uint64_t *value)
{
    char *end = NULL;
    errno = 0;
    unsigned long long parsed = strtoull (text, &end, 10);
    if (errno || !*text || *end || *text == '-' || parsed < min || parsed > max)
        return -1;
    *value = parsed;
    return 0;
}

//  The size of DIR/name in bytes, or -1.
static long long
s_size (fill_t *self, const char *name)
{
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/%s", self->dir, name);
    struct stat st;
    return stat (path, &st) == 0 ? (long long) st.st_size : -1;
}

int
main (int argc, char **argv)
{
    fill_t self;
    memset (&self, 0, sizeof (self));
    uint64_t replicas = 3;
    if (argc < 3 || argc > 4 || s_parse (argv[2], 0, FILL_COUNT_MAX, &self.count)
        || (argc == 4 && s_parse (argv[3], 1, FILL_REPLICAS_MAX, &replicas))) {
        fprintf (stderr, "usage: fill DIR COUNT [REPLICAS]  (COUNT up to %llu, REPLICAS 1..%d, "
                 "default 3)\n", FILL_COUNT_MAX, FILL_REPLICAS_MAX);
        return 2;
    }
    self.dir = argv[1];
    self.replicas = (unsigned) replicas;
    int rc = s_create_store (&self) || s_append_trades (&self) ? -1 : 0;
    for (unsigned id = 2; id <= self.replicas && rc == 0; id++)
        rc = s_copy_replica (&self, id);
    for (unsigned id = 1; id <= self.replicas && rc == 0; id++)
        rc = s_write_promise (&self, id);
    if (rc == 0)
        rc = s_check (&self);
    if (rc) {
        fprintf (stderr, "fill: %s\n", self.error);
        return 1;
    }
    printf ("fill: %" PRIu64 " trades, %lld bytes in catalog.journal, %lld in each of %u order "
            "logs (epoch %d, all committed); replayed: quantities", self.count,
            s_size (&self, "catalog.journal"), s_size (&self, "order-1.log"), self.replicas,
            FILL_EPOCH);
    for (size_t i = 0; i < FILL_STOCKS; i++)
        printf (" %s %" PRIu64, s_names[i], self.quantity[i]);
    printf (", as computed\n");
    return 0;
}
