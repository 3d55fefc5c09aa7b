/*  consensus.c - the consensus rules (see consensus.h for the loop).

    Rules:
    - Promise. A replica promises epoch e only if e is above every epoch
      it promised before; the promise is in the ready (promise_changed)
      and persisted before the PROMISE leaves. Any message of a lower
      epoch is refused with REFUSE(promise). An APPEND of a higher epoch
      is an implicit promise (persisted before its ACK leaves).
    - Election. consensus_campaign picks max(promise, highest seen) + 1,
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
      right after an even stamp but at the end of its sender's log (a
      later leader's re-stamp may have cut a run short in the sender's
      log), a catch-up from a peer that does not lead stops before the
      recovered entries that precede the peer's commit position (sender
      and receiver both), and a replica that does not lead sends its
      uncommitted tail in one piece. So a log whose last stamp is 2e or
      2e + 1 holds all that leader e recovered, which is every entry
      committed before it: the up-to-date rule holds.
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
    - The commit position is hard state: persisted before the messages
      of its ready leave (an ACK may rest on it: after a restart that
      forgot it, a replica would compare below it and cut what it acked).

    Invariants: commit <= length; persisted and stable <= length;
    [0, stable) is on the caller's disk unchanged since the last advance;
    unstable holds the payloads of [stable, length).
*/
#include "consensus.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    void *data;
    size_t size;
} s_payload_t;

typedef struct {
    uint32_t id;
    bool promised;       //  candidate: its PROMISE arrived
    uint64_t last_stamp; //  ... with its log's last epoch, length and commit
    uint64_t length;
    uint64_t commit;
    uint64_t match;      //  leader: length it acknowledged under our epoch
    uint64_t heard;      //  leader: when its last ACK arrived
} s_member_t;

struct _consensus_t {
    uint32_t self_id;
    size_t n_members, majority, self_slot;
    s_member_t members[CONSENSUS_MAX_MEMBERS];
    uint64_t heartbeat_ms, quorum_timeout_ms, campaign_timeout_ms;
    size_t max_batch;
    consensus_read_fn *read;
    void *read_arg;

    consensus_role_t role;
    uint64_t promised;     //  highest epoch promised (own campaigns included)
    uint32_t promised_to;  //  to whom (memory only; 0 after a restart)
    uint64_t highest_seen; //  highest epoch in any message
    uint32_t leader;
    uint64_t commit;

    uint64_t *stamps;      //  stamps[i]: entry i's epoch
    uint64_t length, capacity;
    uint64_t persisted;    //  length on disk at the last advance
    uint64_t stable;       //  [0, stable) on disk and not cut since
    s_payload_t *unstable; //  payloads of [stable, length)
    uint64_t unstable_capacity;

    uint64_t campaign_start, commit_target;
    bool campaign_retried; //  candidate: campaigned again after a REFUSE
    uint32_t adopt_from;   //  candidate: the promiser whose log it adopts
    uint64_t adopt_length;
    uint64_t adopt_matched; //  the log matches the adopted one up to here
    uint64_t sent, last_heartbeat, lead_start;

    uint64_t *pending;     //  indexes proposed here, not yet resolved
    size_t n_pending, pending_capacity;

    consensus_msg_t *msgs; //  outbox, with the memory of each one's entries
    void **msg_memory;
    size_t n_msgs, msgs_capacity;
    consensus_outcome_t *outcomes;
    size_t n_outcomes, outcomes_capacity;
    consensus_entry_t *ready_entries;
    bool promise_changed, commit_changed, role_changed, stepped_down, campaign_failed;
    bool ready_out;
    consensus_ready_t ready;
};

static void *
s_alloc (void *old, size_t count, size_t size)
{
    void *memory = count ? realloc (old, count * size) : (free (old), NULL);
    if (count && !memory)
        abort (); //  the project's policy: out of memory aborts
    return memory;
}

