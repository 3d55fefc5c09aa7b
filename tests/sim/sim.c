/*  sim.c - a deterministic simulator for the consensus core.

    One seed gives one exact run: the only source of chance is the
    splitmix64 generator below, seeded from the command line, and time
    is a counter. Each seed drives 3 or 5 replicas (each a consensus_t
    with a simulated disk) through phases of chaos (crashes, restarts,
    lost disks, lost, duplicated, delayed and reordered messages,
    symmetric and one-way partitions, pauses, a broker naming one, two or
    stale candidates, clients proposing) and calm (faults healed, a
    majority of voters up, one named candidate), and checks after every
    step:
      1. at most one replica ever leads under an epoch;
      2. a committed entry (index -> value) never changes or disappears
         from a replica's persisted log once that replica's commit
         covered it, and a majority of disks always holds it;
      3. every replica's committed prefix is the one committed prefix;
      4. a replica never promises an epoch twice (to two candidates) or
         below one it promised, and never ACKs under an epoch below its
         promise, also after a crash;
      5. a proposal reported committed is the entry committed there;
      and in every calm phase: commits progress and every live replica
      reaches the same commit position within a bound; then, quiet (no
      proposals, main.c), 6. every live replica's disk holds the
      leader's log, no more, no less, within a bound, and 7. a live
      replica whose disk was lost has joined again.
    A lost disk: a replica down at least --wipe-after ms (main.c) comes
    back empty, as bazaar-order without --new, and joins by the rule of
    services/order/joining.c, as node.c drives it (it ignores PREPAREs,
    does not campaign, and votes once it holds the log of the leader the
    broker last named to it); one replica at a time. Rules 2 and 4 start
    again for it (what it covered and promised went with the disk), and
    its lost disk counts for the majority of rule 2 until it has joined.
    A failure prints the seed and the step and exits non-zero;
    `sim --seed S -v` replays it with a trace.
*/
#include "sim.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  ---------------------------------------------------------------------
//  Chance and failure

