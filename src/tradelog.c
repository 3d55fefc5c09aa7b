/*  tradelog.c - committed trades in a journal file, kept in memory.

    Invariants: trades[i] is trade number i for i < count; the file holds
    trades[0 .. durable) and the journal's queue holds trades[durable ..
    count) unless a sync failed (then the process stops); trades[i]'s
    record starts at file offset trades[i].offset. A trade's name is
    names[trades[i].name], the one copy, and by_name finds it. From
    key_oldest on, a trade with a key holds it (KEY_HELD) in keys, in
    trade order, and by_key maps the key to its number + 1 (the first
    such trade's, unless that one left the window). Before key_oldest a
    trade's key has left the window: KEY_ON_DISK says its record holds one.

    Memory per trade is a 32-byte s_trade_t, its key's bytes and about
    32 bytes of by_key while the key is held: no allocation per trade, so
    a replay of a million records allocates a few dozen times. A stamped
    log's stamps are runs (stamps.h): a few, whatever the count;
    stamps_length (stamps) == count.
*/
#include "tradelog.h"
#include "mem.h"
#include "log.h"
#include "journal.h"
#include "stamps.h"
#include "strindex.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

//  A trade's key: none, held in keys (and by_key), or only in its record.
#define KEY_NONE 0
#define KEY_HELD 1
#define KEY_ON_DISK 2

//  The replay indexes each trade's key this many records after reading it,
//  and asks for its slot in by_key when it reads it: by_key is larger than
//  the cache, and inserts that waited for memory one at a time took a
//  third of the replay of a million trades. by_key sees the same inserts
//  and removals in the same order as without the lag.
#define REPLAY_LAG 16

//  keys moves what it still holds to its front once the keys that left
//  fill half of it and at least this much.
#define KEYS_COMPACT_MIN 65536
//  Zeros written ahead of the log (journal_preallocate): a million
//  trades take about 50 of these chunks.
#define PREALLOCATE_CHUNK (1 << 20)
//  The smallest record: its header and a TRADEREC of 9 bytes (a list of
//  seven, one-byte number, one-letter name, empty key), rounded down.
#define RECORD_MIN (JOURNAL_HEADER_SIZE + 8)
//  Below this a file is replayed into arrays that grow as it goes.
#define RESERVE_MIN_FILE (1 << 20)
#define HUGE_PAGE ((uintptr_t) 2 << 20)

typedef struct {
    uint64_t offset;      //  of its record in the file
    uint64_t key_at;      //  position of its key in keys, if KEY_HELD
    uint32_t name;        //  index in names
    uint32_t quantity;    //  at most MSG_QUANTITY_MAX
    uint32_t at;          //  when appended (replayed: opened), seconds since the epoch
    uint8_t side;
    uint8_t key;          //  KEY_NONE, KEY_HELD, KEY_ON_DISK
} s_trade_t;

_Static_assert (sizeof (s_trade_t) == 32, "a trade in memory is 32 bytes");

//  The held keys, NUL-terminated, one after another in trade order. Keys
//  leave from the front (the window only moves forward), so positions
//  count from the first key ever added and never change: the key at
//  position p is at data[p - base] while it is held.
typedef struct {
    char *data;
    size_t used;          //  bytes in data
    size_t size;          //  bytes allocated
    size_t start;         //  data[0 .. start) held keys that left
    uint64_t base;        //  position of data[0]
} s_keys_t;

struct _tradelog_t {
    journal_t *journal;
    s_trade_t *trades;
    uint64_t count;
    uint64_t allocated;
    uint64_t durable;
    uint64_t next_offset;   //  where the next record starts in the file
    tradelog_window_t window;
    uint64_t indexed;       //  trades before it are in by_key and the window
    uint64_t replay_hashes[REPLAY_LAG];  //  of the keys of trades indexed .. count (< REPLAY_LAG)
    uint64_t key_oldest;    //  trades before it have no key in memory
    uint64_t keys_held;
    uint32_t opened_at;     //  the age of every replayed trade counts from here
    char **names;           //  every stock name a trade has, once
    uint32_t name_count;
    uint32_t names_allocated;
    strindex_t *by_name;    //  name -> its index in names + 1
    s_keys_t keys;
    strindex_t *by_key;     //  key -> number + 1
    msgpack_sbuffer buffer;
    bool stamped;           //  an order log: ORDEREC records, with stamps
    stamps_t *stamps;       //  stamped: every trade's stamp, as runs (NULL if not stamped)
    uint64_t carried;       //  stamped: the highest commit position a record carries
    const char *path;     //  only while replaying, for the reason
    char recovered[PATH_MAX + 160];   //  what open cut, "" if nothing
    char *error;
    size_t error_size;
};