#define S_GROW(array, count, capacity)                                                         \
    do {                                                                                       \
        if ((count) >= (capacity)) {                                                           \
            (capacity) = (capacity) ? (capacity) * 2 : 16;                                     \
            (array) = s_alloc ((array), (capacity), sizeof *(array));                          \
        }                                                                                      \
    } while (0)

//  ---------------------------------------------------------------------
//  The log in memory

static uint64_t
s_stamp_at (consensus_t *self, uint64_t index)
{
    return index == 0 ? 0 : self->stamps[index - 1];
}

static uint64_t
s_last_stamp (consensus_t *self)
{
    return s_stamp_at (self, self->length);
}

static int
s_payload (consensus_t *self, uint64_t index, const void **data, size_t *size)
{
    if (index >= self->stable) {
        *data = self->unstable[index - self->stable].data;
        *size = self->unstable[index - self->stable].size;
        return 0;
    }
    return self->read (self->read_arg, index, data, size);
}

static void
s_append (consensus_t *self, uint64_t stamp, const void *data, size_t size)
{
    S_GROW (self->stamps, self->length, self->capacity);
    uint64_t slot = self->length - self->stable;
    S_GROW (self->unstable, slot, self->unstable_capacity);
    self->unstable[slot].data = s_alloc (NULL, size ? size : 1, 1);
    if (size)
        memcpy (self->unstable[slot].data, data, size);
    self->unstable[slot].size = size;
    self->stamps[self->length++] = stamp;
}

static void
s_outcome (consensus_t *self, uint64_t index, consensus_result_t result)
{
    S_GROW (self->outcomes, self->n_outcomes, self->outcomes_capacity);
    self->outcomes[self->n_outcomes++] = (consensus_outcome_t) {index, result};
}

//  Cut the log to length to (never below commit). Proposals cut are
//  superseded unless the cut is the leader's own re-stamp.
static void
s_cut (consensus_t *self, uint64_t to, bool supersede)
{
    for (uint64_t i = to > self->stable ? to : self->stable; i < self->length; i++)
        free (self->unstable[i - self->stable].data);
    if (to < self->stable)
        self->stable = to;
    self->length = to;
    while (supersede && self->n_pending && self->pending[self->n_pending - 1] >= to)
        s_outcome (self, self->pending[--self->n_pending], CONSENSUS_SUPERSEDED);
}

static void
s_set_commit (consensus_t *self, uint64_t commit)
{
    if (commit > self->length)
        commit = self->length;
    if (commit <= self->commit)
        return;
    self->commit = commit;
    self->commit_changed = true;
    size_t resolved = 0;
    while (resolved < self->n_pending && self->pending[resolved] < commit)
        s_outcome (self, self->pending[resolved++], CONSENSUS_COMMITTED);
    if (resolved) {
        memmove (self->pending, self->pending + resolved,
                 (self->n_pending - resolved) * sizeof *self->pending);
        self->n_pending -= resolved;
    }
}

static bool
s_same_payload (consensus_t *self, uint64_t index, const consensus_entry_t *entry)
{
    const void *data;
    size_t size;
    return s_payload (self, index, &data, &size) == 0 && size == entry->size
        && (size == 0 || memcmp (data, entry->payload, size) == 0);
}

//  Accept n entries of msg (from msg->start), whose predecessor has
//  msg->prev_stamp unless matched says the log already matches up to
//  start. Skip what is committed here or already held (an entry below
//  the sender's commit is committed: the same payload is the same entry
//  whatever its epoch; above it the same epoch is), cut at the first
//  conflict, append the rest. Returns the matched length, or -1 if the
//  log lacks entry start - 1 or holds it under another epoch.
static int64_t
s_accept (consensus_t *self, const consensus_msg_t *msg, size_t n, bool matched)
{
    uint64_t start = msg->start;
    if (start > self->length)
        return -1;
    if (!matched && start > self->commit && s_stamp_at (self, start) != msg->prev_stamp)
        return -1;
    for (size_t k = 0; k < n; k++) {
        const consensus_entry_t *entry = &msg->entries[k];
        uint64_t index = start + k;
        if (index < self->commit)
            continue;
        if (index < self->length) {
            if (index < msg->commit ? s_same_payload (self, index, entry)
                                    : self->stamps[index] == entry->stamp)
                continue;
            s_cut (self, index, true);
        }
        s_append (self, entry->stamp, entry->payload, entry->size);
    }
    return (int64_t) (start + n);
}

