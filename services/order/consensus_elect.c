/*  consensus_elect.c - the consensus core's candidate: promises, the
    campaign (PREPARE again each heartbeat, once more above a refusal,
    giving way to a rival of a higher id or to the broker's next choice),
    adoption of the best log of the promise majority, and the re-stamp
    of the tail that makes it leader. The rules: consensus.c's top
    comment and docs/CONSENSUS.md.
*/
#include "consensus_int.h"

#include <stdlib.h>
#include <string.h>

//  A candidate gives way to another candidate or leader (it promised it,
//  or follows it at its epoch, or the broker names another): its campaign
//  ends without failing, since someone else is winning (the caller need
//  not step aside for the broker to name another).
void
consensus_elect_yield (consensus_t *self)
{
    bool was_failed = self->campaign_failed;
    consensus_become (self, CONSENSUS_FOLLOWER);
    self->campaign_failed = was_failed;
}

//  Promise epoch to id (durable: in the next ready, before any send).
void
consensus_elect_promise (consensus_t *self, uint64_t epoch, uint32_t to)
{
    self->promised = epoch;
    self->promised_to = to;
    self->promise_changed = true;
    self->leader = 0;
    if (epoch > self->highest_seen)
        self->highest_seen = epoch;
    if (to == self->self_id)
        consensus_become (self, CONSENSUS_FOLLOWER);
    else
        consensus_elect_yield (self);
#ifdef CONSENSUS_BREAK_PROMISE_NOT_PERSISTED
    if (to != self->self_id)
        self->promise_changed = false;
#endif
}

static void
s_lead (consensus_t *self, uint64_t now)
{
    consensus_log_set_commit (self, self->commit_target);
    uint64_t start = self->commit;
#ifndef CONSENSUS_BREAK_COUNT_OLD_EPOCH
    uint64_t end = self->length;
    //  Re-stamp [commit, length) with our epoch: phase 2 for every
    //  recovered slot, so every entry past commit is ours to count.
    consensus_entry_t *tail = consensus_log_copy (self, start, end);
    if (!tail) {
        consensus_become (self, CONSENSUS_FOLLOWER);
        return;
    }
    consensus_log_cut (self, start, false);
    for (uint64_t k = 0; k < end - start; k++)
        consensus_log_append (self, 2 * self->promised, tail[k].payload, tail[k].size);
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
    consensus_send_append (self, CONSENSUS_ALL, start);
    self->sent = self->length;
}

//  A majority promised: adopt the best log among the promisers that hold
//  every entry one of them knows committed. A shorter log with a higher
//  last stamp holds only committed entries (a catch-up from a peer): it
//  cannot hide an entry committed past it that a longer log holds with a
//  lower stamp (that entry would carry its leader's stamp, at least its
//  own, on a longer log of the majority), but adopting it would lack
//  what is known committed. Without this rule a candidate that knew more
//  was committed fetched such a log and gave up, campaign after campaign
//  (the simulator's seed 118525, 3 replicas).
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
        consensus_become (self, CONSENSUS_FOLLOWER); //  a PROMISE said commit > length
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
    consensus_msg_t *fetch = consensus_send (self, CONSENSUS_FETCH, best->id, self->promised);
    fetch->start = self->commit;
}

//  ENTRIES from the promiser whose log we adopt.
void
consensus_elect_on_adopt (consensus_t *self, const consensus_msg_t *msg, uint64_t now)
{
    bool continued = msg->start == self->adopt_matched;
    //  Whole runs only: a promiser that restarted forgot to whom it
    //  promised and sends only what it knows committed (seed 941598).
    size_t whole = consensus_log_whole_runs (msg, msg->n_entries);
    int64_t matched = consensus_log_accept (self, msg, whole, continued);
    if (matched < 0 || msg->length != self->adopt_length) {
        consensus_become (self, CONSENSUS_FOLLOWER); //  its log changed: give up
        return;
    }
    if (whole == 0 && (uint64_t) matched < self->adopt_length) {
        consensus_become (self, CONSENSUS_FOLLOWER); //  no progress: campaign again later
        return;
    }
    self->adopt_matched = (uint64_t) matched;
    if ((uint64_t) matched < self->adopt_length) {
        consensus_msg_t *fetch = consensus_send (self, CONSENSUS_FETCH, msg->from, self->promised);
        fetch->start = (uint64_t) matched;
        return;
    }
    if (self->adopt_length < self->commit) {
        consensus_become (self, CONSENSUS_FOLLOWER); //  cannot be: it lacks what we know committed
        return;
    }
    if (self->length > self->adopt_length)
        consensus_log_cut (self, self->adopt_length, true);
    s_lead (self, now);
}