//  ---------------------------------------------------------------------
//  Held keys

static const char *
s_keys_at (const s_keys_t *keys, uint64_t position)
{
    return keys->data + (position - keys->base);
}

//  Makes room for length more bytes at the end. Returns 0 or -1.
static int
s_keys_reserve (s_keys_t *keys, size_t length)
{
    if (keys->size - keys->used >= length)
        return 0;
    size_t size = keys->size ? keys->size : 4096;
    while (size - keys->used < length)
        size *= 2;
    char *data = realloc (keys->data, size);
    if (!data)
        return -1;
    keys->data = data;
    keys->size = size;
    return 0;
}

//  Adds key at the end (s_keys_reserve made room); returns its position.
static uint64_t
s_keys_add (s_keys_t *keys, const char *key)
{
    size_t length = strlen (key) + 1;
    uint64_t position = keys->base + keys->used;
    memcpy (keys->data + keys->used, key, length);
    keys->used += length;
    return position;
}

//  The key at position left, and every key before it.
static void
s_keys_drop (s_keys_t *keys, uint64_t position)
{
    keys->start = (size_t) (position - keys->base) + strlen (s_keys_at (keys, position)) + 1;
    if (keys->start < KEYS_COMPACT_MIN || keys->start < keys->used / 2)
        return;
    //  Copies at most as much as it frees: linear in the keys added.
    memmove (keys->data, keys->data + keys->start, keys->used - keys->start);
    keys->base += keys->start;
    keys->used -= keys->start;
    keys->start = 0;
    if (keys->used < keys->size / 4) {
        char *data = realloc (keys->data, keys->size / 2);
        if (data) {
            keys->data = data;
            keys->size /= 2;
        }
    }
}

//  strindex_string_fn of by_key and by_name.
static const char *
s_key_of (void *arg, uint64_t id)
{
    tradelog_t *self = arg;
    return s_keys_at (&self->keys, self->trades[id - 1].key_at);
}

static const char *
s_name_of (void *arg, uint64_t id)
{
    tradelog_t *self = arg;
    return self->names[id - 1];
}

//  ---------------------------------------------------------------------
//  Trades

//  The index of name in names, added if new. Returns it, or -1 if out of memory.
static int64_t
s_intern (tradelog_t *self, const char *name)
{
    uint64_t found = strindex_find (self->by_name, name);
    if (found)
        return (int64_t) found - 1;
    if (self->name_count == UINT32_MAX || strindex_reserve (self->by_name, self->name_count + 1))
        return -1;
    if (self->name_count == self->names_allocated) {
        uint32_t allocated = self->names_allocated ? self->names_allocated * 2 : 16;
        if (allocated < self->names_allocated)
            allocated = UINT32_MAX;
        char **names = realloc (self->names, allocated * sizeof (char *));
        if (!names)
            return -1;
        self->names = names;
        self->names_allocated = allocated;
    }
    char *copy = strdup (name);
    if (!copy)
        return -1;
    self->names[self->name_count++] = copy;
    strindex_insert (self->by_name, copy, self->name_count);
    return self->name_count - 1;
}

//  Checks trade and gets its memory ready: room in trades, the interned
//  name, room for the key in keys and by_key - unless it is replayed
//  under a window of none (a learner's): its key stays on file. Changes
//  nothing visible: an interned name nobody points at yet is harmless.
//  Returns 0 or -1.
static int
s_prepare (tradelog_t *self, const msg_trade_t *trade, bool replayed, s_trade_t *entry)
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
    int64_t name = s_intern (self, trade->name);
    if (name < 0)
        return -1;
    entry->name = (uint32_t) name;
    entry->quantity = (uint32_t) trade->quantity;
    entry->side = trade->side;
    entry->key = !*trade->key ? KEY_NONE
               : replayed && self->window.max_keys == 0 ? KEY_ON_DISK : KEY_HELD;
    entry->key_at = 0;
    if (entry->key == KEY_HELD
        && (s_keys_reserve (&self->keys, strlen (trade->key) + 1)
            || strindex_reserve (self->by_key, strindex_size (self->by_key)
                                                   + (self->count - self->indexed) + 1)))
        return -1;
    return 0;
}

