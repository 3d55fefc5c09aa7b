/*  node.c - the consensus core with its disk and sockets (see node.h).

    Invariants: the store's log holds exactly the core's log (every
    ready's entries are appended before consensus_advance), so
    tradelog_count == consensus_length between calls; outbox holds the
    messages of readies already advanced: a leader's APPENDs to send
    before the turn's sync, the rest to send after it;
    safe_commit is a commit position that counted no entry of ours not
    yet synced.

    A follower's commit-only ready (a heartbeat that moved the commit
    position) is hard state like any other, so its messages wait until it
    is stored; but records written in the same turn carry the position,
    and then the promise file is not written (no extra fdatasync), and
    the flush waits COMMIT_DEFER_MS (to the first loop turn after it) for
    such entries. Nothing leaves before the state it rests on is durable;
    only an ACK to a heartbeat is later. A leader's commit-only ready is
    not stored at all (s_persist): the position rides on its next records.
*/
#include "node.h"
#include "mem.h"
#include "cwire.h"
#include "joining.h"
#include "log.h"
#include "outbox.h"
#include "promise.h"
#include "transport.h"

#include <czmq.h>

#define HEARTBEAT_MS 50
#define CAMPAIGN_TIMEOUT_MS 400
#define COMMIT_DEFER_MS 5   //  a follower's commit-only move waits this long for entries
#define LEADER_COMMIT_STORE_MS 200   //  how stale a leader's stored commit position may be

struct _node_t {
    node_config_t config;
    store_t *store;
    tradelog_t *log;
    consensus_t *core;
    cwire_t *cwire;
    promise_t *promise;
    peers_t *peers;
    transport_t *transport;
    outbox_t *outbox;
    bool store_promise;        //  the promise file must be written this turn
    bool appended;             //  entries written or cut since the last flush
    int64_t commit_moved_at;   //  a commit-only move not yet stored (0: none)
    uint64_t promised;
    uint64_t commit;           //  the core's, as the last ready said
    uint64_t safe_commit;
    uint64_t commit_announced; //  leader: last commit position published
    uint64_t learned;          //  leader: the commit position of its last LEARN
    uint64_t learned_epoch;    //  ... in this epoch (a new one starts at its commit)
    int64_t learned_at;        //  zclock_mono of that LEARN
    node_events_t events;
    bool caught_up;            //  said once: a follower holds what its leader committed
    uint64_t lost_to;          //  it knew this many committed but lost some: 0 once held
    joining_t *joining;        //  no state at start: it votes once it holds a leader's log
    uint64_t named_leader;     //  the leader the broker's last announcement names
    int64_t leader_heard_at;   //  zclock_mono: it was named, or a CS_* message of it came
    int64_t silence_checked_at; //  zclock_mono of the last node_silent_leader
    int64_t refusal_checked_at; //  zclock_mono of the last transport_check_refusal
    int64_t commit_stored_at;  //  zclock_mono a leader last stored its commit position
    bool failed;
    msgpack_sbuffer read_buffer;
};

//  outbox_send_fn
static int
s_send (void *arg, const msg_t *msg)
{
    node_t *self = arg;
    return transport_send (self->transport, msg);
}

//  consensus_read_fn: a persisted entry's payload, its TRADEREC.
static int
s_read (void *arg, uint64_t index, const void **payload, size_t *size)
{
    node_t *self = arg;
    msg_trade_t trade;
    msg_t record;
    if (tradelog_get (self->log, index, &trade))
        return -1;
    msg_set_trade (&record, MSG_TRADEREC, &trade);
    if (msg_encode (&record, &self->read_buffer))
        return -1;
    *payload = self->read_buffer.data;
    *size = self->read_buffer.size;
    return 0;
}

