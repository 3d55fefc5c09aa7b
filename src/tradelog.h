/*  tradelog.h - a log of committed trades: one file, replayed into memory.

    The one owner of the trade record on disk. The file is a journal
    (journal.h) of TRADEREC records (msgs.h), numbered 0, 1, 2, ... with
    no gap. The catalog's catalog.journal and every replica's
    order-N.log are tradelogs, so a replica that appends the catalog's
    trades in order writes the same bytes: "byte-identical" holds by
    construction.

    Every trade is also kept in memory (stock names interned, a key only
    when there is one), so reading a trade never touches the file -
    except for the key of a trade older than the key window: keys are
    held in memory (and found by tradelog_find_key) for a bounded window
    only, tradelog_window_t, and an older trade's key is read back from
    its record when a copy of the trade is asked for (tradelog_get).
    Appends are queued; tradelog_sync makes them durable with one write
    and one fdatasync (the group commit). Nothing may be acknowledged
    before tradelog_sync returned 0.
*/
#ifndef BAZAAR_TRADELOG_H
#define BAZAAR_TRADELOG_H

#include "msgs.h"
#include "stamps.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _tradelog_t tradelog_t;

//  Which idempotency keys are held in memory. The key of trade n is held
//  while fewer than `trades` trades follow it, or while it is younger
//  than age_ms and fewer than max_keys trades follow it; max_keys bounds
//  the memory whatever the trade rate. A trade's age counts from when it
//  was appended, or from tradelog_open for a replayed one (the files hold
//  no time): a restart never shortens the window. Keys of trades not yet
//  durable are always held. max_keys 0: none, a learner's window (the
//  leader deduplicates; a learner applies what committed): a replay holds
//  no key, an append's only until it is durable.
typedef struct {
    uint64_t trades;
    int64_t age_ms;
    uint64_t max_keys;
} tradelog_window_t;

#define TRADELOG_WINDOW_NONE ((tradelog_window_t) {0, 0, 0})   //  a learner's

#define TRADELOG_WINDOW_TRADES 1000000                 //  the last million trades
#define TRADELOG_WINDOW_AGE_MS (24LL * 3600 * 1000)    //  or the last 24 hours
#define TRADELOG_KEYS_MAX 10000000                     //  but never more than this

//  Open or create the log at path (its directory must exist), replaying
//  every record into memory; a torn tail is truncated. If sync is false,
//  tradelog_sync only writes (no fdatasync). window says which keys stay
//  in memory (NULL: the defaults above). Returns NULL and a reason in
//  error ("path: record 3 out of order: refusing to start", or the
//  journal_strerror text).
tradelog_t *tradelog_open (const char *path, bool sync, const tradelog_window_t *window,
                           char *error, size_t error_size);

//  The same for an order replica's log: ORDEREC records, each with the
//  stamp the consensus core gave its entry (consensus.h) and the commit
//  position the replica had when it wrote it.
tradelog_t *tradelog_open_stamped (const char *path, bool sync, const tradelog_window_t *window,
                                   char *error, size_t error_size);

//  Idempotency keys held in memory now.
uint64_t tradelog_keys_held (tradelog_t *self);

//  Close the log without syncing queued trades. Nothing on NULL.
void tradelog_destroy (tradelog_t **self_p);

//  Number of trades appended, replayed ones included (the next number).
uint64_t tradelog_count (tradelog_t *self);

//  Number of trades made durable by tradelog_sync (or written by
//  tradelog_write); every replayed trade counts as durable.
uint64_t tradelog_durable (tradelog_t *self);

//  Bytes of torn tail cut off the file when it was opened (0 if none),
//  for the caller to log what recovery did.
uint64_t tradelog_truncated (tradelog_t *self);

//  What opening the file had to recover, for the process to log, or NULL
//  if the file was whole: "PATH: cut a torn last record: B bytes at byte
//  offset O (after N whole records)".
const char *tradelog_recovered (tradelog_t *self);