//  ---------------------------------------------------------------------
//  The outbox

static consensus_msg_t *
s_send (consensus_t *self, consensus_type_t type, uint32_t to, uint64_t epoch)
{
    if (self->n_msgs == self->msgs_capacity) {
        self->msgs_capacity = self->msgs_capacity ? self->msgs_capacity * 2 : 16;
        self->msgs = s_alloc (self->msgs, self->msgs_capacity, sizeof *self->msgs);
        self->msg_memory = s_alloc (self->msg_memory, self->msgs_capacity, sizeof (void *));
    }
    self->msg_memory[self->n_msgs] = NULL;
    consensus_msg_t *msg = &self->msgs[self->n_msgs++];
    *msg = (consensus_msg_t) {.type = type, .from = self->self_id, .to = to, .epoch = epoch};
    msg->commit = self->commit;
    msg->length = self->length;
    return msg;
}

//  Copy entries [start, end) into one block: the entries, then their
//  payloads. Returns it (the caller frees it), or NULL if a persisted
//  payload cannot be read.
static consensus_entry_t *
s_copy (consensus_t *self, uint64_t start, uint64_t end)
{
    size_t n = (size_t) (end - start), bytes = 0;
    const void *data;
    size_t size;
    for (uint64_t i = start; i < end; i++) {
        if (s_payload (self, i, &data, &size))
            return NULL;
        bytes += size;
    }
    consensus_entry_t *entries = s_alloc (NULL, n * sizeof *entries + bytes + 1, 1);
    unsigned char *cursor = (unsigned char *) (entries + n);
    for (uint64_t i = start; i < end; i++) {
        if (s_payload (self, i, &data, &size))
            return free (entries), NULL;
        if (size)
            memcpy (cursor, data, size);
        entries[i - start] = (consensus_entry_t) {self->stamps[i], cursor, size};
        cursor += size;
    }
    return entries;
}

//  Put entries [start, end) into the last message of the outbox.
static int
s_attach (consensus_t *self, uint64_t start, uint64_t end)
{
    consensus_msg_t *msg = &self->msgs[self->n_msgs - 1];
    consensus_entry_t *entries = s_copy (self, start, end);
    if (!entries)
        return -1;
    msg->start = start;
    msg->prev_stamp = s_stamp_at (self, start);
    msg->entries = entries;
    msg->n_entries = (size_t) (end - start);
    self->msg_memory[self->n_msgs - 1] = entries;
    return 0;
}

//  Where a message of entries [start, limit) ends: after max_batch
//  entries, but never right after a recovered entry (an even stamp)
//  unless at limit: a re-stamped tail travels whole, and so does a run
//  that a later leader cut short by re-stamping what followed it (see
//  s_odd_end); and, from a replica that is not leading, never inside its
//  uncommitted tail.
static uint64_t
s_batch_end (consensus_t *self, uint64_t start, uint64_t limit)
{
    uint64_t end = limit;
    if (self->max_batch && end - start > self->max_batch)
        end = start + self->max_batch;
    if (self->role != CONSENSUS_LEADER && end > self->commit)
        end = limit;
    while (end < limit && self->stamps[end - 1] % 2 == 0)
        end++;
    return end;
}

