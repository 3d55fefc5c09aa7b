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
#define HELD_MAX 4096            //  commits waiting for a gap to fill; more time out
#define BATCH_MAX 1024
#define JOURNAL_CHUNK 10000
#define CATCH_UP_INTERVAL_MS 1000
#define TICK_MS 50
#define RETRY_MS 100
#define QUERIES_MAX 4096

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

//  A query for a number beyond the log: the order may be committed and
//  acknowledged by another replica, so catch up before answering 404.
typedef struct {
    worker_envelope_t envelope;
    uint64_t req_id;
    uint64_t number;
    uint64_t after_req_id;       //  answer once a catch-up sent from here is done
    int64_t deadline;
} s_query_t;

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
    s_query_t *queries;          //  queries waiting for a catch-up
    size_t query_count;
    bool catch_up_again;         //  a query came while a JOURNAL was out
    bool failed;                 //  log and catalog disagree: stop
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
    self->held = calloc (HELD_MAX, sizeof (s_held_t));
    self->queries = calloc (QUERIES_MAX, sizeof (s_query_t));
    assert (self->worker && self->catalog && self->batch && self->pending && self->held
            && self->queries);
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
    free (self->queries);
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
    //  A send fails while the broker connection is not up yet: retry soon.
    self->catch_up_at = now + (self->journal_req_id ? CATCH_UP_INTERVAL_MS : RETRY_MS);
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
s_answer_query (order_t *self, const worker_envelope_t *envelope, uint64_t req_id,
                uint64_t number)
{
    msg_trade_t trade;
    if (order_log_get (self->log, number, &trade)) {
        batch_add_error (self->batch, envelope, req_id, MSG_ERR_TXN_NOT_FOUND);
        return;
    }
    msg_t reply;
    msg_set_trade (&reply, MSG_ORDER, &trade);
    reply.req_id = req_id;
    batch_add (self->batch, envelope, &reply);
}

//  Answers the queries held before a catch-up that just completed
//  (reply_req_id), or whose deadline passed (reply_req_id 0).
static void
s_answer_queries (order_t *self, uint64_t reply_req_id)
{
    int64_t now = zclock_mono ();
    size_t kept = 0;
    for (size_t i = 0; i < self->query_count; i++) {
        s_query_t *query = &self->queries[i];
        if (reply_req_id && reply_req_id >= query->after_req_id)
            s_answer_query (self, &query->envelope, query->req_id, query->number);
        else
        if (now >= query->deadline)
            batch_add_error (self->batch, &query->envelope, query->req_id, MSG_ERR_UNAVAILABLE);
        else
            self->queries[kept++] = *query;
    }
    self->query_count = kept;
}

static void
s_on_committed (order_t *self, s_pending_t *pending, msg_t *reply)
{
    uint64_t count = order_log_count (self->log);
    msg_trade_t trade, logged;
    msg_get_trade (reply, &trade);
    if (reply->number < count) {
        //  A repeated idempotency key: the log must hold the same trade.
        order_log_get (self->log, reply->number, &logged);
        if (strcmp (logged.name, trade.name) || logged.side != trade.side
            || logged.quantity != trade.quantity) {
            log_error ("catalog trade %" PRIu64 " differs from this replica's log: stopping",
                       reply->number);
            self->failed = true;
            return;
        }
    }
    if (reply->number <= count) {
        if (reply->number == count)
            s_append (self, &trade);
        s_reply_committed (self, pending, reply);
        return;
    }
    //  The catalog committed trades we have not seen: fetch them first.
    if (self->held_count < HELD_MAX) {
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
        if (reply->number < order_log_count (self->log)) {
            log_error ("the catalog has %" PRIu64 " trades but this replica's log has %" PRIu64
                       ": the catalog lost data; refusing to serve", reply->number,
                       order_log_count (self->log));
            self->failed = true;
            return;
        }
        bool more = s_on_trades (self, reply);
        if (more || self->catch_up_again) {
            self->catch_up_again = false;
            self->journal_deadline = 0;
            s_catch_up (self);
        }
        if (!more)
            s_answer_queries (self, reply->req_id);
        if (!more && !self->serving) {
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
    if (request->number < order_log_count (self->log) || self->query_count == QUERIES_MAX) {
        s_answer_query (self, envelope, request->req_id, request->number);
        return;
    }
    s_query_t *query = &self->queries[self->query_count++];
    query->envelope = *envelope;
    query->req_id = request->req_id;
    query->number = request->number;
    query->after_req_id = self->next_req_id;
    query->deadline = zclock_mono () + self->config.catalog_timeout_ms;
    if (self->journal_req_id)
        self->catch_up_again = true;   //  that JOURNAL may predate the order
    else
        s_catch_up (self);
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
        s_answer_queries (self, 0);
        if (zclock_mono () >= self->catch_up_at || (self->journal_req_id
                                                    && zclock_mono () >= self->journal_deadline))
            s_catch_up (self);
        if (self->failed)
            return -1;
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
