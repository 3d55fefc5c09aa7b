/*  replica.h - an order replica: a member of the consensus that keeps the
    order log, leads when the broker names it and a majority promised.

    The replicas' majority-committed log is the commit point (SPEC §3).
    The broker names the candidate (the highest id not catching up); the
    named replica campaigns (node.h, consensus.h) and leads once a
    majority promised it an epoch. The leader checks a trade against the
    state its log derives (stocks and idempotency keys: store.h), proposes
    it, and its reply waits in held.h until the entry commits.

    Modules: replica.c runs the loop (receive everything, sync once, then
    send: the group commit), the trades and the queries; node.h is the
    consensus core with its disk and sockets; held.h parks the replies.

    Roles, as heartbeats report them (MSG_ROLE_*):
      follower     a member that does not lead (it accepts the leader's
                   APPENDs, answers queries of committed orders)
      candidate    named by the broker, campaigning for an epoch
      leader       a majority promised it its epoch: serves trades
      catching-up  for a while after it lost its quorum or a campaign,
                   so the broker names the next highest id instead
*/
#ifndef BAZAAR_REPLICA_H
#define BAZAAR_REPLICA_H

#include "store.h"

#include <stdint.h>

typedef struct _replica_t replica_t;

typedef struct {
    uint64_t replica_id;
    const char *broker;
    const char *pub;
    const char *rep;
    const uint32_t *members;
    size_t n_members;
    const char *promise_path;
    const char *joining_path;    //  order-N.joining, while it joins (node.h)
    bool new_system;             //  --new
    int64_t timeout_ms;          //  quorum timeout: a leader without a majority steps down
} replica_config_t;

//  Serve store (the replica takes ownership). Returns NULL and a reason
//  in error if the promise file is damaged or an endpoint cannot be
//  bound or connected.
replica_t *replica_new (store_t **store_p, const replica_config_t *config, char *error,
                      size_t error_size);

void replica_destroy (replica_t **self_p);

//  Follow or lead until interrupted. Returns 0, or -1 if the disk failed
//  or the broker refused this replica id (another live process has it):
//  the process must exit.
int replica_run (replica_t *self);

#endif
