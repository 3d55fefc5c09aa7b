/*  tradelog.c - committed trades in a journal file, kept in memory.

    Invariants: trades[i] is trade number i for i < count; the file holds
    trades[0 .. durable) and the journal's queue holds trades[durable ..
    count) unless a sync failed (then the process stops); trades[i]'s
    record starts at file offset trades[i].offset. A trade's name points
    at the one copy in names; its key, if any, is owned by the trade and
    is also the key in by_key (which copies nothing), for trades from
    key_oldest on. Before key_oldest a trade's key has left the window:
    key is NULL and key_on_disk says the record holds one.
*/
#include "tradelog.h"
#include "log.h"
#include "journal.h"

#include <czmq.h>
#include <errno.h>
#include <time.h>

typedef struct {
    const char *name;     //  interned in names
    char *key;            //  owned, NULL if the trade has none (or it left the window)
    uint64_t offset;      //  of its record in the file
    uint32_t quantity;    //  at most MSG_QUANTITY_MAX
    uint32_t at;          //  when appended (replayed: opened), seconds since the epoch
    uint8_t side;
    bool key_on_disk;     //  its key left the window: read it from the record
} s_trade_t;

struct _tradelog_t {
    journal_t *journal;
    s_trade_t *trades;
    uint64_t count;
    uint64_t allocated;
    uint64_t durable;
    uint64_t next_offset;   //  where the next record starts in the file
    tradelog_window_t window;
    uint64_t key_oldest;    //  trades before it have no key in memory
    uint64_t keys_held;
    uint32_t opened_at;     //  the age of every replayed trade counts from here
    zhashx_t *names;      //  name -> itself, the one copy trades point at
    zhashx_t *by_key;     //  key -> (number + 1) as a pointer
    msgpack_sbuffer buffer;
    const char *path;     //  only while replaying, for the reason
    char *error;
    size_t error_size;
};

static void
s_free_string (void **item)
{
    free (*item);
    *item = NULL;
}

//  Checks trade and gets its memory ready: room in trades, the interned
//  name, a copy of the key. Changes nothing visible: an interned name
//  nobody points at yet is harmless. Returns 0 or -1.
static int
s_prepare (tradelog_t *self, const msg_trade_t *trade, s_trade_t *entry)
{
    if (trade->number != self->count || trade->side > MSG_SIDE_SELL
        || trade->quantity > MSG_QUANTITY_MAX)
        return -1;
    if (self->count == self->allocated) {
        uint64_t allocated = self->allocated ? self->allocated * 2 : 1024;
        s_trade_t *trades = realloc (self->trades, allocated * sizeof (s_trade_t));
        if (!trades)
            return -1;
        self->trades = trades;
        self->allocated = allocated;
    }
    char *name = zhashx_lookup (self->names, trade->name);
    if (!name) {
        name = strdup (trade->name);
        if (!name)
            return -1;
        zhashx_insert (self->names, name, name);
    }
    entry->name = name;
    entry->key = NULL;
    if (*trade->key && !(entry->key = strdup (trade->key)))
        return -1;
    entry->quantity = (uint32_t) trade->quantity;
    entry->side = trade->side;
    entry->key_on_disk = false;
    return 0;
}

//  Drops from memory the keys that left the window (tradelog_window_t).
static void
s_expire_keys (tradelog_t *self, uint32_t now)
{
    while (self->key_oldest < self->durable) {
        uint64_t following = self->count - self->key_oldest - 1;
        s_trade_t *entry = &self->trades[self->key_oldest];
        int64_t age_ms = ((int64_t) now - (int64_t) entry->at) * 1000;
        if (following < self->window.trades
            || (following < self->window.max_keys && age_ms < self->window.age_ms))
            break;
        if (entry->key) {
            uintptr_t found = (uintptr_t) zhashx_lookup (self->by_key, entry->key);
            if (found == self->key_oldest + 1)
                zhashx_delete (self->by_key, entry->key);
            free (entry->key);
            entry->key = NULL;
            entry->key_on_disk = true;
            self->keys_held--;
        }
        self->key_oldest++;
    }
}

