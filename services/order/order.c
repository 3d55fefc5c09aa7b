/*  order.c - the order replica loop: roles, catch-up, client requests.

    Sockets: `worker` (DEALER to the broker, service "order": TRADE and
    QUERY in, LEADER announcements too), `upstream` (the catalog link),
    `peers` (DEALERs to the other replicas' REP) and `replication` (our
    PUB, REP and the SUB to the leader). Each turn of the loop receives
    everything waiting, syncs the log once, then sends what the sync
    made safe to send: the group commit.
*/
#include "order.h"
#include "batch.h"
#include "log.h"
#include "peers.h"
#include "replication.h"
#include "tally.h"
#include "upstream.h"
#include "worker.h"

#include <czmq.h>

#define HELD_MAX 4096            //  commits waiting for a gap to fill; more get 503
#define QUERIES_MAX 4096         //  queries waiting for a catch-up; more get 503
#define BATCH_MAX 1024
#define TICK_MS 50
#define RETRY_MS 100
#define POLL_MAX (6 + MSG_PEERS_MAX)
#define SOURCES_MAX 8            //  sources named in a catch-up's log line

//  A commit numbered beyond the log: answered once the gap is filled.
typedef struct {
    upstream_call_t call;
    msg_t reply;
    int64_t deadline;            //  answered 503 if the gap is still open then
} s_held_t;

//  A query for a number beyond the log: the order may be committed and
//  acknowledged elsewhere, so ask the catalog before answering 404.
typedef struct {
    worker_envelope_t envelope;
    uint64_t req_id;
    uint64_t number;
    uint64_t journal_needed;     //  answer once this JOURNAL round is done
    int64_t deadline;
} s_query_t;

struct _order_t {
    order_config_t config;
    tradelog_t *log;
    worker_t *worker;
    upstream_t *upstream;
    peers_t *peers;
    replication_t *replication;
    batch_t *batch;
    uint8_t role;                //  MSG_ROLE_*
    uint64_t epoch;              //  ours when leading, the leader's otherwise
    uint64_t leader_id;          //  as the broker announced it
    bool announced;              //  a LEADER announcement arrived
    bool catching_up;            //  a round over peers and catalog is running
    bool catalog_next;           //  ... asks the catalog once the peers are done
    bool catalog_pending;        //  ... and its JOURNAL part is not done
    int64_t claim_at;            //  candidate: when to claim (again)
    uint64_t journal_rounds;     //  JOURNAL rounds sent (one may take many chunks)
    uint64_t journal_done;       //  the last round the catalog answered in full
    bool journal_again;          //  something came while a JOURNAL was out
    s_held_t *held;
    size_t held_count;
    s_query_t *queries;
    size_t query_count;
    tally_t full_queries;        //  queries answered 503: QUERIES_MAX waited already
    tally_t full_held;           //  commits answered 503: HELD_MAX waited already
    tally_t late_held;           //  commits answered 503: their gap did not fill in time
    int64_t round_started;
    uint64_t round_from;
    struct {
        uint64_t replica_id;     //  0: the catalog
        uint64_t orders;
    } sources[SOURCES_MAX];      //  who the round's orders came from
    size_t source_count;
    bool failed;
};

order_t *
order_new (tradelog_t **log_p, const order_config_t *config, char *error, size_t error_size)
{
    order_t *self = calloc (1, sizeof (order_t));
    assert (self);
    self->config = *config;
    self->log = *log_p;
    self->replication = replication_new (self->log, config->replica_id, config->pub, config->rep,
                                         error, error_size);
    self->worker = worker_new (config->broker, "order", config->replica_id, config->pub,
                               config->rep);
    self->upstream = upstream_new (config->broker, config->catalog_timeout_ms);
    if (!self->replication || !self->worker || !self->upstream) {
        if (self->replication)
            snprintf (error, error_size, "cannot connect to the broker at %s (--broker): %s", config->broker, zmq_strerror (errno));
        replication_destroy (&self->replication);
        worker_destroy (&self->worker);
        upstream_destroy (&self->upstream);
        free (self);
        return NULL;
    }
    *log_p = NULL;
    replication_set_require_ack (self->replication, config->follower_ack);
    self->peers = peers_new (config->replica_id, config->catalog_timeout_ms / 4);
    self->batch = batch_new ();
    self->held = calloc (HELD_MAX, sizeof (s_held_t));
    self->queries = calloc (QUERIES_MAX, sizeof (s_query_t));
    assert (self->peers && self->batch && self->held && self->queries);
    self->role = MSG_ROLE_CATCHING_UP;
    self->full_queries = tally_init ("queries beyond the log: too many waiting for the catalog");
    self->full_held = tally_init ("commits beyond a gap: too many waiting for it to fill");
    self->late_held = tally_init ("commits beyond a gap that did not fill in time");
    worker_set_ready (self->worker, true);
    return self;
}

