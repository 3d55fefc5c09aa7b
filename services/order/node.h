/*  node.h - an order replica's consensus member: the core (consensus.h)
    with its disk and its sockets.

    The node feeds the core what arrives (CS_* messages, time, the
    broker's naming, the leader's proposals), and does what each ready
    asks, in the core's order: persist, then send.

    Persist: the promise goes to order-N.promise (promise.h); a cut goes
    to the log at once (after syncing what was queued) and is durable
    with the turn's sync; entries are appended to the log (the store,
    store.h, which also applies them to the stocks) as ORDERECs carrying
    their stamp and the commit position of their ready. The loop syncs
    once a turn (node_flush): the log, then the promise file if the turn
    changed the promise, cut the log, or moved the commit position with
    no record to carry it. Then the turn's messages leave.

    A follower's commit position is hard state (consensus.c): restart
    takes the higher of the promise file's and the highest a record
    carries. A record carries the position of the ready that wrote it,
    so a ready whose messages rest on a new position (a follower's ACK)
    either writes records that carry it or stores it in the promise file
    before they leave. A leader's is soft: a commit-only ready of the
    leader (ACKs that moved it) stores nothing, and the position rides on
    its next records (docs/CONSENSUS.md "A soft commit position").

    The leader publishes a ready's APPENDs before its own sync when the
    ready changes neither the promise nor the log's prefix: the leader's
    and the followers' syncs overlap. Those of one turn's proposals leave
    as one APPEND (outbox.h), at node_tick. Such an APPEND says the
    commit position of the last flush (never one that counted an entry of
    ours not yet on disk). Once the position moved, the leader publishes
    an empty APPEND after the sync, so followers know it before the
    replies leave, and a LEARN with the trades it moved past, which is
    what catalogs take.
*/
#ifndef BAZAAR_NODE_H
#define BAZAAR_NODE_H

#include "consensus.h"
#include "msgs.h"
#include "peers.h"
#include "store.h"

#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

typedef struct _node_t node_t;

//  A proposal of this replica's has a known fate.
typedef void (node_outcome_fn) (void *arg, uint64_t index, consensus_result_t result);

typedef struct {
    uint64_t replica_id;
    const uint32_t *members;
    size_t n_members;
    const char *pub;
    const char *rep;
    const char *promise_path;
    const char *joining_path;    //  order-N.joining: it exists while the replica joins
    bool new_system;             //  no state at all is a new system's first start (--new)
    uint64_t quorum_timeout_ms;
    node_outcome_fn *on_outcome;
    void *arg;
} node_config_t;

//  What happened since the last node_events.
typedef struct {
    bool role_changed;
    bool stepped_down;
    bool campaign_failed;
    uint64_t cut_from;   //  entries from here were cut (UINT64_MAX: none)
} node_events_t;

//  Open the promise file, rebuild the core from it and store's log (not
//  owned), bind the sockets. Returns NULL and a reason in error.
node_t *node_new (store_t *store, const node_config_t *config, char *error, size_t error_size);

void node_destroy (node_t **self_p);

//  Peers from a LEADER announcement; subscribe to the named replica's PUB.
void node_on_announcement (node_t *self, const msg_t *announcement);

size_t node_poll_items (node_t *self, zmq_pollitem_t *items, size_t max);

//  Receive every consensus message waiting on the sockets the last
//  sockpoll_wait over items[0..count) found readable, and step the core
//  with it.
void node_receive (node_t *self, const zmq_pollitem_t *items, size_t count);

//  Time passed.
void node_tick (node_t *self);

//  The broker named this replica.
void node_campaign (node_t *self);

//  Leader: propose trade (numbered node_length). Returns its index, or -1.
int64_t node_propose (node_t *self, const msg_trade_t *trade);

//  Sync what the turn wrote, then send its messages. Returns 0, or -1 if
//  the disk failed (the process must stop).
int node_flush (node_t *self);

//  Fill events with what happened since the last call, and clear them.
void node_events (node_t *self, node_events_t *events);

consensus_role_t node_role (node_t *self);
uint64_t node_epoch (node_t *self);
uint64_t node_commit (node_t *self);

//  Whether it lost orders it knew committed (its log is shorter than the
//  commit position it stored) and does not hold them again yet: it then
//  neither campaigns nor should be named (it reports catching-up).
bool node_recovering (node_t *self);
uint64_t node_length (node_t *self);
bool node_failed (node_t *self);

//  The leader the broker names, if this replica follows it and has heard
//  nothing from it (a CS_* message on any link) for MSG_LEADER_SILENT_MS;
//  else 0. A newly named leader is given that long from its naming, and
//  so is every leader after a gap in this replica's own turns (a pause).
//  Called once a turn.
uint64_t node_silent_leader (node_t *self);

//  Leader: the followers heard within within_ms that hold at least
//  position (consensus_in_sync). Returns the count written to ids.
size_t node_in_sync (node_t *self, uint64_t within_ms, uint64_t position, uint64_t *ids,
                     size_t max);

#endif