//  Drops from memory the keys that left the window (tradelog_window_t),
//  counting the trades indexed (all of them, except during a replay).
static void
s_expire_keys (tradelog_t *self, uint32_t now)
{
    while (self->key_oldest < self->durable) {
        uint64_t following = self->indexed - self->key_oldest - 1;
        s_trade_t *entry = &self->trades[self->key_oldest];
        int64_t age_ms = ((int64_t) now - (int64_t) entry->at) * 1000;
        if (following < self->window.trades
            || (following < self->window.max_keys && age_ms < self->window.age_ms))
            break;
        if (entry->key == KEY_HELD) {
            //  Only if by_key finds this trade by it, not a later one's.
            strindex_remove (self->by_key, s_keys_at (&self->keys, entry->key_at),
                             self->key_oldest + 1);
            s_keys_drop (&self->keys, entry->key_at);
            entry->key = KEY_ON_DISK;
            self->keys_held--;
        }
        self->key_oldest++;
    }
}

//  Makes a prepared entry the next trade (key is trade's, held if it has
//  one), its record record_size bytes of payload at next_offset; by_key
//  and the window are s_index_next's.
static void
s_add (tradelog_t *self, s_trade_t *entry, const char *key, size_t record_size, uint32_t now)
{
    entry->offset = self->next_offset;
    entry->at = now;
    self->next_offset += JOURNAL_HEADER_SIZE + record_size;
    if (entry->key == KEY_HELD)
        entry->key_at = s_keys_add (&self->keys, key);
    self->trades[self->count++] = *entry;
}

//  The next trade not indexed yet goes into by_key (its key's hash given,
//  if it holds one), then the window moves past it.
static void
s_index_next (tradelog_t *self, uint64_t hash, uint32_t now)
{
    uint64_t number = self->indexed++;
    const s_trade_t *entry = &self->trades[number];
    //  A repeated key keeps its first number (insert refuses a duplicate).
    //  s_prepare made room: it cannot fail.
    if (entry->key == KEY_HELD) {
        strindex_insert_hashed (self->by_key, s_keys_at (&self->keys, entry->key_at), hash,
                                number + 1);
        self->keys_held++;
    }
    s_expire_keys (self, now);
}

//  Makes a prepared entry the next trade, indexed at once.
static void
s_add_indexed (tradelog_t *self, s_trade_t *entry, const char *key, size_t record_size,
               uint32_t now)
{
    s_add (self, entry, key, record_size, now);
    s_index_next (self, entry->key == KEY_HELD ? strindex_hash (self->by_key, key) : 0, now);
}

//  A stamped log: the next trade's stamp, and the commit position its
//  record carries. Cannot fail (out of memory aborts).
static void
s_add_stamp (tradelog_t *self, uint64_t stamp, uint64_t commit)
{
    if (!self->stamped)
        return;
    stamps_append (self->stamps, stamp, 1);
    if (commit > self->carried)
        self->carried = commit;
}

//  Indexes the next replayed trade as if it had just been read: the
//  trades before it are durable (on file), it is not yet.
static void
s_replay_index_next (tradelog_t *self)
{
    self->durable = self->indexed;
    s_index_next (self, self->replay_hashes[self->indexed % REPLAY_LAG], self->opened_at);
}

static int
s_replay_record (const void *data, size_t size, void *arg)
{
    tradelog_t *self = arg;
    //  Not msg_decode: clearing a whole msg_t per record was a tenth of
    //  the replay of a million.
    msg_trade_t trade;
    uint64_t stamp = 0, commit = 0;
    int rc = self->stamped ? msg_decode_order (data, size, &trade, &stamp, &commit)
                           : msg_decode_trade (data, size, &trade);
    if (rc != MSG_DECODE_OK) {
        snprintf (self->error, self->error_size,
                  "%s: record %" PRIu64 " is not a trade: refusing to start", self->path,
                  self->count);
        return -1;
    }
    s_trade_t entry;
    if (s_prepare (self, &trade, true, &entry)) {
        snprintf (self->error, self->error_size, "%s: record %" PRIu64 " %s: refusing to start",
                  self->path, self->count,
                  trade.number != self->count ? "out of order" : "cannot be kept");
        return -1;
    }
    s_add_stamp (self, stamp, commit);
    s_add (self, &entry, trade.key, size, self->opened_at);
    //  Index it REPLAY_LAG records later, its slot in by_key asked for now.
    if (entry.key == KEY_HELD) {
        uint64_t hash = strindex_hash (self->by_key, trade.key);
        self->replay_hashes[(self->count - 1) % REPLAY_LAG] = hash;
        strindex_prefetch (self->by_key, hash);
    }
    if (self->count - self->indexed == REPLAY_LAG)
        s_replay_index_next (self);
    return 0;
}

