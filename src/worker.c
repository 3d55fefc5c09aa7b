/*  worker.c - a broker worker: heartbeats, requests in, replies out. */
#include "worker.h"
#include "mem.h"
#include "link.h"
#include "log.h"
#include "sockets.h"
#include "sockpoll.h"
#include "tally.h"

#include <czmq.h>

struct _worker_t {
    zsock_t *dealer;
    void *handle;
    msg_t heartbeat;
    bool ready;
    int64_t heartbeat_at;
    tally_t expired;             //  requests dropped because their deadline passed
    msgpack_sbuffer buffer;
    sockets_watch_t *watch;      //  the handshake with the broker (NULL: not watched)
    char broker[MSG_ENDPOINT_MAX + 1];
};

worker_t *
worker_new (const char *broker, const char *service, uint64_t replica_id, const char *pub,
            const char *rep, char *error, size_t error_size)
{
    worker_t *self = mem_calloc (1, sizeof (worker_t));
    self->expired = tally_init ("requests whose deadline had passed");
    msg_init (&self->heartbeat, MSG_HEARTBEAT);
    //  A new incarnation tells the broker this is a restart, not a repeat.
    self->heartbeat.incarnation = ((uint64_t) zclock_time () << 16) ^ (uint64_t) getpid ()
                                ^ (uint64_t) randof (65536);
    self->dealer = sockets_new (ZMQ_DEALER, "broker", SOCKETS_HWM);
    if (!self->dealer) {
        free (self);
        return NULL;
    }
    self->handle = zsock_resolve (self->dealer);
    if (link_set_routing_id (self->handle, self->heartbeat.incarnation)
        || zsock_connect (self->dealer, "%s", broker) < 0) {
        snprintf (error, error_size, "cannot connect to the broker at %s (--broker): %s", broker,
                  zmq_strerror (errno));
        zsock_destroy (&self->dealer);
        free (self);
        return NULL;
    }
    //  Best effort: without it a refused key is silent here as at the
    //  broker (ZAP refuses without a word), and the process waits forever.
    self->watch = sockets_watch_new (zsys_init (), self->handle);
    snprintf (self->broker, sizeof (self->broker), "%s", broker);
    msgpack_sbuffer_init (&self->buffer);
    snprintf (self->heartbeat.service, sizeof (self->heartbeat.service), "%s", service);
    snprintf (self->heartbeat.pub, sizeof (self->heartbeat.pub), "%s", pub);
    snprintf (self->heartbeat.rep, sizeof (self->heartbeat.rep), "%s", rep);
    self->heartbeat.replica_id = replica_id;
    return self;
}

void
worker_destroy (worker_t **self_p)
{
    if (!*self_p)
        return;
    worker_t *self = *self_p;
    tally_log_total (&self->expired, "dropped");
    sockets_watch_destroy (&self->watch);
    zsock_destroy (&self->dealer);
    msgpack_sbuffer_destroy (&self->buffer);
    msg_reset (&self->heartbeat);
    free (self);
    *self_p = NULL;
}

uint64_t
worker_incarnation (worker_t *self)
{
    return self->heartbeat.incarnation;
}

size_t
worker_poll_items (worker_t *self, zmq_pollitem_t *items, size_t max)
{
    size_t count = 0;
    if (count < max)
        items[count++] = (zmq_pollitem_t) {self->handle, 0, ZMQ_POLLIN, 0};
    return count;
}

void
worker_set_position (worker_t *self, uint64_t number, uint64_t epoch, uint8_t role)
{
    if (role != self->heartbeat.role || epoch != self->heartbeat.epoch)
        self->heartbeat_at = 0;
    self->heartbeat.position = number;
    self->heartbeat.epoch = epoch;
    self->heartbeat.role = role;
}

void
worker_set_silent_leader (worker_t *self, uint64_t leader_id)
{
    if (leader_id != self->heartbeat.silent_leader)
        self->heartbeat_at = 0;
    self->heartbeat.silent_leader = leader_id;
}

void
worker_set_in_sync (worker_t *self, const uint64_t *ids, size_t count)
{
    msg_t *heartbeat = &self->heartbeat;
    if (count == heartbeat->in_sync_count
        && (count == 0 || memcmp (ids, heartbeat->in_sync, count * sizeof (uint64_t)) == 0))
        return;
    if (msg_set_in_sync (heartbeat, ids, count) == 0)
        self->heartbeat_at = 0;     //  tell the broker at once
}

void
worker_set_ready (worker_t *self, bool ready)
{
    self->ready = ready;
    self->heartbeat_at = 0;
}