//  The longest prefix of entries [start, end) of stamps that does not end
//  with a recovered entry. A log must not end with another leader's even
//  stamp that may lie inside its run: its last stamp 2e would claim all
//  that leader e recovered (the up-to-date order adoption trusts) while
//  it lacks the rest, which may hold a committed entry that another
//  promiser has under a lower stamp (simulator seed 158578, 5 replicas: a
//  catch-up from a peer stopped at entry 28 of epoch 78's run [20, 29),
//  where the next leader had re-stamped from 28 on; the short log won an
//  election and committed entry 28 was overwritten). A catch-up from a
//  peer ends at the peer's commit position, wherever that falls, so it
//  keeps only this prefix; the rest comes from the leader, whose
//  messages never end after an even stamp but at its own log's end.
static uint64_t
s_odd_end (const consensus_entry_t *entries, uint64_t start, uint64_t end)
{
    while (end > start && entries[end - start - 1].stamp % 2 == 0)
        end--;
    return end;
}

//  APPENDs of entries [start, length) to `to`, in batches (one empty
//  APPEND, a heartbeat, if start is the length).
static void
s_send_append (consensus_t *self, uint32_t to, uint64_t start)
{
    do {
        uint64_t end = s_batch_end (self, start, self->length);
        s_send (self, CONSENSUS_APPEND, to, self->promised);
        if (s_attach (self, start, end)) {
            s_attach (self, self->length, self->length); //  unreadable: a heartbeat
            return;
        }
        start = end;
    } while (start < self->length && to == CONSENSUS_ALL);
}

//  ---------------------------------------------------------------------
//  Roles

static s_member_t *
s_member (consensus_t *self, uint32_t id)
{
    for (size_t i = 0; i < self->n_members; i++)
        if (self->members[i].id == id)
            return &self->members[i];
    return NULL;
}

static void
s_become (consensus_t *self, consensus_role_t role)
{
    if (self->role == role)
        return;
    if (self->role == CONSENSUS_LEADER)
        self->stepped_down = true;
    if (self->role == CONSENSUS_CANDIDATE)
        self->campaign_failed = true;
    self->role = role;
    self->role_changed = true;
    self->leader = role == CONSENSUS_LEADER ? self->self_id : 0;
}

//  Promise epoch to id (durable: in the next ready, before any send).
static void
s_promise (consensus_t *self, uint64_t epoch, uint32_t to)
{
    self->promised = epoch;
    self->promised_to = to;
    self->promise_changed = true;
    self->leader = 0;
    if (epoch > self->highest_seen)
        self->highest_seen = epoch;
    s_become (self, CONSENSUS_FOLLOWER);
#ifdef CONSENSUS_BREAK_PROMISE_NOT_PERSISTED
    if (to != self->self_id)
        self->promise_changed = false;
#endif
}

static void
s_lead (consensus_t *self, uint64_t now)
{
    s_set_commit (self, self->commit_target);
    uint64_t start = self->commit;
#ifndef CONSENSUS_BREAK_COUNT_OLD_EPOCH
    uint64_t end = self->length;
    //  Re-stamp [commit, length) with our epoch: phase 2 for every
    //  recovered slot, so every entry past commit is ours to count.
    consensus_entry_t *tail = s_copy (self, start, end);
    if (!tail) {
        s_become (self, CONSENSUS_FOLLOWER);
        return;
    }
    s_cut (self, start, false);
    for (uint64_t k = 0; k < end - start; k++)
        s_append (self, 2 * self->promised, tail[k].payload, tail[k].size);
    free (tail);
#endif
    self->role = CONSENSUS_LEADER;
    self->role_changed = true;
    self->leader = self->self_id;
    self->lead_start = self->last_heartbeat = now;
    for (size_t i = 0; i < self->n_members; i++) {
        self->members[i].match = 0;
        self->members[i].heard = now;
    }
    s_send_append (self, CONSENSUS_ALL, start);
    self->sent = self->length;
}

