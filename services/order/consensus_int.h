/*  consensus_int.h - what the consensus core's files share (not for
    callers: they use consensus.h).

    The core is one class, consensus_t, in three files: consensus.c (the
    public verbs, replication and commit: APPEND, ACK, FETCH, ENTRIES),
    consensus_elect.c (the candidate: PREPARE, PROMISE, REFUSE, log
    adoption, the re-stamp that makes it leader) and consensus_log.c (the
    log in memory, the outbox and the role changes both use). The rules
    are in consensus.c's top comment and docs/CONSENSUS.md.
*/
#ifndef BAZAAR_CONSENSUS_INT_H
#define BAZAAR_CONSENSUS_INT_H

#include "consensus.h"
#include "stamps.h"

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

    stamps_t *stamps;      //  every entry's stamp, as runs (stamps_length == length)
    uint64_t length;
    uint64_t persisted;    //  length on disk at the last advance
    uint64_t stable;       //  [0, stable) on disk and not cut since
    s_payload_t *unstable; //  payloads of [stable, length)
    uint64_t unstable_capacity;

    uint64_t campaign_start, commit_target;
    bool campaign_retried; //  candidate: campaigned again after a REFUSE, or
                           //  yields to a rival of a higher id at its epoch
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

#define S_GROW(array, count, capacity)                                                         \
    do {                                                                                       \
        if ((count) >= (capacity)) {                                                           \
            (capacity) = (capacity) ? (capacity) * 2 : 16;                                     \
            (array) = consensus_alloc ((array), (capacity), sizeof *(array));                  \
        }                                                                                      \
    } while (0)

//  consensus_log.c: memory, the log, the outbox, roles
void *consensus_alloc (void *old, size_t count, size_t size);
uint64_t consensus_log_stamp_at (consensus_t *self, uint64_t index);
uint64_t consensus_log_last_stamp (consensus_t *self);
void consensus_log_append (consensus_t *self, uint64_t stamp, const void *data, size_t size);
void consensus_log_cut (consensus_t *self, uint64_t to, bool supersede);
void consensus_log_set_commit (consensus_t *self, uint64_t commit);
size_t consensus_log_whole_runs (const consensus_msg_t *msg, size_t n);
int64_t consensus_log_accept (consensus_t *self, const consensus_msg_t *msg, size_t n, bool matched);
consensus_entry_t *consensus_log_copy (consensus_t *self, uint64_t start, uint64_t end);
consensus_msg_t *consensus_send (consensus_t *self, consensus_type_t type, uint32_t to,
                                 uint64_t epoch);
int consensus_attach (consensus_t *self, uint64_t start, uint64_t end);
uint64_t consensus_batch_end (consensus_t *self, uint64_t start, uint64_t limit);
void consensus_send_append (consensus_t *self, uint32_t to, uint64_t start);
s_member_t *consensus_member (consensus_t *self, uint32_t id);
void consensus_become (consensus_t *self, consensus_role_t role);

//  consensus_elect.c: the candidate
void consensus_elect_yield (consensus_t *self);
void consensus_elect_promise (consensus_t *self, uint64_t epoch, uint32_t to);
void consensus_elect_campaign (consensus_t *self, uint64_t now);
void consensus_elect_prepare_again (consensus_t *self, uint64_t now);
void consensus_elect_on_prepare (consensus_t *self, const consensus_msg_t *msg);
void consensus_elect_on_promise (consensus_t *self, const consensus_msg_t *msg, uint64_t now);
void consensus_elect_on_refuse (consensus_t *self, const consensus_msg_t *msg, uint64_t now);
void consensus_elect_on_adopt (consensus_t *self, const consensus_msg_t *msg, uint64_t now);

#endif