int64_t
worker_tick (worker_t *self)
{
    int64_t now = zclock_mono ();
    tally_log (&self->expired, "dropped");
    //  Read at heartbeat time, not polled.
    if (now >= self->heartbeat_at && self->watch && sockets_watch_newly_refused (self->watch))
        log_error ("the broker at %s is up but refused our handshake: it does not take this "
                   "process's CURVE key (key files of another system, remade, or damaged): "
                   "give every process the same --keys DIR made by bazaar keys DIR",
                   self->broker);
    if (self->ready && now >= self->heartbeat_at) {
        if (msg_encode (&self->heartbeat, &self->buffer) == 0)
            zmq_send (self->handle, self->buffer.data, self->buffer.size, ZMQ_DONTWAIT);
        self->heartbeat_at = now + WORKER_HEARTBEAT_MS;
    }
    return self->ready ? self->heartbeat_at - now : WORKER_HEARTBEAT_MS;
}

//  Receives one message from handle without blocking. Returns 1 and
//  fills envelope and msg (envelope->size 0 for a broker's own message),
//  0 if nothing is waiting, or -1 for a message that was dropped
//  (undecodable, or a broker heartbeat): call again.
static int
s_recv (void *handle, worker_envelope_t *envelope, msg_t *msg)
{
    zmq_msg_t frames[2];
    zmq_msg_init (&frames[0]);
    zmq_msg_init (&frames[1]);
    int rc = -1;
    int count = sockets_receive (handle, frames, 2);
    if (count <= 0) {
        rc = count;
        goto done;
    }
    if (count == 1) {
        //  The broker's own: a heartbeat (nothing to do) or an announcement.
        if (msg_decode (msg, zmq_msg_data (&frames[0]), zmq_msg_size (&frames[0])) == 0
            && (msg->type == MSG_LEADER || msg->type == MSG_ERROR)) {
            envelope->size = 0;
            rc = 1;
        }
        goto done;
    }
    if (count != 2 || zmq_msg_size (&frames[0]) > WORKER_ENVELOPE_MAX) {
        log_warn ("dropped message of %d frames", count);
        goto done;
    }
    int decoded = msg_decode (msg, zmq_msg_data (&frames[1]), zmq_msg_size (&frames[1]));
    if (decoded) {
        log_warn ("dropped undecodable request of %zu bytes: %s", zmq_msg_size (&frames[1]),
                  msg_decode_strerror (decoded));
        goto done;
    }
    envelope->size = zmq_msg_size (&frames[0]);
    memcpy (envelope->data, zmq_msg_data (&frames[0]), envelope->size);
    rc = 1;
done:
    zmq_msg_close (&frames[0]);
    zmq_msg_close (&frames[1]);
    return rc;
}

//  The client of an expired request has answered 503 already: the work
//  is not done, and the ERROR only frees the caller's slot sooner.
static void
s_drop_expired (worker_t *self, const worker_envelope_t *envelope, const msg_t *request)
{
    tally_add (&self->expired);
    log_debug ("dropped %s %" PRIu64 ": its deadline passed %" PRIu64 " ms ago",
               msg_type_name (request->type), request->req_id,
               msg_now_ms () - request->deadline);
    msg_t reply;
    msg_init (&reply, MSG_ERROR);
    reply.req_id = request->req_id;
    reply.code = MSG_ERR_UNAVAILABLE;
    snprintf (reply.text, sizeof (reply.text), "deadline passed");
    worker_send (self, envelope, &reply);
}

int
worker_drain (worker_t *self, const zmq_pollitem_t *items, size_t count, int max,
              worker_handler_fn *handler, void *arg)
{
    if (!sockpoll_readable (items, count, self->handle))
        return 0;
    msg_t request;
    msg_init (&request, 0);
    worker_envelope_t envelope;
    int handled = 0;
    while (handled < max) {
        int rc = s_recv (self->handle, &envelope, &request);
        if (rc == 0)
            break;
        if (rc == 1) {
            if (envelope.size && msg_expired (&request, msg_now_ms ()))
                s_drop_expired (self, &envelope, &request);
            else
                handler (arg, envelope.size ? &envelope : NULL, &request);
            handled++;
        }
    }
    msg_reset (&request);
    tally_log (&self->expired, "dropped");
    return handled;
}

int
worker_send_frame (worker_t *self, const worker_envelope_t *envelope, const void *data,
                   size_t size)
{
    if (zmq_send (self->handle, envelope->data, envelope->size, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0
        || zmq_send (self->handle, data, size, ZMQ_DONTWAIT) < 0)
        return -1;
    return 0;
}

int
worker_send (worker_t *self, const worker_envelope_t *envelope, const msg_t *reply)
{
    if (msg_encode (reply, &self->buffer))
        return -1;
    return worker_send_frame (self, envelope, self->buffer.data, self->buffer.size);
}
