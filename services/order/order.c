/*  order.c - the order replica loop.

    Two sockets: `worker` (DEALER, service "order") where TRADE and QUERY
    arrive, and `catalog` (DEALER, a client of the broker) where APPLY and
    JOURNAL go. A TRADE becomes an APPLY kept in `pending` until the
    catalog answers or its deadline passes. Each turn of the loop syncs
    the log once for everything appended, then sends the held replies.
*/
#include "order.h"
#include "batch.h"
#include "log.h"
#include "worker.h"

#include <czmq.h>

#define PENDING_MAX 65536        //  APPLYs in flight; a power of two
#define BATCH_MAX 1024
#define JOURNAL_CHUNK 10000
#define CATCH_UP_INTERVAL_MS 1000
#define TICK_MS 50
#define RETRY_MS 100

typedef struct {
    uint64_t req_id;             //  our APPLY's id; 0 = free slot
    uint64_t client_req_id;
    worker_envelope_t envelope;
    int64_t deadline;
} s_pending_t;

typedef struct {
    s_pending_t pending;
    msg_t reply;                 //  COMMITTED, number beyond the log
} s_held_t;

struct _order_t {
    order_config_t config;
    order_log_t *log;
    worker_t *worker;
    zsock_t *catalog;
    zsock_t *pub;
    batch_t *batch;
    s_pending_t *pending;        //  ring indexed by req_id % PENDING_MAX
    uint64_t next_req_id;
    uint64_t oldest_req_id;      //  no live pending below this
    s_held_t *held;              //  replies waiting for a gap to fill
    size_t held_count;
    uint64_t journal_req_id;     //  outstanding JOURNAL, 0 if none
    int64_t journal_deadline;
    int64_t catch_up_at;
    bool serving;
    uint64_t published;          //  orders published on pub so far
    msgpack_sbuffer buffer;
};

order_t *
order_new (order_log_t **log_p, const order_config_t *config)
{
    order_t *self = calloc (1, sizeof (order_t));
    assert (self);
    self->config = *config;
    self->pub = zsock_new (ZMQ_PUB);
    assert (self->pub);
    if (zsock_bind (self->pub, "%s", config->pub) < 0) {
        zsock_destroy (&self->pub);
        free (self);
        return NULL;
    }
    self->log = *log_p;
    *log_p = NULL;
    self->worker = worker_new (config->broker, "order", config->replica_id, config->pub,
                               config->rep);
    self->catalog = zsock_new (ZMQ_DEALER);
    self->batch = batch_new ();
    self->pending = calloc (PENDING_MAX, sizeof (s_pending_t));
    self->held = calloc (PENDING_MAX, sizeof (s_held_t));
    assert (self->worker && self->catalog && self->batch && self->pending && self->held);
    //  Fail fast while the broker is down rather than queue stale work.
    zsock_set_immediate (self->catalog, 1);
    zsock_set_sndhwm (self->catalog, 100000);
    zsock_set_rcvhwm (self->catalog, 100000);
    zsock_connect (self->catalog, "%s", config->broker);
    self->next_req_id = self->oldest_req_id = 1;
    self->published = order_log_count (self->log);
    msgpack_sbuffer_init (&self->buffer);
    return self;
}

