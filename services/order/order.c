/*  order.c - the order replica loop: roles and the group commit.

    Sockets: `worker` (DEALER to the broker, service "order": TRADE and
    QUERY in, LEADER announcements too), `upstream` (the catalog link),
    `peers` (DEALERs to the other replicas' REP) and `replication` (our
    PUB, REP and the SUB to the leader). Each turn of the loop receives
    everything waiting, syncs the log once, then sends what the sync
    made safe to send: the group commit. Catch-up rounds are catchup.c's;
    replies and queries that must wait are held.c's.
*/
#include "order.h"
#include "batch.h"
#include "catchup.h"
#include "held.h"
#include "log.h"
#include "peers.h"
#include "replication.h"
#include "upstream.h"
#include "worker.h"

#include <czmq.h>

#define BATCH_MAX 1024
#define TICK_MS 50
#define RETRY_MS 100
#define POLL_MAX (6 + MSG_PEERS_MAX)

struct _order_t {
    order_config_t config;
    tradelog_t *log;
    worker_t *worker;
    upstream_t *upstream;
    peers_t *peers;
    replication_t *replication;
    batch_t *batch;
    catchup_t *catchup;
    held_t *held;
    uint8_t role;                //  MSG_ROLE_*
    uint64_t epoch;              //  ours when leading, the leader's otherwise
    uint64_t leader_id;          //  as the broker announced it
    bool announced;              //  a LEADER announcement arrived
    int64_t claim_at;            //  candidate: when to claim (again)
    bool failed;
};

static int s_append_caught_up (void *arg, const msg_trade_t *trade);

//  Everything but the log, which the caller owns until order_new succeeds.
static void
s_destroy_parts (order_t *self)
{
    worker_destroy (&self->worker);
    upstream_destroy (&self->upstream);
    peers_destroy (&self->peers);
    replication_destroy (&self->replication);
    catchup_destroy (&self->catchup);
}

order_t *
order_new (tradelog_t **log_p, const order_config_t *config, char *error, size_t error_size)
{
    order_t *self = calloc (1, sizeof (order_t));
    assert (self);
    self->config = *config;
    self->log = *log_p;
    self->peers = peers_new (config->replica_id, config->catalog_timeout_ms / 4);
    self->batch = batch_new ();
    assert (self->peers && self->batch);
    self->upstream = upstream_new (config->broker, config->catalog_timeout_ms);
    self->catchup = catchup_new (self->log, self->peers, self->upstream, s_append_caught_up, self);
    self->held = held_new (self->log, self->batch, self->catchup, config->catalog_timeout_ms);
    self->replication = replication_new (self->log, self->held, config->replica_id, config->pub,
                                         config->rep, error, error_size);
    self->worker = worker_new (config->broker, "order", config->replica_id, config->pub,
                               config->rep);
    if (!self->replication || !self->worker || !self->upstream) {
        if (self->replication)
            snprintf (error, error_size, "cannot connect to the broker at %s (--broker): %s", config->broker, zmq_strerror (errno));
        s_destroy_parts (self);
        held_destroy (&self->held);
        batch_destroy (&self->batch);
        free (self);
        return NULL;
    }
    *log_p = NULL;
    replication_set_require_ack (self->replication, config->follower_ack);
    self->role = MSG_ROLE_CATCHING_UP;
    worker_set_ready (self->worker, true);
    return self;
}