void
order_destroy (order_t **self_p)
{
    if (!*self_p)
        return;
    order_t *self = *self_p;
    worker_destroy (&self->worker);
    upstream_destroy (&self->upstream);
    peers_destroy (&self->peers);
    replication_destroy (&self->replication);
    batch_destroy (&self->batch);
    tradelog_log_counts (self->log, "order log");
    tally_log_total (&self->full_queries, "answered 503");
    tally_log_total (&self->full_held, "answered 503");
    tally_log_total (&self->late_held, "answered 503");
    tradelog_destroy (&self->log);
    free (self->held);
    free (self->queries);
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

//  Appends what fits of a TRADES reply from replica_id (0: the catalog)
//  and counts it for the catch-up's log line; returns the new count.
static uint64_t
s_append_trades (order_t *self, const msg_t *reply, uint64_t replica_id)
{
    uint64_t before = tradelog_count (self->log);
    for (size_t i = 0; i < reply->trade_count && !self->failed; i++)
        if (reply->trades[i].number == tradelog_count (self->log))
            s_append (self, &reply->trades[i]);
    uint64_t added = tradelog_count (self->log) - before;
    size_t i = 0;
    while (i < self->source_count && self->sources[i].replica_id != replica_id)
        i++;
    if (added && i < SOURCES_MAX) {
        if (i == self->source_count)
            self->sources[self->source_count++].replica_id = replica_id;
        self->sources[i].orders += added;
    }
    return tradelog_count (self->log);
}

//  "replica 2: 600, the catalog: 3" for the sources counted this round.
static void
s_sources_text (order_t *self, char *text, size_t size)
{
    size_t used = 0;
    text[0] = '\0';
    for (size_t i = 0; i < self->source_count && used < size; i++) {
        char name[32] = "the catalog";
        if (self->sources[i].replica_id)
            snprintf (name, sizeof (name), "replica %" PRIu64, self->sources[i].replica_id);
        int len = snprintf (text + used, size - used, "%s%s: %" PRIu64, i ? ", " : "", name,
                            self->sources[i].orders);
        used += len > 0 ? (size_t) len : 0;
    }
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

//  Asks the catalog for what it holds beyond the log. A JOURNAL already
//  out may predate what the caller needs: then the next round follows it.
static void
s_journal_start (order_t *self)
{
    if (upstream_journal_busy (self->upstream))
        self->journal_again = true;
    else
    if (upstream_journal (self->upstream, tradelog_count (self->log)) == 0)
        self->journal_rounds++;
}

//  A round: every peer (or one) by RANGE, then the catalog by JOURNAL
//  for what no peer had (s_round_step).
static void
s_round_start (order_t *self, uint64_t only_peer, bool with_catalog)
{
    self->catching_up = true;
    self->round_started = zclock_mono ();
    self->round_from = tradelog_count (self->log);
    self->source_count = 0;
    peers_round_start (self->peers, self->round_from, only_peer);
    self->catalog_next = with_catalog;
    self->catalog_pending = false;
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
        s_round_start (self, 0, true);
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
        s_round_start (self, 0, true);
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
            && !self->catching_up)
            s_round_start (self, self->leader_id, false);
    }
}