void
order_destroy (order_t **self_p)
{
    if (!*self_p)
        return;
    order_t *self = *self_p;
    worker_destroy (&self->worker);
    zsock_destroy (&self->catalog);
    zsock_destroy (&self->pub);
    batch_destroy (&self->batch);
    order_log_destroy (&self->log);
    free (self->pending);
    free (self->held);
    msgpack_sbuffer_destroy (&self->buffer);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Talking to the catalog

static int
s_catalog_send (order_t *self, msg_t *request)
{
    request->req_id = self->next_req_id++;
    if (msg_encode (request, &self->buffer))
        return -1;
    return zmq_send (zsock_resolve (self->catalog), self->buffer.data, self->buffer.size,
                     ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

//  Asks the catalog for committed trades the log does not have yet.
static void
s_catch_up (order_t *self)
{
    int64_t now = zclock_mono ();
    if (self->journal_req_id && now < self->journal_deadline)
        return;
    msg_t request;
    msg_init (&request, MSG_JOURNAL);
    request.number = order_log_count (self->log);
    request.quantity = JOURNAL_CHUNK;
    self->journal_req_id = s_catalog_send (self, &request) ? 0 : request.req_id;
    self->journal_deadline = now + self->config.catalog_timeout_ms;
    self->catch_up_at = now + CATCH_UP_INTERVAL_MS;
}

static void
s_reply_committed (order_t *self, const s_pending_t *pending, msg_t *reply)
{
    reply->req_id = pending->client_req_id;
    batch_add (self->batch, &pending->envelope, reply);
}

static int
s_append (order_t *self, const msg_trade_t *trade)
{
    if (trade->number < order_log_count (self->log))
        return 0;
    if (order_log_append (self->log, trade)) {
        log_error ("cannot append order %" PRIu64, trade->number);
        return -1;
    }
    return 0;
}

//  Appends the trades of a JOURNAL reply; true if more may follow.
static bool
s_on_trades (order_t *self, const msg_t *reply)
{
    for (size_t i = 0; i < reply->trade_count; i++)
        if (reply->trades[i].number == order_log_count (self->log))
            s_append (self, &reply->trades[i]);
    self->journal_req_id = 0;
    //  Held replies whose number the log now has can go out.
    size_t kept = 0;
    for (size_t i = 0; i < self->held_count; i++) {
        s_held_t *held = &self->held[i];
        if (held->reply.number < order_log_count (self->log))
            s_reply_committed (self, &held->pending, &held->reply);
        else
            self->held[kept++] = *held;
    }
    self->held_count = kept;
    return reply->trade_count == JOURNAL_CHUNK || kept > 0;
}

static void
s_on_committed (order_t *self, s_pending_t *pending, msg_t *reply)
{
    uint64_t count = order_log_count (self->log);
    if (reply->number <= count) {
        if (reply->number == count) {
            msg_trade_t trade;
            msg_get_trade (reply, &trade);
            s_append (self, &trade);
        }
        s_reply_committed (self, pending, reply);
        return;
    }
    //  The catalog committed trades we have not seen: fetch them first.
    if (self->held_count < PENDING_MAX) {
        self->held[self->held_count].pending = *pending;
        self->held[self->held_count++].reply = *reply;
    }
    self->journal_deadline = 0;
    s_catch_up (self);
}

static void
s_on_catalog_reply (order_t *self, msg_t *reply)
{
    if (reply->type == MSG_TRADES && reply->req_id == self->journal_req_id) {
        if (s_on_trades (self, reply)) {
            self->journal_deadline = 0;
            s_catch_up (self);
        }
        else
        if (!self->serving) {
            self->serving = true;
            worker_set_ready (self->worker, true);
            log_info ("caught up with the catalog at %" PRIu64 " orders; serving",
                      order_log_count (self->log));
        }
        return;
    }
    if (reply->type == MSG_ERROR && reply->req_id == self->journal_req_id) {
        //  No catalog yet: ask again soon rather than wait for the deadline.
        self->journal_req_id = 0;
        self->catch_up_at = zclock_mono () + RETRY_MS;
        return;
    }
    s_pending_t *pending = &self->pending[reply->req_id % PENDING_MAX];
    if (pending->req_id != reply->req_id || reply->req_id == 0) {
        log_debug ("late %s %" PRIu64 " dropped", msg_type_name (reply->type), reply->req_id);
        return;
    }
    if (reply->type == MSG_COMMITTED)
        s_on_committed (self, pending, reply);
    else
    if (reply->type == MSG_ERROR)
        batch_add_error (self->batch, &pending->envelope, pending->client_req_id, reply->code);
    else
        batch_add_error (self->batch, &pending->envelope, pending->client_req_id,
                         MSG_ERR_INTERNAL);
    pending->req_id = 0;
}

//  ---------------------------------------------------------------------
//  Requests from clients

static void
s_on_trade (order_t *self, const worker_envelope_t *envelope, const msg_t *request)
{
    uint64_t number;
    if (order_log_find_key (self->log, request->key, &number)) {
        msg_trade_t trade;
        order_log_get (self->log, number, &trade);
        msg_t reply;
        msg_set_trade (&reply, MSG_COMMITTED, &trade);
        reply.req_id = request->req_id;
        batch_add (self->batch, envelope, &reply);
        return;
    }
    if (request->quantity == 0) {
        batch_add_error (self->batch, envelope, request->req_id, MSG_ERR_INVALID_QUANTITY);
        return;
    }
    msg_t apply;
    msg_init (&apply, MSG_APPLY);
    snprintf (apply.name, sizeof (apply.name), "%s", request->name);
    apply.side = request->side;
    apply.quantity = request->quantity;
    snprintf (apply.key, sizeof (apply.key), "%s", request->key);
    s_pending_t *slot = &self->pending[self->next_req_id % PENDING_MAX];
    if (slot->req_id || s_catalog_send (self, &apply)) {
        batch_add_error (self->batch, envelope, request->req_id, MSG_ERR_UNAVAILABLE);
        return;
    }
    slot->req_id = apply.req_id;
    slot->client_req_id = request->req_id;
    slot->envelope = *envelope;
    slot->deadline = zclock_mono () + self->config.catalog_timeout_ms;
}

static void
s_on_query (order_t *self, const worker_envelope_t *envelope, const msg_t *request)
{
    msg_trade_t trade;
    if (order_log_get (self->log, request->number, &trade)) {
        batch_add_error (self->batch, envelope, request->req_id, MSG_ERR_TXN_NOT_FOUND);
        return;
    }
    msg_t reply;
    msg_set_trade (&reply, MSG_ORDER, &trade);
    reply.req_id = request->req_id;
    batch_add (self->batch, envelope, &reply);
}

static void
s_on_request (void *arg, const worker_envelope_t *envelope, const msg_t *request)
{
    order_t *self = arg;
    if (!self->serving)
        batch_add_error (self->batch, envelope, request->req_id, MSG_ERR_UNAVAILABLE);
    else
    if (request->type == MSG_TRADE)
        s_on_trade (self, envelope, request);
    else
    if (request->type == MSG_QUERY)
        s_on_query (self, envelope, request);
    else {
        log_warn ("dropped %s: not an order request", msg_type_name (request->type));
        batch_add_error (self->batch, envelope, request->req_id, MSG_ERR_BAD_MESSAGE);
    }
}

static void
s_drain_catalog (order_t *self)
{
    msg_t reply;
    msg_init (&reply, 0);
    for (int handled = 0; handled < BATCH_MAX; handled++) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, zsock_resolve (self->catalog), ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&frame);
            break;
        }
        int rc = msg_decode (&reply, zmq_msg_data (&frame), zmq_msg_size (&frame));
        zmq_msg_close (&frame);
        if (rc)
            log_warn ("dropped undecodable catalog reply: %s", msg_decode_strerror (rc));
        else
            s_on_catalog_reply (self, &reply);
    }
    msg_reset (&reply);
}

