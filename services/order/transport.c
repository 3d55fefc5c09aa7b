/*  transport.c - an order replica's sockets (see transport.h). */
#include "transport.h"
#include "mem.h"
#include "log.h"
#include "sockets.h"
#include "sockpoll.h"

#include <czmq.h>

struct _transport_t {
    tradelog_t *log;
    peers_t *peers;
    uint64_t replica_id;
    uint64_t commit;
    zsock_t *pub;
    zsock_t *rep;
    zsock_t *sub;
    uint64_t followed;        //  whose PUB sub is connected to
    char followed_pub[MSG_ENDPOINT_MAX + 1];
    sockets_watch_t *watch;   //  sub's handshakes (NULL: not watched)
    msgpack_sbuffer buffer;
};

transport_t *
transport_new (tradelog_t *log, uint64_t replica_id, const char *pub, const char *rep,
               char *error, size_t error_size)
{
    transport_t *self = mem_calloc (1, sizeof (transport_t));
    self->log = log;
    self->replica_id = replica_id;
    msgpack_sbuffer_init (&self->buffer);
    //  A follower that falls behind the HWM misses an APPEND and FETCHes.
    self->pub = sockets_bind (ZMQ_PUB, pub, SOCKETS_SEND_HWM);
    if (!self->pub) {
        snprintf (error, error_size, "cannot bind the orders PUB to %s (--pub): %s", pub,
                  zmq_strerror (errno));
        transport_destroy (&self);
    }
    else
    if (!(self->rep = sockets_bind (ZMQ_ROUTER, rep, SOCKETS_RECEIVE_HWM))) {
        snprintf (error, error_size, "cannot bind the REP endpoint %s (--rep): %s", rep,
                  zmq_strerror (errno));
        transport_destroy (&self);
    }
    return self;
}

void
transport_destroy (transport_t **self_p)
{
    if (!*self_p)
        return;
    transport_t *self = *self_p;
    zsock_destroy (&self->pub);
    zsock_destroy (&self->rep);
    sockets_watch_destroy (&self->watch);
    zsock_destroy (&self->sub);
    msgpack_sbuffer_destroy (&self->buffer);
    free (self);
    *self_p = NULL;
}

void
transport_set_peers (transport_t *self, peers_t *peers)
{
    self->peers = peers;
}

void
transport_set_commit (transport_t *self, uint64_t commit)
{
    self->commit = commit;
}

void
transport_follow (transport_t *self, uint64_t replica_id, const char *pub)
{
    if (replica_id == self->replica_id)
        replica_id = 0;
    if (!pub || !*pub)
        replica_id = 0;
    if (replica_id == self->followed && (!replica_id || streq (pub, self->followed_pub)))
        return;
    sockets_watch_destroy (&self->watch);
    zsock_destroy (&self->sub);
    self->followed = replica_id;
    *self->followed_pub = '\0';
    if (!replica_id)
        return;
    snprintf (self->followed_pub, sizeof (self->followed_pub), "%s", pub);
    //  Only CS_APPEND: the PUB also carries LEARN, and for the tap copies of
    //  what the REP endpoint received.
    self->sub = sockets_subscribe (pub, "order", MSG_CS_APPEND);
    if (!self->sub) {
        log_warn ("cannot subscribe to replica %" PRIu64 " at %s", replica_id, pub);
        self->followed = 0;
        return;
    }
    //  Connected already: a refused key fails each reconnection again.
    self->watch = sockets_watch_new (zsys_init (), zsock_resolve (self->sub));
}

void
transport_check_refusal (transport_t *self)
{
    if (self->watch && sockets_watch_newly_refused (self->watch))
        log_error ("the PUB of replica %" PRIu64 " at %s refused our handshake: the replicas "
                   "do not hold the same order keys (remade, or of another system): give every "
                   "process the same --keys DIR made by bazaar keys DIR",
                   self->followed, self->followed_pub);
}

size_t
transport_poll_items (transport_t *self, zmq_pollitem_t *items, size_t max)
{
    size_t count = 0;
    if (count < max)
        items[count++] = (zmq_pollitem_t) {zsock_resolve (self->rep), 0, ZMQ_POLLIN, 0};
    if (self->sub && count < max)
        items[count++] = (zmq_pollitem_t) {zsock_resolve (self->sub), 0, ZMQ_POLLIN, 0};
    return count;
}

