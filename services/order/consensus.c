/*  consensus.c - the consensus rules (see consensus.h for the loop).

    Rules:
    - Promise. A replica promises epoch e only if e is above every epoch
      it promised before; the promise is in the ready (promise_changed)
      and persisted before the PROMISE leaves. Any message of a lower
      epoch is refused with REFUSE(promise). An APPEND of a higher epoch
      is an implicit promise (persisted before its ACK leaves).
    - Election. consensus_campaign picks max(promise, highest seen) + 1
      (never past CONSENSUS_EPOCH_MAX: a message above it is malformed),
      promises it to itself and sends PREPARE. With a majority of
      PROMISEs (itself included) the candidate learns the highest commit
      position among them and adopts the best log of that majority that
      reaches it (highest last stamp, then longest), fetching it from
      its holder, then re-stamps its tail [commit, length) with its own
      epoch and leads.
      A candidate sends PREPARE again each heartbeat to members that
      have not promised; refused at its epoch or above it campaigns once
      more above it; it gives up when refused again or after
      campaign_timeout_ms, and the caller (the broker) campaigns again.
      It gives way without failing when it promises a rival's higher
      epoch, follows a leader of its epoch, or is told the broker names
      another (consensus_abandon); meeting a rival of a higher id at its
      own epoch, it does not campaign again (no duel: the rival's retry
      wins).
    - Stamps. An entry's stamp is 2e if the leader of epoch e recovered
      it (re-stamped it at its election), 2e + 1 if it was proposed
      under e. Adoption compares last stamps, then lengths.
    - Log matching. An entry (index, stamp) is made by the one leader of
      that epoch, which never cuts its own log while it leads; a replica
      appends entries only after its entry start-1 matches prev_stamp.
      Indexes below a replica's commit position match by definition (a
      committed prefix holds the same payloads everywhere, whatever
      their stamps): the check starts at the commit position, nothing
      below it is ever cut or rewritten, and an incoming entry below
      the sender's commit is the same entry if its payload is.
    - A recovered tail travels whole: no message (APPEND, ENTRIES) ends
      inside or at the end of a run of one even stamp short of the
      sender's limit (a later leader's re-stamp may have split that run
      at its commit position), a replica that does not lead sends its
      uncommitted tail in one piece, and one that takes only a peer's
      committed entries leaves out the even stamps it would end with,
      short of the peer's log end. So a log whose last stamp
      is 2e or 2e + 1 holds all that leader e recovered, which is every
      entry committed before it: the up-to-date rule holds.
    - Commit. The leader's commit position is the highest length that a
      majority holds under its epoch: its own persisted length and the
      followers' ACKs. Every entry past its commit is of its own epoch
      (the re-stamp), so it never counts an older epoch's entry.
      Followers learn it from APPEND, bounded by what they matched.
    - A quiet follower drops an old leader's tail. An APPEND (a
      heartbeat too) that matches and ends at the leader's length (its
      `length`) proves that past it the follower holds nothing of the
      leader's but entries of the leader's epoch that a reordered later
      APPEND brought: the first entry of an older epoch past it, and all
      after it, is uncommitted (a leader holds every committed entry and
      past its length writes only its own epoch's) and is cut in the same
      ready, before the ACK; never below the commit position. So when no
      trade comes, every live replica still ends with the leader's log.
    - Check quorum. A leader without ACKs from a majority within
      quorum_timeout_ms steps down (ready->stepped_down).
    - Catch-up. A follower that cannot match an APPEND FETCHes from the
      leader (which answers with an APPEND to it alone); from a peer it
      trusts only entries below the peer's commit position, and asks
      from its own commit position.
    - A follower's commit position is hard state: persisted before the
      messages of its ready leave (an ACK may rest on it: after a restart
      that forgot it, a replica would compare below it and cut what it
      acked). A leader may keep it soft (node.c does: its commit-only
      readies are not stored; the simulator models that).

    Files: this one (the public verbs, replication and commit),
    consensus_elect.c (the candidate), consensus_log.c (the log in
    memory, the outbox, role changes), consensus_int.h (the struct they
    share), src/stamps.c (the stamps as runs). Invariants: consensus_log.c.
*/#include "consensus_int.h"

