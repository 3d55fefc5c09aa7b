/*  order.h - an order replica: places trades through the catalog, keeps
    every committed order in its log, answers order queries.

    The catalog is the commit point and assigns transaction numbers: a
    trade is committed once the catalog's journal holds it. The replica
    then appends it to its own log, syncs, and only then acknowledges.
    A replica that starts, or finds a gap (a trade committed while it was
    down or after its own request timed out), copies the missing trades
    from the catalog's journal (JOURNAL requests) before it serves, so its
    log and the catalog never disagree and numbers are never reused.
*/
#ifndef BAZAAR_ORDER_H
#define BAZAAR_ORDER_H

#include "order_log.h"

typedef struct _order_t order_t;

typedef struct {
    uint64_t replica_id;
    const char *broker;
    const char *pub;
    const char *rep;
    int64_t catalog_timeout_ms;   //  APPLY without an answer -> 503
} order_config_t;

//  Serve log (the replica takes ownership). Returns NULL if pub cannot bind.
order_t *order_new (order_log_t **log_p, const order_config_t *config);

void order_destroy (order_t **self_p);

//  Catch up with the catalog, then serve until interrupted. Returns 0, or
//  -1 if the log could not be synced (the process must exit).
int order_run (order_t *self);

#endif
