/*  catalog.c - the catalog worker loop. */
#include "catalog.h"
#include "batch.h"
#include "log.h"
#include "peers.h"
#include "worker.h"
#include "sockets.h"

#include <czmq.h>

#define BATCH_MAX 1024          //  requests handled per group commit
#define JOURNAL_REPLY_MAX 10000 //  trades per JOURNAL reply
#define BEACON_MS 100           //  sequence beacon on the PUB socket
#define HEAL_TIMEOUT_MS 500     //  a replica that does not answer a range in time
#define HEAL_RETRY_MS 200
#define POLL_MAX (2 + MSG_PEERS_MAX)

struct _catalog_t {
    store_t *store;
    epochs_t *epochs;
    peers_t *peers;            //  the replicas, to heal from
    bool announced;            //  the broker told us who the replicas are
    bool healing;              //  a round of RANGE requests is running
    bool behind;               //  a replica holds trades the journal lacks
    uint64_t heal_from;
    int64_t heal_at;
    bool refused;              //  the broker refused us: another catalog serves
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
catalog_new (store_t **store_p, epochs_t **epochs_p, const char *broker, const char *pub,
             const char *rep, char *error, size_t error_size)
{
    catalog_t *self = calloc (1, sizeof (catalog_t));
    assert (self);
    self->pub = zsock_new (ZMQ_PUB);
    assert (self->pub);
    if (sockets_server (zsock_resolve (self->pub)) || zsock_bind (self->pub, "%s", pub) < 0) {
        snprintf (error, error_size, "cannot bind the invalidations PUB to %s (--pub): %s", pub,
                  zmq_strerror (errno));
        zsock_destroy (&self->pub);
        free (self);
        return NULL;
    }
    self->worker = worker_new (broker, "catalog", 0, pub, "");
    if (!self->worker)
        snprintf (error, error_size, "cannot connect to the broker at %s (--broker): %s", broker,
                  zmq_strerror (errno));
    else
    if (*rep && worker_bind (self->worker, rep)) {
        snprintf (error, error_size, "cannot bind the direct endpoint %s (--rep): %s", rep,
                  zmq_strerror (errno));
        worker_destroy (&self->worker);
    }
    if (!self->worker) {
        zsock_destroy (&self->pub);
        free (self);
        return NULL;
    }
    worker_show_direct (self->worker, zsock_resolve (self->pub));
    log_info ("direct requests from the order leader on %s",
              *rep ? worker_endpoint (self->worker) : "(none)");
    self->store = *store_p;
    *store_p = NULL;
    self->epochs = *epochs_p;
    *epochs_p = NULL;
    self->peers = peers_new (0, HEAL_TIMEOUT_MS);
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
    store_log_counts (self->store);
    store_destroy (&self->store);
    epochs_destroy (&self->epochs);
    peers_destroy (&self->peers);
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

//  ---------------------------------------------------------------------
//  Healing from the replicas

static void
s_heal_start (catalog_t *self)
{
    if (self->healing || zclock_mono () < self->heal_at)
        return;
    self->healing = true;
    self->heal_from = store_trade_count (self->store);
    log_info ("the journal holds %" PRIu64 " trades, a replica holds %" PRIu64
              ": healing from %zu replicas", self->heal_from, peers_highest (self->peers),
              peers_count (self->peers));
    peers_round_start (self->peers, self->heal_from, 0);
}

static int64_t
s_heal_trades (void *arg, uint64_t replica_id, const msg_t *reply)
{
    catalog_t *self = arg;
    for (size_t i = 0; i < reply->trade_count; i++) {
        const msg_trade_t *trade = &reply->trades[i];
        if (trade->number != store_trade_count (self->store))
            continue;
        msg_error_t rc = store_restore (self->store, trade);
        if (rc != MSG_ERR_OK) {
            log_error ("trade %" PRIu64 " from replica %" PRIu64 " does not apply (%s)",
                       trade->number, replica_id, msg_error_text (rc));
            return -1;
        }
    }
    return (int64_t) store_trade_count (self->store);
}

//  A round ended: healed if nothing a replica reported is missing.
static int
s_heal_done (catalog_t *self)
{
    self->healing = false;
    if (store_sync (self->store)) {
        log_error ("journal sync failed: %s; stopping", strerror (errno));
        return -1;
    }
    uint64_t count = store_trade_count (self->store);
    if (count > self->heal_from)
        log_info ("healed: restored trades [%" PRIu64 ", %" PRIu64 ") from the replicas",
                  self->heal_from, count);
    self->behind = count < peers_highest (self->peers);
    if (self->behind)
        self->heal_at = zclock_mono () + HEAL_RETRY_MS;
    return 0;
}

//  The broker's LEADER announcement: who the replicas are, where they are.
static void
s_on_announcement (catalog_t *self, const msg_t *announcement)
{
    peers_update (self->peers, announcement);
    self->announced = true;
    if (peers_highest (self->peers) > store_trade_count (self->store))
        self->behind = true;
}

//  True while the catalog must not serve: it may lack what replicas hold.
static bool
s_unready (catalog_t *self)
{
    return !self->announced || self->behind || self->healing;
}

//  ---------------------------------------------------------------------
//  Requests

static msg_error_t
s_handle_claim (catalog_t *self, const msg_t *request, msg_t *reply)
{
    if (request->number > store_trade_count (self->store)) {
        self->behind = true;
        return MSG_ERR_UNAVAILABLE;
    }
    uint64_t epoch = epochs_grant (self->epochs);
    if (!epoch) {
        log_error ("cannot write catalog.epoch: %s", strerror (errno));
        return MSG_ERR_UNAVAILABLE;
    }
    log_info ("granted epoch %" PRIu64 " to replica %" PRIu64 " (it holds %" PRIu64
              " orders, the journal %" PRIu64 ")", epoch, request->replica_id, request->number,
              store_trade_count (self->store));
    msg_init (reply, MSG_EPOCH);
    reply->req_id = request->req_id;
    reply->epoch = epoch;
    return MSG_ERR_OK;
}

//  Commits a trade; queues an invalidation if it changed a stock.
static msg_error_t
s_handle_apply (catalog_t *self, const msg_t *request, msg_t *reply)
{
    if (request->epoch < epochs_highest (self->epochs)) {
        log_info ("refused APPLY from epoch %" PRIu64 ": epoch %" PRIu64 " was granted",
                  request->epoch, epochs_highest (self->epochs));
        return MSG_ERR_STALE_EPOCH;
    }
    if (request->number > store_trade_count (self->store)) {
        self->behind = true;
        return MSG_ERR_UNAVAILABLE;
    }
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
    if (!envelope) {
        if (request->type == MSG_LEADER)
            s_on_announcement (self, request);
        else
        if (request->type == MSG_ERROR && request->code == MSG_ERR_REFUSED) {
            log_error ("the broker refused this catalog: %s", request->text);
            self->refused = true;
        }
        return;
    }
    msg_t reply;
    msg_init (&reply, MSG_ERROR);
    msg_error_t rc = MSG_ERR_OK;
    if (request->type != MSG_JOURNAL && s_unready (self))
        rc = MSG_ERR_UNAVAILABLE;
    else
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
    if (request->type == MSG_CLAIM)
        rc = s_handle_claim (self, request, &reply);
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
    if (self->refused)
        return -1;
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

//  Runs healing rounds while a replica holds more than the journal.
static int
s_heal (catalog_t *self)
{
    if (self->healing) {
        peers_drain (self->peers, s_heal_trades, self);
        if (peers_round_done (self->peers))
            return s_heal_done (self);
    }
    else
    if (self->behind)
        s_heal_start (self);
    return 0;
}

int
catalog_run (catalog_t *self)
{
    while (!zsys_interrupted) {
        zmq_pollitem_t items[POLL_MAX];
        size_t requests = worker_poll_items (self->worker, items, POLL_MAX);
        size_t count = requests + peers_poll_items (self->peers, items + requests,
                                                    POLL_MAX - requests);
        //  The broker shows the catalog's trade count, highest epoch and
        //  role: catching up while it may lack what replicas hold, else a
        //  follower (a learner) of the committed log.
        worker_set_position (self->worker, store_trade_count (self->store),
                             epochs_highest (self->epochs),
                             s_unready (self) ? MSG_ROLE_CATCHING_UP : MSG_ROLE_FOLLOWER);
        int64_t timeout = worker_tick (self->worker);
        int64_t until_beacon = self->beacon_at - zclock_mono ();
        if (until_beacon < timeout)
            timeout = until_beacon > 0 ? until_beacon : 0;
        if (self->behind || self->healing)
            timeout = timeout < 20 ? timeout : 20;
        if (zmq_poll (items, (int) count, (long) timeout) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        bool waiting = false;
        for (size_t i = 0; i < requests; i++)
            waiting |= (items[i].revents & ZMQ_POLLIN) != 0;
        if (waiting && s_serve_batch (self))
            return -1;
        if (s_heal (self))
            return -1;
        if (zclock_mono () >= self->beacon_at)
            s_beacon (self);
    }
    return 0;
}
