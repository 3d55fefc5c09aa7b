/*  upstream.c - APPLY, JOURNAL and CLAIM calls to the catalog, direct
    when the catalog's ROUTER is reachable, through the broker otherwise.

    Invariants: pending[id % PENDING_MAX] holds the APPLY with that id, or
    req_id 0; no live APPLY is older than oldest_req_id. A call goes out
    on `direct` only while the broker announces that catalog (direct_on):
    the broker, not the link, says which catalog serves. Every socket a
    call went out on is read until the call's deadline has passed
    (`retired` is the link to a catalog announced before).
*/
#include "upstream.h"
#include "log.h"
#include "sockets.h"

#include <czmq.h>

#define PENDING_MAX 65536        //  APPLYs in flight; a power of two
#define RECEIVE_MAX 4096

struct _upstream_t {
    zsock_t *dealer;             //  to the broker
    zsock_t *direct;             //  to the catalog's ROUTER, NULL if none announced
    char catalog[MSG_ENDPOINT_MAX + 1];
    bool direct_on;              //  the last announcement named that catalog
    bool direct_up;              //  the last call went out on the direct link
    zsock_t *retired;            //  the link to the catalog announced before
    int64_t retired_until;
    int64_t timeout_ms;
    upstream_call_t *pending;
    int64_t *deadlines;
    uint64_t next_req_id;
    uint64_t oldest_req_id;
    upstream_call_t journal;     //  req_id 0 if none out
    int64_t journal_deadline;
    upstream_call_t claim;
    int64_t claim_deadline;
    msgpack_sbuffer buffer;
};

upstream_t *
upstream_new (const char *broker, int64_t timeout_ms)
{
    upstream_t *self = calloc (1, sizeof (upstream_t));
    assert (self);
    self->timeout_ms = timeout_ms;
    self->pending = calloc (PENDING_MAX, sizeof (upstream_call_t));
    self->deadlines = calloc (PENDING_MAX, sizeof (int64_t));
    self->dealer = zsock_new (ZMQ_DEALER);
    assert (self->pending && self->deadlines && self->dealer);
    //  Fail fast while the broker is down rather than queue stale work.
    zsock_set_immediate (self->dealer, 1);
    zsock_set_sndhwm (self->dealer, 100000);
    zsock_set_rcvhwm (self->dealer, 100000);
    if (sockets_client (zsock_resolve (self->dealer), "broker")
        || zsock_connect (self->dealer, "%s", broker) < 0) {
        upstream_destroy (&self);
        return NULL;
    }
    self->next_req_id = self->oldest_req_id = 1;
    self->journal.kind = UPSTREAM_JOURNAL;
    self->claim.kind = UPSTREAM_CLAIM;
    msgpack_sbuffer_init (&self->buffer);
    return self;
}

void
upstream_destroy (upstream_t **self_p)
{
    if (!*self_p)
        return;
    upstream_t *self = *self_p;
    zsock_destroy (&self->dealer);
    zsock_destroy (&self->direct);
    zsock_destroy (&self->retired);
    free (self->pending);
    free (self->deadlines);
    msgpack_sbuffer_destroy (&self->buffer);
    free (self);
    *self_p = NULL;
}

void
upstream_set_catalog (upstream_t *self, const char *endpoint)
{
    //  None announced (expired: gone, or only paused or cut off from the
    //  broker): calls go through the broker, which answers at once when
    //  no catalog serves; the link stays, for the replies owed on it.
    self->direct_on = *endpoint != '\0';
    if (!*endpoint || streq (endpoint, self->catalog))
        return;
    zsock_destroy (&self->retired);
    self->retired = self->direct;
    self->retired_until = zclock_mono () + self->timeout_ms;
    self->direct = NULL;
    self->direct_up = false;
    snprintf (self->catalog, sizeof (self->catalog), "%s", endpoint);
    self->direct = zsock_new (ZMQ_DEALER);
    assert (self->direct);
    //  Not connected: the send fails at once and the broker carries it.
    zsock_set_immediate (self->direct, 1);
    zsock_set_sndhwm (self->direct, 100000);
    zsock_set_rcvhwm (self->direct, 100000);
    if (sockets_client (zsock_resolve (self->direct), "catalog")
        || zsock_connect (self->direct, "%s", endpoint) < 0) {
        log_warn ("cannot connect to the catalog at %s: going through the broker", endpoint);
        zsock_destroy (&self->direct);
    }
}

size_t
upstream_poll_items (upstream_t *self, zmq_pollitem_t *items, size_t max)
{
    size_t count = 0;
    if (count < max)
        items[count++] = (zmq_pollitem_t) {zsock_resolve (self->dealer), 0, ZMQ_POLLIN, 0};
    if (self->direct && count < max)
        items[count++] = (zmq_pollitem_t) {zsock_resolve (self->direct), 0, ZMQ_POLLIN, 0};
    if (self->retired && count < max)
        items[count++] = (zmq_pollitem_t) {zsock_resolve (self->retired), 0, ZMQ_POLLIN, 0};
    return count;
}

