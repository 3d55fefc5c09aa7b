/*  order.h - an order replica: leads or follows, keeps every committed
    order in its log, answers order queries.

    The catalog is the commit point and numbers trades. The broker names
    the leader (the highest id not catching up); the leader claims an
    epoch from the catalog (CLAIM), sends APPLY under it, appends what
    the catalog committed, publishes it to the followers (replication.h)
    and answers once its own sync and an in-sync follower's ACK cover it.

    Modules: order.c runs the loop (receive everything, sync once, then
    send: the group commit) and the role transitions; catchup.h copies
    what peers and the catalog hold beyond the log; held.h holds, with
    their deadlines, the replies and queries that must wait (for the log,
    for the ACKs, for a JOURNAL round); replication.h is the links to the
    other replicas and the ACK rule; upstream.h is the link to the
    catalog (a trade waits there while the catalog answers APPLY).

    Roles, as heartbeats report them (MSG_ROLE_*):
      catching-up  started: copies from every peer (RANGE) and then the
                   catalog (JOURNAL) what they hold beyond its log
      follower     applies the leader's PUB in order, fills gaps by range
      candidate    named leader: catches up from every peer and the
                   catalog again, then claims an epoch
      leader       serves trades under its epoch; steps down when the
                   broker names another or the catalog says it is stale
*/
#ifndef BAZAAR_ORDER_H
#define BAZAAR_ORDER_H

#include "tradelog.h"

typedef struct _order_t order_t;

typedef struct {
    uint64_t replica_id;
    const char *broker;
    const char *pub;
    const char *rep;
    int64_t catalog_timeout_ms;   //  APPLY without an answer -> 503
    bool follower_ack;            //  wait for an in-sync follower's ACK (default)
} order_config_t;

//  Serve log (the replica takes ownership). Returns NULL and a reason in
//  error if an endpoint cannot be bound or connected.
order_t *order_new (tradelog_t **log_p, const order_config_t *config, char *error,
                    size_t error_size);

void order_destroy (order_t **self_p);

//  Catch up, then follow or lead until interrupted. Returns 0, or -1 if
//  the log could not be written or synced or the broker refused this
//  replica id (another live process has it): the process must exit.
int order_run (order_t *self);

#endif
