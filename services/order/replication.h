/*  replication.h - a replica's links to the other replicas.

    Sockets it owns:
      pub  PUB bound on --pub: the leader publishes REPLICATE (epoch,
           number, trade) for every order it appends, before its own sync,
           so its fdatasync and the followers' overlap.
      rep  ROUTER bound on --rep: answers RANGE with durable trades (REQ
           framing) and takes followers' ACKs (not answered).
      sub  SUB connected to the current leader's PUB only (followers).

    Acknowledgement rule (leader): a COMMITTED reply is held (held.h)
    until the leader's own sync covers its number and, while at least one
    follower is in sync, until an in-sync follower acknowledged it. A follower is
    in sync from the ACK that covers the leader's durable count until it
    has not acknowledged for REPLICATION_LAG_MS, or a reply has waited
    that long for it. With no follower in sync the leader answers alone
    (the catalog journal is then the second copy) and says so.
*/
#ifndef BAZAAR_REPLICATION_H
#define BAZAAR_REPLICATION_H

#include "held.h"
#include "peers.h"
#include "tradelog.h"

#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#define REPLICATION_LAG_MS 300     //  in-sync bound: no ACK for this long leaves the set
#define REPLICATION_ACK_MS 100     //  a follower ACKs at least this often

typedef struct _replication_t replication_t;

typedef struct {
    uint64_t published;           //  REPLICATE messages sent
    uint64_t answered_alone;      //  replies released with no follower in sync
    uint64_t isr_changes;
} replication_stats_t;

//  Bind pub and rep for replica replica_id, serving log (not owned) and
//  releasing the replies held (not owned) for the ACKs. Returns NULL and
//  a reason in error.
replication_t *replication_new (tradelog_t *log, held_t *held, uint64_t replica_id,
                                const char *pub, const char *rep, char *error,
                                size_t error_size);

void replication_destroy (replication_t **self_p);

//  Fill poll items for the sockets that receive. Returns the count.
size_t replication_poll_items (replication_t *self, zmq_pollitem_t *items, size_t max);

//  Lead under epoch: nobody is in sync until they acknowledge.
void replication_lead (replication_t *self, uint64_t epoch);

//  Follow leader_id (0: none) at epoch, subscribing to its pub only.
void replication_follow (replication_t *self, uint64_t leader_id, uint64_t epoch,
                         const char *pub);

//  Leader: publish a trade just appended to the log.
void replication_publish (replication_t *self, const msg_trade_t *trade);

//  After a sync, answer every reply held for the ACKs that the rule
//  allows. Not leading (stepped down): every one the log holds durably.
void replication_release (replication_t *self);

//  Receive everything waiting: answer RANGE requests, record ACKs, and
//  (following) append REPLICATEs that are next in order. Returns -1 if
//  an append failed (stop), else the number of orders appended. Sets
//  *gap when a REPLICATE beyond the log arrived.
int replication_drain (replication_t *self, bool *gap);

//  Follower: after a sync, acknowledge the durable count to the leader
//  through peers, if it grew or REPLICATION_ACK_MS passed.
void replication_ack (replication_t *self, peers_t *peers);

//  With false, the leader answers after its own sync alone (for
//  benchmarks: measures what the follower acknowledgement costs).
void replication_set_require_ack (replication_t *self, bool require_ack);

//  Leader: number of followers in sync now.
size_t replication_in_sync (replication_t *self);

//  Leader: the ids of the followers in sync now, at most max of them,
//  into ids. Returns the count (0 when not leading).
size_t replication_in_sync_ids (replication_t *self, uint64_t *ids, size_t max);

const replication_stats_t *replication_stats (replication_t *self);

#endif