static consensus_t *
s_core_new (node_t *self, char *error, size_t error_size)
{
    uint64_t length = tradelog_count (self->log);
    uint64_t commit = promise_commit (self->promise);
    if (tradelog_carried_commit (self->log) > commit)
        commit = tradelog_carried_commit (self->log);
    //  Orders it knew committed are gone (a damaged or replaced log):
    //  its vote must not let a leader without them commit others under
    //  their numbers. Its promises say they committed (a candidate then
    //  needs a log that holds them), and it does not lead until it holds
    //  them again.
    if (commit > length) {
        log_warn ("%s holds %" PRIu64 " orders but this replica knew %" PRIu64 " committed: "
                  "the rest is lost (a damaged or replaced log); until a leader has sent them "
                  "again it will not lead, and its promises say they committed",
                  store_log_name (self->store), length, commit);
        self->lost_to = commit;
        commit = length;
    }
    self->commit = self->safe_commit = commit;
    self->promised = promise_epoch (self->promise);
    consensus_config_t config = {
        .self = (uint32_t) self->config.replica_id, .members = self->config.members,
        .n_members = self->config.n_members, .heartbeat_ms = HEARTBEAT_MS,
        .quorum_timeout_ms = self->config.quorum_timeout_ms,
        .campaign_timeout_ms = CAMPAIGN_TIMEOUT_MS, .max_batch = MSG_APPEND_BATCH,
        .read = s_read, .read_arg = self};
    consensus_state_t state = {.promised = self->promised, .commit = commit, .length = length,
                               .stamps = tradelog_stamps (self->log)};
    consensus_t *core = consensus_new (&config, &state);
    if (!core)
        snprintf (error, error_size, "cannot start the consensus core: check --members (it "
                  "must list --id) and the log's stamps");
    else
        log_info ("consensus: promised epoch %" PRIu64 ", %" PRIu64 " orders, %" PRIu64
                  " committed, %zu members", self->promised, length, commit,
                  self->config.n_members);
    return core;
}

node_t *
node_new (store_t *store, const node_config_t *config, char *error, size_t error_size)
{
    node_t *self = mem_calloc (1, sizeof (node_t));
    self->config = *config;
    self->store = store;
    self->log = store_log (store);
    self->events.cut_from = UINT64_MAX;
    msgpack_sbuffer_init (&self->read_buffer);
    self->cwire = cwire_new ();
    self->outbox = outbox_new (s_send, self);
    self->peers = peers_new (config->replica_id, 500);
    //  A lost promise file must not become "epoch 0 promised": the
    //  replica could then promise an epoch it already refused.
    uint64_t orders = tradelog_count (self->log);
    if (orders && !zsys_file_exists (config->promise_path)) {
        snprintf (error, error_size,
                  "%s is missing but the order log holds %" PRIu64 " orders: what this replica "
                  "promised is unknown, and starting from epoch 0 could let two leaders "
                  "commit; restore the file, or move this replica's files away to start it "
                  "empty while its peers run (it copies the log from them)",
                  config->promise_path, orders);
        node_destroy (&self);
        return NULL;
    }
    self->joining = joining_new (config->joining_path, orders,
                                 zsys_file_exists (config->promise_path), config->new_system,
                                 error, error_size);
    if (!self->joining
        || promise_open (config->promise_path, &self->promise, error, error_size)) {
        node_destroy (&self);
        return NULL;
    }
    if (promise_recovered (self->promise))
        log_warn ("%s: %s", config->promise_path, promise_recovered (self->promise));
    self->core = s_core_new (self, error, error_size);
    if (self->core)
        self->transport = transport_new (self->log, config->replica_id, config->pub,
                                         config->rep, error, error_size);
    if (!self->core || !self->transport) {
        node_destroy (&self);
        return NULL;
    }
    transport_set_peers (self->transport, self->peers);
    transport_set_commit (self->transport, self->safe_commit);
    return self;
}