//  Makes a prepared entry the next trade, its record record_size bytes
//  of payload at next_offset.
static void
s_commit (tradelog_t *self, s_trade_t *entry, size_t record_size, uint32_t now)
{
    entry->offset = self->next_offset;
    entry->at = now;
    self->next_offset += JOURNAL_HEADER_SIZE + record_size;
    self->trades[self->count] = *entry;
    //  A repeated key keeps its first number (insert refuses a duplicate).
    if (entry->key) {
        zhashx_insert (self->by_key, entry->key, (void *) (uintptr_t) (self->count + 1));
        self->keys_held++;
    }
    self->count++;
    s_expire_keys (self, now);
}

static int
s_replay_record (const void *data, size_t size, void *arg)
{
    tradelog_t *self = arg;
    //  Not msg_decode: clearing a whole msg_t per record was a tenth of
    //  the replay of a million.
    msg_trade_t trade;
    if (msg_decode_trade (data, size, &trade) != MSG_DECODE_OK) {
        snprintf (self->error, self->error_size,
                  "%s: record %" PRIu64 " is not a trade: refusing to start", self->path,
                  self->count);
        return -1;
    }
    s_trade_t entry;
    if (s_prepare (self, &trade, &entry)) {
        snprintf (self->error, self->error_size, "%s: record %" PRIu64 " %s: refusing to start",
                  self->path, self->count,
                  trade.number != self->count ? "out of order" : "cannot be kept");
        return -1;
    }
    s_commit (self, &entry, size, self->opened_at);
    self->durable = self->count;    //  replayed: on file
    return 0;
}

tradelog_t *
tradelog_open (const char *path, bool sync, const tradelog_window_t *window, char *error,
               size_t error_size)
{
    tradelog_t *self = calloc (1, sizeof (tradelog_t));
    if (!self) {
        snprintf (error, error_size, "%s: out of memory", path);
        return NULL;
    }
    self->names = zhashx_new ();
    zhashx_set_key_duplicator (self->names, NULL);
    zhashx_set_key_destructor (self->names, NULL);
    zhashx_set_destructor (self->names, s_free_string);
    self->by_key = zhashx_new ();
    zhashx_set_key_duplicator (self->by_key, NULL);
    zhashx_set_key_destructor (self->by_key, NULL);
    msgpack_sbuffer_init (&self->buffer);
    self->window = window ? *window
                          : (tradelog_window_t) {TRADELOG_WINDOW_TRADES, TRADELOG_WINDOW_AGE_MS,
                                                 TRADELOG_KEYS_MAX};
    if (self->window.max_keys < self->window.trades)
        self->window.max_keys = self->window.trades;
    self->opened_at = (uint32_t) time (NULL);
    self->path = path;
    self->error = error;
    self->error_size = error_size;
    self->journal = journal_open (path, sync, s_replay_record, self);
    self->path = NULL;
    self->error = NULL;
    if (!self->journal) {
        //  EBADMSG: s_replay_record wrote the reason already.
        if (errno != EBADMSG)
            snprintf (error, error_size, "%s: %s", path, journal_strerror (errno));
        tradelog_destroy (&self);
        return NULL;
    }
    self->durable = self->count;
    return self;
}

void
tradelog_destroy (tradelog_t **self_p)
{
    if (!*self_p)
        return;
    tradelog_t *self = *self_p;
    journal_destroy (&self->journal);
    zhashx_destroy (&self->by_key);
    for (uint64_t i = 0; i < self->count; i++)
        free (self->trades[i].key);
    free (self->trades);
    zhashx_destroy (&self->names);
    msgpack_sbuffer_destroy (&self->buffer);
    free (self);
    *self_p = NULL;
}

uint64_t
tradelog_count (tradelog_t *self)
{
    return self->count;
}

uint64_t
tradelog_durable (tradelog_t *self)
{
    return self->durable;
}

uint64_t
tradelog_truncated (tradelog_t *self)
{
    return journal_truncated (self->journal);
}