//  Append trade, whose number must be tradelog_count, whose side is buy
//  or sell and whose quantity is at most MSG_QUANTITY_MAX. Memory and
//  the journal's queue change together or not at all (a refusal or a
//  failed allocation leaves both as they were). Returns 0 or -1. The
//  trade is durable only after tradelog_sync.
int tradelog_append (tradelog_t *self, const msg_trade_t *trade);

//  tradelog_append for a stamped log: the record carries stamp and commit
//  (the writer's commit position: restart takes the highest one a
//  record carries, tradelog_carried_commit).
int tradelog_append_stamped (tradelog_t *self, const msg_trade_t *trade, uint64_t stamp,
                             uint64_t commit);

//  A stamped log: trade number's stamp (0 if none), every trade's stamp
//  as runs (stamps.h: stamps_length is the count; the log's own, valid
//  as long as it and changed by its appends and cuts; NULL if the log is
//  not stamped), and the highest commit position a record carries (at
//  most the count).
uint64_t tradelog_stamp (tradelog_t *self, uint64_t number);
const stamps_t *tradelog_stamps (tradelog_t *self);
uint64_t tradelog_carried_commit (tradelog_t *self);

//  Cut the log to its first count trades, durably with the next
//  tradelog_sync (which then syncs even with nothing appended): for an
//  uncommitted suffix the consensus core replaces. Everything appended
//  must be synced first. Keys of the cut trades leave the index. Returns
//  0, or -1 with errno set.
int tradelog_truncate (tradelog_t *self, uint64_t count);

//  Make appended trades durable (journal_sync: one write + one
//  fdatasync). Returns 0, or -1 with errno set. On failure the process
//  must stop: memory is ahead of the disk.
int tradelog_sync (tradelog_t *self);

//  Write appended trades to the file without fdatasync (journal_write):
//  for a log that can be copied again after a machine crash (a
//  catalog's). The next tradelog_sync makes them durable.
int tradelog_write (tradelog_t *self);

//  Log how many trades were written in how many syncs since open (at
//  exit: the benchmark reads fdatasyncs per trade from it). what names
//  the log.
void tradelog_log_counts (tradelog_t *self, const char *what);

//  Fill trade with trade number. Returns 0, or -1 if there is none (or,
//  logged, if the record of a trade whose key left the window cannot be
//  read back). Touches the file only for such a trade's key.
int tradelog_get (tradelog_t *self, uint64_t number, msg_trade_t *trade);

//  Fill reply (a TRADES message) with the trades from number from up to
//  end (not included; a commit position, or tradelog_count), at most max
//  of them: none if from is not below end. The caller resets reply.
void tradelog_range (tradelog_t *self, uint64_t from, uint64_t end, uint64_t max,
                     msg_t *reply);

//  The stock names the trades name, numbered 0 .. tradelog_names - 1 in
//  the order they first appear (tradelog_name gives one, valid as long
//  as the log), and what a stock needs of trade number: its name's
//  number, side and quantity, without copying a string or touching the
//  file. The catalog replays its stocks with them: a million trades
//  cost a million lookups by name otherwise. tradelog_peek returns 0, or
//  -1 if there is no trade number.
uint32_t tradelog_names (tradelog_t *self);
const char *tradelog_name (tradelog_t *self, uint32_t name);
int tradelog_peek (tradelog_t *self, uint64_t number, uint32_t *name, int *side,
                   uint64_t *quantity);

//  The number of the (first) trade with idempotency key, or -1 if none
//  in the key window has it or key is empty.
int64_t tradelog_find_key (tradelog_t *self, const char *key);

//  Encode trade as the exact bytes the log writes for it (one framed
//  journal record), appending them to out: for tools that rebuild or
//  compare files. Returns 0, or -1 (out unchanged) if it cannot be
//  encoded.
int tradelog_record (const msg_trade_t *trade, msgpack_sbuffer *out);

#endif
