/*  verify.c - bazaar-client verify (SPEC §4.4, §6).

    One round reads every order-N.log first and catalog.journal after:
    a replica appends a trade only after the catalog journaled it, so read
    in that order a log can look behind the journal but never ahead.
    Then, with --url, the live checks. A problem is either lag (a log
    behind, the gateway not showing the journal's state yet, a 503),
    which --wait retries until it heals or the time is up, or hard
    (different bytes, numbers not dense, a log ahead of the journal, a
    wrong order over HTTP), which no waiting fixes: final once the round
    right after it finds damage too (a file read while its writer fills
    the zeros ahead of its appends can look damaged once).
    Only the last round is printed. The live checks are in
    verify_live.c; verify_int.h holds what both files share.

    The journal's bytes are rebuilt from the records journal_read passes,
    each framed by journal_frame (the framing journal_append writes, fixed
    by the payload), so this is the file up to its last whole record,
    read in one pass while the catalog may be appending. Each order log is
    compared with it byte for byte as it is on disk, torn tail included
    (the zeros a replica writes ahead of its appends are not its bytes:
    journal_extent).
*/
#include "verify.h"
#include "cli.h"
#include "http.h"
#include "journal.h"
#include "msgs.h"
#include "verify_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define VERIFY_SHOWN_MAX 10        //  problems printed per check; the rest counted
#define VERIFY_RETRY_MS 100
#define VERIFY_HARD_ROUNDS 2       //  rounds in a row that must find damage

struct _v_log_t {
    char name[32];           //  "order-2.log"
    uint64_t id;
    unsigned char *data;     //  the file as read, after its replay
    size_t size;
    uint64_t records;        //  whole records journal_read passed
    int error;               //  errno of journal_read, 0 if it read the file
    char why[160];           //  first record out of order or not a trade
};

//  A replay of one file by journal_read.
typedef struct {
    verify_t *verify;
    bool journal;            //  catalog.journal: keep and apply every trade
    uint64_t count;
    char *why;               //  first problem, "" if none
    size_t why_size;
} v_replay_t;

//  ---------------------------------------------------------------------
//  Helpers: the verify_ ones are shared with verify_live.c (verify_int.h)

static uint64_t
s_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (uint64_t) now.tv_sec * 1000 + (uint64_t) now.tv_nsec / 1000000;
}

static void
s_out_of_memory (void)
{
    fprintf (stderr, "bazaar-client verify: out of memory\n");
    exit (2);
}

//  realloc that gives up loudly: verify has nothing to fall back on.
void *
verify_realloc (void *ptr, size_t size)
{
    void *bigger = realloc (ptr, size ? size : 1);
    if (!bigger)
        s_out_of_memory ();
    return bigger;
}

//  Adds one line to the report. A problem is counted, and printed unless
//  a limited check printed VERIFY_SHOWN_MAX already.
void
verify_say (verify_t *self, v_kind_t kind, const char *format, ...)
{
    if (kind != V_OK) {
        self->problems++;
        self->hard += kind == V_HARD;
        if (self->limited && self->shown++ >= VERIFY_SHOWN_MAX)
            return;
    }
    va_list args;
    va_start (args, format);
    int len = vsnprintf (NULL, 0, format, args);
    va_end (args);
    size_t need = self->out_used + (size_t) len + 2;
    if (need > self->out_size) {
        self->out_size = need * 2;
        self->out = verify_realloc (self->out, self->out_size);
    }
    va_start (args, format);
    vsnprintf (self->out + self->out_used, (size_t) len + 1, format, args);
    va_end (args);
    self->out_used += (size_t) len;
    self->out[self->out_used++] = '\n';
    self->out[self->out_used] = '\0';
}

//  Starts a check that prints at most VERIFY_SHOWN_MAX problems.
void
verify_check_start (verify_t *self)
{
    self->limited = true;
    self->shown = 0;
}

