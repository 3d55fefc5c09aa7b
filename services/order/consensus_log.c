/*  consensus_log.c - the consensus core's log in memory (stamps as runs,
    payloads not yet persisted, the commit position and the proposals it
    resolves), its outbox of messages, and its role changes.

    Invariants: commit <= length == stamps_length (stamps); persisted and
    stable <= length; [0, stable) is on the caller's disk unchanged since
    the last advance; unstable holds the payloads of [stable, length).
*/
#include "consensus_int.h"

#include <stdlib.h>
#include <string.h>

void *
consensus_alloc (void *old, size_t count, size_t size)
{
    void *memory = count ? realloc (old, count * size) : (free (old), NULL);
    if (count && !memory)
        abort (); //  the project's policy: out of memory aborts
    return memory;
}


//  ---------------------------------------------------------------------
//  The log in memory

uint64_t
consensus_log_stamp_at (consensus_t *self, uint64_t index)
{
    return index == 0 ? 0 : stamps_get (self->stamps, index - 1);
}

uint64_t
consensus_log_last_stamp (consensus_t *self)
{
    return consensus_log_stamp_at (self, self->length);
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

void
consensus_log_append (consensus_t *self, uint64_t stamp, const void *data, size_t size)
{
    uint64_t slot = self->length - self->stable;
    S_GROW (self->unstable, slot, self->unstable_capacity);
    self->unstable[slot].data = consensus_alloc (NULL, size ? size : 1, 1);
    if (size)
        memcpy (self->unstable[slot].data, data, size);
    self->unstable[slot].size = size;
    stamps_append (self->stamps, stamp, 1);
    self->length++;
}

static void
s_outcome (consensus_t *self, uint64_t index, consensus_result_t result)
{
    S_GROW (self->outcomes, self->n_outcomes, self->outcomes_capacity);
    self->outcomes[self->n_outcomes++] = (consensus_outcome_t) {index, result};
}

//  Cut the log to length to (never below commit). Proposals cut are
//  superseded unless the cut is the leader's own re-stamp.
void
consensus_log_cut (consensus_t *self, uint64_t to, bool supersede)
{
    for (uint64_t i = to > self->stable ? to : self->stable; i < self->length; i++)
        free (self->unstable[i - self->stable].data);
    if (to < self->stable)
        self->stable = to;
    if (to < self->length)
        stamps_cut (self->stamps, to);
    self->length = to;
    while (supersede && self->n_pending && self->pending[self->n_pending - 1] >= to)
        s_outcome (self, self->pending[--self->n_pending], CONSENSUS_SUPERSEDED);
}

void
consensus_log_set_commit (consensus_t *self, uint64_t commit)
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

//  How many of msg's first n entries a replica may take from a peer
//  without its log ending in recovered entries (even stamps) short of
//  the peer's log end: such a run may be the head of a longer one that a
//  later leader split by re-stamping from its commit position, and a log
//  ending there would claim, by its last stamp, all that run's leader
//  recovered, committed entries included, while lacking them (the
//  simulator's seeds 29170 and 158578, 5 replicas: adopted for it, a
//  committed entry was cut). Every even stamp before the cut is left
//  out, not only the last run: the split run may be followed by the
//  splitting leader's own (seed 158578: 156 on [20, 28), 166 from 28).
//  The leader's APPENDs bring them whole; an adopting candidate
//  fetches the rest or gives up.
size_t
consensus_log_whole_runs (const consensus_msg_t *msg, size_t n)
{
    if (msg->start + n >= msg->length)
        return n;
    while (n > 0 && msg->entries[n - 1].stamp % 2 == 0)
        n--;
    return n;
}

//  Accept n entries of msg (from msg->start), whose predecessor has
//  msg->prev_stamp unless matched says the log already matches up to
//  start. Skip what is committed here or already held (an entry below
//  the sender's commit is committed: the same payload is the same entry
//  whatever its epoch; above it the same epoch is), cut at the first
//  conflict, append the rest. Returns the matched length, or -1 if the
//  log lacks entry start - 1 or holds it under another epoch.
int64_t
consensus_log_accept (consensus_t *self, const consensus_msg_t *msg, size_t n, bool matched)
{
    uint64_t start = msg->start;
    if (start > self->length)
        return -1;
    if (!matched && start > self->commit && consensus_log_stamp_at (self, start) != msg->prev_stamp)
        return -1;
    for (size_t k = 0; k < n; k++) {
        const consensus_entry_t *entry = &msg->entries[k];
        uint64_t index = start + k;
        if (index < self->commit)
            continue;
        if (index < self->length) {
            if (index < msg->commit ? s_same_payload (self, index, entry)
                                    : stamps_get (self->stamps, index) == entry->stamp)
                continue;
            consensus_log_cut (self, index, true);
        }
        consensus_log_append (self, entry->stamp, entry->payload, entry->size);
    }
    return (int64_t) (start + n);
}

//  ---------------------------------------------------------------------
//  The outbox

consensus_msg_t *
consensus_send (consensus_t *self, consensus_type_t type, uint32_t to, uint64_t epoch)
{
    if (self->n_msgs == self->msgs_capacity) {
        self->msgs_capacity = self->msgs_capacity ? self->msgs_capacity * 2 : 16;
        self->msgs = consensus_alloc (self->msgs, self->msgs_capacity, sizeof *self->msgs);
        self->msg_memory = consensus_alloc (self->msg_memory, self->msgs_capacity, sizeof (void *));
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
consensus_entry_t *
consensus_log_copy (consensus_t *self, uint64_t start, uint64_t end)
{
    size_t n = (size_t) (end - start), bytes = 0;
    const void *data;
    size_t size;
    for (uint64_t i = start; i < end; i++) {
        if (s_payload (self, i, &data, &size))
            return NULL;
        bytes += size;
    }
    consensus_entry_t *entries = consensus_alloc (NULL, n * sizeof *entries + bytes + 1, 1);
    unsigned char *cursor = (unsigned char *) (entries + n);
    for (uint64_t i = start; i < end; i++) {
        if (s_payload (self, i, &data, &size))
            return free (entries), NULL;
        if (size)
            memcpy (cursor, data, size);
        entries[i - start] = (consensus_entry_t) {stamps_get (self->stamps, i), cursor, size};
        cursor += size;
    }
    return entries;
}

//  Put entries [start, end) into the last message of the outbox.
int
consensus_attach (consensus_t *self, uint64_t start, uint64_t end)
{
    consensus_msg_t *msg = &self->msgs[self->n_msgs - 1];
    consensus_entry_t *entries = consensus_log_copy (self, start, end);
    if (!entries)
        return -1;
    msg->start = start;
    msg->prev_stamp = consensus_log_stamp_at (self, start);
    msg->entries = entries;
    msg->n_entries = (size_t) (end - start);
    self->msg_memory[self->n_msgs - 1] = entries;
    return 0;
}

//  Where a message of entries [start, limit) ends: after max_batch
//  entries, but never inside or at the end of a run of recovered entries
//  (an even stamp: a re-stamped tail travels whole) short of limit, and,
//  from a replica that is not leading, never inside its uncommitted tail.
//  At the end of one too: a leader that re-stamps from its commit
//  position may split an older recovered run there, and a log ending at
//  the split would claim, by its last stamp, all of that run.
uint64_t
consensus_batch_end (consensus_t *self, uint64_t start, uint64_t limit)
{
    uint64_t end = limit;
    if (self->max_batch && end - start > self->max_batch)
        end = start + self->max_batch;
    if (self->role != CONSENSUS_LEADER && end > self->commit)
        end = limit;
    while (end < limit && stamps_get (self->stamps, end - 1) % 2 == 0) {
        uint64_t run_end = stamps_run_end (self->stamps, end); //  past end's run
        end = run_end < limit ? run_end : limit;
    }
    return end;
}

//  APPENDs of entries [start, length) to `to`, in batches (one empty
//  APPEND, a heartbeat, if start is the length).
void
consensus_send_append (consensus_t *self, uint32_t to, uint64_t start)
{
    do {
        uint64_t end = consensus_batch_end (self, start, self->length);
        consensus_send (self, CONSENSUS_APPEND, to, self->promised);
        if (consensus_attach (self, start, end)) {
            consensus_attach (self, self->length, self->length); //  unreadable: a heartbeat
            return;
        }
        start = end;
    } while (start < self->length && to == CONSENSUS_ALL);
}

//  ---------------------------------------------------------------------
//  Roles

s_member_t *
consensus_member (consensus_t *self, uint32_t id)
{
    for (size_t i = 0; i < self->n_members; i++)
        if (self->members[i].id == id)
            return &self->members[i];
    return NULL;
}

void
consensus_become (consensus_t *self, consensus_role_t role)
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
