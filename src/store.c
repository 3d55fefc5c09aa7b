/*  store.c - stocks replayed from the initial list and a trade log.

    Invariant: for every stock, quantity = initial - buys + sells over
    the trades of log (0 .. tradelog_count), and version = 1 + the number
    of the last of them on that stock. The trades themselves, their keys
    and catalog.journal belong to the tradelog.
*/
#include "store.h"
#include "mem.h"
#include "journal.h"
#include "tradelog.h"

#include <czmq.h>
#include <errno.h>
#include <math.h>

//  Quantities stay far from overflow however many sells arrive.
#define QUANTITY_LIMIT (UINT64_MAX / 4)

struct _store_t {
    store_stock_t *stocks;
    uint64_t *initial;    //  initial[i]: stocks[i]'s quantity before any trade
    size_t stock_count;
    char name[128];
    char stocks_path[PATH_MAX];
    char log_name[PATH_MAX];  //  "catalog.journal", "order-3.log": for messages
    zhashx_t *by_name;    //  name -> store_stock_t *
    tradelog_t *log;      //  catalog.journal: the committed trades
    msgpack_sbuffer buffer;
    char *error;          //  where replay reports why it stopped
    size_t error_size;
    uint64_t stocks_bytes;    //  of the whole records read from <name>.stocks
};

static const store_stock_t s_initial[] = {
    {"apple", 152.59, 1000, 0},   {"tesla", 183.26, 1000, 0}, {"ford", 11.93, 1000, 0},
    {"amazon", 94.88, 1000, 0},   {"nvidia", 240.63, 1000, 0}, {"intel", 28.01, 1000, 0},
    {"meta", 194.02, 1000, 0},    {"nike", 126.13, 1000, 0},  {"amc", 4.78, 1000, 0},
    {"gamestop", 20.00, 1000, 0},
};

static int
s_add_stock (store_t *self, const char *name, double price, uint64_t quantity)
{
    if (!*name || strlen (name) > MSG_NAME_MAX || zhashx_lookup (self->by_name, name))
        return -1;
    store_stock_t *stocks = realloc (self->stocks, (self->stock_count + 1) * sizeof (*stocks));
    if (!stocks)
        return -1;
    self->stocks = stocks;
    uint64_t *initial = realloc (self->initial, (self->stock_count + 1) * sizeof (*initial));
    if (!initial)
        return -1;
    self->initial = initial;
    initial[self->stock_count] = quantity;
    store_stock_t *stock = &self->stocks[self->stock_count++];
    memset (stock, 0, sizeof (*stock));
    snprintf (stock->name, sizeof (stock->name), "%s", name);
    stock->price = price;
    stock->quantity = quantity;
    //  The array moved: rebuild the index.
    zhashx_purge (self->by_name);
    for (size_t i = 0; i < self->stock_count; i++)
        zhashx_insert (self->by_name, self->stocks[i].name, &self->stocks[i]);
    return 0;
}

int
store_read_stockdef (const void *data, size_t size, store_stock_t *stock, char *why,
                     size_t why_size)
{
    msg_t msg;
    msg_init (&msg, 0);
    int rc = msg_decode (&msg, data, size);
    if (rc != MSG_DECODE_OK || msg.type != MSG_STOCKDEF || !*msg.name) {
        snprintf (why, why_size, "%s", rc ? msg_decode_strerror (rc) : msg_type_name (msg.type));
        msg_reset (&msg);
        return -1;
    }
    memset (stock, 0, sizeof (*stock));
    snprintf (stock->name, sizeof (stock->name), "%s", msg.name);
    stock->price = msg.price;
    stock->quantity = msg.stock_qty;
    msg_reset (&msg);
    return 0;
}

static int
s_on_stockdef (const void *data, size_t size, void *arg)
{
    store_t *self = arg;
    store_stock_t stock;
    char why[64];
    if (store_read_stockdef (data, size, &stock, why, sizeof (why))
        || s_add_stock (self, stock.name, stock.price, stock.quantity)) {
        snprintf (self->error, self->error_size, "bad record in %s", self->stocks_path);
        return -1;
    }
    self->stocks_bytes += JOURNAL_HEADER_SIZE + size;
    return 0;
}

