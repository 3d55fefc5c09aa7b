/*  store.h - stocks and the log of trades they follow: the catalog's
    (catalog.stocks, catalog.journal) and, with stamps, an order
    replica's (order-N.stocks, order-N.log: store_open_config).

    Files in the data directory:
      catalog.stocks   STOCKDEF records: the initial list, written once
                       (tmp file, fdatasync, rename, fsync of the dir)
      catalog.journal  TRADEREC records: every committed trade, numbered
                       0, 1, 2, ... with no gap (a tradelog, tradelog.h)
    The quantities are never written: they are the initial list replayed
    with the journal, so they cannot disagree with it.

    The store follows a log whose order the replicas agreed on (the
    majority-committed log is the commit point, services/order/): a
    catalog restores committed trades into it (store_restore), a replica
    appends its consensus entries (store_append_entry) once store_check
    passed them. Either queues the record in memory; store_sync makes the
    queued records durable, and nothing may be acknowledged before it
    returned 0.
*/
#ifndef BAZAAR_STORE_H
#define BAZAAR_STORE_H

#include "msgs.h"
#include "tradelog.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct _store_t store_t;

typedef struct {
    char name[MSG_NAME_MAX + 1];
    double price;
    uint64_t quantity;
    uint64_t version;     //  1 + number of the last trade on it, 0 if none
} store_stock_t;

//  Open the store in dir (created if missing). If it holds no stocks yet,
//  they come from stocks_file ("name price [quantity]" lines) or, if that
//  is NULL, the SPEC's initial ten. key_window says which idempotency
//  keys are remembered (tradelog.h; NULL: the defaults). Returns NULL and
//  a reason in error.
store_t *store_open (const char *dir, const char *stocks_file, bool sync,
                     const tradelog_window_t *key_window, char *error, size_t error_size);

//  Files <dir>/<name>.stocks and <dir>/<name>.<log_suffix>; stamped: the
//  log is an order replica's (tradelog_open_stamped).
typedef struct {
    const char *dir;
    const char *name;
    const char *log_suffix;
    bool stamped;
    const char *stocks_file;
    bool sync;
    const tradelog_window_t *key_window;
} store_config_t;

store_t *store_open_config (const store_config_t *config, char *error, size_t error_size);

//  Read one record of a stocks file (<name>.stocks) into stock (its
//  quantity the initial one, version 0): the one reader of that format,
//  for the store and for bazaar-client verify. Returns 0, or -1 and why
//  it is not a stock definition in why (the decoder's error, or the
//  record's type).
int store_read_stockdef (const void *data, size_t size, store_stock_t *stock, char *why,
                         size_t why_size);

void store_destroy (store_t **self_p);

//  What opening the store had to recover, for the process to log: the
//  index-th thing done (a torn last record cut off the trade log, with
//  the file, the bytes and the offset; a cut a crash interrupted,
//  finished), or NULL past the last. Nothing if the files were whole. A
//  damaged <name>.stocks is never cut: store_open refuses it.
const char *store_recovered (store_t *self, size_t index);

//  Whether a trade on stock name may apply now (MSG_ERR_OK or why not:
//  STOCK_NOT_FOUND, NOT_ENOUGH, INVALID_QUANTITY, MALFORMED); *stock is
//  the stock (NULL if none). Changes nothing.
msg_error_t store_check (store_t *self, const char *name, int side, uint64_t quantity,
                         const store_stock_t **stock);

//  Stamped store: append trade (numbered store_trade_count) with its
//  stamp and the writer's commit position, and apply it to its stock.
//  Returns 0, or -1 (nothing changed) if it does not apply.
int store_append_entry (store_t *self, const msg_trade_t *trade, uint64_t stamp,
                        uint64_t commit);

//  Cut the log to count trades (tradelog_truncate) and replay the stocks
//  from the initial list and what is left. Returns 0 or -1.
int store_truncate (store_t *self, uint64_t count);

//  The trade log (owned by the store).
tradelog_t *store_log (store_t *self);

//  The trade log's file name ("catalog.journal", "order-3.log"), for messages.
const char *store_log_name (store_t *self);

//  The stock called name, or NULL.
const store_stock_t *store_lookup (store_t *self, const char *name);

//  Fill msg (a STOCKS reply) with every stock sorted by name. Returns 0 or -1.
int store_list (store_t *self, msg_t *msg);

//  Append a trade the replicas committed (a learner's): its number must
//  be store_trade_count and it must apply to the stocks. Its key is not
//  checked: the leader deduplicates, and a key it forgot (beyond its
//  window) may come again in a later trade. Returns MSG_ERR_OK or an
//  error: STOCK_NOT_FOUND; MALFORMED for the wrong number or a side
//  neither buy nor sell; NOT_ENOUGH; INVALID_QUANTITY; INTERNAL.
//  On error nothing changed. Durable only after store_sync.
msg_error_t store_restore (store_t *self, const msg_trade_t *trade);

//  Log trades written and syncs since open (see tradelog_log_counts).
void store_log_counts (store_t *self);

//  Make applied trades durable. Returns 0 or -1 (errno set). On failure
//  the process must stop: memory is ahead of the disk.
int store_sync (store_t *self);

//  Write the queued records without fdatasync (tradelog_write).
int store_write (store_t *self);

//  Number of committed trades (the next number).
uint64_t store_trade_count (store_t *self);

//  Fill trade with trade number. Returns 0, or -1 if there is none.
int store_trade (store_t *self, uint64_t number, msg_trade_t *trade);

#endif