//  Numbers request, gives it a deadline (ours, or the client's if that
//  is sooner) and sends it. Returns 0 or -1.
static int
s_send (upstream_t *self, msg_t *request)
{
    request->req_id = self->next_req_id++;
    uint64_t ours = msg_now_ms () + (uint64_t) self->timeout_ms;
    if (request->deadline == 0 || request->deadline > ours)
        request->deadline = ours;
    if (msg_encode (request, &self->buffer))
        return -1;
    bool direct = self->direct && self->direct_on
               && zmq_send (zsock_resolve (self->direct), self->buffer.data, self->buffer.size,
                            ZMQ_DONTWAIT) >= 0;
    if (direct != self->direct_up && self->direct) {
        if (direct)
            log_info ("direct link to the catalog at %s is up", self->catalog);
        else
            log_warn ("direct link to the catalog at %s is down: going through the broker",
                      self->catalog);
        self->direct_up = direct;
    }
    if (direct)
        return 0;
    return zmq_send (zsock_resolve (self->dealer), self->buffer.data, self->buffer.size,
                     ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

int
upstream_apply (upstream_t *self, const worker_envelope_t *envelope, const msg_t *request,
                uint64_t epoch, uint64_t count)
{
    upstream_call_t *slot = &self->pending[self->next_req_id % PENDING_MAX];
    if (slot->req_id)
        return -1;
    msg_t apply;
    msg_init (&apply, MSG_APPLY);
    snprintf (apply.name, sizeof (apply.name), "%s", request->name);
    apply.side = request->side;
    apply.quantity = request->quantity;
    snprintf (apply.key, sizeof (apply.key), "%s", request->key);
    apply.epoch = epoch;
    apply.number = count;
    apply.deadline = request->deadline;
    if (s_send (self, &apply))
        return -1;
    slot->kind = UPSTREAM_APPLY;
    slot->req_id = apply.req_id;
    slot->client_req_id = request->req_id;
    slot->deadline = apply.deadline;
    slot->envelope = *envelope;
    self->deadlines[apply.req_id % PENDING_MAX] = zclock_mono () + self->timeout_ms;
    return 0;
}

int
upstream_journal (upstream_t *self, uint64_t from)
{
    if (self->journal.req_id)
        return 0;
    msg_t request;
    msg_init (&request, MSG_JOURNAL);
    request.number = from;
    request.quantity = MSG_RANGE_CHUNK;
    if (s_send (self, &request))
        return -1;
    self->journal.req_id = request.req_id;
    self->journal_deadline = zclock_mono () + self->timeout_ms;
    return 0;
}

bool
upstream_journal_busy (upstream_t *self)
{
    return self->journal.req_id != 0;
}

int
upstream_claim (upstream_t *self, uint64_t replica_id, uint64_t count)
{
    if (self->claim.req_id)
        return 0;
    msg_t request;
    msg_init (&request, MSG_CLAIM);
    request.replica_id = replica_id;
    request.number = count;
    if (s_send (self, &request))
        return -1;
    self->claim.req_id = request.req_id;
    self->claim_deadline = zclock_mono () + self->timeout_ms;
    return 0;
}

//  Hands a reply to fn and forgets the call it answers.
static void
s_on_reply (upstream_t *self, const msg_t *reply, upstream_fn *fn, void *arg)
{
    upstream_call_t call;
    if (reply->req_id == 0)
        return;
    if (reply->req_id == self->journal.req_id) {
        call = self->journal;
        self->journal.req_id = 0;
    }
    else
    if (reply->req_id == self->claim.req_id) {
        call = self->claim;
        self->claim.req_id = 0;
    }
    else {
        upstream_call_t *slot = &self->pending[reply->req_id % PENDING_MAX];
        if (slot->req_id != reply->req_id) {
            log_debug ("late %s %" PRIu64 " dropped", msg_type_name (reply->type), reply->req_id);
            return;
        }
        call = *slot;
        slot->req_id = 0;
    }
    fn (arg, &call, reply);
}

//  Passes every reply waiting on socket to fn.
static void
s_drain (upstream_t *self, zsock_t *socket, upstream_fn *fn, void *arg)
{
    msg_t reply;
    msg_init (&reply, 0);
    for (int handled = 0; handled < RECEIVE_MAX; handled++) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, zsock_resolve (socket), ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&frame);
            break;
        }
        int rc = msg_decode (&reply, zmq_msg_data (&frame), zmq_msg_size (&frame));
        zmq_msg_close (&frame);
        if (rc)
            log_warn ("dropped undecodable catalog reply: %s", msg_decode_strerror (rc));
        else
            s_on_reply (self, &reply, fn, arg);
    }
    msg_reset (&reply);
}

void
upstream_drain (upstream_t *self, upstream_fn *fn, void *arg)
{
    s_drain (self, self->dealer, fn, arg);
    if (self->direct)
        s_drain (self, self->direct, fn, arg);
    if (self->retired)
        s_drain (self, self->retired, fn, arg);
}

void
upstream_expire (upstream_t *self, upstream_fn *fn, void *arg)
{
    int64_t now = zclock_mono ();
    if (self->retired && now >= self->retired_until)
        zsock_destroy (&self->retired);
    while (self->oldest_req_id < self->next_req_id) {
        upstream_call_t *slot = &self->pending[self->oldest_req_id % PENDING_MAX];
        if (slot->req_id == self->oldest_req_id) {
            if (self->deadlines[self->oldest_req_id % PENDING_MAX] > now)
                break;
            upstream_call_t call = *slot;
            slot->req_id = 0;
            fn (arg, &call, NULL);
        }
        self->oldest_req_id++;
    }
    if (self->journal.req_id && now >= self->journal_deadline) {
        upstream_call_t call = self->journal;
        self->journal.req_id = 0;
        fn (arg, &call, NULL);
    }
    if (self->claim.req_id && now >= self->claim_deadline) {
        upstream_call_t call = self->claim;
        self->claim.req_id = 0;
        fn (arg, &call, NULL);
    }
}
