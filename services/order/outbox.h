/*  outbox.h - an order replica's messages waiting to leave a turn.

    Two queues, no I/O (the caller's send function does that):
      - held: what rests on state the turn's sync makes durable (an ACK,
        a PROMISE, an APPEND of a ready that changed the promise or cut
        the log), sent in order after the sync;
      - early: a leader's APPEND to all, which rests on its promise and
        its log but not on its own copy being durable, so it leaves
        before the sync and the two syncs (leader's, follower's) overlap.
    Both shrink what a busy turn sends, as a lossy network may:
      - an APPEND to all that continues the pending early one joins it, so
        the trades a turn proposes leave as one message (one read for each
        follower, one ACK back), not one each;
      - a held ACK drops the last held ACK to the same replica in the
        same epoch if it covers it (the leader keeps the longest match it
        heard), so a follower that drained several APPENDs answers once.
*/
#ifndef BAZAAR_OUTBOX_H
#define BAZAAR_OUTBOX_H

#include "msgs.h"

#include <stddef.h>

typedef struct _outbox_t outbox_t;

//  Sends one message; returns 0 or -1, which the outbox ignores: a
//  message that could not leave is a lost one, which the protocol
//  repairs (a FETCH, the next heartbeat).
typedef int (outbox_send_fn) (void *arg, const msg_t *msg);

//  An empty outbox whose messages leave through fn (arg is its first
//  argument). Aborts if out of memory (the project's policy).
outbox_t *outbox_new (outbox_send_fn *fn, void *arg);

//  Drops what is queued, unsent.
void outbox_destroy (outbox_t **self_p);

//  Queue msg until outbox_send_held, taking its lists (msg is left
//  empty). An ACK drops the last held ACK to the same replica in the same
//  epoch if its length is no more than msg's; the ones before that were
//  weighed when it came.
void outbox_hold (outbox_t *self, msg_t *msg);

//  A leader's APPEND that may leave before the sync: it joins the pending
//  one if it is to all, of the same epoch, starts where that one ends,
//  and the two hold at most MSG_APPEND_BATCH entries (then the later
//  one's length and commit position are the message's; its prev_stamp
//  stays the first's); otherwise the pending
//  one is sent first, and msg is pending (to all) or sent (to one
//  replica). Takes msg's lists (msg is left empty).
void outbox_early (outbox_t *self, msg_t *msg);

//  Send the pending early APPEND, if any.
void outbox_send_early (outbox_t *self);

//  Send the held messages in the order they were queued, and empty the
//  queue.
void outbox_send_held (outbox_t *self);

#endif
