/*  catalog.c - the catalog worker loop. */
#include "catalog.h"
#include "batch.h"
#include "log.h"
#include "worker.h"

#include <czmq.h>

#define BATCH_MAX 1024          //  requests handled per group commit
#define JOURNAL_REPLY_MAX 10000 //  trades per JOURNAL reply
#define BEACON_MS 100           //  sequence beacon on the PUB socket

struct _catalog_t {
    store_t *store;
    worker_t *worker;
    zsock_t *pub;
    batch_t *batch;
    uint64_t incarnation;
    uint64_t seq;              //  last INVALIDATE sequence sent
    int64_t beacon_at;
    bool failed;               //  memory is ahead of the journal: stop
    msg_t *changed;            //  INVALIDATEs to publish after the sync
    size_t changed_count;
    msgpack_sbuffer buffer;
};

catalog_t *
catalog_new (store_t **store_p, const char *broker, const char *pub)
{
    catalog_t *self = calloc (1, sizeof (catalog_t));
    assert (self);
    self->pub = zsock_new (ZMQ_PUB);
    assert (self->pub);
    if (zsock_bind (self->pub, "%s", pub) < 0) {
        zsock_destroy (&self->pub);
        free (self);
        return NULL;
    }
    self->store = *store_p;
    *store_p = NULL;
    self->worker = worker_new (broker, "catalog", 0, pub, "");
    self->batch = batch_new ();
    self->changed = calloc (BATCH_MAX, sizeof (msg_t));
    assert (self->worker && self->batch && self->changed);
    self->incarnation = worker_incarnation (self->worker);
    //  Invalidations are dropped at the HWM; beacons reveal the loss.
    zsock_set_sndhwm (self->pub, 100000);
    msgpack_sbuffer_init (&self->buffer);
    worker_set_ready (self->worker, true);
    return self;
}

void
catalog_destroy (catalog_t **self_p)
{
    if (!*self_p)
        return;
    catalog_t *self = *self_p;
    worker_destroy (&self->worker);
    zsock_destroy (&self->pub);
    batch_destroy (&self->batch);
    store_destroy (&self->store);
    free (self->changed);
    msgpack_sbuffer_destroy (&self->buffer);
    free (self);
    *self_p = NULL;
}

static void
s_stock_reply (msg_t *reply, uint64_t req_id, const store_stock_t *stock)
{
    msg_init (reply, MSG_STOCK);
    reply->req_id = req_id;
    snprintf (reply->name, sizeof (reply->name), "%s", stock->name);
    reply->price = stock->price;
    reply->stock_qty = stock->quantity;
    reply->version = stock->version;
}

//  Commits a trade; queues an invalidation if it changed a stock.
static msg_error_t
s_handle_apply (catalog_t *self, const msg_t *request, msg_t *reply)
{
    const store_stock_t *stock = NULL;
    uint64_t number, before = store_trade_count (self->store);
    msg_error_t rc = store_apply (self->store, request->name, request->side, request->quantity,
                                  request->key, &number, &stock);
    if (rc != MSG_ERR_OK)
        return rc;
    msg_trade_t trade;
    if (store_trade (self->store, number, &trade))
        return MSG_ERR_INTERNAL;
    msg_set_trade (reply, MSG_COMMITTED, &trade);
    reply->req_id = request->req_id;
    reply->stock_qty = stock->quantity;
    reply->version = stock->version;
    if (store_trade_count (self->store) > before) {
        msg_t *changed = &self->changed[self->changed_count++];
        msg_init (changed, MSG_INVALIDATE);
        changed->incarnation = self->incarnation;
        changed->seq = ++self->seq;
        snprintf (changed->name, sizeof (changed->name), "%s", stock->name);
        changed->version = stock->version;
    }
    return MSG_ERR_OK;
}