//  Huge pages for the whole 2 MB pages inside data[0 .. size) (where the
//  system gives them on request: transparent_hugepage "madvise"): a
//  replay then takes a page fault per 2 MB, not per 4 KB, and faults were
//  a fifth of a replica's start with a million trades.
static void
s_advise_huge (void *data, size_t size)
{
    uintptr_t first = ((uintptr_t) data + HUGE_PAGE - 1) & ~(uintptr_t) (HUGE_PAGE - 1);
    uintptr_t end = ((uintptr_t) data + size) & ~(uintptr_t) (HUGE_PAGE - 1);
    if (end > first)
        madvise ((void *) first, end - first, MADV_HUGEPAGE);
}

//  After the replay: gives back what the huge page holding the end of
//  data[0 .. used) holds past it (faulted in whole), so memory per trade
//  stays what the trades use. Appends fault it in again (khugepaged may
//  make it one huge page again: at most 2 MB per array).
static void
s_release_tail (void *data, size_t used, size_t size)
{
    uintptr_t page = (uintptr_t) sysconf (_SC_PAGESIZE);
    uintptr_t from = ((uintptr_t) data + used + page - 1) & ~(page - 1);
    uintptr_t to = (from + HUGE_PAGE - 1) & ~(uintptr_t) (HUGE_PAGE - 1);
    uintptr_t end = ((uintptr_t) data + size) & ~(page - 1);
    if (to > end)
        to = end;
    if (to > from)
        madvise ((void *) from, to - from, MADV_DONTNEED);
}

//  Room for every record a file of size bytes can hold, before the
//  replay: arrays grown by doubling copied up to 64 MB for a million
//  trades and faulted their pages in twice. Pages never written cost
//  no memory, so the bound may be generous; it is only a hint: where the
//  system refuses it (more than it has), the arrays grow as they go.
static void
s_reserve (tradelog_t *self, uint64_t size)
{
    uint64_t records = size / RECORD_MIN;
    if (size < RESERVE_MIN_FILE || records > SIZE_MAX / sizeof (s_trade_t))
        return;
    s_trade_t *trades = realloc (self->trades, records * sizeof (s_trade_t));
    if (!trades)
        return;
    self->trades = trades;
    self->allocated = records;
    s_advise_huge (trades, records * sizeof (s_trade_t));
    //  Keys are bytes of their records (none held: a learner's window).
    if (self->window.max_keys && s_keys_reserve (&self->keys, size) == 0)
        s_advise_huge (self->keys.data, self->keys.size);
}

