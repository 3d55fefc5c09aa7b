/*  verify_files.c - the file half of bazaar-client verify: reads
    catalog.stocks, catalog.journal and every order-N.log of the data
    directory into a verify_t, and checks them against each other.

    Files are compared by their canonical dumps, not their bytes: each
    whole record (a catalog's TRADEREC, a replica's ORDEREC) is re-encoded
    as the TRADEREC of its (number, name, side, quantity, key). The
    replicas' files legitimately differ in bytes: a committed entry can
    carry different stamps on different replicas (a new leader re-stamps
    a tail it recovered) and each record carries the commit position its
    writer knew (docs/CONSENSUS.md "Files"). The trades never differ.
*/
#include "verify_int.h"
#include "journal.h"
#include "mem.h"
#include "msgs.h"
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _v_log_t {
    char name[32];           //  "order-2.log"
    uint64_t id;
    unsigned char *data;     //  its canonical records, framed
    size_t size, capacity;
    uint64_t *ends;          //  offset just past each canonical record
    uint64_t records;        //  whole records journal_read passed
    int error;               //  errno of journal_read, 0 if it read the file
    char why[160];           //  first record out of order or not a trade
};

//  A replay of one file by journal_read.
typedef struct {
    verify_t *verify;
    v_log_t *log;            //  NULL for catalog.journal: keep and apply every trade
    uint64_t count;
    char *why;               //  first problem, "" if none
    size_t why_size;
    msgpack_sbuffer canonical;
} v_replay_t;

static void
s_out_of_memory (void)
{
    fprintf (stderr, "bazaar-client verify: out of memory\n");
    exit (2);
}