//  A majority promised: adopt the best log among the promisers that hold
//  every entry one of them knows committed. A shorter log with a higher
//  last stamp holds only committed entries (a catch-up from a peer that
//  stopped at the peer's commit, inside a recovered run or at the end of
//  what a later leader re-stamped): it cannot lack an entry committed
//  past it that a longer log holds with a lower stamp, since that entry
//  would carry its leader's stamp, at least its own. Without this rule a
//  candidate that knew more was committed gave up on every campaign
//  (simulator seed 118525).
static void
s_on_majority (consensus_t *self, uint64_t now)
{
    self->commit_target = self->commit;
    for (size_t i = 0; i < self->n_members; i++)
        if (self->members[i].promised && self->members[i].commit > self->commit_target)
            self->commit_target = self->members[i].commit;
    s_member_t *best = &self->members[self->self_slot];   //  ties: our own log
    if (best->length < self->commit_target)
        best = NULL;
    for (size_t i = 0; i < self->n_members; i++) {
        s_member_t *member = &self->members[i];
        if (!member->promised || member->length < self->commit_target)
            continue;
        if (!best || member->last_stamp > best->last_stamp
            || (member->last_stamp == best->last_stamp && member->length > best->length))
            best = member;
    }
    if (!best) {
        s_become (self, CONSENSUS_FOLLOWER); //  a PROMISE said commit > length
        return;
    }
#ifdef CONSENSUS_BREAK_NO_LOG_ADOPTION
    best = &self->members[self->self_slot];
    self->commit_target = self->commit;
#endif
    if (best->id == self->self_id) {
        s_lead (self, now);
        return;
    }
    self->adopt_from = best->id;
    self->adopt_length = best->length;
    self->adopt_matched = self->commit;
    consensus_msg_t *fetch = s_send (self, CONSENSUS_FETCH, best->id, self->promised);
    fetch->start = self->commit;
}

//  ENTRIES from the promiser whose log we adopt.
static void
s_on_adopt (consensus_t *self, const consensus_msg_t *msg, uint64_t now)
{
    bool continued = msg->start == self->adopt_matched;
    int64_t matched = s_accept (self, msg, msg->n_entries, continued);
    if (matched < 0 || msg->length != self->adopt_length) {
        s_become (self, CONSENSUS_FOLLOWER); //  its log changed: give up
        return;
    }
    self->adopt_matched = (uint64_t) matched;
    if ((uint64_t) matched < self->adopt_length) {
        consensus_msg_t *fetch = s_send (self, CONSENSUS_FETCH, msg->from, self->promised);
        fetch->start = (uint64_t) matched;
        return;
    }
    if (self->adopt_length < self->commit) {
        s_become (self, CONSENSUS_FOLLOWER); //  cannot be: it lacks what we know committed
        return;
    }
    if (self->length > self->adopt_length)
        s_cut (self, self->adopt_length, true);
    s_lead (self, now);
}

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
    if (majority_length > self->commit && self->stamps[majority_length - 1] / 2 != self->promised)
        return; //  never count another epoch's entry (Figure 8)
#endif
    s_set_commit (self, majority_length);
}

//  A new epoch above everything seen, promised to itself, PREPARE to all.
static void
s_campaign (consensus_t *self, uint64_t now)
{
    uint64_t top = self->promised > self->highest_seen ? self->promised : self->highest_seen;
    s_promise (self, top + 1, self->self_id);
    s_become (self, CONSENSUS_CANDIDATE);
    self->campaign_failed = false;
    self->last_heartbeat = now;
    self->adopt_from = 0;
    for (size_t i = 0; i < self->n_members; i++)
        self->members[i].promised = false;
    s_member_t *me = &self->members[self->self_slot];
    *me = (s_member_t) {self->self_id, true, s_last_stamp (self), self->length, self->commit, 0, 0};
    if (self->majority == 1)
        s_on_majority (self, now);
    else
        s_send (self, CONSENSUS_PREPARE, CONSENSUS_ALL, self->promised);
}

//  ---------------------------------------------------------------------
//  Messages

