/*  order_log.h - a replica's orders: an append-only file and an index.

    The file order-N.log holds one TRADEREC record per order, numbered
    0, 1, 2, ... with no gap. Every order is also kept in memory, indexed
    by number (an array), so reading an order never touches the file.
    Idempotency keys are kept in the records; the catalog, which commits
    trades, is where a repeated key is recognised.
*/
#ifndef BAZAAR_ORDER_LOG_H
#define BAZAAR_ORDER_LOG_H

#include "msgs.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct _order_log_t order_log_t;

//  Open (or create) dir/order-<replica_id>.log and load every order.
//  Returns NULL and a reason in error.
order_log_t *order_log_open (const char *dir, uint64_t replica_id, bool sync, char *error,
                             size_t error_size);

void order_log_destroy (order_log_t **self_p);

//  Number of orders (the next number).
uint64_t order_log_count (order_log_t *self);

//  Append trade, whose number must be order_log_count. Returns 0, or -1
//  if the number is not the next one or memory ran out. The order is
//  durable only after order_log_sync.
int order_log_append (order_log_t *self, const msg_trade_t *trade);

//  Make appended orders durable. Returns 0 or -1 (errno set).
int order_log_sync (order_log_t *self);

//  Fill trade with order number. Returns 0, or -1 if there is none.
int order_log_get (order_log_t *self, uint64_t number, msg_trade_t *trade);

#endif