#include <stdlib.h>
#include <string.h>

//  ---------------------------------------------------------------------
//  The leader and its followers: commit, APPEND, ACK, FETCH, ENTRIES

static void
s_update_commit (consensus_t *self)
{
    uint64_t values[CONSENSUS_MAX_MEMBERS];
    for (size_t i = 0; i < self->n_members; i++)
        values[i] = i == self->self_slot ? self->persisted : self->members[i].match;
    for (size_t i = 1; i < self->n_members; i++)
        for (size_t j = i; j > 0 && values[j] > values[j - 1]; j--) {
            uint64_t swap = values[j];
            values[j] = values[j - 1];
            values[j - 1] = swap;
        }
    uint64_t majority_length = values[self->majority - 1];
#ifndef CONSENSUS_BREAK_COUNT_OLD_EPOCH
    if (majority_length > self->commit
        && stamps_get (self->stamps, majority_length - 1) / 2 != self->promised)
        return; //  never count another epoch's entry (Figure 8)
#endif
    consensus_log_set_commit (self, majority_length);
}

//  An APPEND of epoch matched us up to length, the leader's whole log
//  when it sent it: past length we hold no entry of the leader's but
//  those of its epoch that a later APPEND brought first (messages are
//  reordered; those stay, we may have ACKed them). The first entry of an
//  older epoch past length, and all after it, is an old leader's
//  uncommitted tail (the leader holds every committed entry, and past
//  its length at its election it writes only entries of its epoch): cut
//  it, in this ready, so durably before the ACK. Never below our commit.
//  Without this a quiet follower would keep the tail until the next trade.
static void
s_cut_stale_tail (consensus_t *self, uint64_t length, uint64_t epoch)
{
    uint64_t index = length > self->commit ? length : self->commit;
    while (index < self->length && stamps_get (self->stamps, index) / 2 == epoch)
        index = stamps_run_end (self->stamps, index);
#ifdef CONSENSUS_BREAK_CUT_PAST_LENGTH
    index = length > self->commit ? length : self->commit; //  cut the leader's entries too
#endif
#ifndef CONSENSUS_BREAK_KEEP_STALE_TAIL
    if (index < self->length)
        consensus_log_cut (self, index, true);
#endif
}

static void
s_on_append (consensus_t *self, const consensus_msg_t *msg)
{
#ifndef CONSENSUS_BREAK_ACCEPT_LOWER_EPOCH
    if (msg->epoch < self->promised) {
        consensus_send (self, CONSENSUS_REFUSE, msg->from, self->promised);
        return;
    }
#endif
    if (msg->epoch > self->promised)
        consensus_elect_promise (self, msg->epoch, msg->from);
    consensus_elect_yield (self);
    self->leader = msg->from;
    int64_t matched = consensus_log_accept (self, msg, msg->n_entries, false);
    if (matched < 0) {
        consensus_msg_t *fetch = consensus_send (self, CONSENSUS_FETCH, msg->from, self->promised);
        fetch->start = msg->start > self->length ? self->length : self->commit;
        return;
    }
    if ((uint64_t) matched == msg->length)
        s_cut_stale_tail (self, (uint64_t) matched, msg->epoch);
    consensus_log_set_commit (self, msg->commit < (uint64_t) matched ? msg->commit : (uint64_t) matched);
    consensus_msg_t *ack = consensus_send (self, CONSENSUS_ACK, msg->from, msg->epoch);
    ack->length = (uint64_t) matched;
    if (msg->to == self->self_id && (uint64_t) matched < msg->length) {
        consensus_msg_t *fetch = consensus_send (self, CONSENSUS_FETCH, msg->from, self->promised);
        fetch->start = (uint64_t) matched; //  the next batch of a catch-up
    }
}

static void
s_on_ack (consensus_t *self, const consensus_msg_t *msg, uint64_t now)
{
    if (self->role != CONSENSUS_LEADER || msg->epoch != self->promised)
        return;
    s_member_t *member = consensus_member (self, msg->from);
    uint64_t length = msg->length < self->length ? msg->length : self->length;
    if (length > member->match)
        member->match = length;
    member->heard = now;
    s_update_commit (self);
}