static void
s_on_prepare (consensus_t *self, const consensus_msg_t *msg)
{
    if (msg->epoch > self->promised)
        s_promise (self, msg->epoch, msg->from);
    else if (msg->epoch != self->promised || self->promised_to != msg->from) {
        s_send (self, CONSENSUS_REFUSE, msg->from, self->promised);
        return;
    }
    consensus_msg_t *promise = s_send (self, CONSENSUS_PROMISE, msg->from, msg->epoch);
    promise->last_stamp = s_last_stamp (self);
}

static void
s_on_promise (consensus_t *self, const consensus_msg_t *msg, uint64_t now)
{
    s_member_t *member = s_member (self, msg->from);
    if (self->role != CONSENSUS_CANDIDATE || msg->epoch != self->promised || member->promised
        || self->adopt_from)
        return;
    *member = (s_member_t) {msg->from, true, msg->last_stamp, msg->length, msg->commit, 0, 0};
    size_t count = 0;
    for (size_t i = 0; i < self->n_members; i++)
        count += self->members[i].promised;
    if (count == self->majority)
        s_on_majority (self, now);
}

//  A candidate refused at its own epoch or above (a member promised it to
//  another, as when replicas start one by one and each is named in turn)
//  campaigns once more above it within the same campaign; refused again,
//  it gives up. Once only, so two named candidates cannot duel for long.
static void
s_on_refuse (consensus_t *self, const consensus_msg_t *msg, uint64_t now)
{
    if (self->role == CONSENSUS_CANDIDATE && msg->epoch >= self->promised
        && !self->campaign_retried && !self->adopt_from) {
        self->campaign_retried = true;
        s_campaign (self, now);
    }
    else
    if (msg->epoch > self->promised && self->role != CONSENSUS_FOLLOWER)
        s_become (self, CONSENSUS_FOLLOWER);
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
    while (index < self->length && self->stamps[index] / 2 == epoch)
        index++;
#ifdef CONSENSUS_BREAK_CUT_PAST_LENGTH
    index = length > self->commit ? length : self->commit; //  cut the leader's entries too
#endif
#ifndef CONSENSUS_BREAK_KEEP_STALE_TAIL
    if (index < self->length)
        s_cut (self, index, true);
#endif
}

static void
s_on_append (consensus_t *self, const consensus_msg_t *msg)
{
#ifndef CONSENSUS_BREAK_ACCEPT_LOWER_EPOCH
    if (msg->epoch < self->promised) {
        s_send (self, CONSENSUS_REFUSE, msg->from, self->promised);
        return;
    }
#endif
    if (msg->epoch > self->promised)
        s_promise (self, msg->epoch, msg->from);
    s_become (self, CONSENSUS_FOLLOWER);
    self->leader = msg->from;
    int64_t matched = s_accept (self, msg, msg->n_entries, false);
    if (matched < 0) {
        consensus_msg_t *fetch = s_send (self, CONSENSUS_FETCH, msg->from, self->promised);
        fetch->start = msg->start > self->length ? self->length : self->commit;
        return;
    }
    if ((uint64_t) matched == msg->length)
        s_cut_stale_tail (self, (uint64_t) matched, msg->epoch);
    s_set_commit (self, msg->commit < (uint64_t) matched ? msg->commit : (uint64_t) matched);
    consensus_msg_t *ack = s_send (self, CONSENSUS_ACK, msg->from, msg->epoch);
    ack->length = (uint64_t) matched;
    if (msg->to == self->self_id && (uint64_t) matched < msg->length) {
        consensus_msg_t *fetch = s_send (self, CONSENSUS_FETCH, msg->from, self->promised);
        fetch->start = (uint64_t) matched; //  the next batch of a catch-up
    }
}

static void
s_on_ack (consensus_t *self, const consensus_msg_t *msg, uint64_t now)
{
    if (self->role != CONSENSUS_LEADER || msg->epoch != self->promised)
        return;
    s_member_t *member = s_member (self, msg->from);
    uint64_t length = msg->length < self->length ? msg->length : self->length;
    if (length > member->match)
        member->match = length;
    member->heard = now;
    s_update_commit (self);
}

