/*  learner.c - a catalog learns the committed order log (see learner.h).

    commit is the highest commit position a LEARN said: trades below it
    that the store lacks are to be copied.
*/
#include "learner.h"
#include "mem.h"
#include "log.h"
#include "peers.h"
#include "sockets.h"
#include "sockpoll.h"

#include <czmq.h>

#define COPY_TIMEOUT_MS 500     //  a replica that does not answer a range in time
#define COPY_RETRY_MS 200
#define REFUSAL_CHECK_MS 100    //  how often the SUB's handshakes are read

struct _learner_t {
    store_t *store;
    learner_applied_fn *applied;
    void *arg;
    peers_t *peers;
    zsock_t *sub;
    sockets_watch_t *watch;    //  sub's handshakes (NULL: not watched)
    int64_t refusal_checked_at;
    uint64_t followed;
    char followed_pub[MSG_ENDPOINT_MAX + 1];
    uint64_t commit;
    bool announced;
    bool ready;                //  a first copy round ended with nothing missing
    bool behind;               //  a copy round is due
    bool copying;
    uint64_t copy_from;
    int64_t copy_at;
    bool failed;
};

learner_t *
learner_new (store_t *store, learner_applied_fn *applied, void *arg)
{
    learner_t *self = mem_calloc (1, sizeof (learner_t));
    self->store = store;
    self->applied = applied;
    self->arg = arg;
    self->peers = peers_new (0, COPY_TIMEOUT_MS);
    self->behind = true;   //  a restart or an empty disk: ask the replicas first
    return self;
}

void
learner_destroy (learner_t **self_p)
{
    if (!*self_p)
        return;
    learner_t *self = *self_p;
    sockets_watch_destroy (&self->watch);
    zsock_destroy (&self->sub);
    peers_destroy (&self->peers);
    free (self);
    *self_p = NULL;
}

static void
s_follow (learner_t *self, uint64_t replica_id, const char *pub)
{
    if (replica_id == self->followed && streq (pub, self->followed_pub))
        return;
    sockets_watch_destroy (&self->watch);
    zsock_destroy (&self->sub);
    self->followed = replica_id;
    snprintf (self->followed_pub, sizeof (self->followed_pub), "%s", pub);
    if (!replica_id || !*pub)
        return;
    self->sub = sockets_subscribe (pub, "order", MSG_LEARN);
    if (!self->sub) {
        log_warn ("cannot subscribe to replica %" PRIu64 " at %s", replica_id, pub);
        self->followed = 0;
        return;
    }
    //  Connected already: a refused key fails each reconnection again.
    self->watch = sockets_watch_new (zsys_init (), zsock_resolve (self->sub));
    log_info ("learning from replica %" PRIu64 "'s PUB at %s", replica_id, pub);
    self->behind = true;   //  what it published before we joined comes by range
}

void
learner_on_announcement (learner_t *self, const msg_t *announcement)
{
    peers_update (self->peers, announcement);
    self->announced = true;
    s_follow (self, announcement->replica_id, announcement->pub);
    if (peers_highest (self->peers) > store_trade_count (self->store))
        self->behind = true;
}

size_t
learner_poll_items (learner_t *self, zmq_pollitem_t *items, size_t max)
{
    size_t count = 0;
    if (self->sub && count < max)
        items[count++] = (zmq_pollitem_t) {zsock_resolve (self->sub), 0, ZMQ_POLLIN, 0};
    return count + peers_poll_items (self->peers, items + count, max - count);
}

//  ---------------------------------------------------------------------
//  Applying

static int
s_apply (learner_t *self, const msg_trade_t *trade, uint64_t from)
{
    msg_error_t rc = store_restore (self->store, trade);
    if (rc != MSG_ERR_OK) {
        log_error ("committed trade %" PRIu64 " from replica %" PRIu64 " does not apply (%s): "
                   "stopping", trade->number, from, msg_error_text (rc));
        self->failed = true;
        return -1;
    }
    self->applied (self->arg, store_lookup (self->store, trade->name));
    return 0;
}

