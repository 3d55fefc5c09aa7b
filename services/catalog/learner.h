/*  learner.h - a catalog learns the committed order log.

    The replicas' majority-committed log is the commit point; a catalog
    only learns it. It subscribes to the PUB of the replica the broker
    names (LEARN: the trades each commit moved past, and the commit
    position) and applies them to its store (store_restore:
    catalog.journal and the stocks) in number order. A LEARN holds only
    committed trades, so nothing is held back and no epoch is checked.
    What the PUB did not bring (a gap, a restart, an empty disk, a new
    leader) it copies by RANGE from the replicas, which answer with
    committed trades only (peers.h rounds).
*/
#ifndef BAZAAR_LEARNER_H
#define BAZAAR_LEARNER_H

#include "msgs.h"
#include "store.h"

#include <stdbool.h>
#include <zmq.h>

typedef struct _learner_t learner_t;

//  Trade number applied to store; stock is its stock after it.
typedef void (learner_applied_fn) (void *arg, const store_stock_t *stock);

learner_t *learner_new (store_t *store, learner_applied_fn *applied, void *arg);

void learner_destroy (learner_t **self_p);

//  The broker's LEADER: the replicas, and whose PUB to follow.
void learner_on_announcement (learner_t *self, const msg_t *announcement);

size_t learner_poll_items (learner_t *self, zmq_pollitem_t *items, size_t max);

//  Take what arrived on the sockets the last sockpoll_wait over
//  items[0..count) found readable, apply what is committed, run copy
//  rounds. Returns 0, or -1 if a committed trade does not apply (the
//  store is damaged: stop).
int learner_step (learner_t *self, const zmq_pollitem_t *items, size_t count);

//  A lookup waits for position (trades applied): if the store is behind
//  it, a copy round is due (the PUB did not bring it in time).
void learner_need (learner_t *self, uint64_t position);

//  True once a first copy round found nothing more on the replicas:
//  lookups may be answered.
bool learner_ready (learner_t *self);

//  True while a copy round runs or one is due.
bool learner_busy (learner_t *self);

#endif