//  Where a catch-up from this replica (not leading) may end: its commit
//  position, less any recovered entries right before it (s_odd_end).
static uint64_t
s_committed_odd_end (consensus_t *self)
{
    uint64_t end = self->commit;
    while (end > 0 && self->stamps[end - 1] % 2 == 0)
        end--;
    return end;
}

static void
s_on_fetch (consensus_t *self, const consensus_msg_t *msg)
{
    uint64_t start = msg->start < self->length ? msg->start : self->length;
    if (self->role == CONSENSUS_LEADER) {
        s_send_append (self, msg->from, msg->start > self->length ? self->commit : start);
        return;
    }
    //  The candidate we promised adopts our whole log; anyone else gets
    //  only what is committed.
    bool adopter = msg->epoch == self->promised && self->promised_to == msg->from;
    uint64_t limit = adopter ? self->length : s_committed_odd_end (self);
    if (start >= limit && !adopter)
        return;
    s_send (self, CONSENSUS_ENTRIES, msg->from, self->promised);
    if (s_attach (self, start, s_batch_end (self, start, limit < start ? start : limit)))
        self->n_msgs--; //  unreadable: send nothing
}

static void
s_on_entries (consensus_t *self, const consensus_msg_t *msg, uint64_t now)
{
    if (self->role == CONSENSUS_CANDIDATE && self->adopt_from == msg->from
        && msg->epoch == self->promised) {
        s_on_adopt (self, msg, now);
        return;
    }
    if (self->role != CONSENSUS_FOLLOWER || msg->start > self->commit || msg->commit <= msg->start)
        return;
    size_t n = msg->n_entries;
    if (n > msg->commit - msg->start)
        n = (size_t) (msg->commit - msg->start); //  trust only the committed part
    n = (size_t) (s_odd_end (msg->entries, msg->start, msg->start + n) - msg->start);
    if (n == 0)
        return;
    int64_t matched = s_accept (self, msg, n, false);
    if (matched <= 0)
        return;
    s_set_commit (self, (uint64_t) matched);
    if ((uint64_t) matched < msg->commit) {
        consensus_msg_t *fetch = s_send (self, CONSENSUS_FETCH, msg->from, self->promised);
        fetch->start = self->commit; //  the next chunk
    }
}