void
node_destroy (node_t **self_p)
{
    if (!*self_p)
        return;
    node_t *self = *self_p;
    transport_destroy (&self->transport);
    peers_destroy (&self->peers);
    consensus_destroy (&self->core);
    cwire_destroy (&self->cwire);
    promise_destroy (&self->promise);
    joining_destroy (&self->joining);
    outbox_destroy (&self->outbox);
    msgpack_sbuffer_destroy (&self->read_buffer);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  A ready: persist, then queue (or send) its messages

//  what failed on file (NULL: the order log).
static void
s_fail (node_t *self, const char *what, const char *file)
{
    log_error ("%s (%s): %s; stopping before acknowledging", what,
               file ? file : store_log_name (self->store), strerror (errno));
    self->failed = true;
}

static bool
s_same_trade (const msg_trade_t *a, const msg_trade_t *b)
{
    return a->number == b->number && a->side == b->side && a->quantity == b->quantity
        && strcmp (a->name, b->name) == 0 && strcmp (a->key, b->key) == 0;
}

//  Whether the ready writes back every trade its cut drops, the same
//  (a re-stamp: nothing of the old log is lost, only its stamps change).
static bool
s_rewrites (node_t *self, const consensus_ready_t *ready)
{
    uint64_t count = tradelog_count (self->log);
    if (ready->first_index != ready->truncate_to
        || ready->n_entries < count - ready->truncate_to)
        return false;
    for (uint64_t number = ready->truncate_to; number < count; number++) {
        const consensus_entry_t *entry = &ready->entries[number - ready->first_index];
        msg_trade_t old, new;
        if (tradelog_get (self->log, number, &old)
            || msg_decode_trade (entry->payload, entry->size, &new) != MSG_DECODE_OK
            || !s_same_trade (&old, &new))
            return false;
    }
    return true;
}

//  Cut the log (synced first: a cut needs nothing queued). The file is
//  cut by the next sync, as one with the entries appended after the cut
//  (journal.h): a re-stamp cuts entries that may have committed and
//  writes them again, and a crash between the two must not lose them.
static void
s_truncate (node_t *self, uint64_t to, bool rewritten)
{
    uint64_t count = tradelog_count (self->log);
    if (tradelog_sync (self->log)) {
        s_fail (self, "cannot cut the order log", NULL);
        return;
    }
    //  The commit position may be carried only by records the cut drops
    //  (never above the cut: the core cuts nothing committed). Stored
    //  first, it cannot go back if a crash follows the cut.
    uint64_t keep = tradelog_carried_commit (self->log);
    if (self->commit > keep)
        keep = self->commit;
    if (keep > promise_commit (self->promise)
        && promise_store (self->promise, self->promised, keep)) {
        s_fail (self, "cannot store the promise", self->config.promise_path);
        return;
    }
    if (store_truncate (self->store, to)) {
        s_fail (self, "cannot cut the order log", NULL);
        return;
    }
    if (rewritten)
        log_info ("writing orders %" PRIu64 "..%" PRIu64 " again with epoch %" PRIu64
                  "'s stamp (cut and written back as one)",
                  to, count - 1, consensus_epoch (self->core));
    else
        log_warn ("cut %" PRIu64 " uncommitted orders %" PRIu64 "..%" PRIu64
                  " that the leader does not hold (epoch %" PRIu64 ")",
                  count - to, to, count - 1, consensus_epoch (self->core));
    if (to < self->events.cut_from)
        self->events.cut_from = to;
    self->appended = true;
    self->store_promise = true;   //  a cut record may have carried the commit position
}

static void
s_append (node_t *self, const consensus_ready_t *ready)
{
    for (size_t k = 0; k < ready->n_entries && !self->failed; k++) {
        const consensus_entry_t *entry = &ready->entries[k];
        msg_trade_t trade;
        if (msg_decode_trade (entry->payload, entry->size, &trade) != MSG_DECODE_OK
            || trade.number != ready->first_index + k
            || store_append_entry (self->store, &trade, entry->stamp, ready->commit)) {
            errno = EINVAL;
            s_fail (self, "cannot append an order the core accepted", NULL);
        }
    }
    if (ready->n_entries)
        self->appended = true;
}

static void
s_persist (node_t *self, const consensus_ready_t *ready)
{
    if (ready->promise_changed) {
        self->promised = ready->promised;
        self->store_promise = true;
    }
    if (ready->truncate && ready->truncate_to < tradelog_count (self->log))
        s_truncate (self, ready->truncate_to, s_rewrites (self, ready));
    s_append (self, ready);
    //  A leader's commit-only move is not stored (records written later
    //  carry it): its clients' answers and its APPENDs do not wait for a
    //  second fdatasync. Safe since a catch-up never leaves a log ending
    //  in recovered entries and the best log reaches every commit a
    //  promiser knows (docs/CONSENSUS.md "A soft commit position"; the
    //  simulator models it). A follower's is hard: its ACKs rest on it.
    if (ready->commit_changed) {
        self->commit = ready->commit;
        if (ready->n_entries == 0 && !self->commit_moved_at
            && consensus_role (self->core) != CONSENSUS_LEADER)
            self->commit_moved_at = zclock_mono ();
    }
}

static void
s_queue (node_t *self, const consensus_ready_t *ready)
{
    //  A leader's APPEND rests on its promise and its log, not on its
    //  own copy being durable (its ACK count waits for its sync), so it
    //  leaves before the sync, with the last commit position stored.
    bool early = consensus_role (self->core) == CONSENSUS_LEADER && !ready->promise_changed
              && !ready->truncate;
    for (size_t i = 0; i < ready->n_msgs; i++) {
        msg_t msg;
        msg_init (&msg, 0);
        if (cwire_to_msg (&ready->msgs[i], &msg)) {
            log_warn ("cannot encode a %s", consensus_type_name (ready->msgs[i].type));
            continue;
        }
        if (msg.type == MSG_CS_PROMISE && self->lost_to > msg.commit)
            msg.commit = self->lost_to;
        if (early && msg.type == MSG_CS_APPEND) {
            if (msg.commit > self->safe_commit)
                msg.commit = self->safe_commit;
            outbox_early (self->outbox, &msg);
        }
        else
            outbox_hold (self->outbox, &msg);
    }
}

static void
s_pump (node_t *self)
{
    const consensus_ready_t *ready;
    while (!self->failed && (ready = consensus_ready (self->core))) {
        s_persist (self, ready);
        s_queue (self, ready);
        for (size_t i = 0; i < ready->n_outcomes; i++)
            self->config.on_outcome (self->config.arg, ready->outcomes[i].index,
                                     ready->outcomes[i].result);
        self->events.role_changed |= ready->role_changed;
        self->events.stepped_down |= ready->stepped_down;
        self->events.campaign_failed |= ready->campaign_failed;
        consensus_advance (self->core);
    }
}

//  ---------------------------------------------------------------------
//  Verbs

//  A candidate the broker no longer names gives its campaign up: the
//  broker named it while the replica it names now still registered as
//  catching-up (a cold start), and both campaigning at once would refuse
//  each other until both failed and stepped aside for a second.
static void
s_abandon_unnamed (node_t *self, uint64_t named)
{
    if (self->failed || !named || named == self->config.replica_id
        || consensus_role (self->core) != CONSENSUS_CANDIDATE)
        return;
    log_info ("the broker names replica %" PRIu64 " now: giving up the campaign for epoch %"
              PRIu64, named, consensus_epoch (self->core));
    consensus_abandon (self->core);
    s_pump (self);
}

void
node_on_announcement (node_t *self, const msg_t *announcement)
{
    peers_update (self->peers, announcement);
    if (announcement->replica_id != self->named_leader) {
        self->named_leader = announcement->replica_id;
        self->leader_heard_at = zclock_mono ();
    }
    transport_follow (self->transport, announcement->replica_id, announcement->pub);
    s_abandon_unnamed (self, announcement->replica_id);
}

size_t
node_poll_items (node_t *self, zmq_pollitem_t *items, size_t max)
{
    size_t count = transport_poll_items (self->transport, items, max);
    return count + peers_poll_items (self->peers, items + count, max - count);
}

//  A follower holds what its leader said was committed: say so once a
//  start (a restarted replica's copying is done; tests and people wait
//  for this line).
static void
s_check_caught_up (node_t *self, const msg_t *msg)
{
    if (self->caught_up || msg->type != MSG_CS_APPEND
        || consensus_role (self->core) != CONSENSUS_FOLLOWER
        || consensus_leader (self->core) != msg->replica_id
        || consensus_commit (self->core) < msg->commit)
        return;
    self->caught_up = true;
    log_info ("caught up with leader %" PRIu64 ": %" PRIu64 " orders, %" PRIu64
              " committed (epoch %" PRIu64 ")", msg->replica_id, consensus_length (self->core),
              consensus_commit (self->core), consensus_epoch (self->core));
}

//  The stamp of the entry before position length, 0 if the log has none.
static uint64_t
s_stamp_at (node_t *self, uint64_t length)
{
    return length && length <= tradelog_count (self->log)
         ? tradelog_stamp (self->log, length - 1) : 0;
}

static void
s_on_message (void *arg, const msg_t *msg)
{
    node_t *self = arg;
    if (msg->replica_id == self->named_leader && msg->type >= MSG_CS_PREPARE
        && msg->type <= MSG_CS_ENTRIES)
        self->leader_heard_at = zclock_mono ();
    consensus_msg_t cmsg;
    if (self->failed || cwire_to_consensus (self->cwire, msg, &cmsg)) {
        log_debug ("dropped a %s that does not map", msg_type_name (msg->type));
        return;
    }
    if (msg->type == MSG_CS_PREPARE && joining_ignores (self->joining, msg->epoch,
                                                         msg->replica_id))
        return;
    //  The stamp the sender's log ends with, if this message reaches its end.
    uint64_t end_stamp = cmsg.n_entries ? cmsg.entries[cmsg.n_entries - 1].stamp
                                        : cmsg.prev_stamp;
    bool ends = cmsg.start + cmsg.n_entries == cmsg.length;
    if (consensus_step (self->core, &cmsg, (uint64_t) zclock_mono ()))
        log_debug ("the core refused a %s from %" PRIu64, msg_type_name (msg->type),
                   msg->replica_id);
    s_pump (self);
    s_check_caught_up (self, msg);
    //  Only a broadcast (the leader's PUB) may end a join: it was sent
    //  after this process subscribed, so the leader's log then held all
    //  the lost disk had acknowledged. An APPEND to this replica alone
    //  (a FETCH's answer) may have waited in the leader's DEALER queue
    //  since before the crash.
    if (msg->type == MSG_CS_APPEND && ends && msg->to == CONSENSUS_ALL
        && consensus_leader (self->core) == msg->replica_id
        && consensus_epoch (self->core) == msg->epoch)
        joining_on_append (self->joining, msg->replica_id, msg->epoch, msg->length, end_stamp,
                           &(joining_log_t) {tradelog_count (self->log),
                                             s_stamp_at (self, msg->length),
                                             consensus_commit (self->core)});
}

static int64_t
s_ignore_range (void *arg, uint64_t replica_id, const msg_t *reply)
{
    (void) arg, (void) replica_id, (void) reply;
    return -1;
}

void
node_receive (node_t *self, const zmq_pollitem_t *items, size_t count)
{
    transport_drain (self->transport, items, count, s_on_message, self);
    //  Nothing is asked of peers.
    peers_drain (self->peers, items, count, s_ignore_range, self);
}

void
node_tick (node_t *self)
{
    if (self->failed)
        return;
    int64_t now = zclock_mono ();
    consensus_tick (self->core, (uint64_t) now);
    s_pump (self);
    if (now - self->refusal_checked_at >= HEARTBEAT_MS) {
        transport_check_refusal (self->transport);
        peers_check_refusal (self->peers);
        self->refusal_checked_at = now;
    }
    outbox_send_early (self->outbox);   //  the trades the turn proposed, in one APPEND
}

bool
node_recovering (node_t *self)
{
    if (self->lost_to && consensus_length (self->core) >= self->lost_to) {
        log_info ("holds the %" PRIu64 " orders it knew committed again: it may lead",
                  self->lost_to);
        self->lost_to = 0;
    }
    return self->lost_to != 0 || joining_active (self->joining);
}

void
node_campaign (node_t *self)
{
    if (self->failed || consensus_role (self->core) != CONSENSUS_FOLLOWER
        || node_recovering (self))
        return;
    log_info ("named by the broker: campaigning from epoch %" PRIu64 " with %" PRIu64
              " orders, %" PRIu64 " committed", consensus_epoch (self->core),
              consensus_length (self->core), consensus_commit (self->core));
    consensus_campaign (self->core, (uint64_t) zclock_mono ());
    s_pump (self);
}

int64_t
node_propose (node_t *self, const msg_trade_t *trade)
{
    msg_t record;
    msg_set_trade (&record, MSG_TRADEREC, trade);
    if (self->failed || msg_encode (&record, &self->read_buffer))
        return -1;
    int64_t index = consensus_propose (self->core, self->read_buffer.data,
                                       self->read_buffer.size);
    s_pump (self);
    return index;
}

//  Leader: an empty APPEND with the new commit position, before the
//  replies leave: a follower knows every acknowledged trade committed
//  (without a leader it still answers queries of them, SPEC 4.5).
static void
s_announce_commit (node_t *self)
{
    uint64_t commit = consensus_commit (self->core);
    if (commit <= self->commit_announced)
        return;
    self->commit_announced = commit;
    uint64_t length = tradelog_count (self->log);
    msg_t heartbeat;
    msg_init (&heartbeat, MSG_CS_APPEND);
    heartbeat.replica_id = self->config.replica_id;
    heartbeat.epoch = consensus_epoch (self->core);
    heartbeat.start = heartbeat.length = length;
    heartbeat.prev_stamp = length ? tradelog_stamp (self->log, length - 1) : 0;
    heartbeat.commit = commit;
    transport_send (self->transport, &heartbeat);
}

//  Leader: the trades the commit position moved past, on the PUB for the
//  learners, or a beacon with the position when it has not moved for a
//  heartbeat. At most one batch: a learner missing more copies ranges.
static void
s_publish_learned (node_t *self)
{
    uint64_t commit = consensus_commit (self->core);
    int64_t now = zclock_mono ();
    //  What committed before it led, learners have or copy: a beacon now.
    if (self->learned_epoch != consensus_epoch (self->core)) {
        self->learned_epoch = consensus_epoch (self->core);
        self->learned = commit;
        self->learned_at = 0;
    }
    if (commit <= self->learned && now - self->learned_at < HEARTBEAT_MS)
        return;
    uint64_t start = self->learned < commit ? self->learned : commit;
    if (commit - start > MSG_APPEND_BATCH)
        start = commit - MSG_APPEND_BATCH;
    msg_t learn;
    msg_init (&learn, MSG_LEARN);
    learn.replica_id = self->config.replica_id;
    learn.epoch = consensus_epoch (self->core);
    learn.start = start;
    learn.commit = commit;
    tradelog_range (self->log, start, commit, MSG_APPEND_BATCH, &learn);
    transport_send (self->transport, &learn);
    msg_reset (&learn);
    self->learned = commit;
    self->learned_at = now;
}

//  A follower's commit-only move alone, still young: wait for entries.
static bool
s_defer (node_t *self)
{
    return self->commit_moved_at && !self->appended && !self->store_promise
        && consensus_role (self->core) == CONSENSUS_FOLLOWER
        && zclock_mono () - self->commit_moved_at < COMMIT_DEFER_MS;
}

//  Joining: its log was just synced. The leader it copied must also be
//  the one the broker names: a deposed leader that still sends (paused,
//  or cut off) does not hold what its successor committed. That makes
//  joining stricter, never looser: safety does not rest on the broker.
//  Returns 0 or -1 (the node failed).
static int
s_check_joined (node_t *self)
{
    bool follows = consensus_role (self->core) == CONSENSUS_FOLLOWER
                && consensus_leader (self->core) == self->named_leader;
    if (joining_check (self->joining, follows ? consensus_leader (self->core) : 0,
                       consensus_epoch (self->core), consensus_length (self->core))) {
        s_fail (self, "cannot remove the joining mark", joining_path (self->joining));
        return -1;
    }
    return 0;
}

//  A leader's commit position is soft (no message rests on it being
//  stored), but a replica that later loses records learns from the
//  stored one that it lost committed orders (node_recovering): stored
//  every LEADER_COMMIT_STORE_MS while it moves, after the answers left
//  and with the log synced. Returns 0 or -1 (the node failed).
static int
s_store_leader_commit (node_t *self)
{
    int64_t now = zclock_mono ();
    if (self->commit <= promise_commit (self->promise)
        || now - self->commit_stored_at < LEADER_COMMIT_STORE_MS)
        return 0;
    self->commit_stored_at = now;
    if (promise_store (self->promise, self->promised, self->commit)) {
        s_fail (self, "cannot store the promise", self->config.promise_path);
        return -1;
    }
    return 0;
}

int
node_flush (node_t *self)
{
    if (self->failed)
        return -1;
    outbox_send_early (self->outbox);
    if (s_defer (self))
        return 0;
    //  Unless the records just written carry it, the moved position goes
    //  to the promise file.
    if (self->commit_moved_at && tradelog_carried_commit (self->log) < self->commit)
        self->store_promise = true;
    self->commit_moved_at = 0;
    self->appended = false;
    if (tradelog_sync (self->log)) {
        s_fail (self, "order log sync failed", NULL);
        return -1;
    }
    if (self->store_promise) {
        uint64_t commit = self->commit > promise_commit (self->promise)
                        ? self->commit : promise_commit (self->promise);
        if (promise_store (self->promise, self->promised, commit)) {
            s_fail (self, "cannot store the promise", self->config.promise_path);
            return -1;
        }
        self->store_promise = false;
    }
    self->safe_commit = consensus_commit (self->core);
    transport_set_commit (self->transport, self->safe_commit);
    outbox_send_held (self->outbox);
    if (s_check_joined (self))
        return -1;
    if (consensus_role (self->core) == CONSENSUS_LEADER) {
        s_announce_commit (self);
        s_publish_learned (self);
        if (s_store_leader_commit (self))
            return -1;
    }
    return 0;
}

void
node_events (node_t *self, node_events_t *events)
{
    *events = self->events;
    self->events = (node_events_t) {.cut_from = UINT64_MAX};
}

consensus_role_t
node_role (node_t *self)
{
    return consensus_role (self->core);
}

uint64_t
node_epoch (node_t *self)
{
    return consensus_epoch (self->core);
}

uint64_t
node_commit (node_t *self)
{
    return self->safe_commit;
}

uint64_t
node_length (node_t *self)
{
    return consensus_length (self->core);
}

bool
node_failed (node_t *self)
{
    return self->failed;
}

uint64_t
node_silent_leader (node_t *self)
{
    //  A gap in our own turns (paused, or starved of the CPU) is not the
    //  leader's silence: what it sent meanwhile may be queued or lost with
    //  a link that timed out. Count from now (a follower resumed after a
    //  SIGSTOP reported its leader silent at once, and the broker, which
    //  had not heard a busy leader for 350 ms, expired it).
    int64_t now = zclock_mono ();
    if (now - self->silence_checked_at > MSG_LEADER_SILENT_MS / 2)
        self->leader_heard_at = now;
    self->silence_checked_at = now;
    if (!self->named_leader || self->named_leader == self->config.replica_id
        || consensus_role (self->core) == CONSENSUS_LEADER
        || now - self->leader_heard_at < MSG_LEADER_SILENT_MS)
        return 0;
    return self->named_leader;
}

size_t
node_in_sync (node_t *self, uint64_t within_ms, uint64_t position, uint64_t *ids, size_t max)
{
    uint32_t found[CONSENSUS_MAX_MEMBERS];
    if (max > CONSENSUS_MAX_MEMBERS)
        max = CONSENSUS_MAX_MEMBERS;
    size_t count = consensus_in_sync (self->core, (uint64_t) zclock_mono (), within_ms, position,
                                      found, max);
    for (size_t i = 0; i < count; i++)
        ids[i] = found[i];
    return count;
}
