/*  broker.c - routes requests to workers by service, replies back.

    Frames on the ROUTER (the first is always the sender's identity):
      [client][request]           a client request: decoded, routed
      [worker][heartbeat]         a worker is alive (registers it)
      [worker][client][reply]     a worker's answer: forwarded as is
    Anything else is logged and dropped. Frames are moved with zmq_msg_t
    so forwarding copies no payload.

    Leadership: the order leader is the replica with the highest id among
    those that are not catching up (a restarted replica first copies what
    its peers hold). The broker announces it to every worker with LEADER
    (leader id, its epoch, its endpoints, and every replica's role and
    position) whenever something changes and every heartbeat interval; the
    announcement doubles as the broker's heartbeat. The broker names who
    is to lead; the replicas decide epochs (a majority promises the named
    one its epoch: services/order/consensus.h), so epochs only grow and
    safety does not rest on the broker. A broker that just started names
    only the replica that reports leading until it has heard every
    replica, and tells the others nothing meanwhile (roster.h): its
    restart does not change who leads.

    Any number of catalogs, one process per replica id: lookups are spread
    over the catalogs (the least dispatched one that is not catching up),
    and a heartbeat from a second replica with an id that is registered is
    refused with ERROR REFUSED while the registered one is still reachable.

    What a dead worker held is answered UNAVAILABLE at once (inflight.h),
    so its client retries elsewhere instead of waiting out its deadline:
    an order replica's requests whenever it goes, a catalog's when its
    connection is gone (kill -9, restart). A catalog that only missed
    heartbeats (paused) may still answer, and its reply is forwarded.

    Introspection (zguide's MMI in spirit): a STATUS request is for the
    broker itself and answered with VIEW: every worker it knows (and the
    ones that left, until they come back: people want to see who is
    missing), heartbeat ages, roles, positions, the leader and its epoch,
    the catalog's trade count and the leader's in-sync set, which the
    leader reports in its heartbeats.

    A leader cut off from the network is expired early, before its
    heartbeats run out, when a majority of the replicas report it silent
    and the broker has not heard it either (roster_silent_leader decides;
    s_silent_leader_expire acts and logs the reporters).

    The workers, the departed and the election live in roster.c; this
    file does the sending.
*/
#include "broker.h"
#include "inflight.h"
#include "log.h"
#include "msgs.h"
#include "roster.h"
#include "sockets.h"
#include "sockpoll.h"

#include <czmq.h>

#define HEARTBEAT_INTERVAL_MS MSG_HEARTBEAT_MS
#define FRAMES_MAX 4
#define S_MISSED_HEARTBEATS "missed heartbeats"   //  the one reason a worker may still answer

struct _broker_t {
    zsock_t *router;
    zsock_t *tap;
    void *router_handle;
    int64_t heartbeat_at;
    int64_t silence_check_at;   //  a majority reports the leader silent: look again then (0: no)
    roster_t *roster;        //  the workers, the departed, the leader
    bool announce;           //  leadership or a role changed: tell everyone now
    msg_error_t failing;     //  the answer for what a gone worker held (s_fail_request)
    inflight_t *inflight;    //  order requests forwarded, not yet answered
    msgpack_sbuffer buffer;  //  for messages the broker makes itself
    msg_t msg;
};

broker_t *
broker_new (const char *endpoint, const char *tap_endpoint, int64_t expiry_ms, char *error,
            size_t error_size)
{
    broker_t *self = calloc (1, sizeof (broker_t));
    assert (self);
    self->inflight = inflight_new ();
    msgpack_sbuffer_init (&self->buffer);
    self->router = sockets_new (ZMQ_ROUTER, NULL, SOCKETS_HWM);
    if (self->router) {
        //  Learn at send time that a worker is gone instead of dropping
        //  silently.
        zsock_set_router_mandatory (self->router, 1);
        //  A worker reconnecting after a cut keeps its routing id (link.h):
        //  the new connection takes it over from the dead one.
        zsock_set_router_handover (self->router, 1);
        //  No PINGs of the broker's own: libzmq 4.3.4 (Debian's) aborts
        //  ("!_io_error", stream_engine_base.cpp:331) when a PING timer
        //  fires on a connection whose input had stopped and then failed,
        //  which a worker's reconnect under a one-way cut brought about in
        //  make chaos-net (zeromq/libzmq#4364). The peers still PING it,
        //  and their TTL still closes a connection silent for 1.5 s here.
        zsock_set_heartbeat_ivl (self->router, 0);
    }
    if (!self->router || zsock_bind (self->router, "%s", endpoint) < 0) {
        snprintf (error, error_size, "cannot bind the ROUTER to %s (--bind): %s", endpoint,
                  zmq_strerror (errno));
        broker_destroy (&self);
        return NULL;
    }
    self->router_handle = zsock_resolve (self->router);
    if (tap_endpoint && *tap_endpoint) {
        self->tap = sockets_bind (ZMQ_PUB, tap_endpoint, 0);
        if (!self->tap) {
            snprintf (error, error_size, "cannot bind the tap to %s (--tap): %s", tap_endpoint,
                      zmq_strerror (errno));
            broker_destroy (&self);
            return NULL;
        }
    }
    self->heartbeat_at = zclock_mono () + HEARTBEAT_INTERVAL_MS;
    self->roster = roster_new (expiry_ms);
    return self;
}

