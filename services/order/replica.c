/*  replica.c - the order replica loop: trades, queries, roles, and the
    group commit.

    Sockets: `worker` (DEALER to the broker, service "order": TRADE and
    QUERY in, LEADER announcements too) and the node's (node.h). Each turn
    of the loop waits (sockpoll_wait), receives everything waiting on the
    sockets it found readable, lets the core act, syncs the log once
    (node_flush), then answers what the sync made safe.
*/
#include "replica.h"
#include "mem.h"
#include "batch.h"
#include "held.h"
#include "log.h"
#include "node.h"
#include "sockpoll.h"
#include "worker.h"

#include <czmq.h>

#define TICK_MS 10
#define ISOLATED_MS 1000        //  first pause after a lost quorum or campaign
#define ISOLATED_MAX_MS 4000    //  ... doubling while campaigns keep failing
#define POLL_MAX (4 + MSG_PEERS_MAX)
#define IN_SYNC_MS 100          //  how often the in-sync set is sampled

struct _replica_t {
    replica_config_t config;
    store_t *store;
    worker_t *worker;
    node_t *node;
    batch_t *batch;
    held_t *held;
    uint8_t role;                //  MSG_ROLE_* reported
    int64_t isolated_until;      //  zclock_mono: report catching-up until then
    int failures;                //  lost campaigns or quorums in a row
    bool named;                  //  the broker names this replica
    bool told_waiting;           //  said it waits for a majority to register
    bool full;                   //  MSG_UNCOMMITTED_MAX entries past the commit position
    int64_t in_sync_at;          //  zclock_mono of the last in-sync sample
    uint64_t in_sync_commit;     //  the commit position at that sample
    bool failed;
};

static void
s_on_outcome (void *arg, uint64_t index, consensus_result_t result)
{
    (void) arg, (void) index, (void) result;   //  held.c reads the log's state instead
}

replica_t *
replica_new (store_t **store_p, const replica_config_t *config, char *error, size_t error_size)
{
    replica_t *self = mem_calloc (1, sizeof (replica_t));
    self->config = *config;
    self->store = *store_p;
    node_config_t node_config = {.replica_id = config->replica_id, .members = config->members,
                                 .n_members = config->n_members, .pub = config->pub,
                                 .rep = config->rep, .promise_path = config->promise_path,
                                 .joining_path = config->joining_path,
                                 .new_system = config->new_system,
                                 .quorum_timeout_ms = (uint64_t) config->timeout_ms,
                                 .on_outcome = s_on_outcome, .arg = self};
    self->node = node_new (self->store, &node_config, error, error_size);
    if (self->node)
        self->worker = worker_new (config->broker, "order", config->replica_id, config->pub,
                                   config->rep, error, error_size);
    if (!self->node || !self->worker) {
        node_destroy (&self->node);
        free (self);
        return NULL;
    }
    *store_p = NULL;
    self->batch = batch_new ();
    self->held = held_new (store_log (self->store), self->batch);
    self->role = MSG_ROLE_FOLLOWER;
    worker_set_ready (self->worker, true);
    return self;
}