//  Reads "name price [quantity]" lines; # starts a comment.
static int
s_load_stocks_file (store_t *self, const char *path)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        snprintf (self->error, self->error_size, "cannot read %s: %s", path, strerror (errno));
        return -1;
    }
    char line[256];
    int line_no = 0, rc = 0;
    while (rc == 0 && fgets (line, sizeof (line), file)) {
        line_no++;
        char name[MSG_NAME_MAX + 2];
        double price;
        unsigned long long quantity = 1000;
        char *hash = strchr (line, '#');
        if (hash)
            *hash = '\0';
        int fields = sscanf (line, "%65s %lf %llu", name, &price, &quantity);
        if (fields <= 0)
            continue;
        if (self->stock_count == MSG_LIST_MAX) {
            snprintf (self->error, self->error_size, "%s lists more than %d stocks", path,
                      MSG_LIST_MAX);
            rc = -1;
        }
        else
        if (fields >= 2 && zhashx_lookup (self->by_name, name)) {
            snprintf (self->error, self->error_size, "%s: duplicate stock name %s at line %d",
                      path, name, line_no);
            rc = -1;
        }
        else
        if (fields < 2 || !isfinite (price) || price < 0 || quantity > QUANTITY_LIMIT
            || s_add_stock (self, name, price, quantity)) {
            snprintf (self->error, self->error_size, "%s:%d: expected 'name price [quantity]'",
                      path, line_no);
            rc = -1;
        }
    }
    fclose (file);
    if (rc == 0 && self->stock_count == 0) {
        snprintf (self->error, self->error_size, "%s lists no stocks", path);
        rc = -1;
    }
    return rc;
}

//  Writes the initial list atomically: a crash leaves either no file or
//  the whole file.
static int
s_write_stocks (store_t *self, const char *dir, const char *path)
{
    char tmp[PATH_MAX + 8];
    snprintf (tmp, sizeof (tmp), "%s.tmp", path);
    unlink (tmp);
    journal_t *journal = journal_open (tmp, true, NULL, NULL);
    if (!journal)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < self->stock_count && rc == 0; i++) {
        msg_t msg;
        msg_init (&msg, MSG_STOCKDEF);
        snprintf (msg.name, sizeof (msg.name), "%s", self->stocks[i].name);
        msg.price = self->stocks[i].price;
        msg.stock_qty = self->stocks[i].quantity;
        rc = msg_encode (&msg, &self->buffer)
          || journal_append (journal, self->buffer.data, self->buffer.size);
    }
    if (rc == 0)
        rc = journal_sync (journal);
    journal_destroy (&journal);
    if (rc == 0)
        rc = rename (tmp, path);
    if (rc == 0)
        rc = journal_sync_dir (dir);
    return rc ? -1 : 0;
}

