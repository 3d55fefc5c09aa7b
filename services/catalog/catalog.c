/*  catalog.c - the catalog worker loop: lookups, and the committed log
    learned (learner.h) with an invalidation for every trade applied. */
#include "catalog.h"
#include "mem.h"
#include "batch.h"
#include "learner.h"
#include "log.h"
#include "waiting.h"
#include "worker.h"
#include "sockets.h"
#include "sockpoll.h"

#include <czmq.h>

#define CHANGED_MAX 100000      //  invalidations held for one turn's sync
#define COALESCE_SCAN 32        //  pending invalidations looked at for the same stock
#define POLL_MAX (3 + MSG_PEERS_MAX)
//  A lookup waiting this long for the PUB to bring its position starts a
//  copy round by RANGE (the leader's LEARN carries the commit position at
//  each commit, and a beacon LEARN at least every 50 ms: this is well past it).
#define WAITING_COPY_MS 100
//  The journal is written every turn (a killed catalog loses nothing) but
//  fdatasynced at most this often: it is a copy of the replicas' committed
//  log, and what a machine crash costs it the learner copies again at the
//  next start. A sync per turn put a third fdatasync on the data disk for
//  every commit, beside the leader's and the followers'.
#define SYNC_MS 100

struct _catalog_t {
    store_t *store;
    learner_t *learner;
    waiting_t *waiting;        //  lookups for a position not yet learned
    worker_t *worker;
    zsock_t *pub;
    batch_t *batch;
    uint64_t incarnation;
    uint64_t seq;              //  last INVALIDATE sequence sent
    int64_t beacon_at;
    int64_t synced_at;
    msg_t *changed;            //  INVALIDATEs to publish after the sync
    size_t changed_count;
    msgpack_sbuffer buffer;
};

static void s_on_applied (void *arg, const store_stock_t *stock);