void
broker_destroy (broker_t **self_p)
{
    if (!*self_p)
        return;
    broker_t *self = *self_p;
    zsock_destroy (&self->router);
    zsock_destroy (&self->tap);
    inflight_destroy (&self->inflight);
    roster_destroy (&self->roster);
    msgpack_sbuffer_destroy (&self->buffer);
    msg_reset (&self->msg);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Workers

//  Re-elects the order leader; a change is announced at once.
static void
s_leader_update (broker_t *self)
{
    if (roster_elect (self->roster))
        self->announce = true;
}

static int s_send_own (broker_t *self, const void *identity, size_t identity_size,
                       const msg_t *msg);

//  inflight_fn: the request will never be answered; say so now.
static void
s_fail_request (void *arg, const void *client, size_t client_size, uint64_t req_id)
{
    broker_t *self = arg;
    msg_t error;
    msg_init (&error, MSG_ERROR);
    error.req_id = req_id;
    error.code = self->failing;
    snprintf (error.text, sizeof (error.text), "the worker holding it is gone");
    s_send_own (self, client, client_size, &error);
}

//  A catalog that only missed heartbeats may still answer what it holds
//  (a reply from an expired worker is forwarded); one whose connection is
//  gone never will.
static void
s_worker_delete (broker_t *self, roster_worker_t *worker, const char *why)
{
    log_info ("worker %s/%" PRIu64 " gone (%s)", worker->service, worker->replica_id, why);
    bool paused = streq (why, S_MISSED_HEARTBEATS);
    size_t failed = 0;
    //  An order replica may have proposed what it held before it went, and
    //  a new leader may commit it: its clients learn the truth by a retry
    //  with the trade's key (504). A catalog's lookups are simply undone.
    self->failing = streq (worker->service, "order") ? MSG_ERR_OUTCOME_UNKNOWN
                                                     : MSG_ERR_UNAVAILABLE;
    if (streq (worker->service, "order") || !paused)
        failed = inflight_fail (self->inflight, worker->incarnation, s_fail_request, self);
    if (failed)
        log_info ("answered %zu requests it held: %s (their clients retry)", failed,
                  msg_error_text (self->failing));
    roster_remove (self->roster, worker);
    self->announce = true;
    s_leader_update (self);
}

//  Names the worker a refusal is about, for the log: "catalog worker" or
//  "order replica with id 3".
static void
s_worker_name (const char *service, uint64_t replica_id, char *name, size_t size)
{
    if (streq (service, "order"))
        snprintf (name, size, "order replica with id %" PRIu64, replica_id);
    else
        snprintf (name, size, "%s worker", service);
}

//  A worker that duplicates a registered one (the catalog, or the order
//  replica with the same id) may register only if that one is gone: a
//  send to it fails at once (ROUTER_MANDATORY) when its connection closed,
//  as after kill -9. Otherwise the newcomer is answered ERROR REFUSED and
//  exits: two processes under one replica id would take the lead from
//  each other, and under majority voting be two voters.
static bool
s_refused (broker_t *self, zmq_msg_t *identity, const msg_t *heartbeat)
{
    roster_worker_t *other = roster_taken (self->roster, heartbeat->service,
                                           heartbeat->replica_id);
    if (!other)
        return false;
    msg_t probe;
    msg_init (&probe, MSG_HEARTBEAT);
    snprintf (probe.service, sizeof (probe.service), "broker");
    if (s_send_own (self, other->identity, other->identity_size, &probe)
        && errno == EHOSTUNREACH) {
        s_worker_delete (self, other, "disconnected");
        return false;
    }
    char name[64];
    s_worker_name (heartbeat->service, heartbeat->replica_id, name, sizeof (name));
    log_error ("refused a second %s (incarnation %" PRIu64 "): the registered one"
               " (incarnation %" PRIu64 ") is alive", name, heartbeat->incarnation,
               other->incarnation);
    msg_t refusal;
    msg_init (&refusal, MSG_ERROR);
    refusal.code = MSG_ERR_REFUSED;
    snprintf (refusal.text, sizeof (refusal.text), "another live process is the %s", name);
    s_send_own (self, zmq_msg_data (identity), zmq_msg_size (identity), &refusal);
    return true;
}

//  Registers or refreshes the worker that sent a HEARTBEAT.
static void
s_worker_heartbeat (broker_t *self, zmq_msg_t *identity, const msg_t *msg)
{
    size_t size = zmq_msg_size (identity);
    roster_worker_t *worker = roster_find (self->roster, zmq_msg_data (identity), size);
    if (worker && worker->incarnation != msg->incarnation) {
        s_worker_delete (self, worker, "restarted");
        worker = NULL;
    }
    if (!worker) {
        if (!roster_has_room (self->roster, size)) {
            log_warn ("cannot register another worker, dropped heartbeat");
            return;
        }
        if (s_refused (self, identity, msg))
            return;
        worker = roster_add (self->roster, zmq_msg_data (identity), size, msg);
        log_info ("worker %s/%" PRIu64 " ready (%s)", worker->service, worker->replica_id,
                  msg_role_name (msg->role));
        self->announce = true;
    }
    if (roster_refresh (self->roster, worker, msg))
        self->announce = true;
    s_leader_update (self);
}

//  A leader a majority of the replicas cannot hear, and the broker has not
//  heard for a while either, is cut off: expire it now instead of after
//  its heartbeats run out (roster.h), so the next replica is named.
static void
s_silent_leader_expire (broker_t *self)
{
    char reporters[128];
    roster_worker_t *leader = roster_silent_leader (self->roster, &self->silence_check_at,
                                                    reporters, sizeof (reporters));
    if (!leader)
        return;
    log_warn ("order leader %" PRIu64 " expired early: replicas %s report it silent and the"
              " broker has not heard it for %" PRId64 " ms", leader->replica_id, reporters,
              zclock_mono () - leader->heard_at);
    s_worker_delete (self, leader, "silent to a majority");
}

static void
s_workers_purge (broker_t *self)
{
    int64_t now = zclock_mono ();
    for (size_t i = roster_size (self->roster); i-- > 0;) {
        roster_worker_t *worker = roster_at (self->roster, i);
        if (worker->expiry < now)
            s_worker_delete (self, worker, S_MISSED_HEARTBEATS);
    }
}

//  ---------------------------------------------------------------------
//  Sending

//  Sends frames[0..count) as one message; returns 0 or -1 (errno set).
//  The frames are consumed on success and must be closed by the caller
//  either way (closing a sent zmq_msg_t is harmless).
static int
s_send_frames (broker_t *self, zmq_msg_t *frames, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (zmq_msg_send (&frames[i], self->router_handle,
                          (i + 1 < count ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0)
            return -1;
    return 0;
}

static void
s_tap (broker_t *self, const char *topic, const void *data, size_t size)
{
    if (self->tap) {
        zmq_send (zsock_resolve (self->tap), topic, strlen (topic), ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send (zsock_resolve (self->tap), data, size, ZMQ_DONTWAIT);
    }
}

//  Sends a message the broker made itself to one peer. Returns 0, or -1
//  with errno set (EHOSTUNREACH: the peer is gone).
static int
s_send_own (broker_t *self, const void *identity, size_t identity_size, const msg_t *msg)
{
    if (msg_encode (msg, &self->buffer))
        return -1;
    s_tap (self, "broker", self->buffer.data, self->buffer.size);
    if (zmq_send (self->router_handle, identity, identity_size, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0
        || zmq_send (self->router_handle, self->buffer.data, self->buffer.size, ZMQ_DONTWAIT) < 0) {
        log_debug ("could not send %s: %s", msg_type_name (msg->type), zmq_strerror (errno));
        return -1;
    }
    return 0;
}

//  Announces the leader to every worker; also their heartbeat. Only
//  changes go to the tap: the periodic repeats would drown it.
static void
s_workers_announce (broker_t *self, bool changed)
{
    msg_t announcement;
    roster_leader_message (self->roster, &announcement);
    int rc = msg_encode (&announcement, &self->buffer);
    msg_reset (&announcement);
    self->announce = false;
    if (rc)
        return;
    if (changed)
        s_tap (self, "broker", self->buffer.data, self->buffer.size);
    for (size_t i = roster_size (self->roster); i-- > 0;) {
        roster_worker_t *worker = roster_at (self->roster, i);
        if (!roster_may_announce (self->roster, worker))
            continue;
        if ((zmq_send (self->router_handle, worker->identity, worker->identity_size,
                       ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0
             || zmq_send (self->router_handle, self->buffer.data, self->buffer.size,
                          ZMQ_DONTWAIT) < 0)
            && errno == EHOSTUNREACH) {
            s_worker_delete (self, worker, "disconnected");
            self->announce = true;   //  tell the others at once
        }
    }
}

//  ---------------------------------------------------------------------
//  Introspection: STATUS -> VIEW

//  Answers [client][VIEW]: every worker, the ones that left, the leader.
static void
s_status_reply (broker_t *self, zmq_msg_t *client, uint64_t req_id)
{
    msg_t view;
    roster_view (self->roster, &view);
    view.req_id = req_id;
    s_send_own (self, zmq_msg_data (client), zmq_msg_size (client), &view);
    msg_reset (&view);
}

//  ---------------------------------------------------------------------
//  Receiving

//  Sends [worker][client][request]; the caller keeps its frames.
static int
s_forward (broker_t *self, roster_worker_t *worker, zmq_msg_t *frames)
{
    zmq_msg_t routed[3];
    zmq_msg_init_size (&routed[0], worker->identity_size);
    memcpy (zmq_msg_data (&routed[0]), worker->identity, worker->identity_size);
    zmq_msg_init (&routed[1]);
    zmq_msg_copy (&routed[1], &frames[0]);
    zmq_msg_init (&routed[2]);
    zmq_msg_copy (&routed[2], &frames[1]);
    int rc = s_send_frames (self, routed, 3);
    for (int i = 0; i < 3; i++)
        zmq_msg_close (&routed[i]);
    return rc;
}

//  A one-frame-after-identity message: a request or a heartbeat.
//  The worker for a request: the leader for an order request; a QUERY
//  when no replica leads goes to any replica (it answers committed
//  orders), so queries keep answering without a majority.
static roster_worker_t *
s_pick (broker_t *self, int type, const char *service)
{
    roster_worker_t *worker = roster_pick (self->roster, service);
    if (!worker && type == MSG_QUERY)
        worker = roster_pick_any (self->roster, service);
    return worker;
}

static void
s_handle_request (broker_t *self, zmq_msg_t *frames)
{
    msg_t *msg = &self->msg;
    int rc = msg_decode (msg, zmq_msg_data (&frames[1]), zmq_msg_size (&frames[1]));
    if (rc) {
        log_warn ("dropped undecodable frame of %zu bytes: %s", zmq_msg_size (&frames[1]),
                  msg_decode_strerror (rc));
        return;
    }
    if (msg->type == MSG_HEARTBEAT) {
        if (streq (msg->service, "catalog") || streq (msg->service, "order"))
            s_worker_heartbeat (self, &frames[0], msg);
        else
            log_warn ("dropped heartbeat for unknown service '%s'", msg->service);
        return;
    }
    const char *service = msg_service (msg->type);
    if (!service) {
        log_warn ("dropped %s: not a request", msg_type_name (msg->type));
        return;
    }
    s_tap (self, service, zmq_msg_data (&frames[1]), zmq_msg_size (&frames[1]));
    if (streq (service, "broker")) {
        s_status_reply (self, &frames[0], msg->req_id);
        return;
    }
    //  A worker that restarted may still be listed under its old identity:
    //  ROUTER_MANDATORY tells us, and the next one is tried.
    roster_worker_t *worker;
    while ((worker = s_pick (self, msg->type, service))) {
        if (s_forward (self, worker, frames) == 0) {
            inflight_add (self->inflight, zmq_msg_data (&frames[0]), zmq_msg_size (&frames[0]),
                          msg->req_id, worker->incarnation);
            return;
        }
        log_warn ("could not reach %s worker: %s", service, zmq_strerror (errno));
        if (errno != EHOSTUNREACH)
            break;
        s_worker_delete (self, worker, "unreachable");
    }
    log_debug ("no %s worker for %s %" PRIu64, service, msg_type_name (msg->type), msg->req_id);
    uint64_t req_id = msg->req_id;
    msg_reset (msg);
    msg_init (msg, MSG_ERROR);
    msg->req_id = req_id;
    msg->code = MSG_ERR_UNAVAILABLE;
    snprintf (msg->text, sizeof (msg->text), "no %s worker", service);
    s_send_own (self, zmq_msg_data (&frames[0]), zmq_msg_size (&frames[0]), msg);
}

//  [worker][client][reply]: forward [client][reply].
static void
s_handle_reply (broker_t *self, zmq_msg_t *frames)
{
    //  A worker just expired (paused past its heartbeats) may still answer:
    //  the reply needs only the client's identity, so it is forwarded.
    roster_worker_t *worker =
        roster_find (self->roster, zmq_msg_data (&frames[0]), zmq_msg_size (&frames[0]));
    if (worker)
        roster_touch (self->roster, worker);
    uint64_t req_id;
    if (msg_peek_req_id (zmq_msg_data (&frames[2]), zmq_msg_size (&frames[2]), &req_id) == 0)
        inflight_remove (self->inflight, zmq_msg_data (&frames[1]), zmq_msg_size (&frames[1]),
                         req_id);
    s_tap (self, worker ? worker->service : "broker", zmq_msg_data (&frames[2]),
           zmq_msg_size (&frames[2]));
    if (s_send_frames (self, &frames[1], 2)) {
        if (worker)
            log_debug ("reply to a gone client dropped: %s", zmq_strerror (errno));
        else
            log_warn ("dropped 3-frame message from an unregistered peer: %s",
                      zmq_strerror (errno));
    }
    else
    if (!worker)
        log_info ("forwarded a reply from an unregistered (expired) worker");
}

//  One whole message of count frames (frames past FRAMES_MAX dropped).
static void
s_handle_one (broker_t *self, zmq_msg_t *frames, int count)
{
    if (count == 2)
        s_handle_request (self, frames);
    else
    if (count == 3)
        s_handle_reply (self, frames);
    else
        log_warn ("dropped message of %d frames", count);
}

static void
s_drain (broker_t *self)
{
    //  Bounded so heartbeats still go out under a flood.
    for (int i = 0; i < 10000; i++) {
        zmq_msg_t frames[FRAMES_MAX];
        for (size_t f = 0; f < FRAMES_MAX; f++)
            zmq_msg_init (&frames[f]);
        int count = sockets_receive (self->router_handle, frames, FRAMES_MAX);
        if (count > 0)
            s_handle_one (self, frames, count);
        for (size_t f = 0; f < FRAMES_MAX; f++)
            zmq_msg_close (&frames[f]);
        if (count <= 0)
            break;
    }
}

int
broker_run (broker_t *self)
{
    zmq_pollitem_t items[] = {{self->router_handle, 0, ZMQ_POLLIN, 0}};
    while (!zsys_interrupted) {
        int64_t wake_at = self->heartbeat_at;
        if (self->silence_check_at && self->silence_check_at < wake_at)
            wake_at = self->silence_check_at;
        int64_t timeout = wake_at - zclock_mono ();
        if (timeout < 0)
            timeout = 0;
        if (sockpoll_wait (items, 1, (long) timeout) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (items[0].revents & ZMQ_POLLIN)
            s_drain (self);
        s_silent_leader_expire (self);
        bool periodic = zclock_mono () >= self->heartbeat_at;
        if (periodic) {
            s_leader_update (self);
            s_workers_purge (self);
            inflight_expire (self->inflight);
            self->heartbeat_at = zclock_mono () + HEARTBEAT_INTERVAL_MS;
        }
        if (self->announce || periodic)
            s_workers_announce (self, self->announce);
    }
    return 0;
}