static void
s_on_fetch (consensus_t *self, const consensus_msg_t *msg)
{
    uint64_t start = msg->start < self->length ? msg->start : self->length;
    if (self->role == CONSENSUS_LEADER) {
        consensus_send_append (self, msg->from, msg->start > self->length ? self->commit : start);
        return;
    }
    //  The candidate we promised adopts our whole log; anyone else gets
    //  only what is committed.
    bool adopter = msg->epoch == self->promised && self->promised_to == msg->from;
    uint64_t limit = adopter ? self->length : self->commit;
    if (start >= limit && !adopter)
        return;
    consensus_send (self, CONSENSUS_ENTRIES, msg->from, self->promised);
    if (consensus_attach (self, start, consensus_batch_end (self, start, limit < start ? start : limit)))
        self->n_msgs--; //  unreadable: send nothing
}

static void
s_on_entries (consensus_t *self, const consensus_msg_t *msg, uint64_t now)
{
    if (self->role == CONSENSUS_CANDIDATE && self->adopt_from == msg->from
        && msg->epoch == self->promised) {
        consensus_elect_on_adopt (self, msg, now);
        return;
    }
    if (self->role != CONSENSUS_FOLLOWER || msg->start > self->commit || msg->commit <= msg->start)
        return;
    size_t n = msg->n_entries;
    if (n > msg->commit - msg->start)
        n = (size_t) (msg->commit - msg->start); //  trust only the committed part
    size_t whole = consensus_log_whole_runs (msg, n);
    int64_t matched = consensus_log_accept (self, msg, whole, false);
    if (matched <= 0)
        return;
    consensus_log_set_commit (self, (uint64_t) matched);
    if ((uint64_t) matched < msg->commit && whole == n) {
        consensus_msg_t *fetch = consensus_send (self, CONSENSUS_FETCH, msg->from, self->promised);
        fetch->start = self->commit; //  the next chunk
    }
}

static bool
s_valid (consensus_t *self, const consensus_msg_t *msg)
{
    bool catch_up = msg->type == CONSENSUS_FETCH || msg->type == CONSENSUS_ENTRIES;
    if (msg->type < CONSENSUS_PREPARE || msg->type > CONSENSUS_ENTRIES
        || (msg->epoch == 0 && !catch_up) || msg->epoch > CONSENSUS_EPOCH_MAX
        || msg->from == self->self_id || !consensus_member (self, msg->from)
        || (msg->n_entries && !msg->entries) || msg->start + msg->n_entries < msg->start)
        return false;
    for (size_t k = 0; k < msg->n_entries; k++) {
        uint64_t stamp = msg->entries[k].stamp;
        if (stamp < 2 || (msg->type == CONSENSUS_APPEND && stamp / 2 > msg->epoch)
            || (msg->entries[k].size && !msg->entries[k].payload))
            return false;
    }
    return true;
}

//  ---------------------------------------------------------------------
//  Public

//  A copy of the persisted stamps, run by run (a few, whatever the
//  length), or NULL if they are not state->length or one is below 2.
static stamps_t *
s_stamps_copy (const consensus_state_t *state)
{
    if ((state->stamps ? stamps_length (state->stamps) : 0) != state->length)
        return NULL;
    stamps_t *copy = stamps_new ();
    for (uint64_t index = 0, end; index < state->length; index = end) {
        uint64_t stamp = stamps_get (state->stamps, index);
        end = stamps_run_end (state->stamps, index);
        if (stamp < 2) {
            stamps_destroy (&copy);
            break;
        }
        stamps_append (copy, stamp, end - index);
    }
    return copy;
}