//  A round just ended: what the role does next.
static void
s_round_done (order_t *self)
{
    self->catching_up = false;
    uint64_t count = tradelog_count (self->log);
    int64_t elapsed = zclock_mono () - self->round_started;
    if (count > self->round_from) {
        char sources[256];
        s_sources_text (self, sources, sizeof (sources));
        log_info ("caught up %" PRIu64 " orders [%" PRIu64 ", %" PRIu64 ") in %" PRId64
                  " ms (%.0f orders/s) from %s", count - self->round_from, self->round_from,
                  count, elapsed,
                  (double) (count - self->round_from) * 1000.0 / (elapsed ? elapsed : 1), sources);
    }
    if (self->role == MSG_ROLE_CATCHING_UP)
        //  The next announcement subscribes us to the leader.
        s_set_role (self, MSG_ROLE_FOLLOWER, "caught up");
    else
    if (self->role == MSG_ROLE_CANDIDATE)
        self->claim_at = 0;
}

//  The peers have answered (or timed out): the catalog's journal is the
//  last resort, asked only now, so the commit point serves only what no
//  peer had (with the direct link it would answer first and serve all).
static void
s_round_step (order_t *self)
{
    if (self->catalog_next) {
        self->catalog_next = false;
        s_journal_start (self);
        self->catalog_pending = upstream_journal_busy (self->upstream);
    }
    if (!self->catalog_pending)
        s_round_done (self);
}

static void
s_claim (order_t *self)
{
    if (self->role != MSG_ROLE_CANDIDATE || self->catching_up || zclock_mono () < self->claim_at)
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
    s_journal_start (self);
}

//  ---------------------------------------------------------------------
//  Replies from the catalog

static void
s_answer_query (order_t *self, const worker_envelope_t *envelope, uint64_t req_id,
                uint64_t number)
{
    msg_trade_t trade;
    if (tradelog_get (self->log, number, &trade)) {
        batch_add_error (self->batch, envelope, req_id, MSG_ERR_TXN_NOT_FOUND);
        return;
    }
    msg_t reply;
    msg_set_trade (&reply, MSG_ORDER, &trade);
    reply.req_id = req_id;
    batch_add (self->batch, envelope, &reply);
}