//  Handles one request, holding its reply in the batch.
static void
s_handle (void *arg, const worker_envelope_t *envelope, const msg_t *request)
{
    catalog_t *self = arg;
    msg_t reply;
    msg_init (&reply, MSG_ERROR);
    msg_error_t rc = MSG_ERR_OK;
    if (request->type == MSG_LOOKUP) {
        const store_stock_t *stock = store_lookup (self->store, request->name);
        if (stock)
            s_stock_reply (&reply, request->req_id, stock);
        else
            rc = MSG_ERR_STOCK_NOT_FOUND;
    }
    else
    if (request->type == MSG_LIST) {
        msg_init (&reply, MSG_STOCKS);
        reply.req_id = request->req_id;
        if (store_list (self->store, &reply))
            rc = MSG_ERR_INTERNAL;
    }
    else
    if (request->type == MSG_APPLY)
        rc = s_handle_apply (self, request, &reply);
    else
    if (request->type == MSG_JOURNAL) {
        msg_init (&reply, MSG_TRADES);
        reply.req_id = request->req_id;
        reply.number = store_trade_count (self->store);
        uint64_t max = request->quantity < JOURNAL_REPLY_MAX ? request->quantity : JOURNAL_REPLY_MAX;
        if (store_trades (self->store, request->number, max, &reply))
            rc = MSG_ERR_INTERNAL;
    }
    else {
        log_warn ("dropped %s: not a catalog request", msg_type_name (request->type));
        rc = MSG_ERR_BAD_MESSAGE;
    }
    if (rc == MSG_ERR_INTERNAL && request->type == MSG_APPLY)
        self->failed = true;   //  a number may be used with no record behind it
    if (rc == MSG_ERR_OK)
        batch_add (self->batch, envelope, &reply);
    else
        batch_add_error (self->batch, envelope, request->req_id, rc);
    msg_reset (&reply);
}

static void
s_publish (catalog_t *self)
{
    for (size_t i = 0; i < self->changed_count; i++)
        if (msg_encode (&self->changed[i], &self->buffer) == 0)
            zmq_send (zsock_resolve (self->pub), self->buffer.data, self->buffer.size,
                      ZMQ_DONTWAIT);
    self->changed_count = 0;
}

//  The current sequence, not a new one: a gateway that missed the last
//  invalidations of a burst sees the gap here, and silence means trouble.
static void
s_beacon (catalog_t *self)
{
    msg_t beacon;
    msg_init (&beacon, MSG_INVALIDATE);
    beacon.incarnation = self->incarnation;
    beacon.seq = self->seq;
    if (msg_encode (&beacon, &self->buffer) == 0)
        zmq_send (zsock_resolve (self->pub), self->buffer.data, self->buffer.size, ZMQ_DONTWAIT);
    self->beacon_at = zclock_mono () + BEACON_MS;
}

//  One group commit: every waiting request, one sync, every reply.
static int
s_serve_batch (catalog_t *self)
{
    worker_drain (self->worker, BATCH_MAX, s_handle, self);
    if (self->failed) {
        log_error ("journal append failed; stopping before acknowledging");
        return -1;
    }
    if (store_sync (self->store)) {
        log_error ("journal sync failed: %s; stopping before acknowledging", strerror (errno));
        return -1;
    }
    batch_send (self->batch, self->worker);
    s_publish (self);
    return 0;
}

int
catalog_run (catalog_t *self)
{
    zmq_pollitem_t items[] = {{worker_handle (self->worker), 0, ZMQ_POLLIN, 0}};
    while (!zsys_interrupted) {
        int64_t timeout = worker_tick (self->worker);
        int64_t until_beacon = self->beacon_at - zclock_mono ();
        if (until_beacon < timeout)
            timeout = until_beacon > 0 ? until_beacon : 0;
        if (zmq_poll (items, 1, (long) timeout) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if ((items[0].revents & ZMQ_POLLIN) && s_serve_batch (self))
            return -1;
        if (zclock_mono () >= self->beacon_at)
            s_beacon (self);
    }
    return 0;
}