consensus_t *
consensus_new (const consensus_config_t *config, const consensus_state_t *state)
{
    consensus_state_t empty = {0};
    state = state ? state : &empty;
    if (!config->members || config->n_members == 0 || config->n_members > CONSENSUS_MAX_MEMBERS
        || !config->read || state->commit > state->length)
        return NULL;
    stamps_t *stamps = s_stamps_copy (state);
    if (!stamps)
        return NULL;
    consensus_t *self = consensus_alloc (NULL, 1, sizeof *self);
    memset (self, 0, sizeof *self);
    self->stamps = stamps;
    self->self_slot = config->n_members;
    for (size_t i = 0; i < config->n_members; i++) {
        uint32_t id = config->members[i];
        if (id == 0 || consensus_member (self, id))
            return consensus_destroy (&self), NULL;
        self->members[self->n_members++].id = id;
        if (id == config->self)
            self->self_slot = i;
    }
    if (self->self_slot == config->n_members)
        return consensus_destroy (&self), NULL;
    self->self_id = config->self;
    self->majority = config->n_members / 2 + 1;
    self->heartbeat_ms = config->heartbeat_ms;
    self->quorum_timeout_ms = config->quorum_timeout_ms;
    self->campaign_timeout_ms = config->campaign_timeout_ms;
    self->max_batch = config->max_batch;
    self->read = config->read;
    self->read_arg = config->read_arg;
    self->promised = self->highest_seen = state->promised;
    self->length = self->persisted = self->stable = state->length;
    self->commit = state->commit;
    return self;
}

static void
s_free_outbox (consensus_t *self)
{
    for (size_t i = 0; i < self->n_msgs; i++)
        free (self->msg_memory[i]);
    self->n_msgs = 0;
}

void
consensus_destroy (consensus_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    consensus_t *self = *self_p;
    consensus_log_cut (self, self->stable, false);
    s_free_outbox (self);
    stamps_destroy (&self->stamps);
    free (self->unstable);
    free (self->pending);
    free (self->msgs);
    free (self->msg_memory);
    free (self->outcomes);
    free (self->ready_entries);
    free (self);
    *self_p = NULL;
}

int
consensus_step (consensus_t *self, const consensus_msg_t *msg, uint64_t now)
{
    if (self->ready_out || !s_valid (self, msg))
        return -1;
    if (msg->epoch > self->highest_seen)
        self->highest_seen = msg->epoch;
    switch (msg->type) {
        case CONSENSUS_PREPARE: consensus_elect_on_prepare (self, msg); break;
        case CONSENSUS_PROMISE: consensus_elect_on_promise (self, msg, now); break;
        case CONSENSUS_REFUSE: consensus_elect_on_refuse (self, msg, now); break;
        case CONSENSUS_APPEND: s_on_append (self, msg); break;
        case CONSENSUS_ACK: s_on_ack (self, msg, now); break;
        case CONSENSUS_FETCH: s_on_fetch (self, msg); break;
        case CONSENSUS_ENTRIES: s_on_entries (self, msg, now); break;
    }
    return 0;
}

int
consensus_tick (consensus_t *self, uint64_t now)
{
    if (self->ready_out)
        return -1;
    if (self->role == CONSENSUS_CANDIDATE && now - self->campaign_start >= self->campaign_timeout_ms)
        consensus_become (self, CONSENSUS_FOLLOWER);
    if (self->role == CONSENSUS_CANDIDATE)
        consensus_elect_prepare_again (self, now);
    if (self->role != CONSENSUS_LEADER)
        return 0;
    if (now - self->lead_start >= self->quorum_timeout_ms) {
        size_t heard = 1;
        for (size_t i = 0; i < self->n_members; i++)
            heard += i != self->self_slot && now - self->members[i].heard < self->quorum_timeout_ms;
        if (heard < self->majority) {
            consensus_become (self, CONSENSUS_FOLLOWER);
            return 0;
        }
    }
    if (now - self->last_heartbeat >= self->heartbeat_ms) {
        self->last_heartbeat = now;
        if (self->sent < self->length)
            consensus_send_append (self, CONSENSUS_ALL, self->sent);
        self->sent = self->length;
        consensus_send_append (self, CONSENSUS_ALL, self->length);
    }
    return 0;
}

int
consensus_campaign (consensus_t *self, uint64_t now)
{
    if (self->ready_out)
        return -1;
    if (self->role == CONSENSUS_LEADER)
        return 0;
    self->campaign_start = now;
    self->campaign_retried = false;
    consensus_elect_campaign (self, now);
    return 0;
}

int
consensus_abandon (consensus_t *self)
{
    if (self->ready_out)
        return -1;
    if (self->role == CONSENSUS_CANDIDATE)
        consensus_elect_yield (self);
    return 0;
}