static tradelog_t *
s_open (const char *path, bool sync, bool stamped, const tradelog_window_t *window,
        char *error, size_t error_size)
{
    tradelog_t *self = mem_calloc (1, sizeof (tradelog_t));
    self->stamped = stamped;
    self->stamps = stamped ? stamps_new () : NULL;
    msgpack_sbuffer_init (&self->buffer);
    self->by_name = strindex_new (s_name_of, self);
    self->by_key = strindex_new (s_key_of, self);
    self->window = window ? *window
                          : (tradelog_window_t) {TRADELOG_WINDOW_TRADES, TRADELOG_WINDOW_AGE_MS,
                                                 TRADELOG_KEYS_MAX};
    if (self->window.max_keys < self->window.trades)
        self->window.max_keys = self->window.trades;
    self->opened_at = (uint32_t) time (NULL);
    self->path = path;
    self->error = error;
    self->error_size = error_size;
    struct stat file;
    if (stat (path, &file) == 0)
        s_reserve (self, (uint64_t) file.st_size);
    self->journal = journal_open (path, sync, s_replay_record, self);
    //  Zeros ahead only pay where each sync is an fdatasync.
    if (self->journal && sync)
        journal_preallocate (self->journal, PREALLOCATE_CHUNK);
    self->path = NULL;
    self->error = NULL;
    uint64_t bad, good;
    if (!self->journal && errno == EUCLEAN && journal_find_corruption (path, &bad, &good) == 0)
        snprintf (error, error_size,
                  "%s: a corrupt record at byte offset %" PRIu64 " is followed by a good one at "
                  "offset %" PRIu64 ": refusing to truncate (that would drop acknowledged "
                  "records); move the file away and start the process again: it copies the "
                  "committed trades from the replicas",
                  path, bad, good);
    else
    if (!self->journal && errno != EBADMSG)     //  EBADMSG: s_replay_record told why
        snprintf (error, error_size, "%s: %s", path, journal_strerror (errno));
    if (!self->journal) {
        tradelog_destroy (&self);
        return NULL;
    }
    //  Recovery says what it did (like Redis for a truncated AOF); the
    //  process's main logs it (tradelog_recovered).
    if (journal_redone (self->journal))
        snprintf (self->recovered, sizeof (self->recovered),
                  "%s: finished a cut that a crash interrupted (%s.cut): %" PRIu64
                  " bytes of records rewritten; %" PRIu64 " records now",
                  path, path, journal_redone (self->journal), self->count);
    else
    if (journal_truncated (self->journal))
        snprintf (self->recovered, sizeof (self->recovered),
                  "%s: cut a torn last record: %" PRIu64 " bytes at byte offset %" PRIu64
                  " (after %" PRIu64 " whole records)",
                  path, journal_truncated (self->journal), journal_size (self->journal),
                  self->count);
    while (self->indexed < self->count)
        s_replay_index_next (self);
    self->durable = self->count;    //  replayed: on file
    if (self->trades)
        s_release_tail (self->trades, self->count * sizeof (s_trade_t),
                        self->allocated * sizeof (s_trade_t));
    if (self->keys.data)
        s_release_tail (self->keys.data, self->keys.used, self->keys.size);
    return self;
}

tradelog_t *
tradelog_open (const char *path, bool sync, const tradelog_window_t *window, char *error,
               size_t error_size)
{
    return s_open (path, sync, false, window, error, error_size);
}

tradelog_t *
tradelog_open_stamped (const char *path, bool sync, const tradelog_window_t *window,
                       char *error, size_t error_size)
{
    return s_open (path, sync, true, window, error, error_size);
}