//  Committed trades only: a catalog applies what it gets.
static void
s_answer_range (transport_t *self, zmq_msg_t *identity, const msg_t *request)
{
    msg_t reply;
    msg_init (&reply, MSG_TRADES);
    reply.req_id = request->req_id;
    reply.position = self->commit;
    uint64_t max = request->quantity < MSG_RANGE_CHUNK ? request->quantity : MSG_RANGE_CHUNK;
    tradelog_range (self->log, request->start, self->commit, max, &reply);
    void *handle = zsock_resolve (self->rep);
    if (msg_encode (&reply, &self->buffer) == 0
        && zmq_msg_send (identity, handle, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0
        && zmq_send (handle, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        zmq_send (handle, self->buffer.data, self->buffer.size, ZMQ_DONTWAIT);
    msg_reset (&reply);
}

//  Reads [identity][empty][message]; anything else is dropped.
static void
s_drain_rep (transport_t *self, transport_msg_fn *fn, void *arg, msg_t *msg)
{
    void *handle = zsock_resolve (self->rep);
    for (int handled = 0; handled < SOCKETS_RECEIVE_MAX; handled++) {
        zmq_msg_t frames[3];
        for (int i = 0; i < 3; i++)
            zmq_msg_init (&frames[i]);
        int count = sockets_receive (handle, frames, 3);
        if (count == 3 && zmq_msg_size (&frames[1]) == 0
            && msg_decode (msg, zmq_msg_data (&frames[2]), zmq_msg_size (&frames[2])) == 0) {
            bool consensus = msg->type >= MSG_CS_PREPARE && msg->type <= MSG_CS_ENTRIES;
            //  An APPEND to all comes only on the leader's PUB (a joining
            //  replica trusts one to be newer than its restart): on the
            //  REP one must be addressed to this replica.
            bool misaddressed = msg->type == MSG_CS_APPEND && msg->to != self->replica_id;
            if (msg->type == MSG_RANGE)
                s_answer_range (self, &frames[0], msg);
            else
            if (misaddressed)
                log_warn ("dropped a CS_APPEND to %" PRIu64 " on the REP endpoint of replica %"
                          PRIu64, msg->to, self->replica_id);
            else
            if (consensus)
                fn (arg, msg);
            //  For the tap: what the REP serves, never a type that others
            //  take from this PUB (a CS_APPEND to followers, a LEARN to
            //  catalogs), or anyone reaching the REP could publish one.
            if ((consensus || msg->type == MSG_RANGE) && msg->type != MSG_CS_APPEND)
                zmq_send (zsock_resolve (self->pub), zmq_msg_data (&frames[2]),
                          zmq_msg_size (&frames[2]), ZMQ_DONTWAIT);
        }
        else
        if (count)
            log_warn ("dropped a malformed message on the REP endpoint");
        for (int i = 0; i < 3; i++)
            zmq_msg_close (&frames[i]);
        if (count == 0)
            break;
    }
}

static void
s_drain_sub (transport_t *self, transport_msg_fn *fn, void *arg, msg_t *msg)
{
    void *handle = zsock_resolve (self->sub);
    for (int i = 0; i < SOCKETS_RECEIVE_MAX; i++) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, handle, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&frame);
            break;
        }
        int rc = msg_decode (msg, zmq_msg_data (&frame), zmq_msg_size (&frame));
        zmq_msg_close (&frame);
        if (rc == 0 && msg->type == MSG_CS_APPEND)
            fn (arg, msg);
    }
}

void
transport_drain (transport_t *self, const zmq_pollitem_t *items, size_t count,
                 transport_msg_fn *fn, void *arg)
{
    msg_t msg;
    msg_init (&msg, 0);
    if (sockpoll_readable (items, count, zsock_resolve (self->rep)))
        s_drain_rep (self, fn, arg, &msg);
    if (self->sub && sockpoll_readable (items, count, zsock_resolve (self->sub)))
        s_drain_sub (self, fn, arg, &msg);
    msg_reset (&msg);
}

int
transport_send (transport_t *self, const msg_t *msg)
{
    if (msg->to == 0 && (msg->type == MSG_CS_APPEND || msg->type == MSG_LEARN)) {
        if (msg_encode (msg, &self->buffer))
            return -1;
        return zmq_send (zsock_resolve (self->pub), self->buffer.data, self->buffer.size,
                         ZMQ_DONTWAIT) < 0 ? -1 : 0;
    }
    if (!self->peers)
        return -1;
    if (msg->to)
        return peers_send (self->peers, msg->to, msg);
    //  PREPARE to all: each peer the broker listed.
    int rc = 0;
    for (size_t i = 0; i < peers_count (self->peers); i++)
        if (peers_send (self->peers, peers_id_at (self->peers, i), msg))
            rc = -1;
    return rc;
}
