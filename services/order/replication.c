/*  replication.c - PUB of committed orders, follower ACKs, the in-sync
    set, and the REP endpoint that serves ranges.

    Invariant (leader): a reply held for the ACKs (held.h) leaves only
    when tradelog_durable covers it and either some follower in sync
    acknowledged it or no follower is in sync.
*/
#include "replication.h"
#include "log.h"
#include "sockets.h"

#include <czmq.h>

#define FOLLOWERS_MAX MSG_PEERS_MAX
#define RECEIVE_MAX 4096      //  messages per socket per drain

typedef struct {
    uint64_t replica_id;
    uint64_t acked;           //  durable count it reported
    int64_t acked_at;
    bool in_sync;
} s_follower_t;

struct _replication_t {
    tradelog_t *log;
    held_t *held;             //  replies waiting for the ACKs
    uint64_t replica_id;
    zsock_t *pub;
    zsock_t *rep;
    zsock_t *sub;             //  NULL unless following a leader
    bool leading;
    uint64_t epoch;           //  leading: ours; following: the leader's
    uint64_t leader_id;
    s_follower_t followers[FOLLOWERS_MAX];
    size_t follower_count;
    bool require_ack;         //  false: answer after our own sync (benchmarks)
    bool alone;               //  last release had no follower in sync
    uint64_t acked_sent;      //  follower: last count acknowledged
    int64_t acked_sent_at;
    replication_stats_t stats;
    msgpack_sbuffer buffer;
};

replication_t *
replication_new (tradelog_t *log, held_t *held, uint64_t replica_id, const char *pub,
                 const char *rep, char *error, size_t error_size)
{
    replication_t *self = calloc (1, sizeof (replication_t));
    assert (self);
    self->log = log;
    self->held = held;
    self->replica_id = replica_id;
    self->require_ack = true;
    msgpack_sbuffer_init (&self->buffer);
    self->pub = zsock_new (ZMQ_PUB);
    self->rep = zsock_new (ZMQ_ROUTER);
    assert (self->pub && self->rep);
    //  Followers that fall behind the HWM see a gap and ask by range.
    zsock_set_sndhwm (self->pub, 100000);
    zsock_set_rcvhwm (self->rep, 100000);
    if (sockets_server (zsock_resolve (self->pub)) || zsock_bind (self->pub, "%s", pub) < 0) {
        snprintf (error, error_size, "cannot bind the orders PUB to %s (--pub): %s", pub, zmq_strerror (errno));
        replication_destroy (&self);
        return NULL;
    }
    if (sockets_server (zsock_resolve (self->rep)) || zsock_bind (self->rep, "%s", rep) < 0) {
        snprintf (error, error_size, "cannot bind the REP endpoint %s (--rep): %s", rep, zmq_strerror (errno));
        replication_destroy (&self);
        return NULL;
    }
    return self;
}

void
replication_destroy (replication_t **self_p)
{
    if (!*self_p)
        return;
    replication_t *self = *self_p;
    zsock_destroy (&self->pub);
    zsock_destroy (&self->rep);
    zsock_destroy (&self->sub);
    msgpack_sbuffer_destroy (&self->buffer);
    free (self);
    *self_p = NULL;
}

size_t
replication_poll_items (replication_t *self, zmq_pollitem_t *items, size_t max)
{
    size_t count = 0;
    if (count < max)
        items[count++] = (zmq_pollitem_t) {zsock_resolve (self->rep), 0, ZMQ_POLLIN, 0};
    if (self->sub && count < max)
        items[count++] = (zmq_pollitem_t) {zsock_resolve (self->sub), 0, ZMQ_POLLIN, 0};
    return count;
}

void
replication_lead (replication_t *self, uint64_t epoch)
{
    zsock_destroy (&self->sub);
    self->leading = true;
    self->epoch = epoch;
    self->leader_id = self->replica_id;
    self->follower_count = 0;
    self->alone = false;
}

void
replication_follow (replication_t *self, uint64_t leader_id, uint64_t epoch, const char *pub)
{
    self->leading = false;
    if (self->sub && leader_id == self->leader_id) {
        if (epoch > self->epoch)
            self->epoch = epoch;
        return;
    }
    //  A new socket, so nothing the old leader sent is still queued.
    //  Epochs only grow: a leader announced with an older one than we
    //  know is stale, and neither its REPLICATEs nor our ACKs will match.
    zsock_destroy (&self->sub);
    self->leader_id = leader_id;
    if (epoch > self->epoch)
        self->epoch = epoch;
    self->acked_sent_at = 0;
    if (!leader_id || !*pub)
        return;
    self->sub = zsock_new (ZMQ_SUB);
    assert (self->sub);
    zsock_set_rcvhwm (self->sub, 100000);
    //  Only REPLICATE: the PUB also shows ACKs and RANGEs to the tap.
    unsigned char topic[MSG_TOPIC_SIZE];
    msg_topic (MSG_REPLICATE, topic);
    zmq_setsockopt (zsock_resolve (self->sub), ZMQ_SUBSCRIBE, topic, sizeof (topic));
    if (sockets_client (zsock_resolve (self->sub), "order")
        || zsock_connect (self->sub, "%s", pub) < 0) {
        log_warn ("cannot subscribe to replica %" PRIu64 " at %s", leader_id, pub);
        zsock_destroy (&self->sub);
    }
}

