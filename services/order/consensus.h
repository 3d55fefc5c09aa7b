/*  consensus.h - the order replicas' consensus rules, with no I/O.

    A pure state machine in the shape of etcd's raft package: messages
    (consensus_step), time (consensus_tick) and the outside world's
    decisions (consensus_campaign, consensus_propose) go in; what to
    persist, what to send and what happened come out of consensus_ready.
    The core owns no socket, no file, no clock and no randomness: `now`
    is milliseconds on any monotonic clock the caller picks.

    The loop around it:
        consensus_step / _tick / _campaign / _propose (...);
        while ((ready = consensus_ready (core))) {
            persist ready: promise, then cut the log at truncate_to, then
            append entries, then the commit position, all durable
            (fdatasync) before going on;
            send ready->msgs;
            act on outcomes, commit and role;
            consensus_advance (core);
        }
    The persist-before-send contract is what makes every promise and
    every ACK a durable fact. While a ready is outstanding (between
    consensus_ready and consensus_advance) every other verb returns -1.
    A ready's cut and appends must reach the disk as one unit, as the
    simulator (tests/sim) models them: see docs/CONSENSUS.md.

    Log: entries at dense indexes 0, 1, 2, ... each with a stamp (the
    epoch it was accepted under, see consensus_entry_t) and an opaque
    payload. The core keeps every entry's stamp, as runs (stamps.h: 16
    bytes a run of one stamp, two runs an election, whatever the log's
    length), and the payloads of entries not yet persisted; it reads
    persisted payloads back through consensus_read_fn.

    The rules are in consensus.c's top comment and docs/CONSENSUS.md.
*/
#ifndef BAZAAR_CONSENSUS_H
#define BAZAAR_CONSENSUS_H

#include "stamps.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSENSUS_MAX_MEMBERS 7
#define CONSENSUS_ALL 0 //  msg.to: every member but the sender
//  The highest epoch: its stamps (2e, 2e + 1) still fit in 64 bits. A
//  message of a higher epoch is malformed; a replica that has seen this
//  one cannot campaign above it (rather than wrap around to epoch 0).
#define CONSENSUS_EPOCH_MAX (UINT64_MAX / 2)

typedef struct _consensus_t consensus_t;

typedef enum {
    CONSENSUS_FOLLOWER = 0,
    CONSENSUS_CANDIDATE,
    CONSENSUS_LEADER
} consensus_role_t;

typedef enum {
    CONSENSUS_PREPARE = 1, //  epoch: candidate asks for a promise
    CONSENSUS_PROMISE,     //  epoch promised; last_stamp, length, commit of the log
    CONSENSUS_REFUSE,      //  epoch = the refuser's promise (higher than asked)
    CONSENSUS_APPEND,      //  leader: epoch, start, prev_stamp, entries, commit, length
    CONSENSUS_ACK,         //  epoch, length = the log length that matches the leader's
    CONSENSUS_FETCH,       //  epoch of the asker, start = first index wanted
    CONSENSUS_ENTRIES      //  answer to FETCH: epoch, start, prev_stamp, entries,
                           //  commit, length = the server's log length
} consensus_type_t;

//  An entry's stamp says which leader wrote it and how: 2e for an entry
//  the leader of epoch e recovered (re-stamped at its election), 2e + 1
//  for one proposed under it. The caller persists it with the payload.
typedef struct {
    uint64_t stamp;
    const void *payload;
    size_t size;
} consensus_entry_t;

//  A message. Entries are borrowed: in a message given to consensus_step
//  they must live until it returns; in a ready's messages they live
//  until consensus_advance.
typedef struct {
    consensus_type_t type;
    uint32_t from;
    uint32_t to;         //  a member id, or CONSENSUS_ALL
    uint64_t epoch;
    uint64_t start;      //  APPEND/ENTRIES: index of the first entry; FETCH: first wanted
    uint64_t prev_stamp; //  APPEND/ENTRIES: stamp of entry start-1 (0 when start is 0)
    uint64_t last_stamp; //  PROMISE: stamp of the promiser's last entry (0: empty log)
    uint64_t length;     //  PROMISE/APPEND/ENTRIES: sender's log length; ACK: matched length
    uint64_t commit;     //  sender's commit position (entries below it are committed)
    const consensus_entry_t *entries;
    size_t n_entries;
} consensus_msg_t;

typedef enum {
    CONSENSUS_COMMITTED = 1, //  this replica's proposal at index committed
    CONSENSUS_SUPERSEDED     //  it was cut from this replica's log: not committed
                             //  under this proposal (another entry took the index)
} consensus_result_t;

typedef struct {
    uint64_t index;
    consensus_result_t result;
} consensus_outcome_t;