static void
s_why (v_replay_t *replay, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

//  Keeps the first problem a replay found.
static void
s_why (v_replay_t *replay, const char *format, ...)
{
    if (*replay->why)
        return;
    va_list args;
    va_start (args, format);
    vsnprintf (replay->why, replay->why_size, format, args);
    va_end (args);
}

static int
s_compare_stock (const void *a, const void *b)
{
    return strcmp (((const v_stock_t *) a)->name, ((const v_stock_t *) b)->name);
}

//  Index of the stock called name, or VERIFY_NO_STOCK.
uint32_t
verify_find_stock (verify_t *self, const char *name)
{
    if (self->stock_count == 0)
        return VERIFY_NO_STOCK;
    v_stock_t key;
    snprintf (key.name, sizeof (key.name), "%s", name);
    v_stock_t *stock = bsearch (&key, self->stocks, self->stock_count, sizeof (v_stock_t),
                                s_compare_stock);
    return stock ? (uint32_t) (stock - self->stocks) : VERIFY_NO_STOCK;
}

static int
s_on_stockdef (const void *data, size_t size, void *arg)
{
    v_replay_t *replay = arg;
    verify_t *self = replay->verify;
    store_stock_t read;
    char not_one[64];
    if (store_read_stockdef (data, size, &read, not_one, sizeof (not_one)))
        s_why (replay, "record %" PRIu64 " is not a stock definition (%s)", replay->count,
               not_one);
    else {
        self->stocks = mem_realloc (self->stocks, (self->stock_count + 1) * sizeof (v_stock_t));
        v_stock_t *stock = &self->stocks[self->stock_count++];
        snprintf (stock->name, sizeof (stock->name), "%s", read.name);
        stock->price = read.price;
        stock->initial = stock->quantity = read.quantity;
    }
    replay->count++;
    return 0;
}

static void
s_read_stocks (verify_t *self)
{
    char path[PATH_MAX + 32], why[160] = "";
    snprintf (path, sizeof (path), "%s/catalog.stocks", self->dir);
    v_replay_t replay = {self, NULL, 0, why, sizeof (why), {0}};
    int64_t records = journal_read (path, s_on_stockdef, &replay);
    if (self->stock_count)
        qsort (self->stocks, self->stock_count, sizeof (v_stock_t), s_compare_stock);
    for (size_t i = 1; i < self->stock_count; i++)
        if (strcmp (self->stocks[i].name, self->stocks[i - 1].name) == 0)
            s_why (&replay, "stock %s is defined twice", self->stocks[i].name);
    if (records < 0)
        verify_say (self, V_HARD, "catalog.stocks: %s", journal_strerror (errno));
    else
    if (*why)
        verify_say (self, V_HARD, "catalog.stocks: %s", why);
    else
    if (self->stock_count == 0)
        verify_say (self, V_HARD, "catalog.stocks: no stocks");
    else
        verify_say (self, V_OK, "catalog.stocks: %zu stocks", self->stock_count);
}

//  Keeps one catalog.journal record: its canonical bytes, its trade, its
//  effect on the expected quantities.
static void
s_keep_trade (v_replay_t *replay, const msg_t *msg, bool valid, const void *data, size_t size)
{
    verify_t *self = replay->verify;
    size_t need = self->journal_used + JOURNAL_HEADER_SIZE + size;
    if (need > self->journal_size) {
        self->journal_size = need * 2;
        self->journal = mem_realloc (self->journal, self->journal_size);
    }
    //  journal_read passes only whole records (1 .. JOURNAL_RECORD_MAX).
    journal_frame (data, size, self->journal + self->journal_used);
    self->journal_used = need;

    if (self->trade_count == self->trade_size) {
        self->trade_size = self->trade_size ? self->trade_size * 2 : 1024;
        self->trades = mem_realloc (self->trades, self->trade_size * sizeof (v_trade_t));
    }
    v_trade_t *trade = &self->trades[self->trade_count++];
    trade->number = valid ? msg->number : self->trade_count - 1;
    trade->quantity = msg->quantity;
    trade->side = msg->side;
    trade->end = self->journal_used;
    trade->stock = valid ? verify_find_stock (self, msg->name) : VERIFY_NO_STOCK;
    if (!valid)
        return;
    if (trade->stock == VERIFY_NO_STOCK) {
        s_why (replay, "order %" PRIu64 " trades %s, which catalog.stocks does not list",
               trade->number, msg->name);
        return;
    }
    v_stock_t *stock = &self->stocks[trade->stock];
    if (msg->side == MSG_SIDE_BUY && msg->quantity > stock->quantity) {
        s_why (replay, "order %" PRIu64 " buys %" PRIu64 " %s with only %" PRIu64 " left",
               trade->number, msg->quantity, stock->name, stock->quantity);
        trade->stock = VERIFY_NO_STOCK;
        return;
    }
    stock->quantity = msg->side == MSG_SIDE_BUY ? stock->quantity - msg->quantity
                                                : stock->quantity + msg->quantity;
}

//  Keeps one order log record's canonical bytes.
static void
s_keep_record (v_log_t *log, const void *data, size_t size)
{
    size_t need = log->size + JOURNAL_HEADER_SIZE + size;
    if (need > log->capacity) {
        log->capacity = need * 2;
        log->data = mem_realloc (log->data, log->capacity);
    }
    journal_frame (data, size, log->data + log->size);
    log->size = need;
    log->ends = mem_realloc (log->ends, (log->records + 1) * sizeof (uint64_t));
    log->ends[log->records] = need;
}

//  For catalog.journal (TRADEREC) and every order log (ORDEREC): each
//  record a trade whose number is its index; kept as its canonical dump.
static int
s_on_trade (const void *data, size_t size, void *arg)
{
    v_replay_t *replay = arg;
    msg_t msg;
    msg_init (&msg, 0);
    int rc = msg_decode (&msg, data, size);
    msg_type_t expected = replay->log ? MSG_ORDEREC : MSG_TRADEREC;
    bool valid = rc == MSG_DECODE_OK && msg.type == expected;
    if (!valid)
        s_why (replay, "record %" PRIu64 " is not a %s (%s)", replay->count,
               replay->log ? "replica's order record" : "trade record",
               rc ? msg_decode_strerror (rc) : msg_type_name (msg.type));
    else
    if (msg.number != replay->count)
        s_why (replay, "NOT dense: record %" PRIu64 " has number %" PRIu64, replay->count,
               msg.number);
    else
    if (msg.side > MSG_SIDE_SELL)
        s_why (replay, "order %" PRIu64 " has side %u, neither buy nor sell", msg.number,
               (unsigned) msg.side);
    msg_trade_t trade;
    msg_t record;
    msg_get_trade (&msg, &trade);
    msg_set_trade (&record, MSG_TRADEREC, &trade);
    replay->canonical.size = 0;
    if (msg_encode (&record, &replay->canonical))
        s_out_of_memory ();
    if (!replay->log)
        s_keep_trade (replay, &msg, valid && msg.side <= MSG_SIDE_SELL,
                      replay->canonical.data, replay->canonical.size);
    else
    if (!*replay->why)
        s_keep_record (replay->log, replay->canonical.data, replay->canonical.size);
    replay->count++;
    if (replay->log && !*replay->why)
        replay->log->records = replay->count;
    msg_reset (&msg);
    return 0;
}

static void
s_read_journal (verify_t *self)
{
    char path[PATH_MAX + 32], why[160] = "";
    snprintf (path, sizeof (path), "%s/catalog.journal", self->dir);
    v_replay_t replay = {self, NULL, 0, why, sizeof (why), {0}};
    msgpack_sbuffer_init (&replay.canonical);
    int64_t records = journal_read (path, s_on_trade, &replay);
    msgpack_sbuffer_destroy (&replay.canonical);
    if (records < 0 && errno == ENOENT)
        verify_say (self, V_OK, "catalog.journal: missing, 0 trades");
    else
    if (records < 0 && errno == EUCLEAN)
        verify_say (self, V_HARD, "catalog.journal: %zu trades, then a corrupt record (bad "
                    "checksum, good records after it)%s%s", self->trade_count, *why ? "; " : "",
                    why);
    else
    if (records < 0)
        verify_say (self, V_HARD, "catalog.journal: %s", journal_strerror (errno));
    else
    if (*why)
        verify_say (self, V_HARD, "catalog.journal: %zu trades, %s", self->trade_count, why);
    else
        verify_say (self, V_OK, "catalog.journal: %zu trades, dense", self->trade_count);
}

static int
s_compare_log (const void *a, const void *b)
{
    uint64_t x = ((const v_log_t *) a)->id, y = ((const v_log_t *) b)->id;
    return x < y ? -1 : x > y;
}

//  Finds every order-N.log and reads it: replayed for its records, then
//  its bytes as they are.
static void
s_read_logs (verify_t *self)
{
    DIR *dir = opendir (self->dir);
    struct dirent *entry;
    while (dir && (entry = readdir (dir))) {
        char *end = NULL, name[32];
        if (strncmp (entry->d_name, "order-", 6) != 0 || entry->d_name[6] < '0'
            || entry->d_name[6] > '9')
            continue;
        unsigned long long id = strtoull (entry->d_name + 6, &end, 10);
        snprintf (name, sizeof (name), "order-%llu.log", id);
        if (strcmp (name, entry->d_name) != 0)
            continue;
        self->logs = mem_realloc (self->logs, (self->log_count + 1) * sizeof (v_log_t));
        v_log_t *log = &self->logs[self->log_count++];
        memset (log, 0, sizeof (*log));
        snprintf (log->name, sizeof (log->name), "%s", name);
        log->id = id;
    }
    if (dir)
        closedir (dir);
    else
        verify_say (self, V_HARD, "%s: cannot list: %s", self->dir, strerror (errno));
    if (self->log_count)
        qsort (self->logs, self->log_count, sizeof (v_log_t), s_compare_log);
    for (size_t i = 0; i < self->log_count; i++) {
        v_log_t *log = &self->logs[i];
        char path[PATH_MAX + 64];
        snprintf (path, sizeof (path), "%s/%s", self->dir, log->name);
        v_replay_t replay = {self, log, 0, log->why, sizeof (log->why), {0}};
        msgpack_sbuffer_init (&replay.canonical);
        if (journal_read (path, s_on_trade, &replay) < 0)
            log->error = errno;
        msgpack_sbuffer_destroy (&replay.canonical);
    }
}

//  The first record at which two canonical dumps differ, or count.
static uint64_t
s_first_difference (const unsigned char *a, const uint64_t *a_ends, const unsigned char *b,
                    const uint64_t *b_ends, uint64_t count)
{
    for (uint64_t i = 0; i < count; i++) {
        uint64_t a_start = i ? a_ends[i - 1] : 0, b_start = i ? b_ends[i - 1] : 0;
        uint64_t size = a_ends[i] - a_start;
        if (size != b_ends[i] - b_start || memcmp (a + a_start, b + b_start, size))
            return i;
    }
    return count;
}

static uint64_t *
s_journal_ends (verify_t *self)
{
    uint64_t *ends = mem_realloc (NULL, (self->trade_count + 1) * sizeof (uint64_t));
    for (size_t i = 0; i < self->trade_count; i++)
        ends[i] = self->trades[i].end;
    return ends;
}

//  True if log is whole and agrees with the journal where both have trades.
static bool
s_agrees (verify_t *self, v_log_t *log, const uint64_t *journal_ends)
{
    uint64_t common = log->records < self->trade_count ? log->records : self->trade_count;
    return !log->error && !*log->why
        && s_first_difference (log->data, log->ends, self->journal, journal_ends, common)
           == common;
}

//  The longest order log that agrees with the journal (the one the others
//  are measured against), else the longest.
static v_log_t *
s_longest_log (verify_t *self, const uint64_t *journal_ends)
{
    v_log_t *longest = NULL;
    for (int pass = 0; pass < 2 && !longest; pass++)
        for (size_t i = 0; i < self->log_count; i++) {
            v_log_t *log = &self->logs[i];
            if (!log->error && (pass || s_agrees (self, log, journal_ends))
                && (!longest || log->records > longest->records))
                longest = log;
        }
    return longest;
}

//  One log against catalog.journal and the longest log, trade by trade.
static void
s_check_log (verify_t *self, v_log_t *log, const uint64_t *journal_ends, v_log_t *longest)
{
    if (log->error && log->error != EUCLEAN) {
        verify_say (self, V_HARD, "%s: cannot read: %s", log->name, journal_strerror (log->error));
        return;
    }
    char note[200] = "";
    if (log->error == EUCLEAN)
        snprintf (note, sizeof (note), "; bad checksum: corrupt from record %" PRIu64,
                  log->records);
    else
    if (*log->why)
        snprintf (note, sizeof (note), "; %s", log->why);
    uint64_t common = log->records < self->trade_count ? log->records : self->trade_count;
    uint64_t at = s_first_difference (log->data, log->ends, self->journal, journal_ends, common);
    if (at < common || (*note && log->records < self->trade_count)) {
        verify_say (self, V_HARD, "%s: order %" PRIu64 " differs from catalog.journal "
                    "(number, name, side, quantity or key%s)", log->name, at, note);
        return;
    }
    if (longest && longest != log) {
        at = s_first_difference (log->data, log->ends, longest->data, longest->ends,
                                 log->records);
        if (at < log->records) {
            verify_say (self, V_HARD, "%s: order %" PRIu64 " differs from %s's", log->name, at,
                        longest->name);
            return;
        }
    }
    uint64_t most = longest && longest->records > self->trade_count ? longest->records
                                                                    : self->trade_count;
    if (log->records < most)
        verify_say (self, V_LAG, "%s: behind by %" PRIu64 " (%" PRIu64 " of %" PRIu64
                    " trades%s)", log->name, most - log->records, log->records, most, note);
    else
    if (*note)
        verify_say (self, V_LAG, "%s: %" PRIu64 " trades%s", log->name, log->records, note);
    else
    if (log->records > self->trade_count)
        verify_say (self, V_LAG, "%s: ahead of catalog.journal by %" PRIu64 " trades (the "
                    "catalog has not learned them yet, or they are not committed)", log->name,
                    log->records - self->trade_count);
    else
        verify_say (self, V_OK, "%s: identical to catalog.journal", log->name);
}

//  Every log against the journal; a journal ahead of every log holds
//  trades no majority held, which is damage.
static void
s_check_logs (verify_t *self)
{
    if (self->log_count == 0) {
        verify_say (self, V_OK, "order logs: none in %s", self->dir);
        return;
    }
    verify_say (self, V_OK, "order logs: compared by canonical dumps (number, name, side, "
                "quantity, key); their stamps and carried commit positions may differ");
    uint64_t *journal_ends = s_journal_ends (self);
    v_log_t *longest = s_longest_log (self, journal_ends);
    for (size_t i = 0; i < self->log_count; i++)
        s_check_log (self, &self->logs[i], journal_ends, longest);
    if (longest && self->trade_count > longest->records)
        verify_say (self, V_HARD, "catalog.journal: ahead of every order log by %" PRIu64
                    " trades: the catalog learns only what a majority of replicas held",
                    (uint64_t) self->trade_count - longest->records);
    free (journal_ends);
}

void
verify_read_files (verify_t *self)
{
    s_read_stocks (self);
    s_read_journal (self);
    s_read_logs (self);
    s_check_logs (self);
}

void
verify_files_free (verify_t *self)
{
    for (size_t i = 0; i < self->log_count; i++) {
        free (self->logs[i].data);
        free (self->logs[i].ends);
    }
    free (self->logs);
    free (self->stocks);
    free (self->trades);
    free (self->journal);
}