//  Copies a message the REP endpoint received to the PUB, for the tap
//  (followers subscribe to REPLICATE only, so they never see it).
static void
s_show (replication_t *self, const void *data, size_t size)
{
    zmq_send (zsock_resolve (self->pub), data, size, ZMQ_DONTWAIT);
}

void
replication_publish (replication_t *self, const msg_trade_t *trade)
{
    msg_t message;
    msg_set_trade (&message, MSG_REPLICATE, trade);
    message.epoch = self->epoch;
    if (msg_encode (&message, &self->buffer) == 0
        && zmq_send (zsock_resolve (self->pub), self->buffer.data, self->buffer.size,
                     ZMQ_DONTWAIT) >= 0)
        self->stats.published++;
}

//  ---------------------------------------------------------------------
//  Leader: the in-sync set and held replies

static s_follower_t *
s_follower (replication_t *self, uint64_t replica_id)
{
    for (size_t i = 0; i < self->follower_count; i++)
        if (self->followers[i].replica_id == replica_id)
            return &self->followers[i];
    if (self->follower_count == FOLLOWERS_MAX)
        return NULL;
    s_follower_t *follower = &self->followers[self->follower_count++];
    memset (follower, 0, sizeof (*follower));
    follower->replica_id = replica_id;
    return follower;
}

static void
s_set_in_sync (replication_t *self, s_follower_t *follower, bool in_sync, const char *why)
{
    if (follower->in_sync == in_sync)
        return;
    follower->in_sync = in_sync;
    self->stats.isr_changes++;
    log_info ("replica %" PRIu64 " %s the in-sync set (%s; acked %" PRIu64 ", %zu in sync)",
              follower->replica_id, in_sync ? "joins" : "leaves", why, follower->acked,
              replication_in_sync (self));
}

static void
s_on_ack (replication_t *self, const msg_t *ack)
{
    if (!self->leading || ack->epoch != self->epoch || ack->replica_id == self->replica_id)
        return;
    s_follower_t *follower = s_follower (self, ack->replica_id);
    if (!follower)
        return;
    if (ack->number > follower->acked)
        follower->acked = ack->number;
    follower->acked_at = zclock_mono ();
    //  Caught up: it holds all we hold, or all a held reply waits for.
    uint64_t oldest;
    int64_t since;
    bool covers_held = held_oldest_acked (self->held, &oldest, &since) && follower->acked > oldest;
    if (follower->acked >= tradelog_durable (self->log) || covers_held)
        s_set_in_sync (self, follower, true, "caught up");
}

size_t
replication_in_sync (replication_t *self)
{
    size_t count = 0;
    for (size_t i = 0; i < self->follower_count; i++)
        count += self->followers[i].in_sync;
    return count;
}

size_t
replication_in_sync_ids (replication_t *self, uint64_t *ids, size_t max)
{
    size_t count = 0;
    for (size_t i = 0; i < self->follower_count && count < max && self->leading; i++)
        if (self->followers[i].in_sync)
            ids[count++] = self->followers[i].replica_id;
    return count;
}

//  Followers too slow for the oldest held reply, or silent, leave.
static void
s_expire_followers (replication_t *self, int64_t now)
{
    uint64_t oldest;
    int64_t since;
    bool waiting = held_oldest_acked (self->held, &oldest, &since);
    for (size_t i = 0; i < self->follower_count; i++) {
        s_follower_t *follower = &self->followers[i];
        if (!follower->in_sync)
            continue;
        if (now - follower->acked_at > REPLICATION_LAG_MS)
            s_set_in_sync (self, follower, false, "silent");
        else
        if (waiting && follower->acked <= oldest && now - since > REPLICATION_LAG_MS)
            s_set_in_sync (self, follower, false, "too slow");
    }
}

void
replication_release (replication_t *self)
{
    int64_t now = zclock_mono ();
    s_expire_followers (self, now);
    uint64_t acked = 0;
    size_t in_sync = 0;
    //  Not leading any more: what we hold is committed and durable here
    //  and in the catalog journal; nobody acknowledges to us now.
    for (size_t i = 0; i < self->follower_count && self->leading && self->require_ack; i++)
        if (self->followers[i].in_sync) {
            in_sync++;
            if (self->followers[i].acked > acked)
                acked = self->followers[i].acked;
        }
    uint64_t durable = tradelog_durable (self->log);
    size_t released = held_release_acked (self->held, in_sync && acked < durable ? acked : durable);
    if (!released)
        return;
    if (!in_sync && self->leading && self->require_ack) {
        self->stats.answered_alone += released;
        if (!self->alone)
            log_warn ("no follower in sync: answering alone (the catalog journal is the "
                      "second copy)");
    }
    self->alone = !in_sync;
}