//  What the caller must do, in order; owned by the core until advance.
typedef struct {
    bool promise_changed;     //  persist `promised` before anything is sent
    uint64_t promised;        //  the highest epoch this replica promised
    bool truncate;            //  cut the persisted log to truncate_to entries
    uint64_t truncate_to;     //  (never below the commit position)
    uint64_t first_index;     //  entries[0]'s index (== log length once cut)
    const consensus_entry_t *entries;
    size_t n_entries;         //  append these, durably
    const consensus_msg_t *msgs;
    size_t n_msgs;            //  then send these
    bool commit_changed;
    uint64_t commit;          //  entries below it are committed: persist it too
                              //  (a follower's acks rely on it; see consensus.c)
    const consensus_outcome_t *outcomes;
    size_t n_outcomes;        //  proposals whose fate is now known
    bool role_changed;
    consensus_role_t role;    //  current role
    uint64_t epoch;           //  the epoch the role is held under
    bool stepped_down;        //  a leader lost its quorum or met a higher epoch
    bool campaign_failed;     //  a campaign was refused or timed out (not when
                              //  it gave way to another candidate or leader)
} consensus_ready_t;

//  Reads the payload of persisted entry index into *payload / *size (valid
//  until the next call into the core). Returns 0, or -1 if it cannot.
typedef int (consensus_read_fn) (void *arg, uint64_t index, const void **payload, size_t *size);

typedef struct {
    uint32_t self;
    const uint32_t *members;     //  every member's id (self included), ids > 0
    size_t n_members;            //  1 to CONSENSUS_MAX_MEMBERS
    uint64_t heartbeat_ms;       //  leader sends an empty APPEND this often
    uint64_t quorum_timeout_ms;  //  leader without a majority's ACKs this long steps down
    uint64_t campaign_timeout_ms;//  candidate without a majority this long gives up
    size_t max_batch;            //  entries per APPEND/ENTRIES (0: no limit)
    consensus_read_fn *read;
    void *read_arg;
} consensus_config_t;

//  What the caller persisted, given back after a (re)start.
typedef struct {
    uint64_t promised;       //  the persisted promise
    uint64_t commit;         //  a persisted commit position (0 if none kept)
    uint64_t length;         //  entries in the persisted log
    const stamps_t *stamps;  //  their stamps (stamps_length == length; NULL if none):
                             //  the core copies them, run by run
} consensus_state_t;

//  Create a core for config, starting as a follower from the persisted
//  state (NULL: empty). Returns NULL if config or state is invalid (a
//  member listed twice, self not a member, a zero id, no read function,
//  commit past the log, stamps not as many as the entries, a stamp below
//  2). Aborts if out of memory.
consensus_t *consensus_new (const consensus_config_t *config, const consensus_state_t *state);

//  Destroy the core; nothing on NULL; sets *self_p to NULL.
void consensus_destroy (consensus_t **self_p);

//  Feed one received message at time now. Returns 0, or -1 if the
//  message is malformed (unknown type or sender, an epoch past
//  CONSENSUS_EPOCH_MAX, entries inconsistent) or a ready is outstanding;
//  a message that is merely stale returns 0.
int consensus_step (consensus_t *self, const consensus_msg_t *msg, uint64_t now);

//  Let time pass: heartbeats, check quorum, campaign timeout. Returns 0,
//  or -1 if a ready is outstanding.
int consensus_tick (consensus_t *self, uint64_t now);

//  Start a campaign (the broker named this replica): a new epoch above
//  everything seen, PREPARE to all. A leader keeps leading (returns 0).
//  Returns 0, or -1 if a ready is outstanding.
int consensus_campaign (consensus_t *self, uint64_t now);

//  Give up a campaign (the broker names another replica now): a candidate
//  becomes a follower at once, without retrying and without reporting
//  campaign_failed; its promise stays. Anything else is unchanged.
//  Returns 0, or -1 if a ready is outstanding.
int consensus_abandon (consensus_t *self);

//  Append a payload (copied) as a new entry. Returns the index assigned,
//  or -1 if this replica is not leading or a ready is outstanding. Its
//  fate is reported later in a ready's outcomes (committed or superseded).
int64_t consensus_propose (consensus_t *self, const void *payload, size_t size);

//  Ask peer for the committed entries this replica lacks (catch-up from
//  a peer that is not the leader). Returns 0, or -1 if peer is not a
//  member or a ready is outstanding.
int consensus_fetch (consensus_t *self, uint32_t peer);

//  What to persist and send, or NULL if there is nothing to do. The
//  returned struct and everything it points to belong to the core and
//  stay valid until consensus_advance.
const consensus_ready_t *consensus_ready (consensus_t *self);

//  Tell the core the last ready was persisted and sent.
void consensus_advance (consensus_t *self);

//  The current role.
consensus_role_t consensus_role (consensus_t *self);

//  The epoch of the current role (the promise).
uint64_t consensus_epoch (consensus_t *self);

//  The commit position: entries below it are committed.
uint64_t consensus_commit (consensus_t *self);

//  Log length (entries persisted or handed out in a ready).
uint64_t consensus_length (consensus_t *self);

//  The leader this replica follows under its promise, 0 if none known.
uint32_t consensus_leader (consensus_t *self);

//  Leader: the followers (ids into ids, at most max) whose last ACK came
//  within within_ms of now and acknowledged at least position. Read only
//  (the in-sync set the status shows); 0 when not leading.
size_t consensus_in_sync (consensus_t *self, uint64_t now, uint64_t within_ms,
                          uint64_t position, uint32_t *ids, size_t max);

//  Printable name of a message type, for logs and traces.
const char *consensus_type_name (consensus_type_t type);

#endif