//  The stocks from catalog.stocks; on a first start (no such file and no
//  trades in catalog.journal) from stocks_file or the built-in list,
//  written to catalog.stocks. A file written once is never guessed again:
//  an empty one, or none beside trades, is refused.
static int
s_load_stocks (store_t *self, const char *dir, const char *stocks_file)
{
    const char *path = self->stocks_path;
    uint64_t trades = tradelog_count (self->log);
    if (zsys_file_exists (path)) {
        //  It is written whole and renamed into place: a cut or damaged
        //  record is not a crash's doing, and is not cut (read only).
        struct stat file;
        int64_t records = journal_read (path, s_on_stockdef, self);
        if (records < 0 && errno == EBADMSG)
            return -1;
        const char *damage = records < 0 ? journal_strerror (errno)
                           : stat (path, &file) ? strerror (errno)
                           : (uint64_t) file.st_size != self->stocks_bytes ? "a cut or bad record"
                           : records == 0 ? "no stocks" : NULL;
        if (!damage)
            return 0;
        snprintf (self->error, self->error_size,
                  "%s is damaged (%s, after %zu whole stocks): restore it (the .stocks file "
                  "of another process of this system holds the same list), or move the files "
                  "(%s.*) away to rebuild them from --stocks (or the built-in list) and "
                  "the replicas",
                  path, damage, self->stock_count, self->name);
        return -1;
    }
    if (trades) {
        snprintf (self->error, self->error_size,
                  "%s is missing but %s holds %" PRIu64 " trades: the stocks they "
                  "were made on are unknown; restore it, or move the files "
                  "(%s.*) away to rebuild them from --stocks (or the built-in list) and "
                  "the replicas",
                  path, self->log_name, trades, self->name);
        return -1;
    }
    if (stocks_file) {
        if (s_load_stocks_file (self, stocks_file))
            return -1;
    }
    else
        for (size_t i = 0; i < sizeof (s_initial) / sizeof (s_initial[0]); i++)
            s_add_stock (self, s_initial[i].name, s_initial[i].price, s_initial[i].quantity);
    if (s_write_stocks (self, dir, path)) {
        snprintf (self->error, self->error_size, "cannot write %s: %s", path, strerror (errno));
        return -1;
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Trades

//  Whether a trade of quantity on stock may apply: MSG_ERR_OK or why not.
static msg_error_t
s_check (const store_stock_t *stock, int side, uint64_t quantity)
{
    if (quantity == 0 || quantity > MSG_QUANTITY_MAX)
        return MSG_ERR_INVALID_QUANTITY;
    if (side != MSG_SIDE_BUY && side != MSG_SIDE_SELL)
        return MSG_ERR_MALFORMED;
    if (side == MSG_SIDE_BUY && stock->quantity < quantity)
        return MSG_ERR_NOT_ENOUGH;
    if (side == MSG_SIDE_SELL && stock->quantity + quantity > QUANTITY_LIMIT)
        return MSG_ERR_INVALID_QUANTITY;
    return MSG_ERR_OK;
}

//  Changes the stock by trade number, which s_check passed.
static void
s_update (store_stock_t *stock, int side, uint64_t quantity, uint64_t number)
{
    stock->quantity = side == MSG_SIDE_BUY ? stock->quantity - quantity
                                           : stock->quantity + quantity;
    stock->version = number + 1;
}

//  Appends trade (numbered, checked) to the log, then changes its stock:
//  both or neither.
static msg_error_t
s_append_and_apply (store_t *self, store_stock_t *stock, const msg_trade_t *trade)
{
    if (tradelog_append (self->log, trade))
        return MSG_ERR_INTERNAL;
    s_update (stock, trade->side, trade->quantity, trade->number);
    return MSG_ERR_OK;
}

//  Applies every trade of the log to the stocks, as at open. Each stock
//  name of the log is looked up once, not once per trade (tradelog_peek),
//  and no key is copied or read back from the file.
static int
s_replay_trades (store_t *self)
{
    uint32_t names = tradelog_names (self->log);
    store_stock_t **stocks = calloc (names ? names : 1, sizeof (store_stock_t *));
    if (!stocks) {
        snprintf (self->error, self->error_size, "out of memory");
        return -1;
    }
    for (uint32_t name = 0; name < names; name++)
        stocks[name] = zhashx_lookup (self->by_name, tradelog_name (self->log, name));
    uint64_t count = tradelog_count (self->log);
    int rc = 0;
    for (uint64_t number = 0; number < count && rc == 0; number++) {
        uint32_t name = 0;
        int side = 0;
        uint64_t quantity = 0;
        store_stock_t *stock = NULL;
        if (tradelog_peek (self->log, number, &name, &side, &quantity) == 0)
            stock = stocks[name];
        if (!stock || s_check (stock, side, quantity) != MSG_ERR_OK) {
            snprintf (self->error, self->error_size,
                      "%s record %" PRIu64 " does not apply: refusing to start",
                      self->log_name, number);
            rc = -1;
        }
        else
            s_update (stock, side, quantity, number);
    }
    free (stocks);
    return rc;
}

const char *
store_recovered (store_t *self, size_t index)
{
    const char *done[] = {tradelog_recovered (self->log)};
    for (size_t i = 0; i < sizeof (done) / sizeof (done[0]); i++)
        if (done[i] && index-- == 0)
            return done[i];
    return NULL;
}

store_t *
store_open (const char *dir, const char *stocks_file, bool sync,
            const tradelog_window_t *key_window, char *error, size_t error_size)
{
    store_config_t config = {.dir = dir, .name = "catalog", .log_suffix = "journal",
                             .stocks_file = stocks_file, .sync = sync,
                             .key_window = key_window};
    return store_open_config (&config, error, error_size);
}

store_t *
store_open_config (const store_config_t *config, char *error, size_t error_size)
{
    const char *dir = config->dir;
    store_t *self = mem_calloc (1, sizeof (store_t));
    self->error = error;
    self->error_size = error_size;
    self->by_name = zhashx_new ();
    msgpack_sbuffer_init (&self->buffer);
    if (journal_make_dir (dir)) {
        snprintf (error, error_size, "cannot create %s: %s", dir, strerror (errno));
        goto failed;
    }
    snprintf (self->name, sizeof (self->name), "%s", config->name);
    snprintf (self->stocks_path, sizeof (self->stocks_path), "%s/%s.stocks", dir, config->name);
    snprintf (self->log_name, sizeof (self->log_name), "%s.%s", config->name, config->log_suffix);
    char path[PATH_MAX * 2];
    snprintf (path, sizeof (path), "%s/%s", dir, self->log_name);
    self->log = config->stamped
              ? tradelog_open_stamped (path, config->sync, config->key_window, error, error_size)
              : tradelog_open (path, config->sync, config->key_window, error, error_size);
    if (!self->log || s_load_stocks (self, dir, config->stocks_file) || s_replay_trades (self))
        goto failed;
    return self;
failed:
    store_destroy (&self);
    return NULL;
}

void
store_destroy (store_t **self_p)
{
    if (!*self_p)
        return;
    store_t *self = *self_p;
    tradelog_destroy (&self->log);
    free (self->stocks);
    free (self->initial);
    zhashx_destroy (&self->by_name);
    msgpack_sbuffer_destroy (&self->buffer);
    free (self);
    *self_p = NULL;
}

const store_stock_t *
store_lookup (store_t *self, const char *name)
{
    return zhashx_lookup (self->by_name, name);
}

static int
s_compare_stocks (const void *a, const void *b)
{
    return strcmp (((const msg_stock_t *) a)->name, ((const msg_stock_t *) b)->name);
}

int
store_list (store_t *self, msg_t *msg)
{
    msg->stocks = calloc (self->stock_count ? self->stock_count : 1, sizeof (msg_stock_t));
    if (!msg->stocks)
        return -1;
    msg->stock_count = self->stock_count;
    for (size_t i = 0; i < self->stock_count; i++) {
        msg_stock_t *out = &msg->stocks[i];
        snprintf (out->name, sizeof (out->name), "%s", self->stocks[i].name);
        out->price = self->stocks[i].price;
        out->stock_qty = self->stocks[i].quantity;
        out->version = self->stocks[i].version;
    }
    qsort (msg->stocks, msg->stock_count, sizeof (msg_stock_t), s_compare_stocks);
    return 0;
}

msg_error_t
store_restore (store_t *self, const msg_trade_t *trade)
{
    store_stock_t *stock = zhashx_lookup (self->by_name, trade->name);
    if (!stock)
        return MSG_ERR_STOCK_NOT_FOUND;
    if (trade->number != tradelog_count (self->log))
        return MSG_ERR_MALFORMED;
    msg_error_t rc = s_check (stock, trade->side, trade->quantity);
    return rc == MSG_ERR_OK ? s_append_and_apply (self, stock, trade) : rc;
}

void
store_log_counts (store_t *self)
{
    tradelog_log_counts (self->log, self->log_name);
}

int
store_sync (store_t *self)
{
    return tradelog_sync (self->log);
}

int
store_write (store_t *self)
{
    return tradelog_write (self->log);
}

uint64_t
store_trade_count (store_t *self)
{
    return tradelog_count (self->log);
}

int
store_trade (store_t *self, uint64_t number, msg_trade_t *trade)
{
    return tradelog_get (self->log, number, trade);
}

msg_error_t
store_check (store_t *self, const char *name, int side, uint64_t quantity,
             const store_stock_t **stock_p)
{
    store_stock_t *stock = zhashx_lookup (self->by_name, name);
    *stock_p = stock;
    return stock ? s_check (stock, side, quantity) : MSG_ERR_STOCK_NOT_FOUND;
}

int
store_append_entry (store_t *self, const msg_trade_t *trade, uint64_t stamp, uint64_t commit)
{
    store_stock_t *stock = zhashx_lookup (self->by_name, trade->name);
    if (!stock || trade->number != tradelog_count (self->log)
        || s_check (stock, trade->side, trade->quantity) != MSG_ERR_OK
        || tradelog_append_stamped (self->log, trade, stamp, commit))
        return -1;
    s_update (stock, trade->side, trade->quantity, trade->number);
    return 0;
}

int
store_truncate (store_t *self, uint64_t count)
{
    if (tradelog_truncate (self->log, count))
        return -1;
    for (size_t i = 0; i < self->stock_count; i++) {
        self->stocks[i].quantity = self->initial[i];
        self->stocks[i].version = 0;
    }
    return s_replay_trades (self);
}

tradelog_t *
store_log (store_t *self)
{
    return self->log;
}

const char *
store_log_name (store_t *self)
{
    return self->log_name;
}