int
tradelog_append (tradelog_t *self, const msg_trade_t *trade)
{
    s_trade_t entry;
    if (s_prepare (self, trade, &entry))
        return -1;
    msg_t record;
    msg_set_trade (&record, MSG_TRADEREC, trade);
    if (msg_encode (&record, &self->buffer)
        || journal_append (self->journal, self->buffer.data, self->buffer.size)) {
        free (entry.key);
        return -1;
    }
    s_commit (self, &entry, self->buffer.size, (uint32_t) time (NULL));
    return 0;
}

uint64_t
tradelog_keys_held (tradelog_t *self)
{
    return self->keys_held;
}

void
tradelog_log_counts (tradelog_t *self, const char *what)
{
    uint64_t syncs, records;
    journal_counts (self->journal, &syncs, &records);
    log_info ("%s: %" PRIu64 " trades written in %" PRIu64 " syncs (%.2f per sync)", what,
              records, syncs, syncs ? (double) records / (double) syncs : 0.0);
    log_info ("%s: %" PRIu64 " idempotency keys held in memory (the last %" PRIu64
              " trades, or %" PRId64 " s, at most %" PRIu64 ")", what, self->keys_held,
              self->window.trades, self->window.age_ms / 1000, self->window.max_keys);
}

int
tradelog_sync (tradelog_t *self)
{
    if (journal_sync (self->journal))
        return -1;
    self->durable = self->count;
    s_expire_keys (self, (uint32_t) time (NULL));
    return 0;
}

//  Reads the key of a trade that left the window back from its record,
//  so copies of the trade (ranges, the journal) stay byte-identical.
static int
s_key_from_disk (tradelog_t *self, uint64_t number, msg_trade_t *trade)
{
    unsigned char data[512];
    size_t size = 0;
    msg_t record;
    msg_init (&record, 0);
    if (journal_read_at (self->journal, self->trades[number].offset, data, sizeof (data), &size)
        || msg_decode (&record, data, size) || record.type != MSG_TRADEREC
        || record.number != number) {
        log_error ("cannot read back the record of trade %" PRIu64 ": %s", number,
                   strerror (errno));
        msg_reset (&record);
        return -1;
    }
    snprintf (trade->key, sizeof (trade->key), "%s", record.key);
    msg_reset (&record);
    return 0;
}

int
tradelog_get (tradelog_t *self, uint64_t number, msg_trade_t *trade)
{
    if (number >= self->count)
        return -1;
    const s_trade_t *entry = &self->trades[number];
    trade->number = number;
    snprintf (trade->name, sizeof (trade->name), "%s", entry->name);
    trade->side = entry->side;
    trade->quantity = entry->quantity;
    snprintf (trade->key, sizeof (trade->key), "%s", entry->key ? entry->key : "");
    if (entry->key_on_disk)
        return s_key_from_disk (self, number, trade);
    return 0;
}

int64_t
tradelog_find_key (tradelog_t *self, const char *key)
{
    if (!key || !*key)
        return -1;
    uintptr_t found = (uintptr_t) zhashx_lookup (self->by_key, key);
    return found ? (int64_t) (found - 1) : -1;
}

int
tradelog_record (const msg_trade_t *trade, msgpack_sbuffer *out)
{
    msg_t record;
    msg_set_trade (&record, MSG_TRADEREC, trade);
    msgpack_sbuffer payload;
    msgpack_sbuffer_init (&payload);
    unsigned char *frame = NULL;
    int rc = msg_encode (&record, &payload);
    if (rc == 0)
        rc = (frame = malloc (JOURNAL_HEADER_SIZE + payload.size)) ? 0 : -1;
    if (rc == 0)
        rc = journal_frame (payload.data, payload.size, frame);
    if (rc == 0)
        rc = msgpack_sbuffer_write (out, (const char *) frame, JOURNAL_HEADER_SIZE + payload.size);
    free (frame);
    msgpack_sbuffer_destroy (&payload);
    return rc ? -1 : 0;
}
