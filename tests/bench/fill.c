/*  fill.c - a data directory holding COUNT committed trades, as if the
    system had taken them: for the benchmark of a full system (issue 13:
    latency, throughput, restart time and memory with 1,000,000 orders).

        fill DIR COUNT [REPLICAS]

    DIR must hold no catalog.journal yet (it is created if missing).
     1. The catalog's store opens DIR (store_open, as bazaar-catalog does
        at its first start): it writes catalog.stocks, the SPEC's initial
        ten stocks, and an empty catalog.journal.
     2. COUNT trades numbered 0 .. COUNT-1 are appended to catalog.journal
        through the tradelog (tradelog.h, the one writer of the format):
        trade n is 1 share of the stock n % 10 (in tests/bench/lib.sh's
        trade.lua order: apple, tesla, ...), a sell when (n / 10) is even
        and a buy otherwise, so each stock goes 1000, 1001, 1000, ...; its
        idempotency key is the gateway's format, gw-<prefix>-<n>, with a
        fixed prefix no gateway picks in practice (gateways pick theirs at
        random). Synced every FILL_SYNC_EVERY trades.
     3. catalog.journal is copied to order-1.log .. order-REPLICAS.log (3),
        each written to a .tmp file, fdatasynced and renamed: a replica
        that took the same trades holds the same bytes.
     4. Check: the store opens DIR again, replaying the journal as the
        catalog does (every trade must apply), and each stock's quantity
        must be what step 2 computed; each order log is opened as a
        tradelog and must hold COUNT trades.
    catalog.epoch is left to the catalog (it creates it at start).

    Prints one line: "fill: COUNT trades, B bytes per log, ..." and exits
    0, or prints why not on stderr and exits 1 (2 for bad usage).
*/
#include "store.h"
#include "journal.h"
#include "msgs.h"
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
static int
s_create_store (fill_t *self)
{
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/catalog.journal", self->dir);
    if (access (path, F_OK) == 0) {
        snprintf (self->error, sizeof (self->error), "%s exists: fill wants a new data dir",
                  path);
        return -1;
    }
    store_t *store = store_open (self->dir, NULL, true, NULL, self->error, sizeof (self->error));
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

//  Step 2: the trades, through the tradelog. Returns 0 or -1.
static int
s_append_trades (fill_t *self)
{
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/catalog.journal", self->dir);
    tradelog_t *log = tradelog_open (path, true, NULL, self->error, sizeof (self->error));
    if (!log)
        return -1;
    int rc = tradelog_count (log) == 0 ? 0 : -1;
    if (rc)
        snprintf (self->error, sizeof (self->error), "%s is not empty", path);
    for (uint64_t number = 0; number < self->count && rc == 0; number++) {
        msg_trade_t trade;
        s_make_trade (self, number, &trade);
        rc = tradelog_append (log, &trade);
        if (rc == 0 && ((number + 1) % FILL_SYNC_EVERY == 0 || number + 1 == self->count))
            rc = tradelog_sync (log);
        if (rc)
            snprintf (self->error, sizeof (self->error), "%s: trade %" PRIu64 ": %s", path,
                      number, errno ? strerror (errno) : "refused");
    }
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

//  Copies DIR/catalog.journal to DIR/name durably (tmp, fdatasync,
//  rename, sync of the dir). Returns 0 or -1.
static int
s_copy_log (fill_t *self, const char *name)
{
    char from[PATH_MAX], to[PATH_MAX], tmp[PATH_MAX + 8];
    snprintf (from, sizeof (from), "%s/catalog.journal", self->dir);
    snprintf (to, sizeof (to), "%s/%s", self->dir, name);
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

//  Step 4: the catalog's replay gives the quantities computed in step 2,
//  and every order log replays COUNT trades. Returns 0 or -1.
static int
s_check (fill_t *self)
{
    store_t *store = store_open (self->dir, NULL, true, NULL, self->error, sizeof (self->error));
    if (!store)
        return -1;
    int rc = store_trade_count (store) == self->count ? 0 : -1;
    if (rc)
        snprintf (self->error, sizeof (self->error),
                  "catalog replayed %" PRIu64 " trades, not %" PRIu64, store_trade_count (store),
                  self->count);
    for (size_t i = 0; i < FILL_STOCKS && rc == 0; i++) {
        const store_stock_t *stock = store_lookup (store, s_names[i]);
        if (!stock || stock->quantity != self->quantity[i]) {
            snprintf (self->error, sizeof (self->error),
                      "catalog replayed %s to %" PRIu64 ", not %" PRIu64, s_names[i],
                      stock ? stock->quantity : 0, self->quantity[i]);
            rc = -1;
        }
    }
    store_destroy (&store);
    for (unsigned id = 1; id <= self->replicas && rc == 0; id++) {
        char path[PATH_MAX];
        snprintf (path, sizeof (path), "%s/order-%u.log", self->dir, id);
        tradelog_t *log = tradelog_open (path, true, NULL, self->error, sizeof (self->error));
        if (!log)
            return -1;
        if (tradelog_count (log) != self->count) {
            snprintf (self->error, sizeof (self->error), "%s replayed %" PRIu64 " trades", path,
                      tradelog_count (log));
            rc = -1;
        }
        tradelog_destroy (&log);
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

int
main (int argc, char **argv)
{
    fill_t self;
    memset (&self, 0, sizeof (self));
    uint64_t replicas = 3;
    if (argc < 3 || argc > 4 || s_parse (argv[2], 0, FILL_COUNT_MAX, &self.count)
        || (argc == 4 && s_parse (argv[3], 0, FILL_REPLICAS_MAX, &replicas))) {
        fprintf (stderr, "usage: fill DIR COUNT [REPLICAS]  (COUNT up to %llu, REPLICAS 0..%d, "
                 "default 3)\n", FILL_COUNT_MAX, FILL_REPLICAS_MAX);
        return 2;
    }
    self.dir = argv[1];
    self.replicas = (unsigned) replicas;
    int rc = s_create_store (&self) || s_append_trades (&self) ? -1 : 0;
    for (unsigned id = 1; id <= self.replicas && rc == 0; id++) {
        char name[32];
        snprintf (name, sizeof (name), "order-%u.log", id);
        rc = s_copy_log (&self, name);
    }
    if (rc == 0)
        rc = s_check (&self);
    if (rc) {
        fprintf (stderr, "fill: %s\n", self.error);
        return 1;
    }
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/catalog.journal", self.dir);
    struct stat st;
    long long size = stat (path, &st) == 0 ? (long long) st.st_size : -1;
    printf ("fill: %" PRIu64 " trades, %lld bytes in catalog.journal and %u order logs; "
            "replayed: catalog quantities", self.count, size, self.replicas);
    for (size_t i = 0; i < FILL_STOCKS; i++)
        printf (" %s %" PRIu64, s_names[i], self.quantity[i]);
    printf (", as computed\n");
    return 0;
}