static bool
s_valid (consensus_t *self, const consensus_msg_t *msg)
{
    bool catch_up = msg->type == CONSENSUS_FETCH || msg->type == CONSENSUS_ENTRIES;
    if (msg->type < CONSENSUS_PREPARE || msg->type > CONSENSUS_ENTRIES
        || (msg->epoch == 0 && !catch_up)
        || msg->from == self->self_id || !s_member (self, msg->from)
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

consensus_t *
consensus_new (const consensus_config_t *config, const consensus_state_t *state)
{
    consensus_state_t empty = {0};
    state = state ? state : &empty;
    if (!config->members || config->n_members == 0 || config->n_members > CONSENSUS_MAX_MEMBERS
        || !config->read || state->commit > state->length || (state->length && !state->stamps))
        return NULL;
    for (uint64_t i = 0; i < state->length; i++)
        if (state->stamps[i] < 2)
            return NULL;
    consensus_t *self = s_alloc (NULL, 1, sizeof *self);
    memset (self, 0, sizeof *self);
    self->self_slot = config->n_members;
    for (size_t i = 0; i < config->n_members; i++) {
        uint32_t id = config->members[i];
        if (id == 0 || s_member (self, id))
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
    self->capacity = state->length + 16;
    self->stamps = s_alloc (NULL, self->capacity, sizeof *self->stamps);
    if (state->length)
        memcpy (self->stamps, state->stamps, state->length * sizeof *self->stamps);
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
    s_cut (self, self->stable, false);
    s_free_outbox (self);
    free (self->stamps);
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
        case CONSENSUS_PREPARE: s_on_prepare (self, msg); break;
        case CONSENSUS_PROMISE: s_on_promise (self, msg, now); break;
        case CONSENSUS_REFUSE: s_on_refuse (self, msg, now); break;
        case CONSENSUS_APPEND: s_on_append (self, msg); break;
        case CONSENSUS_ACK: s_on_ack (self, msg, now); break;
        case CONSENSUS_FETCH: s_on_fetch (self, msg); break;
        case CONSENSUS_ENTRIES: s_on_entries (self, msg, now); break;
    }
    return 0;
}

//  Candidate: PREPARE again, every heartbeat, to each member that has not
//  promised, until the campaign ends. A PREPARE or PROMISE lost on a link
//  not yet up (a cold start) does not cost the campaign; the same epoch to
//  the same candidate is promised again, so repeating it is harmless.
static void
s_prepare_again (consensus_t *self, uint64_t now)
{
    if (self->adopt_from || now - self->last_heartbeat < self->heartbeat_ms)
        return;
    self->last_heartbeat = now;
    for (size_t i = 0; i < self->n_members; i++)
        if (!self->members[i].promised)
            s_send (self, CONSENSUS_PREPARE, self->members[i].id, self->promised);
}

int
consensus_tick (consensus_t *self, uint64_t now)
{
    if (self->ready_out)
        return -1;
    if (self->role == CONSENSUS_CANDIDATE && now - self->campaign_start >= self->campaign_timeout_ms)
        s_become (self, CONSENSUS_FOLLOWER);
    if (self->role == CONSENSUS_CANDIDATE)
        s_prepare_again (self, now);
    if (self->role != CONSENSUS_LEADER)
        return 0;
    if (now - self->lead_start >= self->quorum_timeout_ms) {
        size_t heard = 1;
        for (size_t i = 0; i < self->n_members; i++)
            heard += i != self->self_slot && now - self->members[i].heard < self->quorum_timeout_ms;
        if (heard < self->majority) {
            s_become (self, CONSENSUS_FOLLOWER);
            return 0;
        }
    }
    if (now - self->last_heartbeat >= self->heartbeat_ms) {
        self->last_heartbeat = now;
        if (self->sent < self->length)
            s_send_append (self, CONSENSUS_ALL, self->sent);
        self->sent = self->length;
        s_send_append (self, CONSENSUS_ALL, self->length);
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
    s_campaign (self, now);
    return 0;
}

int64_t
consensus_propose (consensus_t *self, const void *payload, size_t size)
{
    if (self->ready_out || self->role != CONSENSUS_LEADER || (size && !payload))
        return -1;
    S_GROW (self->pending, self->n_pending, self->pending_capacity);
    self->pending[self->n_pending++] = self->length;
    s_append (self, 2 * self->promised + 1, payload, size);
    return (int64_t) (self->length - 1);
}

int
consensus_fetch (consensus_t *self, uint32_t peer)
{
    if (self->ready_out || peer == self->self_id || !s_member (self, peer))
        return -1;
    consensus_msg_t *fetch = s_send (self, CONSENSUS_FETCH, peer, self->promised);
    fetch->start = self->commit;
    return 0;
}

const consensus_ready_t *
consensus_ready (consensus_t *self)
{
    if (self->ready_out)
        return &self->ready;
    if (self->role == CONSENSUS_LEADER && self->sent < self->length) {
        s_send_append (self, CONSENSUS_ALL, self->sent);
        self->sent = self->length;
    }
    bool cut = self->stable < self->persisted;
    if (!self->promise_changed && !cut && self->stable == self->length && !self->n_msgs
        && !self->commit_changed && !self->n_outcomes && !self->role_changed)
        return NULL;
    size_t n = (size_t) (self->length - self->stable);
    self->ready_entries = s_alloc (self->ready_entries, n + 1, sizeof *self->ready_entries);
    for (size_t k = 0; k < n; k++)
        self->ready_entries[k] = (consensus_entry_t) {
            self->stamps[self->stable + k], self->unstable[k].data, self->unstable[k].size};
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