//  Committed trades in number order: those the store lacks apply; past
//  a gap the rest waits for a copy round.
static void
s_on_learn (learner_t *self, const msg_t *learn)
{
    for (size_t i = 0; i < learn->trade_count && !self->failed; i++) {
        const msg_trade_t *trade = &learn->trades[i];
        uint64_t count = store_trade_count (self->store);
        if (trade->number > count)
            break;
        if (trade->number == count)
            s_apply (self, trade, self->followed);
    }
    if (learn->commit > self->commit)
        self->commit = learn->commit;
    if (store_trade_count (self->store) < self->commit)
        self->behind = true;   //  committed trades the PUB did not bring
}

static void
s_drain_sub (learner_t *self)
{
    void *handle = zsock_resolve (self->sub);
    msg_t msg;
    msg_init (&msg, 0);
    for (int i = 0; i < SOCKETS_RECEIVE_MAX && !self->failed; i++) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, handle, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&frame);
            break;
        }
        int rc = msg_decode (&msg, zmq_msg_data (&frame), zmq_msg_size (&frame));
        zmq_msg_close (&frame);
        if (rc == 0 && msg.type == MSG_LEARN)
            s_on_learn (self, &msg);
    }
    msg_reset (&msg);
}

//  ---------------------------------------------------------------------
//  Copy rounds: committed ranges from the replicas

static int64_t
s_copy_trades (void *arg, uint64_t replica_id, const msg_t *reply)
{
    learner_t *self = arg;
    for (size_t i = 0; i < reply->trade_count; i++) {
        const msg_trade_t *trade = &reply->trades[i];
        if (trade->number != store_trade_count (self->store))
            continue;
        if (s_apply (self, trade, replica_id))
            return -1;
    }
    return (int64_t) store_trade_count (self->store);
}

static void
s_copy_start (learner_t *self)
{
    if (self->copying || !self->announced || zclock_mono () < self->copy_at)
        return;
    self->copying = true;
    self->behind = false;
    self->copy_from = store_trade_count (self->store);
    peers_round_start (self->peers, self->copy_from, 0);
}

static void
s_copy_done (learner_t *self)
{
    self->copying = false;
    uint64_t count = store_trade_count (self->store);
    if (count > self->copy_from)
        log_info ("copied committed trades [%" PRIu64 ", %" PRIu64 ") from the replicas",
                  self->copy_from, count);
    if (count < peers_highest (self->peers) || count < self->commit) {
        self->behind = true;
        self->copy_at = zclock_mono () + COPY_RETRY_MS;
    }
    else
    if (!self->ready) {
        log_info ("caught up with the replicas at %" PRIu64 " trades: serving", count);
        self->ready = true;
    }
}

//  Logs once (again after a handshake succeeded) that the followed PUB or
//  a replica's REP refused our handshake: the catalog would learn or copy
//  nothing and say nothing.
static void
s_check_refusal (learner_t *self)
{
    int64_t now = zclock_mono ();
    if (now - self->refusal_checked_at < REFUSAL_CHECK_MS)
        return;
    self->refusal_checked_at = now;
    peers_check_refusal (self->peers);
    if (self->watch && sockets_watch_newly_refused (self->watch))
        log_error ("the PUB of replica %" PRIu64 " at %s refused our handshake: this "
                   "catalog does not hold the order keys the replicas use (remade, or of "
                   "another system): give every process the same --keys DIR made by bazaar "
                   "keys DIR", self->followed, self->followed_pub);
}

int
learner_step (learner_t *self, const zmq_pollitem_t *items, size_t count)
{
    s_check_refusal (self);
    if (self->sub && sockpoll_readable (items, count, zsock_resolve (self->sub)))
        s_drain_sub (self);
    //  Between rounds too: a reply that came after its round's deadline
    //  is read and dropped (peers_drain), not left to keep the wait readable
    //  (the loop spun at full CPU on one until the next round).
    peers_drain (self->peers, items, count, s_copy_trades, self);
    if (self->copying) {
        if (peers_round_done (self->peers))
            s_copy_done (self);
    }
    else
    if (self->behind)
        s_copy_start (self);
    return self->failed ? -1 : 0;
}

void
learner_need (learner_t *self, uint64_t position)
{
    if (position > store_trade_count (self->store) && !self->copying)
        self->behind = true;
}

bool
learner_ready (learner_t *self)
{
    return self->ready;
}

bool
learner_busy (learner_t *self)
{
    return self->copying || self->behind;
}