//  Ends it: says how many problems were counted but not printed.
void
verify_check_done (verify_t *self, const char *check)
{
    self->limited = false;
    if (self->shown > VERIFY_SHOWN_MAX)
        verify_say (self, V_OK, "%s: %" PRIu64 " more problems not shown", check,
                    self->shown - VERIFY_SHOWN_MAX);
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

//  Reads a whole file. Returns 0, or -1 with errno set.
static int
s_read_file (const char *path, unsigned char **data_p, size_t *size_p)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return -1;
    if (fstat (fd, &st)) {
        int saved = errno;
        close (fd);
        errno = saved;
        return -1;
    }
    size_t size = (size_t) st.st_size, done = 0;
    unsigned char *data = verify_realloc (NULL, size);
    while (done < size) {
        ssize_t got = pread (fd, data + done, size - done, (off_t) done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;            //  shrank while reading: keep what was there
        done += (size_t) got;
    }
    close (fd);
    *data_p = data;
    *size_p = done;
    return 0;
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

//  Index of the first journal record that ends after offset: the record
//  holding byte offset, or the number of whole records in offset bytes.
static size_t
s_record_after (verify_t *self, uint64_t offset)
{
    size_t low = 0, high = self->trade_count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (self->trades[mid].end <= offset)
            low = mid + 1;
        else
            high = mid;
    }
    return low;
}

//  ---------------------------------------------------------------------
//  Files

static int
s_on_stockdef (const void *data, size_t size, void *arg)
{
    v_replay_t *replay = arg;
    verify_t *self = replay->verify;
    msg_t msg;
    msg_init (&msg, 0);
    int rc = msg_decode (&msg, data, size);
    if (rc != MSG_DECODE_OK || msg.type != MSG_STOCKDEF || !*msg.name)
        s_why (replay, "record %" PRIu64 " is not a stock definition (%s)", replay->count,
               rc ? msg_decode_strerror (rc) : msg_type_name (msg.type));
    else {
        self->stocks = verify_realloc (self->stocks, (self->stock_count + 1) * sizeof (v_stock_t));
        v_stock_t *stock = &self->stocks[self->stock_count++];
        snprintf (stock->name, sizeof (stock->name), "%s", msg.name);
        stock->price = msg.price;
        stock->initial = stock->quantity = msg.stock_qty;
    }
    replay->count++;
    msg_reset (&msg);
    return 0;
}

static void
s_read_stocks (verify_t *self)
{
    char path[PATH_MAX + 32], why[160] = "";
    snprintf (path, sizeof (path), "%s/catalog.stocks", self->dir);
    v_replay_t replay = {self, false, 0, why, sizeof (why)};
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

//  Keeps one catalog.journal record: its bytes, its trade, its effect on
//  the expected quantities.
static void
s_keep_trade (v_replay_t *replay, const msg_t *msg, bool valid, const void *data, size_t size)
{
    verify_t *self = replay->verify;
    size_t need = self->journal_used + JOURNAL_HEADER_SIZE + size;
    if (need > self->journal_size) {
        self->journal_size = need * 2;
        self->journal = verify_realloc (self->journal, self->journal_size);
    }
    //  journal_read passes only whole records (1 .. JOURNAL_RECORD_MAX).
    journal_frame (data, size, self->journal + self->journal_used);
    self->journal_used = need;

    if (self->trade_count == self->trade_size) {
        self->trade_size = self->trade_size ? self->trade_size * 2 : 1024;
        self->trades = verify_realloc (self->trades, self->trade_size * sizeof (v_trade_t));
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

//  For catalog.journal and every order log: each record a TRADEREC whose
//  number is its index.
static int
s_on_trade (const void *data, size_t size, void *arg)
{
    v_replay_t *replay = arg;
    msg_t msg;
    msg_init (&msg, 0);
    int rc = msg_decode (&msg, data, size);
    bool valid = rc == MSG_DECODE_OK && msg.type == MSG_TRADEREC;
    if (!valid)
        s_why (replay, "record %" PRIu64 " is not a trade record (%s)", replay->count,
               rc ? msg_decode_strerror (rc) : msg_type_name (msg.type));
    else
    if (msg.number != replay->count)
        s_why (replay, "NOT dense: record %" PRIu64 " has number %" PRIu64, replay->count,
               msg.number);
    else
    if (msg.side > MSG_SIDE_SELL)
        s_why (replay, "order %" PRIu64 " has side %u, neither buy nor sell", msg.number,
               (unsigned) msg.side);
    if (replay->journal)
        s_keep_trade (replay, &msg, valid && msg.side <= MSG_SIDE_SELL, data, size);
    replay->count++;
    msg_reset (&msg);
    return 0;
}

static void
s_read_journal (verify_t *self)
{
    char path[PATH_MAX + 32], why[160] = "";
    snprintf (path, sizeof (path), "%s/catalog.journal", self->dir);
    v_replay_t replay = {self, true, 0, why, sizeof (why)};
    int64_t records = journal_read (path, s_on_trade, &replay);
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
        self->logs = verify_realloc (self->logs, (self->log_count + 1) * sizeof (v_log_t));
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
        v_replay_t replay = {self, false, 0, log->why, sizeof (log->why)};
        if (journal_read (path, s_on_trade, &replay) < 0)
            log->error = errno;
        log->records = replay.count;
        //  After the replay: the bytes hold at least the records it saw.
        if (s_read_file (path, &log->data, &log->size))
            log->error = errno;
        else
            log->size = journal_extent (log->data, log->size);
    }
}

static void
s_check_log (verify_t *self, v_log_t *log)
{
    if (log->error && log->error != EUCLEAN) {
        verify_say (self, V_HARD, "%s: cannot read: %s", log->name, journal_strerror (log->error));
        return;
    }
    size_t common = log->size < self->journal_used ? log->size : self->journal_used;
    if (common && memcmp (log->data, self->journal, common) != 0) {
        size_t at = 0;
        while (log->data[at] == self->journal[at])
            at++;
        char note[200] = "";
        if (log->error == EUCLEAN)
            snprintf (note, sizeof (note), "; bad checksum: corrupt from record %" PRIu64,
                      log->records);
        else
        if (*log->why)
            snprintf (note, sizeof (note), "; %s", log->why);
        verify_say (self, V_HARD, "%s: order %" PRIu64 " differs from catalog.journal (byte %zu%s)",
                    log->name, self->trades[s_record_after (self, at)].number, at, note);
        return;
    }
    if (log->size > self->journal_used) {
        verify_say (self, V_HARD, "%s: ahead of catalog.journal by %zu bytes: a log is never ahead "
                    "of the commit point", log->name, log->size - self->journal_used);
        return;
    }
    //  A prefix of the journal's bytes: its records are the journal's.
    size_t whole = s_record_after (self, log->size);
    bool torn = whole < self->trade_count && log->size > (whole ? self->trades[whole - 1].end : 0);
    if (log->size < self->journal_used)
        verify_say (self, V_LAG, "%s: behind by %zu (%zu of %zu trades%s)", log->name,
                    self->trade_count - whole, whole, self->trade_count,
                    torn ? ", then part of the next" : "");
    else
        verify_say (self, V_OK, "%s: identical to catalog.journal", log->name);
}

//  ---------------------------------------------------------------------
//  Rounds and main

static void
s_round_reset (verify_t *self)
{
    for (size_t i = 0; i < self->log_count; i++)
        free (self->logs[i].data);
    free (self->logs);
    free (self->stocks);
    free (self->trades);
    free (self->journal);
    free (self->out);
    size_t options = offsetof (verify_t, stocks);
    memset ((char *) self + options, 0, sizeof (verify_t) - options);
}

static void
s_round (verify_t *self)
{
    s_round_reset (self);
    s_read_stocks (self);
    s_read_logs (self);
    s_read_journal (self);
    for (size_t i = 0; i < self->log_count; i++)
        s_check_log (self, &self->logs[i]);
    if (self->log_count == 0)
        verify_say (self, V_OK, "order logs: none in %s", self->dir);
    if (self->live) {
        http_conn_t *conn = http_conn_new (&self->url, (int) self->timeout_ms);
        if (!conn)
            s_out_of_memory ();
        verify_check_stocks_live (self, conn);
        verify_check_orders_live (self, conn);
        http_conn_destroy (&conn);
    }
}

static const cli_option_t s_options[] = {
    {"data", "data", "data directory holding catalog.stocks, catalog.journal, order-N.log"},
    {"url", "", "also check the live system at this gateway, e.g. http://127.0.0.1:8080 "
                "(default: files only)"},
    {"wait", "5", "seconds to keep re-checking while replicas or the gateway catch up "
                  "(0: one round)"},
    {"timeout", "5000", "milliseconds to wait for any one HTTP response"},
    {NULL, NULL, NULL}
};

//  Fills the options. Returns 0, or 2 after printing why not.
static int
s_setup (verify_t *self, cli_t *cli)
{
    const char *url = cli_get (cli, "url"), *wait = cli_get (cli, "wait");
    char *end = NULL;
    self->wait_s = strtod (wait, &end);
    if (!*wait || *end || !isfinite (self->wait_s) || self->wait_s < 0 || self->wait_s > 86400) {
        fprintf (stderr, "bazaar-client verify: --wait must be seconds from 0 to 86400, "
                 "not '%s'\n", wait);
        return 2;
    }
    if (cli_get_int (cli, "timeout", 1, 3600 * 1000, &self->timeout_ms))
        return 2;
    self->live = *url != '\0';
    if (self->live && http_url_parse (&self->url, url)) {
        fprintf (stderr, "bazaar-client verify: --url must look like http://HOST:PORT, "
                 "not '%s'\n", url);
        return 2;
    }
    snprintf (self->dir, sizeof (self->dir), "%s", cli_get (cli, "data"));
    char path[PATH_MAX + 32];
    snprintf (path, sizeof (path), "%s/catalog.stocks", self->dir);
    struct stat st;
    int rc = stat (self->dir, &st);
    if (rc || !S_ISDIR (st.st_mode)) {
        fprintf (stderr, "bazaar-client verify: cannot open data directory %s: %s\n", self->dir,
                 rc ? strerror (errno) : "not a directory");
        return 2;
    }
    if (stat (path, &st)) {
        fprintf (stderr, "bazaar-client verify: %s has no catalog files (no catalog.stocks): "
                 "not a Bazaar data directory, or no catalog ever ran there\n", self->dir);
        return 2;
    }
    return 0;
}

int
verify_main (int argc, char **argv)
{
    //  getopt names argv[0] in its messages.
    static char program[] = "bazaar-client verify";
    argv[0] = program;
    int exit_code = 0;
    cli_t *cli = cli_new ("client verify", "Check a data directory (and with --url the live "
                          "system) against the invariants: dense trade numbers, every order "
                          "log a byte-identical prefix of catalog.journal, quantities and "
                          "orders over HTTP equal to the journal.",
                          s_options, argc, argv, &exit_code);
    if (!cli)
        return exit_code;
    verify_t self;
    memset (&self, 0, sizeof (self));
    exit_code = s_setup (&self, cli);
    cli_destroy (&cli);
    if (exit_code)
        return exit_code;
    signal (SIGPIPE, SIG_IGN);

    uint64_t start = s_now_ms ();
    unsigned rounds = 0, hard_rounds = 0;
    size_t first_trades = 0;
    while (true) {
        s_round (&self);
        if (rounds++ == 0)
            first_trades = self.trade_count;
        hard_rounds = self.hard ? hard_rounds + 1 : 0;
        //  Damage must show twice in a row: a file read while its writer
        //  fills the zeros ahead of its appends can look damaged once.
        if (self.problems == 0 || hard_rounds == VERIFY_HARD_ROUNDS
            || (!self.hard && (double) (s_now_ms () - start) >= self.wait_s * 1000))
            break;
        struct timespec pause = {0, VERIFY_RETRY_MS * 1000 * 1000};
        nanosleep (&pause, NULL);
    }
    fputs (self.out ? self.out : "", stdout);
    if (rounds > 1)
        printf ("verify: checked %u times over %.1f s\n", rounds,
                (double) (s_now_ms () - start) / 1000);
    //  Lag while the journal grows is trades in flight, not damage.
    if (self.problems && !self.hard && self.trade_count != first_trades)
        printf ("verify: the system was still moving (catalog.journal went from %zu to %zu "
                "trades while re-checking): the lag above may be trades in flight; check "
                "again when it is quiet, or with a longer --wait\n",
                first_trades, self.trade_count);
    if (self.problems)
        printf ("verify: FAILED (%" PRIu64 " problem%s)\n", self.problems,
                self.problems == 1 ? "" : "s");
    else
        printf ("verify: OK\n");
    exit_code = self.problems ? 1 : 0;
    s_round_reset (&self);
    return exit_code;
}