//  Answers queries whose JOURNAL round is done, and 503 past deadlines.
static void
s_answer_queries (order_t *self)
{
    int64_t now = zclock_mono ();
    size_t kept = 0;
    for (size_t i = 0; i < self->query_count; i++) {
        s_query_t *query = &self->queries[i];
        if (query->number < tradelog_count (self->log)
            || self->journal_done >= query->journal_needed)
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
s_reply_committed (order_t *self, const upstream_call_t *call, msg_t *reply)
{
    reply->req_id = call->client_req_id;
    if (self->role == MSG_ROLE_LEADER) {
        if (replication_hold (self->replication, &call->envelope, reply))
            batch_add_error (self->batch, &call->envelope, call->client_req_id,
                             MSG_ERR_UNAVAILABLE);
    }
    else
        batch_add (self->batch, &call->envelope, reply);
}

//  Held commits the log now covers can be answered; those whose gap is
//  still open at their deadline are answered 503 (the catalog committed
//  them: the window DESIGN "Deadlines" describes) so none waits forever.
static void
s_release_held (order_t *self)
{
    int64_t now = zclock_mono ();
    size_t kept = 0;
    for (size_t i = 0; i < self->held_count; i++) {
        s_held_t *held = &self->held[i];
        if (held->reply.number < tradelog_count (self->log))
            s_reply_committed (self, &held->call, &held->reply);
        else
        if (now >= held->deadline) {
            tally_add (&self->late_held);
            batch_add_error (self->batch, &held->call.envelope, held->call.client_req_id,
                             MSG_ERR_UNAVAILABLE);
        }
        else
            self->held[kept++] = *held;
    }
    self->held_count = kept;
}

static void
s_on_journal (order_t *self, const msg_t *reply)
{
    if (reply && reply->type == MSG_TRADES) {
        if (reply->number < tradelog_count (self->log))
            log_warn ("the catalog has %" PRIu64 " trades, this log %" PRIu64
                      ": the catalog must heal from the replicas", reply->number,
                      tradelog_count (self->log));
        uint64_t count = s_append_trades (self, reply, 0);
        s_release_held (self);
        if (reply->trade_count > 0 && reply->number > count
            && upstream_journal (self->upstream, count) == 0)
            return;
        //  Only a full answer may turn a waiting query into a 404; after a
        //  timeout or a refusal the queries wait for their deadline (503).
        self->journal_done = self->journal_rounds;
    }
    self->catalog_pending = false;
    if (self->journal_again || self->held_count) {
        self->journal_again = false;
        s_journal_start (self);
    }
}

static void
s_on_committed (order_t *self, const upstream_call_t *call, msg_t *reply)
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
    if (reply->number <= count) {
        if (reply->number == count && s_append (self, &trade))
            return;
        s_reply_committed (self, call, reply);
        return;
    }
    //  The catalog committed trades we have not seen: fetch them first.
    if (self->held_count == HELD_MAX) {
        tally_add (&self->full_held);
        batch_add_error (self->batch, &call->envelope, call->client_req_id, MSG_ERR_UNAVAILABLE);
        return;
    }
    s_held_t *held = &self->held[self->held_count++];
    held->call = *call;
    held->reply = *reply;
    //  No later than the client's own deadline: by then it has its 503.
    int64_t left = (int64_t) (call->deadline - msg_now_ms ());
    if (left > self->config.catalog_timeout_ms)
        left = self->config.catalog_timeout_ms;
    held->deadline = zclock_mono () + (left > 0 ? left : 0);
    s_journal_start (self);
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
        s_on_committed (self, call, (msg_t *) reply);
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
s_on_query (order_t *self, const worker_envelope_t *envelope, const msg_t *request)
{
    if (request->number < tradelog_count (self->log)) {
        s_answer_query (self, envelope, request->req_id, request->number);
        return;
    }
    if (self->query_count == QUERIES_MAX) {
        tally_add (&self->full_queries);
        batch_add_error (self->batch, envelope, request->req_id, MSG_ERR_UNAVAILABLE);
        return;
    }
    s_query_t *query = &self->queries[self->query_count++];
    query->envelope = *envelope;
    query->req_id = request->req_id;
    query->number = request->number;
    query->deadline = zclock_mono () + self->config.catalog_timeout_ms;
    //  A JOURNAL already out may predate the order, and one that could not
    //  be sent answers nothing: then a later one decides (or the deadline).
    uint64_t before = self->journal_rounds;
    s_journal_start (self);
    query->journal_needed = self->journal_rounds > before ? self->journal_rounds
                                                         : self->journal_rounds + 1;
}

static void
s_on_request (void *arg, const worker_envelope_t *envelope, const msg_t *request)
{
    order_t *self = arg;
    if (!envelope) {
        if (request->type == MSG_LEADER)
            s_on_announcement (self, request);
        return;
    }
    //  A candidate that caught up may answer queries; trades need an epoch.
    bool can_query = self->role == MSG_ROLE_LEADER
                  || (self->role == MSG_ROLE_CANDIDATE && !self->catching_up);
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
        s_on_query (self, envelope, request);
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
    uint64_t count = s_append_trades (self, reply, replica_id);
    s_release_held (self);
    return self->failed ? -1 : (int64_t) count;
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
    if (gap && !self->catching_up && self->role == MSG_ROLE_FOLLOWER)
        s_round_start (self, self->leader_id, false);
    worker_drain (self->worker, BATCH_MAX, s_on_request, self);
    upstream_expire (self->upstream, s_on_upstream, self);
    if (self->catching_up && !self->catalog_pending && peers_round_done (self->peers))
        s_round_step (self);
    s_claim (self);
    s_answer_queries (self);
    if (self->held_count)
        s_release_held (self);
    tally_log (&self->full_queries, "answered 503 to");
    tally_log (&self->full_held, "answered 503 to");
    tally_log (&self->late_held, "answered 503 to");
}

//  Sync once, then send what the sync made safe.
static int
s_commit (order_t *self)
{
    if (self->failed)
        return -1;
    if (tradelog_sync (self->log)) {
        log_error ("order log sync failed: %s; stopping before acknowledging", strerror (errno));
        return -1;
    }
    replication_release (self->replication, self->batch);
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
        if (s_commit (self))
            return -1;
    }
    return 0;
}
