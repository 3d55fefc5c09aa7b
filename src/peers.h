/*  peers.h - links to the order replicas' REP endpoints.

    One DEALER per peer, speaking REQ framing ([empty][message]) so a
    plain REQ socket could ask too, but with a request id and a deadline:
    a peer that dies mid-request costs one timeout, never a locked socket
    (FIELD-NOTES: REQ lock-up). The set of peers follows the broker's
    LEADER announcements.

    A catch-up round asks every peer (or one) for the durable trades it
    holds beyond our count, in chunks of MSG_RANGE_CHUNK, again and again
    while it has more; a peer that does not answer in time is done for
    this round. Order replicas use rounds to start, to take over and to
    fill gaps; the catalog uses them to heal a lost journal.
*/
#ifndef BAZAAR_PEERS_H
#define BAZAAR_PEERS_H

#include "msgs.h"

#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

typedef struct _peers_t peers_t;

//  Receives the trades of a RANGE reply from peer replica_id (reply is a
//  TRADES message: number is the peer's durable count). Returns our
//  count after taking what fits, or -1 to end the round (a failure).
typedef int64_t (peers_trades_fn) (void *arg, uint64_t replica_id, const msg_t *reply);

//  self_id is our own replica id (skipped in announcements), 0 for none.
peers_t *peers_new (uint64_t self_id, int64_t timeout_ms);

void peers_destroy (peers_t **self_p);

//  Follow a LEADER announcement: link to new peers, unlink gone ones and
//  those whose endpoint changed.
void peers_update (peers_t *self, const msg_t *announcement);

//  Logs, once (again after a handshake succeeded), each peer whose REP
//  refused our handshake: copies and point-to-point messages to it would
//  wait in silence. Call it now and then (a heartbeat).
void peers_check_refusal (peers_t *self);

//  Number of linked peers.
size_t peers_count (peers_t *self);

//  The replica id of linked peer index (< peers_count), 0 if none.
uint64_t peers_id_at (peers_t *self, size_t index);

//  The highest position a linked peer reported (0 if none).
uint64_t peers_highest (peers_t *self);

//  Start a round from count: ask replica_id only, or every peer if 0.
//  A round already running is replaced.
void peers_round_start (peers_t *self, uint64_t count, uint64_t replica_id);

//  True when no round is running (never started, or every peer asked is
//  done). failed is set if the last round ended with the callback's -1.
bool peers_round_done (peers_t *self);

//  Send msg ([empty][msg], not answered) to replica_id. Returns 0 or -1.
int peers_send (peers_t *self, uint64_t replica_id, const msg_t *msg);

//  Fill up to max poll items (ZMQ_POLLIN on each link). Returns the count.
size_t peers_poll_items (peers_t *self, zmq_pollitem_t *items, size_t max);

//  Receive every waiting reply on the links the last sockpoll_wait over
//  items[0..count) found readable, pass TRADES for the round to fn (and
//  drop the rest: replies that came after their deadline or their round),
//  ask again where more may follow, and end requests whose deadline
//  passed (on every link).
void peers_drain (peers_t *self, const zmq_pollitem_t *items, size_t count, peers_trades_fn *fn,
                  void *arg);

#endif