//  A new epoch above everything seen, promised to itself, PREPARE to all.
void
consensus_elect_campaign (consensus_t *self, uint64_t now)
{
    uint64_t top = self->promised > self->highest_seen ? self->promised : self->highest_seen;
    //  No epoch above the last one (only a forged message reaches it): no
    //  campaign, rather than wrap around to epoch 0.
    if (top >= CONSENSUS_EPOCH_MAX) {
        consensus_become (self, CONSENSUS_FOLLOWER);
        return;
    }
    consensus_elect_promise (self, top + 1, self->self_id);
    consensus_become (self, CONSENSUS_CANDIDATE);
    self->campaign_failed = false;
    self->last_heartbeat = now;
    self->adopt_from = 0;
    for (size_t i = 0; i < self->n_members; i++)
        self->members[i].promised = false;
    s_member_t *me = &self->members[self->self_slot];
    *me = (s_member_t) {self->self_id, true, consensus_log_last_stamp (self), self->length, self->commit, 0, 0};
    if (self->majority == 1)
        s_on_majority (self, now);
    else
        consensus_send (self, CONSENSUS_PREPARE, CONSENSUS_ALL, self->promised);
}

//  A candidate that meets a rival's PREPARE at its own epoch refuses it
//  (one epoch, one candidate); if the rival's id is higher (the one the
//  broker names, by the lab's rule) it will not campaign again when
//  refused, so the rival's retry above wins instead of a duel.
void
consensus_elect_on_prepare (consensus_t *self, const consensus_msg_t *msg)
{
    if (self->role == CONSENSUS_CANDIDATE && msg->epoch == self->promised
        && msg->from > self->self_id)
        self->campaign_retried = true;
    if (msg->epoch > self->promised)
        consensus_elect_promise (self, msg->epoch, msg->from);
    else if (msg->epoch != self->promised || self->promised_to != msg->from) {
        consensus_send (self, CONSENSUS_REFUSE, msg->from, self->promised);
        return;
    }
    consensus_msg_t *promise = consensus_send (self, CONSENSUS_PROMISE, msg->from, msg->epoch);
    promise->last_stamp = consensus_log_last_stamp (self);
}

void
consensus_elect_on_promise (consensus_t *self, const consensus_msg_t *msg, uint64_t now)
{
    s_member_t *member = consensus_member (self, msg->from);
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
void
consensus_elect_on_refuse (consensus_t *self, const consensus_msg_t *msg, uint64_t now)
{
    if (self->role == CONSENSUS_CANDIDATE && msg->epoch >= self->promised
        && !self->campaign_retried && !self->adopt_from) {
        self->campaign_retried = true;
        consensus_elect_campaign (self, now);
    }
    else
    if (msg->epoch > self->promised && self->role != CONSENSUS_FOLLOWER)
        consensus_become (self, CONSENSUS_FOLLOWER);
}

//  Candidate: PREPARE again, every heartbeat, to each member that has not
//  promised, until the campaign ends. A PREPARE or PROMISE lost on a link
//  not yet up (a cold start) does not cost the campaign; the same epoch to
//  the same candidate is promised again, so repeating it is harmless.
void
consensus_elect_prepare_again (consensus_t *self, uint64_t now)
{
    if (self->adopt_from || now - self->last_heartbeat < self->heartbeat_ms)
        return;
    self->last_heartbeat = now;
    for (size_t i = 0; i < self->n_members; i++)
        if (!self->members[i].promised)
            consensus_send (self, CONSENSUS_PREPARE, self->members[i].id, self->promised);
}