void
order_destroy (order_t **self_p)
{
    if (!*self_p)
        return;
    order_t *self = *self_p;
    s_destroy_parts (self);
    tradelog_log_counts (self->log, "order log");
    held_destroy (&self->held);
    batch_destroy (&self->batch);
    tradelog_destroy (&self->log);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  The log: every append goes through here, so a leader publishes it

static int
s_append (order_t *self, const msg_trade_t *trade)
{
    if (trade->number < tradelog_count (self->log))
        return 0;
    if (tradelog_append (self->log, trade)) {
        log_error ("cannot append order %" PRIu64 ": stopping before acknowledging",
                   trade->number);
        self->failed = true;
        return -1;
    }
    if (self->role == MSG_ROLE_LEADER)
        replication_publish (self->replication, trade);
    return 0;
}

//  catchup_append_fn: a round's appends stop at the first failure.
static int
s_append_caught_up (void *arg, const msg_trade_t *trade)
{
    order_t *self = arg;
    if (self->failed)
        return -1;
    s_append (self, trade);
    return self->failed ? -1 : 0;
}

//  ---------------------------------------------------------------------
//  Roles

static void
s_set_role (order_t *self, uint8_t role, const char *why)
{
    if (role == self->role)
        return;
    log_info ("%s -> %s (%s; epoch %" PRIu64 ", leader %" PRIu64 ", %" PRIu64 " orders)",
              msg_role_name (self->role), msg_role_name (role), why, self->epoch,
              self->leader_id, tradelog_count (self->log));
    self->role = role;
}

//  True if a replica in the announcement reports an epoch above epoch.
static bool
s_newer_epoch (const msg_t *announcement, uint64_t epoch)
{
    for (size_t i = 0; i < announcement->peer_count; i++)
        if (announcement->peers[i].epoch > epoch)
            return true;
    return false;
}

static void
s_on_announcement (order_t *self, const msg_t *announcement)
{
    bool first = !self->announced;
    self->announced = true;
    if (announcement->replica_id != self->leader_id)
        log_info ("leader is replica %" PRIu64 " (was %" PRIu64 "), epoch %" PRIu64,
                  announcement->replica_id, self->leader_id, announcement->epoch);
    self->leader_id = announcement->replica_id;
    peers_update (self->peers, announcement);
    upstream_set_catalog (self->upstream, announcement->catalog);
    bool named = announcement->replica_id == self->config.replica_id;
    if (first) {
        log_info ("catching up from %zu peers and the catalog, from order %" PRIu64,
                  peers_count (self->peers), tradelog_count (self->log));
        catchup_start (self->catchup, 0, true);
        return;
    }
    if (self->role == MSG_ROLE_CATCHING_UP)
        return;
    //  Named while a peer reports a newer epoch than ours: we were replaced
    //  while cut off, and the broker names us again as the highest id now
    //  that we are back. Our epoch is fenced at the catalog; step down and
    //  claim a new one now rather than when a trade is refused.
    if (named && self->role == MSG_ROLE_LEADER && s_newer_epoch (announcement, self->epoch)) {
        s_set_role (self, MSG_ROLE_FOLLOWER, "a peer holds a newer epoch");
        replication_follow (self->replication, 0, 0, "");
    }
    if (named && self->role == MSG_ROLE_FOLLOWER) {
        s_set_role (self, MSG_ROLE_CANDIDATE, "named leader");
        catchup_start (self->catchup, 0, true);
        return;
    }
    if (!named && (self->role == MSG_ROLE_LEADER || self->role == MSG_ROLE_CANDIDATE)) {
        s_set_role (self, MSG_ROLE_FOLLOWER, "another replica is named leader");
        replication_follow (self->replication, 0, 0, "");
    }
    if (self->role != MSG_ROLE_FOLLOWER)
        return;
    if (announcement->epoch > self->epoch)
        self->epoch = announcement->epoch;
    replication_follow (self->replication, announcement->replica_id, announcement->epoch,
                        announcement->pub);
    //  The PUB may have dropped the tail: the leader's position shows it.
    for (size_t i = 0; i < announcement->peer_count; i++) {
        const msg_peer_t *peer = &announcement->peers[i];
        if (peer->replica_id == self->leader_id && peer->number > tradelog_count (self->log)
            && !catchup_running (self->catchup))
            catchup_start (self->catchup, self->leader_id, false);
    }
}

//  A catch-up round just ended: what the role does next.
static void
s_on_caught_up (order_t *self)
{
    if (self->role == MSG_ROLE_CATCHING_UP)
        //  The next announcement subscribes us to the leader.
        s_set_role (self, MSG_ROLE_FOLLOWER, "caught up");
    else
    if (self->role == MSG_ROLE_CANDIDATE)
        self->claim_at = 0;
}

static void
s_claim (order_t *self)
{
    if (self->role != MSG_ROLE_CANDIDATE || catchup_running (self->catchup)
        || zclock_mono () < self->claim_at)
        return;
    if (upstream_claim (self->upstream, self->config.replica_id, tradelog_count (self->log)))
        self->claim_at = zclock_mono () + RETRY_MS;
    else
        self->claim_at = INT64_MAX;   //  until the reply or its timeout
}

static void
s_on_granted (order_t *self, uint64_t epoch)
{
    if (self->role != MSG_ROLE_CANDIDATE)
        return;
    uint64_t previous = self->epoch;
    self->epoch = epoch;
    replication_lead (self->replication, epoch);
    s_set_role (self, MSG_ROLE_LEADER, "epoch granted by the catalog");
    log_info ("leading with epoch %" PRIu64 " (previous epoch %" PRIu64 ") at %" PRIu64
              " orders", epoch, previous, tradelog_count (self->log));
    //  What an old leader committed before the grant fenced it.
    catchup_journal (self->catchup);
}

//  ---------------------------------------------------------------------
//  Replies from the catalog

//  Releases the replies held for a gap that the log now covers.
static void
s_release_logged (order_t *self)
{
    held_release_logged (self->held, self->role == MSG_ROLE_LEADER);
}

static void
s_on_journal (order_t *self, const msg_t *reply)
{
    if (catchup_on_journal (self->catchup, reply))
        s_release_logged (self);
    catchup_end_journal (self->catchup, reply, held_waiting_for_log (self->held));
}

//  The catalog committed the trade as number n: the log takes it if n is
//  next, and the reply waits in held until it may go.
static void
s_on_catalog_commit (order_t *self, const upstream_call_t *call, const msg_t *reply)
{
    uint64_t count = tradelog_count (self->log);
    msg_trade_t trade, logged;
    msg_get_trade (reply, &trade);
    if (reply->number < count) {
        //  A repeated idempotency key: the log must hold the same trade.
        tradelog_get (self->log, reply->number, &logged);
        if (strcmp (logged.name, trade.name) || logged.side != trade.side
            || logged.quantity != trade.quantity) {
            log_error ("catalog trade %" PRIu64 " differs from this replica's log: stopping",
                       reply->number);
            self->failed = true;
            return;
        }
    }
    if (reply->number == count && s_append (self, &trade))
        return;
    held_reply (self->held, &call->envelope, call->client_req_id, reply, call->deadline,
                self->role == MSG_ROLE_LEADER);
}

static void
s_on_upstream (void *arg, const upstream_call_t *call, const msg_t *reply)
{
    order_t *self = arg;
    if (call->kind == UPSTREAM_JOURNAL) {
        s_on_journal (self, reply);
        return;
    }
    if (call->kind == UPSTREAM_CLAIM) {
        if (reply && reply->type == MSG_EPOCH)
            s_on_granted (self, reply->epoch);
        else
            self->claim_at = zclock_mono () + RETRY_MS;
        return;
    }
    if (!reply) {
        log_warn ("catalog did not answer trade %" PRIu64 " in time", call->req_id);
        batch_add_error (self->batch, &call->envelope, call->client_req_id, MSG_ERR_UNAVAILABLE);
    }
    else
    if (reply->type == MSG_COMMITTED)
        s_on_catalog_commit (self, call, reply);
    else {
        uint64_t code = reply->type == MSG_ERROR ? reply->code : MSG_ERR_INTERNAL;
        if (code == MSG_ERR_STALE_EPOCH && self->role == MSG_ROLE_LEADER) {
            s_set_role (self, MSG_ROLE_FOLLOWER, "the catalog granted a newer epoch");
            replication_follow (self->replication, 0, 0, "");
        }
        batch_add_error (self->batch, &call->envelope, call->client_req_id, code);
    }
}

//  ---------------------------------------------------------------------
//  Requests from clients

static void
s_on_request (void *arg, const worker_envelope_t *envelope, const msg_t *request)
{
    order_t *self = arg;
    if (!envelope) {
        if (request->type == MSG_LEADER)
            s_on_announcement (self, request);
        else
        if (request->type == MSG_ERROR && request->code == MSG_ERR_REFUSED) {
            log_error ("the broker refused this replica: %s", request->text);
            self->failed = true;   //  order_run returns -1: another process has our id
        }
        return;
    }
    //  A candidate that caught up may answer queries; trades need an epoch.
    bool can_query = self->role == MSG_ROLE_LEADER
                  || (self->role == MSG_ROLE_CANDIDATE && !catchup_running (self->catchup));
    if (request->type == MSG_TRADE && self->role == MSG_ROLE_LEADER) {
        if (request->quantity == 0)
            batch_add_error (self->batch, envelope, request->req_id, MSG_ERR_INVALID_QUANTITY);
        else
        if (upstream_apply (self->upstream, envelope, request, self->epoch,
                            tradelog_count (self->log)))
            batch_add_error (self->batch, envelope, request->req_id, MSG_ERR_UNAVAILABLE);
    }
    else
    if (request->type == MSG_QUERY && can_query)
        held_query (self->held, envelope, request);
    else
    if (request->type == MSG_TRADE || request->type == MSG_QUERY)
        batch_add_error (self->batch, envelope, request->req_id, MSG_ERR_UNAVAILABLE);
    else {
        log_warn ("dropped %s: not an order request", msg_type_name (request->type));
        batch_add_error (self->batch, envelope, request->req_id, MSG_ERR_BAD_MESSAGE);
    }
}

//  ---------------------------------------------------------------------
//  The loop

static int64_t
s_on_range (void *arg, uint64_t replica_id, const msg_t *reply)
{
    order_t *self = arg;
    int64_t count = catchup_on_range (self->catchup, replica_id, reply);
    s_release_logged (self);
    return self->failed ? -1 : count;
}

//  Receives from every socket.
static void
s_receive (order_t *self)
{
    upstream_drain (self->upstream, s_on_upstream, self);
    peers_drain (self->peers, s_on_range, self);
    bool gap = false;
    if (replication_drain (self->replication, &gap) < 0)
        self->failed = true;
    if (gap && !catchup_running (self->catchup) && self->role == MSG_ROLE_FOLLOWER)
        catchup_start (self->catchup, self->leader_id, false);
    worker_drain (self->worker, BATCH_MAX, s_on_request, self);
    upstream_expire (self->upstream, s_on_upstream, self);
    if (catchup_step (self->catchup))
        s_on_caught_up (self);
    s_claim (self);
    held_answer_queries (self->held);
    if (held_waiting_for_log (self->held))
        s_release_logged (self);
    held_log_refusals (self->held);
}

//  Sync once, then send what the sync made safe.
static int
s_sync_and_send (order_t *self)
{
    if (self->failed)
        return -1;
    if (tradelog_sync (self->log)) {
        log_error ("order log sync failed: %s; stopping before acknowledging", strerror (errno));
        return -1;
    }
    replication_release (self->replication);
    if (self->role != MSG_ROLE_LEADER)
        replication_ack (self->replication, self->peers);
    batch_send (self->batch, self->worker);
    worker_set_position (self->worker, tradelog_durable (self->log), self->epoch, self->role);
    uint64_t in_sync[MSG_PEERS_MAX];
    size_t count = self->role == MSG_ROLE_LEADER
                 ? replication_in_sync_ids (self->replication, in_sync, MSG_PEERS_MAX)
                 : 0;
    worker_set_in_sync (self->worker, in_sync, count);
    return 0;
}

int
order_run (order_t *self)
{
    log_info ("waiting for the broker's leader announcement, %" PRIu64 " orders in the log",
              tradelog_count (self->log));
    worker_set_position (self->worker, tradelog_durable (self->log), 0, self->role);
    while (!zsys_interrupted) {
        zmq_pollitem_t items[POLL_MAX];
        size_t count = 0;
        items[count++] = (zmq_pollitem_t) {worker_handle (self->worker), 0, ZMQ_POLLIN, 0};
        count += upstream_poll_items (self->upstream, items + count, POLL_MAX - count);
        count += replication_poll_items (self->replication, items + count, POLL_MAX - count);
        count += peers_poll_items (self->peers, items + count, POLL_MAX - count);
        int64_t timeout = worker_tick (self->worker);
        if (timeout > TICK_MS)
            timeout = TICK_MS;
        if (zmq_poll (items, (int) count, (long) timeout) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        s_receive (self);
        if (s_sync_and_send (self))
            return -1;
    }
    return 0;
}