catalog_t *
catalog_new (store_t **store_p, const char *broker, const char *pub, char *error,
             size_t error_size)
{
    catalog_t *self = mem_calloc (1, sizeof (catalog_t));
    //  libzmq's high-water mark (1000): invalidations past it are dropped,
    //  and beacons reveal the loss. This socket used to set MSG_HWM after
    //  its bind, which libzmq ignores for connections made later (measured:
    //  a subscriber that stopped reading was sent ~4,500 of 300,000
    //  messages; 100,000 with MSG_HWM set before the bind), so 1000 is
    //  what it always had.
    self->pub = sockets_bind (ZMQ_PUB, pub, 0);
    if (!self->pub) {
        snprintf (error, error_size, "cannot bind the invalidations PUB to %s (--pub): %s", pub,
                  zmq_strerror (errno));
        free (self);
        return NULL;
    }
    self->worker = worker_new (broker, "catalog", 0, pub, "", error, error_size);
    if (!self->worker) {
        zsock_destroy (&self->pub);
        free (self);
        return NULL;
    }
    self->store = *store_p;
    *store_p = NULL;
    self->learner = learner_new (self->store, s_on_applied, self);
    self->waiting = waiting_new ();
    self->batch = batch_new ();
    self->changed = mem_calloc (CHANGED_MAX, sizeof (msg_t));
    self->incarnation = worker_incarnation (self->worker);
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
    learner_destroy (&self->learner);
    waiting_destroy (&self->waiting);
    zsock_destroy (&self->pub);
    batch_destroy (&self->batch);
    if (self->store && store_sync (self->store))
        log_warn ("journal sync at stop failed: %s", strerror (errno));
    store_log_counts (self->store);
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

static void s_publish (catalog_t *self);

//  learner_applied_fn: an invalidation, published after the sync. A stock
//  already changed in this turn keeps one invalidation, of its newest
//  version: a LEARN of a busy leader carries a score of trades over a
//  few stocks, and each invalidation is a message on the bus and a wakeup
//  in every gateway. Only the last COALESCE_SCAN are looked at: the scan
//  stays short when a copied range changes thousands of stocks.
static void
s_on_applied (void *arg, const store_stock_t *stock)
{
    catalog_t *self = arg;
    size_t first = self->changed_count > COALESCE_SCAN ? self->changed_count - COALESCE_SCAN : 0;
    for (size_t i = self->changed_count; i-- > first;)
        if (streq (self->changed[i].name, stock->name)) {
            if (stock->version > self->changed[i].version)
                self->changed[i].version = stock->version;
            return;
        }
    if (self->changed_count == CHANGED_MAX)
        s_publish (self);   //  rare: a huge range; the gateway flushes on the gap anyway
    msg_t *changed = &self->changed[self->changed_count++];
    msg_init (changed, MSG_INVALIDATE);
    changed->incarnation = self->incarnation;
    changed->seq = ++self->seq;
    snprintf (changed->name, sizeof (changed->name), "%s", stock->name);
    changed->version = stock->version;
}

//  ---------------------------------------------------------------------
//  Requests

//  Answers a LOOKUP or LIST from the store as it is now, holding the
//  reply in the batch.
static void
s_answer (catalog_t *self, const worker_envelope_t *envelope, msg_type_t type,
          uint64_t req_id, const char *name)
{
    msg_t reply;
    msg_init (&reply, MSG_ERROR);
    msg_error_t rc = MSG_ERR_OK;
    if (type == MSG_LOOKUP) {
        const store_stock_t *stock = store_lookup (self->store, name);
        if (stock)
            s_stock_reply (&reply, req_id, stock);
        else
            rc = MSG_ERR_STOCK_NOT_FOUND;
    }
    else {
        msg_init (&reply, MSG_STOCKS);
        reply.req_id = req_id;
        if (store_list (self->store, &reply))
            rc = MSG_ERR_INTERNAL;
    }
    if (rc == MSG_ERR_OK)
        batch_add (self->batch, envelope, &reply);
    else
        batch_add_error (self->batch, envelope, req_id, rc);
    msg_reset (&reply);
}

//  waiting_fn: a parked lookup's position was learned, or it waited its
//  bound (UNAVAILABLE: the gateway may ask another catalog).
static void
s_on_settled (void *arg, const waiting_request_t *parked, bool ready)
{
    catalog_t *self = arg;
    if (ready)
        s_answer (self, &parked->envelope, parked->type, parked->req_id, parked->name);
    else {
        log_debug ("%s waited for position %" PRIu64 ", still at %" PRIu64 ": unavailable",
                   msg_type_name (parked->type), parked->position,
                   store_trade_count (self->store));
        batch_add_error (self->batch, &parked->envelope, parked->req_id, MSG_ERR_UNAVAILABLE);
    }
}

//  Handles one request, holding its reply in the batch, or parks it until
//  the store reaches the position it carries (read-your-writes).
static void
s_handle (void *arg, const worker_envelope_t *envelope, const msg_t *request)
{
    catalog_t *self = arg;
    if (!envelope) {
        if (request->type == MSG_LEADER)
            learner_on_announcement (self->learner, request);
        return;
    }
    if (request->type != MSG_LOOKUP && request->type != MSG_LIST) {
        log_warn ("dropped %s: not a catalog request", msg_type_name (request->type));
        batch_add_error (self->batch, envelope, request->req_id, MSG_ERR_BAD_MESSAGE);
        return;
    }
    if (!learner_ready (self->learner)) {
        batch_add_error (self->batch, envelope, request->req_id, MSG_ERR_UNAVAILABLE);
        return;
    }
    if (request->read_position <= store_trade_count (self->store))
        s_answer (self, envelope, request->type, request->req_id, request->name);
    else
    if (waiting_add (self->waiting, envelope, request, msg_now_ms ()))
        batch_add_error (self->batch, envelope, request->req_id, MSG_ERR_UNAVAILABLE);
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
    self->beacon_at = zclock_mono () + MSG_BEACON_MS;  //  msgs.h
}

//  Answers the parked lookups the store now covers, refuses those that
//  waited their bound, and asks the replicas by RANGE for what the PUB
//  has not brought in time.
static void
s_settle (catalog_t *self)
{
    if (!waiting_size (self->waiting))
        return;
    uint64_t now = msg_now_ms ();
    waiting_settle (self->waiting, store_trade_count (self->store), now, s_on_settled, self);
    uint64_t oldest = waiting_oldest (self->waiting);
    if (oldest && now >= oldest + WAITING_COPY_MS)
        learner_need (self->learner, waiting_highest (self->waiting));
}

//  One turn: requests answered and what arrived learned (from the sockets
//  the wait found readable in items[0..count)), written (synced every
//  SYNC_MS), then the invalidations published.
static int
s_turn (catalog_t *self, const zmq_pollitem_t *items, size_t count)
{
    worker_drain (self->worker, items, count, WORKER_BATCH_MAX, s_handle, self);
    if (learner_step (self->learner, items, count))
        return -1;
    s_settle (self);
    int64_t now = zclock_mono ();
    bool due = now - self->synced_at >= SYNC_MS;
    if (due ? store_sync (self->store) : store_write (self->store)) {
        log_error ("journal write failed: %s; stopping", strerror (errno));
        return -1;
    }
    if (due)
        self->synced_at = now;
    batch_send (self->batch, self->worker);
    s_publish (self);
    return 0;
}

int
catalog_run (catalog_t *self)
{
    while (!zsys_interrupted) {
        zmq_pollitem_t items[POLL_MAX];
        size_t count = worker_poll_items (self->worker, items, POLL_MAX);
        count += learner_poll_items (self->learner, items + count, POLL_MAX - count);
        //  The broker shows the catalog's trade count and role: catching
        //  up until a first copy from the replicas, then a learner.
        worker_set_position (self->worker, store_trade_count (self->store), 0,
                             learner_ready (self->learner) ? MSG_ROLE_FOLLOWER
                                                           : MSG_ROLE_CATCHING_UP);
        int64_t timeout = worker_tick (self->worker);
        int64_t until_beacon = self->beacon_at - zclock_mono ();
        if (until_beacon < timeout)
            timeout = until_beacon > 0 ? until_beacon : 0;
        if (learner_busy (self->learner) || waiting_size (self->waiting))
            timeout = timeout < 10 ? timeout : 10;
        if (sockpoll_wait (items, count, (long) timeout) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (s_turn (self, items, count))
            return -1;
        if (zclock_mono () >= self->beacon_at)
            s_beacon (self);
    }
    return 0;
}