static uint64_t
s_next_of (uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t
sim_below (sim_t *sim, uint64_t bound)
{
    return bound ? s_next_of (&sim->rng) % bound : 0;
}

uint64_t
sim_wipe_below (sim_t *sim, uint64_t bound)
{
    return bound ? s_next_of (&sim->wipe_rng) % bound : 0;
}

bool
sim_chance (sim_t *sim, unsigned percent)
{
    return sim_below (sim, 100) < percent;
}

void
sim_fail (sim_t *sim, const char *format, ...)
{
    if (sim->failed)
        return;
    sim->failed = true;
    va_list args;
    va_start (args, format);
    vsnprintf (sim->failure, sizeof sim->failure, format, args);
    va_end (args);
}

void
sim_trace (sim_t *sim, const char *format, ...)
{
    if (!sim->verbose)
        return;
    printf ("%8" PRIu64 " t=%-6" PRIu64 " ", sim->step, sim->now);
    va_list args;
    va_start (args, format);
    vprintf (format, args);
    va_end (args);
    putchar ('\n');
}

//  ---------------------------------------------------------------------
//  Disks and replicas

static int
s_read (void *arg, uint64_t index, const void **payload, size_t *size)
{
    replica_t *replica = arg;
    if (index >= replica->disk.length)
        return -1;
    memcpy (replica->read_buffer, &replica->disk.log[index].value, 8);
    *payload = replica->read_buffer;
    *size = 8;
    return 0;
}

static void
s_disk_put (disk_t *disk, uint64_t index, uint64_t epoch, uint64_t value)
{
    if (index >= disk->capacity) {
        disk->capacity = disk->capacity ? disk->capacity * 2 : 64;
        disk->log = realloc (disk->log, disk->capacity * sizeof *disk->log);
        if (!disk->log)
            abort ();
    }
    disk->log[index] = (disk_entry_t) {epoch, value};
    if (index >= disk->length)
        disk->length = index + 1;
}

static void
s_start (sim_t *sim, replica_t *replica)
{
    stamps_t *stamps = stamps_new ();
    for (uint64_t i = 0; i < replica->disk.length; i++)
        stamps_append (stamps, replica->disk.log[i].stamp, 1);
    consensus_state_t state = {replica->disk.promised, replica->disk.commit,
                               replica->disk.length, stamps};
    consensus_config_t config = {.self = replica->id,
                                 .members = sim->ids,
                                 .n_members = (size_t) sim->n,
                                 .heartbeat_ms = SIM_HEARTBEAT_MS,
                                 .quorum_timeout_ms = SIM_QUORUM_MS,
                                 .campaign_timeout_ms = SIM_CAMPAIGN_MS,
                                 .max_batch = SIM_MAX_BATCH,
                                 .read = s_read,
                                 .read_arg = replica};
    replica->core = consensus_new (&config, &state);
    stamps_destroy (&stamps);
    if (!replica->core)
        sim_fail (sim, "replica %u: consensus_new refused its own disk", replica->id);
    //  Its lost disk (or the mark of a join a crash cut short): it joins.
    char error[128];
    if (replica->wiped && !replica->joining)
        replica->joining = joining_new (NULL, 0, false, false, error, sizeof error);
    replica->up = true;
    replica->paused = false;
    replica->n_proposals = 0;
    replica->started_at = sim->now;
    replica->named = 0;     //  as node.c: it waits for the broker's next announcement
}

void
sim_crash (sim_t *sim, replica_t *replica)
{
    sim_trace (sim, "CRASH %u (disk: promise %" PRIu64 ", %" PRIu64 " entries)", replica->id,
               replica->disk.promised, replica->disk.length);
    consensus_destroy (&replica->core);
    replica->up = false;
    replica->paused = false;
    replica->n_proposals = 0;
    replica->down_since = sim->now;
    //  A join cut short: its mark stays, the rest of its state goes.
    joining_destroy (&replica->joining);
}

//  Its disk is lost (the replica is down): it comes back empty, as
//  bazaar-order without --new, and joins. The checks that follow one
//  disk across crashes start again for it: what it covered and promised
//  is gone with the disk (its lost copies count for the majority check
//  until it has joined: one failure).
void
sim_wipe (sim_t *sim, replica_t *replica)
{
    sim_trace (sim, "WIPE %u (disk: promise %" PRIu64 ", %" PRIu64 " entries)", replica->id,
               replica->disk.promised, replica->disk.length);
    free (replica->lost.log);
    replica->lost = replica->disk;
    replica->disk = (disk_t) {0};
    replica->covered = 0;
    replica->promise_sent = 0;
    replica->promise_sent_to = 0;
    replica->wiped = true;
    sim->wipes++;
}

bool
sim_joining (const replica_t *replica)
{
    return replica->wiped;
}

//  After an APPEND it took: as node.c does, the join notes a leader's
//  log it now holds whole, from a broadcast only, and node.c's come on
//  the leader's PUB, which delivers nothing sent before this replica
//  (re)started and subscribed. A point-to-point APPEND (an answer to a
//  FETCH) may have waited in the leader's DEALER queue since before the
//  crash, and say less than the lost disk had acknowledged.
void
sim_joining_note (sim_t *sim, replica_t *replica, const packet_t *packet, uint64_t end_stamp)
{
    (void) sim;
    const consensus_msg_t *append = &packet->msg;
    if (!replica->up || !replica->joining || !packet->broadcast
        || packet->sent_at < replica->started_at
        || consensus_leader (replica->core) != append->from
        || consensus_epoch (replica->core) != append->epoch)
        return;
    uint64_t length = append->length;
    uint64_t held_stamp = length && length <= replica->disk.length
                        ? replica->disk.log[length - 1].stamp : 0;
    joining_log_t held = {replica->disk.length, held_stamp, consensus_commit (replica->core)};
    joining_on_append (replica->joining, append->from, append->epoch, length, end_stamp, &held);
}

//  After its readies are on disk: as node.c's flush, the join ends once
//  it holds the log of the leader it follows, the one the broker names.
static void
s_check_joined (sim_t *sim, replica_t *replica)
{
    if (!replica->up || !replica->joining)
        return;
    uint32_t leader = consensus_leader (replica->core);
    bool follows = consensus_role (replica->core) == CONSENSUS_FOLLOWER
                && leader == replica->named;
    joining_check (replica->joining, follows ? leader : 0, consensus_epoch (replica->core),
                   replica->disk.length);
    if (joining_active (replica->joining))
        return;
    sim_trace (sim, "JOINED %u (leader %u, %" PRIu64 " entries)", replica->id, leader,
               replica->disk.length);
    joining_destroy (&replica->joining);
    replica->wiped = false;
    free (replica->lost.log);
    replica->lost = (disk_t) {0};
    sim->joins++;
}

void
sim_restart (sim_t *sim, replica_t *replica)
{
    sim_trace (sim, "RESTART %u", replica->id);
    s_start (sim, replica);
}

//  ---------------------------------------------------------------------
//  Checks on what a replica persists, sends and reports

static void
s_check_persisted (sim_t *sim, replica_t *replica, uint64_t from)
{
    uint64_t covered = replica->covered < sim->truth_length ? replica->covered : sim->truth_length;
    for (uint64_t i = from; i < covered; i++)
        if (i >= replica->disk.length || replica->disk.log[i].value != sim->truth[i]) {
            sim_fail (sim, "rule 2: replica %u lost committed entry %" PRIu64
                      " from its disk (covered up to %" PRIu64 ")", replica->id, i, covered);
            return;
        }
}

static void
s_persist (sim_t *sim, replica_t *replica, const consensus_ready_t *ready)
{
    disk_t *disk = &replica->disk;
    if (ready->promise_changed)
        disk->promised = ready->promised;
    uint64_t lowest = ready->first_index;
    if (ready->truncate && ready->truncate_to < disk->length)
        disk->length = ready->truncate_to;
    if (ready->first_index > disk->length)
        sim_fail (sim, "replica %u: ready appends at %" PRIu64 " past its disk's %" PRIu64,
                  replica->id, ready->first_index, disk->length);
    for (size_t k = 0; k < ready->n_entries && !sim->failed; k++) {
        uint64_t value;
        memcpy (&value, ready->entries[k].payload, 8);
        s_disk_put (disk, ready->first_index + k, ready->entries[k].stamp, value);
    }
    if (ready->truncate && ready->truncate_to < lowest)
        lowest = ready->truncate_to;
    //  As services/order/node.c stores it: every record carries the
    //  ready's commit position, and a leader's commit-only ready is not
    //  stored (a soft position: the leader answers before any sync).
    if ((ready->commit_changed || ready->n_entries)
        && !(ready->role == CONSENSUS_LEADER && ready->n_entries == 0)
        && ready->commit > disk->commit)
        disk->commit = ready->commit;
    s_check_persisted (sim, replica, lowest);
}

static void
s_check_sent (sim_t *sim, replica_t *replica, const consensus_msg_t *msg)
{
    if (msg->type == CONSENSUS_PROMISE || msg->type == CONSENSUS_PREPARE) {
        uint32_t to = msg->type == CONSENSUS_PREPARE ? replica->id : msg->to;
        if (msg->epoch < replica->promise_sent
            || (msg->epoch == replica->promise_sent && to != replica->promise_sent_to))
            sim_fail (sim, "rule 4: replica %u promised epoch %" PRIu64 " to %u after epoch %"
                      PRIu64 " to %u", replica->id, msg->epoch, to, replica->promise_sent,
                      replica->promise_sent_to);
        replica->promise_sent = msg->epoch;
        replica->promise_sent_to = to;
    }
    if (msg->type == CONSENSUS_ACK && msg->epoch < replica->promise_sent)
        sim_fail (sim, "rule 4: replica %u accepted epoch %" PRIu64 " after promising %" PRIu64,
                  replica->id, msg->epoch, replica->promise_sent);
    if (msg->type == CONSENSUS_ACK && msg->epoch > replica->promise_sent) {
        replica->promise_sent = msg->epoch; //  an APPEND is an implicit promise
        replica->promise_sent_to = msg->to;
    }
}

static void
s_record_commit (sim_t *sim, replica_t *replica, uint64_t commit)
{
    if (commit > replica->disk.length) {
        sim_fail (sim, "replica %u: commit %" PRIu64 " past its persisted log (%" PRIu64 ")",
                  replica->id, commit, replica->disk.length);
        return;
    }
    for (uint64_t i = 0; i < commit && !sim->failed; i++) {
        uint64_t value = replica->disk.log[i].value;
        if (i < sim->truth_length) {
            if (value != sim->truth[i])
                sim_fail (sim, "rule 3: replica %u committed value %" PRIu64 " at %" PRIu64
                          ", another committed %" PRIu64, replica->id, value, i, sim->truth[i]);
            continue;
        }
        if (i >= sim->truth_capacity) {
            sim->truth_capacity = sim->truth_capacity ? sim->truth_capacity * 2 : 256;
            sim->truth = realloc (sim->truth, sim->truth_capacity * sizeof *sim->truth);
            if (!sim->truth)
                abort ();
        }
        sim->truth[sim->truth_length++] = value;
        sim_trace (sim, "COMMITTED %" PRIu64 " = %" PRIu64 " (first seen at %u)", i, value,
                   replica->id);
    }
    if (commit > replica->covered)
        replica->covered = commit;
}

static void
s_check_leader (sim_t *sim, replica_t *replica, uint64_t epoch)
{
    if (epoch >= sim->leaders_capacity) {
        uint64_t capacity = epoch * 2 + 16;
        sim->leaders = realloc (sim->leaders, capacity * sizeof *sim->leaders);
        if (!sim->leaders)
            abort ();
        memset (sim->leaders + sim->leaders_capacity, 0,
                (capacity - sim->leaders_capacity) * sizeof *sim->leaders);
        sim->leaders_capacity = capacity;
    }
    if (sim->leaders[epoch])
        sim_fail (sim, "rule 1: replica %u leads epoch %" PRIu64 ", which replica %u led",
                  replica->id, epoch, sim->leaders[epoch]);
    sim->leaders[epoch] = replica->id;
    sim->elections++;
    sim_trace (sim, "LEADER %u epoch %" PRIu64 " (log %" PRIu64 ", commit %" PRIu64 ")",
               replica->id, epoch, consensus_length (replica->core),
               consensus_commit (replica->core));
}

static void
s_check_outcomes (sim_t *sim, replica_t *replica, const consensus_ready_t *ready)
{
    for (size_t k = 0; k < ready->n_outcomes; k++) {
        const consensus_outcome_t *outcome = &ready->outcomes[k];
        for (size_t p = 0; p < replica->n_proposals; p++) {
            if (replica->proposals[p].index != outcome->index)
                continue;
            uint64_t value = replica->proposals[p].value;
            if (outcome->result == CONSENSUS_COMMITTED
                && (outcome->index >= sim->truth_length || sim->truth[outcome->index] != value))
                sim_fail (sim, "rule 5: replica %u reports %" PRIu64 " committed at %" PRIu64
                          " but it is not", replica->id, value, outcome->index);
            replica->proposals[p] = replica->proposals[--replica->n_proposals];
            break;
        }
    }
}

//  Handle every ready of replica: persist, check, send, advance.
void
sim_drain (sim_t *sim, replica_t *replica)
{
    const consensus_ready_t *ready;
    while (replica->up && !sim->failed && (ready = consensus_ready (replica->core))) {
        s_persist (sim, replica, ready);
        if (ready->commit_changed)
            s_record_commit (sim, replica, ready->commit);
        s_check_outcomes (sim, replica, ready);
        if (ready->role_changed && ready->role == CONSENSUS_LEADER)
            s_check_leader (sim, replica, ready->epoch);
        if (ready->stepped_down)
            sim_trace (sim, "STEPPED DOWN %u", replica->id);
        if (sim->chaos && sim_chance (sim, 1)) {
            sim_trace (sim, "CRASH %u after persisting, before sending", replica->id);
            consensus_advance (replica->core);
            sim_crash (sim, replica);
            return;
        }
        for (size_t k = 0; k < ready->n_msgs; k++) {
            s_check_sent (sim, replica, &ready->msgs[k]);
            sim_net_send (sim, &ready->msgs[k]);
        }
        consensus_advance (replica->core);
    }
    if (!sim->failed)
        s_check_joined (sim, replica);
}

static bool
s_holds (const disk_t *disk, uint64_t index, uint64_t value)
{
    return index < disk->length && disk->log[index].value == value;
}

//  Every committed entry is on a majority of disks (a disk lost counts
//  until its replica has joined again: that is the one failure).
void
sim_check_majority (sim_t *sim)
{
    for (uint64_t i = 0; i < sim->truth_length && !sim->failed; i++) {
        int holders = 0;
        for (int r = 0; r < sim->n; r++)
            holders += s_holds (&sim->replicas[r].disk, i, sim->truth[i])
                    || s_holds (&sim->replicas[r].lost, i, sim->truth[i]);
        if (holders < sim->n / 2 + 1)
            sim_fail (sim, "rule 2: committed entry %" PRIu64 " is on %d disks only", i, holders);
    }
}

void
sim_init (sim_t *sim, uint64_t seed, int n, bool verbose, uint64_t wipe_after)
{
    memset (sim, 0, sizeof *sim);
    sim->seed = seed;
    sim->wipe_after = wipe_after;
    sim->wipe_rng = seed ^ 0x6c6f737464697363ULL;
    sim->rng = seed;
    sim->n = n;
    sim->verbose = verbose;
    sim->next_value = 1;
    for (int r = 0; r < n; r++)
        sim->ids[r] = sim->replicas[r].id = (uint32_t) r + 1;
    for (int r = 0; r < n; r++)
        s_start (sim, &sim->replicas[r]);
}

void
sim_free (sim_t *sim)
{
    for (int r = 0; r < sim->n; r++) {
        consensus_destroy (&sim->replicas[r].core);
        joining_destroy (&sim->replicas[r].joining);
        free (sim->replicas[r].disk.log);
        free (sim->replicas[r].lost.log);
    }
    sim_net_free (sim);
    free (sim->truth);
    free (sim->leaders);
}