void
replica_destroy (replica_t **self_p)
{
    if (!*self_p)
        return;
    replica_t *self = *self_p;
    worker_destroy (&self->worker);
    node_destroy (&self->node);
    held_destroy (&self->held);
    batch_destroy (&self->batch);
    store_log_counts (self->store);
    store_destroy (&self->store);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Roles

static bool
s_leading (replica_t *self)
{
    return node_role (self->node) == CONSENSUS_LEADER;
}

//  What heartbeats say: the core's role, or catching-up while isolated.
static uint8_t
s_reported_role (replica_t *self)
{
    switch (node_role (self->node)) {
        case CONSENSUS_LEADER: return MSG_ROLE_LEADER;
        case CONSENSUS_CANDIDATE: return MSG_ROLE_CANDIDATE;
        default:
            return zclock_mono () < self->isolated_until || node_recovering (self->node)
                 ? MSG_ROLE_CATCHING_UP : MSG_ROLE_FOLLOWER;
    }
}

//  The core lost its quorum or a campaign: step aside for a while, so
//  the broker names the next highest id instead of this one.
static void
s_isolate (replica_t *self, const char *why)
{
    int64_t pause = (int64_t) ISOLATED_MS << (self->failures < 3 ? self->failures : 3);
    if (pause > ISOLATED_MAX_MS)
        pause = ISOLATED_MAX_MS;
    self->failures++;
    self->isolated_until = zclock_mono () + pause;
    log_warn ("%s: reporting catching-up for %" PRId64 " ms so the broker names another",
              why, pause);
}

static void
s_on_events (replica_t *self)
{
    node_events_t events;
    node_events (self->node, &events);
    if (events.stepped_down)
        s_isolate (self, "stepped down: no majority heard within the quorum timeout, or a "
                         "newer epoch");
    if (events.campaign_failed)
        s_isolate (self, "campaign failed: no majority promised, or a newer epoch refused");
    if (s_leading (self))
        self->failures = 0;
    uint8_t role = s_reported_role (self);
    if (role != self->role)
        log_info ("%s -> %s (epoch %" PRIu64 ", %" PRIu64 " orders, %" PRIu64 " committed)",
                  msg_role_name (self->role), msg_role_name (role), node_epoch (self->node),
                  node_length (self->node), node_commit (self->node));
    self->role = role;
    held_update (self->held, node_commit (self->node), node_length (self->node),
                 s_leading (self), events.cut_from);
}

//  The configured members the broker lists as registered (this replica
//  among them: the broker names only registered ones).
static size_t
s_members_registered (replica_t *self, const msg_t *announcement)
{
    size_t count = 0;
    for (size_t i = 0; i < announcement->peer_count; i++)
        for (size_t m = 0; m < self->config.n_members; m++)
            if (announcement->peers[i].replica_id == self->config.members[m])
                count++;
    return count;
}

//  Named, it campaigns, but only once a majority of the members has
//  registered with the broker: at a cold start the replicas register one
//  by one and the broker names each newcomer with a higher id; a
//  campaign that cannot reach a majority only promises this replica an
//  epoch the next candidate is refused at, and its failure reports
//  catching-up for a second. Three such campaigns at once (ASan, a busy
//  machine) left no replica to name for a second and more. The broker
//  announces every registration, so the campaign starts with the one
//  that makes a majority.
static void
s_on_announcement (replica_t *self, const msg_t *announcement)
{
    node_on_announcement (self->node, announcement);
    self->named = announcement->replica_id == self->config.replica_id;
    //  A leader named again (a restarted broker's first announcements,
    //  with few members registered yet) keeps leading: nothing to do.
    if (!self->named || zclock_mono () < self->isolated_until
        || node_role (self->node) == CONSENSUS_LEADER)
        return;
    size_t registered = s_members_registered (self, announcement);
    if (2 * registered <= self->config.n_members) {
        if (!self->told_waiting)
            log_info ("named by the broker with %zu of %zu members registered: campaigning "
                      "once a majority is", registered, self->config.n_members);
        self->told_waiting = true;
        return;
    }
    self->told_waiting = false;
    node_campaign (self->node);
}

//  ---------------------------------------------------------------------
//  Requests from clients

static void
s_reply_committed (replica_t *self, const worker_envelope_t *envelope, uint64_t req_id,
                   const msg_trade_t *trade)
{
    const store_stock_t *stock = store_lookup (self->store, trade->name);
    msg_t reply;
    msg_set_trade (&reply, MSG_COMMITTED, trade);
    reply.req_id = req_id;
    reply.stock_qty = stock ? stock->quantity : 0;
    reply.version = trade->number + 1;
    batch_add (self->batch, envelope, &reply);
}

//  A key seen before: the earlier trade's fate, or KEY_REUSED. Returns
//  true if it answered (or parked the reply).
static bool
s_repeated_key (replica_t *self, const worker_envelope_t *envelope, const msg_t *request,
                const msg_trade_t *trade)
{
    tradelog_t *log = store_log (self->store);
    int64_t seen = tradelog_find_key (log, trade->key);
    msg_trade_t earlier;
    if (seen < 0 || tradelog_get (log, (uint64_t) seen, &earlier))
        return false;
    if (strcmp (earlier.name, trade->name) || earlier.side != trade->side
        || earlier.quantity != trade->quantity)
        batch_add_error (self->batch, envelope, request->req_id, MSG_ERR_KEY_REUSED);
    else
    if ((uint64_t) seen < node_commit (self->node))
        s_reply_committed (self, envelope, request->req_id, &earlier);
    else
    if (held_wait (self->held, envelope, request->req_id, request->deadline, (uint64_t) seen,
                   &earlier, 0))
        batch_add_error (self->batch, envelope, request->req_id, MSG_ERR_OUTCOME_UNKNOWN);
    return true;
}

//  True if the uncommitted tail (a recovered one included) is as long as
//  a message can carry: a failover must send it whole (msgs.h), so
//  nothing more is proposed until followers acknowledge. Logs changes.
static bool
s_tail_full (replica_t *self)
{
    uint64_t uncommitted = node_length (self->node) - node_commit (self->node);
    bool full = uncommitted >= MSG_UNCOMMITTED_MAX;
    if (full != self->full)
        log_warn (full ? "%" PRIu64 " orders wait for a majority: new trades answer 503 until "
                         "followers acknowledge"
                       : "%" PRIu64 " orders wait for a majority: proposing again",
                  uncommitted);
    self->full = full;
    return full;
}

static void
s_trade (replica_t *self, const worker_envelope_t *envelope, const msg_t *request)
{
    msg_trade_t trade;
    msg_get_trade (request, &trade);
    if (request->quantity == 0) {
        batch_add_error (self->batch, envelope, request->req_id, MSG_ERR_INVALID_QUANTITY);
        return;
    }
    if (*trade.key && s_repeated_key (self, envelope, request, &trade))
        return;
    const store_stock_t *stock;
    msg_error_t code = store_check (self->store, trade.name, trade.side, trade.quantity, &stock);
    if (code != MSG_ERR_OK) {
        batch_add_error (self->batch, envelope, request->req_id, code);
        return;
    }
    trade.number = node_length (self->node);
    int64_t index = s_tail_full (self) ? -1 : node_propose (self->node, &trade);
    if (index < 0) {
        batch_add_error (self->batch, envelope, request->req_id, MSG_ERR_UNAVAILABLE);
        return;
    }
    stock = store_lookup (self->store, trade.name);
    if (held_wait (self->held, envelope, request->req_id, request->deadline, (uint64_t) index,
                   &trade, stock ? stock->quantity : 0))
        batch_add_error (self->batch, envelope, request->req_id, MSG_ERR_OUTCOME_UNKNOWN);
}

//  Committed orders only: one past the commit position may still be cut.
//  Only a leader may say 404: its log holds every committed entry (it
//  adopted the best log of a majority), while a follower may lack orders
//  a majority without it committed, so it answers 503 and the gateway
//  asks again.
static void
s_query (replica_t *self, const worker_envelope_t *envelope, const msg_t *request)
{
    msg_trade_t trade;
    if (request->number < node_commit (self->node)
        && tradelog_get (store_log (self->store), request->number, &trade) == 0) {
        msg_t reply;
        msg_set_trade (&reply, MSG_ORDER, &trade);
        reply.req_id = request->req_id;
        batch_add (self->batch, envelope, &reply);
    }
    else
        batch_add_error (self->batch, envelope, request->req_id,
                         s_leading (self) && request->number >= node_length (self->node)
                         ? MSG_ERR_TXN_NOT_FOUND : MSG_ERR_UNAVAILABLE);
}

static void
s_on_request (void *arg, const worker_envelope_t *envelope, const msg_t *request)
{
    replica_t *self = arg;
    if (!envelope) {
        if (request->type == MSG_LEADER)
            s_on_announcement (self, request);
        else
        if (request->type == MSG_ERROR && request->code == MSG_ERR_REFUSED) {
            log_error ("the broker refused this replica: %s", request->text);
            self->failed = true;   //  replica_run returns -1: another process has our id
        }
        return;
    }
    if (request->type == MSG_TRADE && s_leading (self))
        s_trade (self, envelope, request);
    else
    if (request->type == MSG_QUERY)
        s_query (self, envelope, request);
    else
    if (request->type == MSG_TRADE)
        batch_add_error (self->batch, envelope, request->req_id, MSG_ERR_UNAVAILABLE);
    else {
        log_warn ("dropped %s: not an order request", msg_type_name (request->type));
        batch_add_error (self->batch, envelope, request->req_id, MSG_ERR_BAD_MESSAGE);
    }
}

//  The in-sync set heartbeats report: followers heard within the quorum
//  timeout that hold what was committed at the previous sample. Sampled,
//  so a follower a few entries behind under load does not flap the set
//  (each change is a heartbeat at once).
static void
s_update_in_sync (replica_t *self)
{
    int64_t now = zclock_mono ();
    if (now - self->in_sync_at < IN_SYNC_MS)
        return;
    uint64_t ids[CONSENSUS_MAX_MEMBERS];
    size_t count = node_in_sync (self->node, (uint64_t) self->config.timeout_ms,
                                 self->in_sync_commit, ids, CONSENSUS_MAX_MEMBERS);
    worker_set_in_sync (self->worker, ids, count);
    self->in_sync_at = now;
    self->in_sync_commit = node_commit (self->node);
}

//  ---------------------------------------------------------------------
//  The loop

int
replica_run (replica_t *self)
{
    log_info ("waiting for the broker's leader announcement, %" PRIu64 " orders in the log",
              node_length (self->node));
    while (!zsys_interrupted && !self->failed) {
        zmq_pollitem_t items[POLL_MAX];
        size_t count = worker_poll_items (self->worker, items, POLL_MAX);
        count += node_poll_items (self->node, items + count, POLL_MAX - count);
        int64_t timeout = worker_tick (self->worker);
        if (timeout > TICK_MS)
            timeout = TICK_MS;
        if (sockpoll_wait (items, count, (long) timeout) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        node_receive (self->node, items, count);
        worker_drain (self->worker, items, count, WORKER_BATCH_MAX, s_on_request, self);
        node_tick (self->node);
        if (node_flush (self->node))
            return -1;
        s_on_events (self);
        batch_send (self->batch, self->worker);
        held_log_refusals (self->held);
        //  The position is the commit position: what catalogs may copy from us.
        worker_set_position (self->worker, node_commit (self->node), node_epoch (self->node),
                             self->role);
        worker_set_silent_leader (self->worker, node_silent_leader (self->node));
        s_update_in_sync (self);
    }
    return self->failed ? -1 : 0;
}