int64_t
consensus_propose (consensus_t *self, const void *payload, size_t size)
{
    if (self->ready_out || self->role != CONSENSUS_LEADER || (size && !payload))
        return -1;
    S_GROW (self->pending, self->n_pending, self->pending_capacity);
    self->pending[self->n_pending++] = self->length;
    consensus_log_append (self, 2 * self->promised + 1, payload, size);
    return (int64_t) (self->length - 1);
}

int
consensus_fetch (consensus_t *self, uint32_t peer)
{
    if (self->ready_out || peer == self->self_id || !consensus_member (self, peer))
        return -1;
    consensus_msg_t *fetch = consensus_send (self, CONSENSUS_FETCH, peer, self->promised);
    fetch->start = self->commit;
    return 0;
}

const consensus_ready_t *
consensus_ready (consensus_t *self)
{
    if (self->ready_out)
        return &self->ready;
    if (self->role == CONSENSUS_LEADER && self->sent < self->length) {
        consensus_send_append (self, CONSENSUS_ALL, self->sent);
        self->sent = self->length;
    }
    bool cut = self->stable < self->persisted;
    if (!self->promise_changed && !cut && self->stable == self->length && !self->n_msgs
        && !self->commit_changed && !self->n_outcomes && !self->role_changed)
        return NULL;
    size_t n = (size_t) (self->length - self->stable);
    self->ready_entries = consensus_alloc (self->ready_entries, n + 1, sizeof *self->ready_entries);
    for (size_t k = 0; k < n; k++)
        self->ready_entries[k] = (consensus_entry_t) {
            stamps_get (self->stamps, self->stable + k), self->unstable[k].data,
            self->unstable[k].size};
    self->ready = (consensus_ready_t) {
        .promise_changed = self->promise_changed, .promised = self->promised,
        .truncate = cut, .truncate_to = self->stable, .first_index = self->stable,
        .entries = self->ready_entries, .n_entries = n, .msgs = self->msgs,
        .n_msgs = self->n_msgs, .commit_changed = self->commit_changed, .commit = self->commit,
        .outcomes = self->outcomes, .n_outcomes = self->n_outcomes,
        .role_changed = self->role_changed, .role = self->role, .epoch = self->promised,
        .stepped_down = self->stepped_down, .campaign_failed = self->campaign_failed};
#ifdef CONSENSUS_BREAK_ACK_BEFORE_TRUNCATE
    self->ready.truncate = false;
#endif
    self->ready_out = true;
    return &self->ready;
}

void
consensus_advance (consensus_t *self)
{
    if (!self->ready_out)
        return;
    for (uint64_t i = self->stable; i < self->length; i++)
        free (self->unstable[i - self->stable].data);
    self->persisted = self->stable = self->length;
    s_free_outbox (self);
    self->n_outcomes = 0;
    self->promise_changed = self->commit_changed = self->role_changed = false;
    self->stepped_down = self->campaign_failed = false;
    self->ready_out = false;
    if (self->role == CONSENSUS_LEADER)
        s_update_commit (self); //  our own persisted length counts now
}

consensus_role_t
consensus_role (consensus_t *self)
{
    return self->role;
}

uint64_t
consensus_epoch (consensus_t *self)
{
    return self->promised;
}

uint64_t
consensus_commit (consensus_t *self)
{
    return self->commit;
}

uint64_t
consensus_length (consensus_t *self)
{
    return self->length;
}

uint32_t
consensus_leader (consensus_t *self)
{
    return self->leader;
}

size_t
consensus_in_sync (consensus_t *self, uint64_t now, uint64_t within_ms, uint64_t position,
                   uint32_t *ids, size_t max)
{
    size_t count = 0;
    if (self->role != CONSENSUS_LEADER)
        return 0;
    for (size_t i = 0; i < self->n_members && count < max; i++) {
        const s_member_t *member = &self->members[i];
        if (i != self->self_slot && member->match >= position && now - member->heard < within_ms)
            ids[count++] = member->id;
    }
    return count;
}

const char *
consensus_type_name (consensus_type_t type)
{
    static const char *names[] = {"?",      "PREPARE", "PROMISE", "REFUSE",
                                  "APPEND", "ACK",     "FETCH",   "ENTRIES"};
    return type >= CONSENSUS_PREPARE && type <= CONSENSUS_ENTRIES ? names[type] : "?";
}