//  Answers 503 for APPLYs the catalog did not answer in time. The trade
//  may still have committed: the next catch-up brings it into the log.
static void
s_expire (order_t *self)
{
    int64_t now = zclock_mono ();
    while (self->oldest_req_id < self->next_req_id) {
        s_pending_t *pending = &self->pending[self->oldest_req_id % PENDING_MAX];
        if (pending->req_id == self->oldest_req_id) {
            if (pending->deadline > now)
                break;
            log_warn ("catalog did not answer trade %" PRIu64 " in time", pending->req_id);
            batch_add_error (self->batch, &pending->envelope, pending->client_req_id,
                             MSG_ERR_UNAVAILABLE);
            pending->req_id = 0;
        }
        self->oldest_req_id++;
    }
}

//  Publishes committed orders for followers (and the tap).
static void
s_publish (order_t *self)
{
    msg_trade_t trade;
    while (self->published < order_log_count (self->log)
           && order_log_get (self->log, self->published, &trade) == 0) {
        msg_t record;
        msg_set_trade (&record, MSG_TRADEREC, &trade);
        if (msg_encode (&record, &self->buffer) == 0)
            zmq_send (zsock_resolve (self->pub), self->buffer.data, self->buffer.size,
                      ZMQ_DONTWAIT);
        self->published++;
    }
}

int
order_run (order_t *self)
{
    zmq_pollitem_t items[] = {{worker_handle (self->worker), 0, ZMQ_POLLIN, 0},
                              {zsock_resolve (self->catalog), 0, ZMQ_POLLIN, 0}};
    log_info ("catching up with the catalog from order %" PRIu64, order_log_count (self->log));
    s_catch_up (self);
    while (!zsys_interrupted) {
        int64_t timeout = worker_tick (self->worker);
        if (timeout > TICK_MS)
            timeout = TICK_MS;
        if (zmq_poll (items, 2, (long) timeout) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (items[1].revents & ZMQ_POLLIN)
            s_drain_catalog (self);
        if (items[0].revents & ZMQ_POLLIN)
            worker_drain (self->worker, BATCH_MAX, s_on_request, self);
        s_expire (self);
        if (zclock_mono () >= self->catch_up_at || (self->journal_req_id
                                                    && zclock_mono () >= self->journal_deadline))
            s_catch_up (self);
        if (order_log_sync (self->log)) {
            log_error ("order log sync failed: %s; stopping before acknowledging",
                       strerror (errno));
            return -1;
        }
        batch_send (self->batch, self->worker);
        s_publish (self);
    }
    return 0;
}