//  ---------------------------------------------------------------------
//  The REP endpoint: ranges out, acknowledgements in

static void
s_answer_range (replication_t *self, zmq_msg_t *identity, const msg_t *request)
{
    msg_t reply;
    msg_init (&reply, MSG_TRADES);
    reply.req_id = request->req_id;
    uint64_t durable = tradelog_durable (self->log);
    reply.number = durable;
    uint64_t from = request->number, max = request->quantity;
    if (max > MSG_RANGE_CHUNK)
        max = MSG_RANGE_CHUNK;
    uint64_t count = from < durable ? durable - from : 0;
    if (count > max)
        count = max;
    reply.trades = count ? calloc (count, sizeof (msg_trade_t)) : NULL;
    if (count && !reply.trades)
        count = 0;
    reply.trade_count = count;
    for (uint64_t i = 0; i < count; i++)
        tradelog_get (self->log, from + i, &reply.trades[i]);
    void *handle = zsock_resolve (self->rep);
    if (msg_encode (&reply, &self->buffer) == 0
        && zmq_msg_send (identity, handle, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0
        && zmq_send (handle, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        zmq_send (handle, self->buffer.data, self->buffer.size, ZMQ_DONTWAIT);
    msg_reset (&reply);
}

//  Reads [identity][empty][message]; anything else is dropped.
static int
s_drain_rep (replication_t *self)
{
    void *handle = zsock_resolve (self->rep);
    msg_t msg;
    msg_init (&msg, 0);
    int handled = 0;
    for (; handled < RECEIVE_MAX; handled++) {
        zmq_msg_t frames[3];
        int count = 0, more = 1;
        for (int i = 0; i < 3; i++)
            zmq_msg_init (&frames[i]);
        while (more) {
            zmq_msg_t frame;
            zmq_msg_init (&frame);
            if (zmq_msg_recv (&frame, handle, count ? 0 : ZMQ_DONTWAIT) < 0) {
                zmq_msg_close (&frame);
                break;
            }
            more = zmq_msg_more (&frame);
            if (count < 3)
                zmq_msg_move (&frames[count], &frame);
            count++;
            zmq_msg_close (&frame);
        }
        if (count == 3 && zmq_msg_size (&frames[1]) == 0
            && msg_decode (&msg, zmq_msg_data (&frames[2]), zmq_msg_size (&frames[2])) == 0) {
            if (msg.type == MSG_RANGE)
                s_answer_range (self, &frames[0], &msg);
            else
            if (msg.type == MSG_ACK)
                s_on_ack (self, &msg);
            s_show (self, zmq_msg_data (&frames[2]), zmq_msg_size (&frames[2]));
        }
        else
        if (count)
            log_warn ("dropped a malformed message on the REP endpoint");
        for (int i = 0; i < 3; i++)
            zmq_msg_close (&frames[i]);
        if (count == 0)
            break;
    }
    msg_reset (&msg);
    return handled;
}

//  ---------------------------------------------------------------------
//  Follower: the leader's stream

static int
s_drain_sub (replication_t *self, bool *gap)
{
    if (!self->sub)
        return 0;
    void *handle = zsock_resolve (self->sub);
    msg_t msg;
    msg_init (&msg, 0);
    int appended = 0;
    for (int i = 0; i < RECEIVE_MAX; i++) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, handle, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&frame);
            break;
        }
        int rc = msg_decode (&msg, zmq_msg_data (&frame), zmq_msg_size (&frame));
        zmq_msg_close (&frame);
        if (rc || msg.type != MSG_REPLICATE || msg.epoch < self->epoch)
            continue;
        self->epoch = msg.epoch;
        uint64_t count = tradelog_count (self->log);
        if (msg.number > count)
            *gap = true;
        if (msg.number != count || self->leading)
            continue;
        msg_trade_t trade;
        msg_get_trade (&msg, &trade);
        if (tradelog_append (self->log, &trade)) {
            log_error ("cannot append order %" PRIu64 " from the leader", msg.number);
            appended = -1;
            break;
        }
        appended++;
    }
    msg_reset (&msg);
    return appended;
}

int
replication_drain (replication_t *self, bool *gap)
{
    s_drain_rep (self);
    return s_drain_sub (self, gap);
}

void
replication_ack (replication_t *self, peers_t *peers)
{
    if (self->leading || !self->leader_id || !self->sub)
        return;
    int64_t now = zclock_mono ();
    uint64_t durable = tradelog_durable (self->log);
    if (durable == self->acked_sent && now - self->acked_sent_at < REPLICATION_ACK_MS)
        return;
    msg_t ack;
    msg_init (&ack, MSG_ACK);
    ack.replica_id = self->replica_id;
    ack.epoch = self->epoch;
    ack.number = durable;
    if (peers_send (peers, self->leader_id, &ack) == 0) {
        self->acked_sent = durable;
        self->acked_sent_at = now;
    }
}

void
replication_set_require_ack (replication_t *self, bool require_ack)
{
    self->require_ack = require_ack;
}

const replication_stats_t *
replication_stats (replication_t *self)
{
    return &self->stats;
}
