/*  roster.h - the broker's table of workers, the ones that left, and the
    order leader elected from them.

    A worker registers with its first HEARTBEAT and stays until the broker
    removes it (missed heartbeats, unreachable, restarted). A removed
    worker is remembered as departed until the same service and replica id
    registers again, so that STATUS shows who is missing.

    The order leader is the replica with the highest id among those that
    are not catching up. A new roster (the broker restarted) first spends
    a heartbeat interval and a quarter hearing every replica: in that
    quiet spell it names the replica that reports leading, if one does,
    and nobody else, so a broker restart does not change who leads.

    A leader cut off from the network is expired early, before its
    heartbeats run out, when a majority of the replicas the broker knows
    (registered or departed; the leader itself cannot vote) report it
    silent in their heartbeats (msgs.h, x) and the broker has not heard
    it for ROSTER_SILENT_MS either (roster_silent_leader). Both, because
    a follower cut from a leader that the broker and the other follower
    still hear must not cause a failover, and a broker that only misses
    a leader's heartbeats waits out the expiry as before.

    One process per replica id: roster_taken names the registered replica
    a newcomer would duplicate; the broker decides. Catalogs are many,
    and lookups are spread over them (roster_pick).

    The roster sends nothing: the broker decides what to tell whom. Worker
    pointers stay valid until the next roster_add or roster_remove.
*/
#ifndef BAZAAR_ROSTER_H
#define BAZAAR_ROSTER_H

#include "msgs.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROSTER_WORKERS_MAX 64
#define ROSTER_IDENTITY_MAX 256
#define ROSTER_GONE_MAX 16   //  departed workers remembered for STATUS
//  A silent leader is expired early only if the broker has not heard it
//  (a heartbeat or a reply) for this long either: a heartbeat interval and
//  slack for a busy machine; or, with a longer heartbeat expiry than the
//  default, ROSTER_SILENT_PERCENT of it (an operator who raised the
//  expiry tolerates longer pauses). A follower's report counts while the
//  heartbeat that made it is ROSTER_SILENT_MS old at most.
#define ROSTER_SILENT_MS (MSG_HEARTBEAT_MS + 100)
#define ROSTER_SILENT_PERCENT 35

typedef struct {
    unsigned char identity[ROSTER_IDENTITY_MAX];
    size_t identity_size;
    char service[MSG_SERVICE_MAX + 1];
    uint64_t replica_id;
    uint64_t incarnation;
    char pub[MSG_ENDPOINT_MAX + 1];
    char rep[MSG_ENDPOINT_MAX + 1];
    uint64_t number;         //  position: log count (replica), trade count (catalog)
    uint64_t epoch;          //  replica: its epoch; catalog: highest granted
    uint8_t role;            //  MSG_ROLE_* (order replicas)
    int64_t expiry;          //  zclock_mono () after which it is dead
    int64_t heard_at;        //  zclock_mono () of its last heartbeat or reply
    uint64_t silent_leader;  //  replica: the leader it reports not hearing (0: none)
    uint64_t dispatched;     //  for round robin: requests sent so far
    uint64_t in_sync[MSG_PEERS_MAX];   //  a leader's in-sync followers
    size_t in_sync_count;
} roster_worker_t;

typedef struct _roster_t roster_t;

//  Create an empty roster; a worker unheard for expiry_ms is expired.
roster_t *roster_new (int64_t expiry_ms);

//  Destroy the roster. Does nothing if *self_p is NULL.
void roster_destroy (roster_t **self_p);

//  The registered worker with this routing identity, or NULL.
roster_worker_t *roster_find (roster_t *self, const void *identity, size_t identity_size);

//  The registered worker that a new worker of service and replica_id
//  would duplicate, or NULL: the order replica with that id (one process
//  per id). Any number of catalogs may register.
roster_worker_t *roster_taken (roster_t *self, const char *service, uint64_t replica_id);

//  True if a worker with an identity of identity_size bytes fits.
bool roster_has_room (roster_t *self, size_t identity_size);

//  Register the worker that sent heartbeat from identity, which must fit
//  (roster_has_room), and forget it as departed. Returns the new worker;
//  roster_refresh fills in what its heartbeats report.
roster_worker_t *roster_add (roster_t *self, const void *identity, size_t identity_size,
                             const msg_t *heartbeat);

//  Take the position, epoch, role and in-sync set of a worker's heartbeat
//  and push its expiry back. Returns true if its role or epoch changed.
bool roster_refresh (roster_t *self, roster_worker_t *worker, const msg_t *heartbeat);

//  Push a worker's expiry back: it answered a request (it is heard).
void roster_touch (roster_t *self, roster_worker_t *worker);

//  Remove worker and remember it as departed (the oldest departed goes
//  when full). The last worker moves into its place: to remove while
//  walking with roster_at, walk from the end.
void roster_remove (roster_t *self, roster_worker_t *worker);

//  Number of registered workers, and the one at index (< roster_size).
size_t roster_size (roster_t *self);
roster_worker_t *roster_at (roster_t *self, size_t index);

//  The worker a request for service goes to, or NULL: the leader for
//  "order"; for any other the least dispatched of those not catching up
//  (a catalog still copying the log answers nothing), or of all if every
//  one is. Counts the dispatch.
roster_worker_t *roster_pick (roster_t *self, const char *service);

//  The least dispatched worker of service, leader or not (an order QUERY
//  when no replica leads: any replica answers committed orders).
roster_worker_t *roster_pick_any (roster_t *self, const char *service);

//  Elect the order leader from the workers registered now (logs a change
//  of leader, or of the epoch it holds). In the quiet spell that is the
//  replica reporting the leader role (the highest epoch if several), or
//  none. Returns true if the leader or its epoch changed: everyone must
//  be told.
bool roster_elect (roster_t *self);

//  The order leader if it is to be expired early (see above), else NULL.
//  Writes the ids of the replicas that report it silent to reporters
//  ("1, 2"). *check_at is when to ask again if a majority reports it but
//  the broker heard it too recently (zclock_mono), else 0.
roster_worker_t *roster_silent_leader (roster_t *self, int64_t *check_at, char *reporters,
                                       size_t reporters_size);

//  True if worker may be sent a LEADER now. Not while a new roster is in
//  its quiet spell and names no leader yet, to a replica that follows,
//  leads or is a candidate: an announcement naming none would make a
//  leader step down and a follower drop its leader. A replica catching up
//  and the catalog need the peer list to start, and get it.
bool roster_may_announce (roster_t *self, const roster_worker_t *worker);

//  Make msg a LEADER: the leader, its epoch and endpoints, every
//  replica's role and position, and the catalog's direct endpoint. The
//  caller owns msg and resets it (msg_reset).
void roster_leader_message (roster_t *self, msg_t *msg);

//  Make view a VIEW: every worker, then the departed ones, their
//  heartbeat ages, the leader, its epoch and, while it leads, its in-sync
//  set. The caller sets req_id, owns view and resets it (msg_reset).
void roster_view (roster_t *self, msg_t *view);

#endif