void
tradelog_destroy (tradelog_t **self_p)
{
    if (!*self_p)
        return;
    tradelog_t *self = *self_p;
    journal_destroy (&self->journal);
    strindex_destroy (&self->by_key);
    free (self->keys.data);
    free (self->trades);
    stamps_destroy (&self->stamps);
    strindex_destroy (&self->by_name);
    for (uint32_t i = 0; i < self->name_count; i++)
        free (self->names[i]);
    free (self->names);
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

const char *
tradelog_recovered (tradelog_t *self)
{
    return *self->recovered ? self->recovered : NULL;
}

int
tradelog_append (tradelog_t *self, const msg_trade_t *trade)
{
    return tradelog_append_stamped (self, trade, 0, 0);
}

int
tradelog_append_stamped (tradelog_t *self, const msg_trade_t *trade, uint64_t stamp,
                         uint64_t commit)
{
    s_trade_t entry;
    if (s_prepare (self, trade, false, &entry))
        return -1;
    msg_t record;
    msg_set_trade (&record, self->stamped ? MSG_ORDEREC : MSG_TRADEREC, trade);
    record.stamp = stamp;
    record.commit = commit;
    //  A refusal here leaves only room made by s_prepare: harmless.
    if (msg_encode (&record, &self->buffer)
        || journal_append (self->journal, self->buffer.data, self->buffer.size))
        return -1;
    s_add_stamp (self, stamp, commit);
    s_add_indexed (self, &entry, trade->key, self->buffer.size, (uint32_t) time (NULL));
    return 0;
}

uint64_t
tradelog_stamp (tradelog_t *self, uint64_t number)
{
    return self->stamped && number < self->count ? stamps_get (self->stamps, number) : 0;
}

const stamps_t *
tradelog_stamps (tradelog_t *self)
{
    return self->stamps;
}

uint64_t
tradelog_carried_commit (tradelog_t *self)
{
    return self->carried < self->count ? self->carried : self->count;
}

int
tradelog_truncate (tradelog_t *self, uint64_t count)
{
    if (count > self->count || self->durable != self->count) {
        errno = EINVAL;
        return -1;
    }
    if (count == self->count)
        return 0;
    if (journal_truncate (self->journal, self->trades[count].offset))
        return -1;
    for (uint64_t number = self->count; number-- > count;) {
        s_trade_t *entry = &self->trades[number];
        if (entry->key != KEY_HELD)
            continue;
        //  Only if by_key finds this trade by it, not an earlier one's.
        strindex_remove (self->by_key, s_keys_at (&self->keys, entry->key_at), number + 1);
        self->keys.used = (size_t) (entry->key_at - self->keys.base);
        self->keys_held--;
    }
    self->next_offset = self->trades[count].offset;
    self->count = self->indexed = self->durable = count;
    if (self->stamped)
        stamps_cut (self->stamps, count);
    if (self->key_oldest > count)
        self->key_oldest = count;
    if (self->carried > count)
        self->carried = count;
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
    log_info ("%s: %" PRIu64 " trades written in %" PRIu64 " batches (%.2f per batch)", what,
              records, syncs, syncs ? (double) records / (double) syncs : 0.0);
    if (self->window.max_keys == 0)
        log_info ("%s: %" PRIu64 " idempotency keys held in memory (none kept once durable: "
                  "a learner)", what, self->keys_held);
    else
        log_info ("%s: %" PRIu64 " idempotency keys held in memory (the last %" PRIu64
                  " trades, or %" PRId64 " s, at most %" PRIu64 ")", what, self->keys_held,
                  self->window.trades, self->window.age_ms / 1000, self->window.max_keys);
}

static int
s_flush (tradelog_t *self, int (*flush) (journal_t *))
{
    if (flush (self->journal))
        return -1;
    self->durable = self->count;
    s_expire_keys (self, (uint32_t) time (NULL));
    return 0;
}

int
tradelog_sync (tradelog_t *self)
{
    return s_flush (self, journal_sync);
}

int
tradelog_write (tradelog_t *self)
{
    return s_flush (self, journal_write);
}

//  Copies a name or key held here (at most MSG_KEY_MAX and MSG_NAME_MAX
//  bytes: s_prepare took them from a msg_trade_t) into a msg_trade_t field.
static void
s_copy (char *dest, const char *src)
{
    memcpy (dest, src, strlen (src) + 1);
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
        || msg_decode (&record, data, size)
        || record.type != (self->stamped ? MSG_ORDEREC : MSG_TRADEREC)
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
    s_copy (trade->name, self->names[entry->name]);
    trade->side = entry->side;
    trade->quantity = entry->quantity;
    s_copy (trade->key, entry->key == KEY_HELD ? s_keys_at (&self->keys, entry->key_at) : "");
    if (entry->key == KEY_ON_DISK)
        return s_key_from_disk (self, number, trade);
    return 0;
}

void
tradelog_range (tradelog_t *self, uint64_t from, uint64_t end, uint64_t max, msg_t *reply)
{
    if (end > self->count)
        end = self->count;
    uint64_t count = from < end ? end - from : 0;
    if (count > max)
        count = max;
    reply->trades = count ? mem_calloc (count, sizeof (msg_trade_t)) : NULL;
    reply->trade_count = count;
    for (uint64_t i = 0; i < count; i++)
        tradelog_get (self, from + i, &reply->trades[i]);
}

uint32_t
tradelog_names (tradelog_t *self)
{
    return self->name_count;
}

const char *
tradelog_name (tradelog_t *self, uint32_t name)
{
    return name < self->name_count ? self->names[name] : NULL;
}

int
tradelog_peek (tradelog_t *self, uint64_t number, uint32_t *name, int *side, uint64_t *quantity)
{
    if (number >= self->count)
        return -1;
    const s_trade_t *entry = &self->trades[number];
    *name = entry->name;
    *side = entry->side;
    *quantity = entry->quantity;
    return 0;
}

int64_t
tradelog_find_key (tradelog_t *self, const char *key)
{
    if (!key || !*key)
        return -1;
    uint64_t found = strindex_find (self->by_key, key);
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
