/*  main.c - the simulator's command line and the run of one seed.

    sim [--seeds N] [--seconds S] [--from F] [--seed S] [--replicas 3|5]
        [--wipe-after MS] [-v]

    Seeds F, F+1, ... (F = 1 unless --from) run until N seeds or S
    seconds (wall clock, only to stop: a seed's run never depends on it),
    so two runs can split a range or go past one; --seed S runs one seed
    (with -v, a trace of every step). Each seed runs three rounds of a
    chaos phase, a calm phase and a quiet one (see sim.c for what is
    checked).
*/
#include "sim.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 3
#define CALM_BOUND_MS 4000 //  a calm phase must converge within this
#define CALM_COMMITS 10    //  ... after this many new commits
#define BROKER_EVERY_MS 25
#define QUIET_BOUND_MS 1000 //  then, with no proposals, every live log the same within this

static replica_t *
s_pick (sim_t *sim, bool up, bool leader)
{
    replica_t *choice[SIM_MAX_REPLICAS];
    size_t n = 0;
    for (int r = 0; r < sim->n; r++) {
        replica_t *replica = &sim->replicas[r];
        if (replica->up != up || (up && replica->paused))
            continue;
        if (leader && consensus_role (replica->core) != CONSENSUS_LEADER)
            continue;
        choice[n++] = replica;
    }
    return n ? choice[sim_below (sim, n)] : NULL;
}

//  The broker's rule: the live replica with the highest id that is not
//  catching up (a joining one reports catching-up).
static replica_t *
s_highest_up (sim_t *sim)
{
    for (int r = sim->n - 1; r >= 0; r--)
        if (sim->replicas[r].up && !sim->replicas[r].paused && !sim_joining (&sim->replicas[r]))
            return &sim->replicas[r];
    return NULL;
}

//  Every live replica hears the broker name replica (its periodic
//  announcement).
static void
s_announce (sim_t *sim, const replica_t *replica)
{
    for (int r = 0; r < sim->n; r++)
        if (sim->replicas[r].up)
            sim->replicas[r].named = replica->id;
}

//  The broker names replica. With others_hear, every other live candidate
//  hears it and gives its campaign up (consensus_abandon), as the order
//  service does on the broker's announcement; without it, the
//  announcement is late or lost and the campaigns overlap.
static void
s_campaign (sim_t *sim, replica_t *replica, bool others_hear)
{
    if (!replica || sim_joining (replica))    //  it would not campaign (node.c)
        return;
    sim_trace (sim, "BROKER names %u", replica->id);
    replica->named = replica->id;
    if (others_hear)
        s_announce (sim, replica);
    for (int r = 0; r < sim->n && others_hear; r++) {
        replica_t *other = &sim->replicas[r];
        if (other != replica && other->up && !other->paused
            && consensus_role (other->core) == CONSENSUS_CANDIDATE) {
            sim_trace (sim, "ABANDON %u", other->id);
            consensus_abandon (other->core);
            sim_drain (sim, other);
        }
    }
    consensus_campaign (replica->core, sim->now);
    sim_drain (sim, replica);
}

static void
s_propose (sim_t *sim)
{
    replica_t *leader = s_pick (sim, true, true);
    if (!leader || leader->n_proposals == SIM_MAX_PROPOSALS)
        return;
    uint64_t value = sim->next_value++;
    int64_t index = consensus_propose (leader->core, &value, sizeof value);
    if (index < 0) {
        sim_fail (sim, "leader %u refused a proposal", leader->id);
        return;
    }
    sim_trace (sim, "PROPOSE %" PRIu64 " at %u -> index %" PRId64, value, leader->id, index);
    leader->proposals[leader->n_proposals++] = (proposal_t) {(uint64_t) index, value};
    sim_drain (sim, leader);
}

static void
s_tick (sim_t *sim)
{
    sim->step++;
    sim->now++;
    for (int r = 0; r < sim->n && !sim->failed; r++) {
        replica_t *replica = &sim->replicas[r];
        if (replica->up && !replica->paused) {
            consensus_tick (replica->core, sim->now);
            sim_drain (sim, replica);
        }
    }
}

static void
s_cut_link (sim_t *sim, bool both)
{
    int a = (int) sim_below (sim, (uint64_t) sim->n), b = (int) sim_below (sim, (uint64_t) sim->n);
    if (a == b)
        return;
    sim_trace (sim, "CUT %d%s%d", a + 1, both ? "<->" : "->", b + 1);
    sim->cut[a][b] = true;
    if (both)
        sim->cut[b][a] = true;
}

//  A disk lost: on a replica down long enough, and only one replica
//  without its disk at a time (a second is a second failure).
static void
s_wipe (sim_t *sim)
{
    replica_t *down[SIM_MAX_REPLICAS];
    size_t n = 0;
    for (int r = 0; r < sim->n; r++) {
        if (sim_joining (&sim->replicas[r]))
            return;
        if (!sim->replicas[r].up && sim->now - sim->replicas[r].down_since >= sim->wipe_after)
            down[n++] = &sim->replicas[r];
    }
    if (n)
        sim_wipe (sim, down[sim_wipe_below (sim, n)]);
}

static void
s_chaos_action (sim_t *sim)
{
    uint64_t roll = sim_below (sim, 100);
    replica_t *replica;
    if (roll < 2 && (replica = s_pick (sim, true, false)))
        sim_crash (sim, replica);
    else if (roll < 6 && (replica = s_pick (sim, false, false)))
        sim_restart (sim, replica);
    else if (roll < 9)
        s_cut_link (sim, sim_chance (sim, 50));
    else if (roll < 12) {
        sim_trace (sim, "HEAL");
        memset (sim->cut, 0, sizeof sim->cut);
    } else if (roll < 14 && (replica = s_pick (sim, true, false))) {
        sim_trace (sim, "PAUSE %u", replica->id);
        replica->paused = true;
    } else if (roll < 18) {
        for (int r = 0; r < sim->n; r++)
            if (sim->replicas[r].paused && sim_chance (sim, 50)) {
                sim_trace (sim, "RESUME %u", sim->replicas[r].id);
                sim->replicas[r].paused = false;
            }
    } else if (roll < 24)
        s_campaign (sim, s_highest_up (sim), true);
    else if (roll < 27) {
        s_campaign (sim, s_pick (sim, true, false), false); //  two candidates at once
        s_campaign (sim, s_pick (sim, true, false), false);
    } else if (roll < 32 && (replica = s_pick (sim, true, false))) {
        int peer = (int) sim_below (sim, (uint64_t) sim->n);
        if (sim->ids[peer] != replica->id) {
            consensus_fetch (replica->core, sim->ids[peer]);
            sim_drain (sim, replica);
        }
    } else if (roll < 70)
        s_propose (sim);
    else if (roll < 75)
        s_wipe (sim);
}

static void
s_chaos (sim_t *sim)
{
    sim->chaos = true;
    sim->loss = (unsigned) sim_below (sim, 25);
    sim->duplicate = (unsigned) sim_below (sim, 10);
    sim->delay_max = 1 + sim_below (sim, 80);
    uint64_t steps = 200 + sim_below (sim, 1500);
    sim_trace (sim, "CHAOS for %" PRIu64 " steps: loss %u%% duplicate %u%% delay < %" PRIu64 " ms",
               steps, sim->loss, sim->duplicate, sim->delay_max);
    if (sim_wipe_below (sim, 100) < 30)
        s_wipe (sim);           //  one the calm phase left down, often
    for (uint64_t s = 0; s < steps && !sim->failed; s++) {
        s_tick (sim);
        sim_net_deliver (sim, (size_t) sim_below (sim, 5));
        if (sim_chance (sim, 50))
            s_chaos_action (sim);
        if (sim->step % 64 == 0)
            sim_check_majority (sim);
    }
}

//  The broker's rule: when nobody leads, name the highest live id that
//  is not catching up; when one leads, announce it.
static void
s_broker (sim_t *sim, uint64_t start)
{
    if ((sim->now - start) % BROKER_EVERY_MS != 0)
        return;
    replica_t *leader = s_pick (sim, true, true);
    if (leader) {
        s_announce (sim, leader);
        return;
    }
    replica_t *candidate = s_highest_up (sim);
    if (candidate && consensus_role (candidate->core) != CONSENSUS_CANDIDATE)
        s_campaign (sim, candidate, true);
}

//  Whether a leader leads, nothing is in flight and every live replica's
//  disk holds the leader's log, entry for entry (values: committed
//  entries may carry different stamps), no more, no less.
static bool
s_same_logs (sim_t *sim)
{
    replica_t *leader = s_pick (sim, true, true);
    if (!leader || sim->n_net)
        return false;
    const disk_t *model = &leader->disk;
    for (int r = 0; r < sim->n; r++) {
        const disk_t *disk = &sim->replicas[r].disk;
        if (!sim->replicas[r].up)
            continue;
        if (sim_joining (&sim->replicas[r]))
            return false;       //  rule 7: a live replica that lost its disk joins
        if (disk->length != model->length)
            return false;
        for (uint64_t i = 0; i < disk->length; i++)
            if (disk->log[i].value != model->log[i].value)
                return false;
    }
    return true;
}

//  After a calm phase, a quiet one: no proposals, heartbeats only. Within
//  QUIET_BOUND_MS every live replica must hold the leader's log (SPEC
//  4.4: when the system is quiet, every live replica holds the same
//  orders), without a trade to cut an old leader's uncommitted tail.
static void
s_quiet (sim_t *sim)
{
    uint64_t start = sim->now;
    while (!sim->failed && !s_same_logs (sim)) {
        if (sim->now - start > QUIET_BOUND_MS) {
            sim_fail (sim, "rule 6: quiet for %d ms, the live replicas' logs still differ",
                      QUIET_BOUND_MS);
            return;
        }
        s_tick (sim);
        sim_net_deliver (sim, SIZE_MAX);
        s_broker (sim, start);
    }
}

//  Faults stop, a majority comes up: commits must progress and every
//  live replica must reach the same commit position within a bound.
static void
s_calm (sim_t *sim)
{
    sim->chaos = false;
    sim->delay_max = 5;
    memset (sim->cut, 0, sizeof sim->cut);
    //  Voters: live replicas that are not joining (they do not promise).
    int majority = sim->n / 2 + 1, voters = 0, may_stay_down = (int) sim_below (sim, (uint64_t) (sim->n - majority + 1));
    for (int r = 0; r < sim->n; r++) {
        sim->replicas[r].paused = false;
        voters += sim->replicas[r].up && !sim_joining (&sim->replicas[r]);
    }
    for (int r = 0; r < sim->n && !sim->failed; r++)
        if (!sim->replicas[r].up && sim->n - voters > may_stay_down) {
            sim_restart (sim, &sim->replicas[r]);
            voters += !sim_joining (&sim->replicas[r]);
        }
    sim_trace (sim, "CALM with %d voters up", voters);
    uint64_t start = sim->now, target = sim->truth_length + CALM_COMMITS;
    while (!sim->failed) {
        if (sim->now - start > CALM_BOUND_MS) {
            sim_fail (sim, "liveness: calm for %d ms, %" PRIu64 " of %d commits, not converged",
                      CALM_BOUND_MS, sim->truth_length + CALM_COMMITS - target, CALM_COMMITS);
            return;
        }
        s_tick (sim);
        sim_net_deliver (sim, SIZE_MAX);
        s_broker (sim, start);
        if (sim->truth_length < target) {
            if (sim_chance (sim, 30))
                s_propose (sim);
            continue;
        }
        bool converged = true;
        for (int r = 0; r < sim->n; r++)
            if (sim->replicas[r].up && consensus_commit (sim->replicas[r].core) != sim->truth_length)
                converged = false;
        if (converged && sim->n_net == 0)
            break;
    }
    sim_check_majority (sim);
    s_quiet (sim);
}

typedef struct {
    uint64_t seeds, failed, steps, commits, elections, wipes, joins;
} totals_t;

static bool
s_run (uint64_t seed, int n, bool verbose, uint64_t wipe_after, totals_t *totals)
{
    sim_t *sim = malloc (sizeof *sim);
    if (!sim)
        abort ();
    sim_init (sim, seed, n, verbose, wipe_after);
    for (int round = 0; round < ROUNDS && !sim->failed; round++) {
        s_chaos (sim);
        if (!sim->failed)
            s_calm (sim);
    }
    bool passed = !sim->failed;
    if (!passed) {
        printf ("sim: FAIL seed %" PRIu64 " step %" PRIu64 " (t=%" PRIu64 " ms, %d replicas): %s\n",
                seed, sim->step, sim->now, n, sim->failure);
        if (wipe_after == SIM_WIPE_DOWN_MS)
            printf ("sim: replay with: sim --seed %" PRIu64 " --replicas %d -v\n", seed, n);
        else
            printf ("sim: replay with: sim --seed %" PRIu64 " --replicas %d --wipe-after %" PRIu64
                    " -v\n", seed, n, wipe_after);
    }
    totals->seeds++;
    totals->failed += !passed;
    totals->steps += sim->step;
    totals->commits += sim->truth_length;
    totals->elections += sim->elections;
    totals->wipes += sim->wipes;
    totals->joins += sim->joins;
    sim_free (sim);
    free (sim);
    return passed;
}

static const char *
s_human (uint64_t count, char *buffer, size_t size)
{
    if (count >= 1000000)
        snprintf (buffer, size, "%.1fM", (double) count / 1e6);
    else if (count >= 10000)
        snprintf (buffer, size, "%" PRIu64 "k", count / 1000);
    else
        snprintf (buffer, size, "%" PRIu64, count);
    return buffer;
}

static double
s_seconds (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (double) now.tv_sec + (double) now.tv_nsec / 1e9;
}

static int
s_usage (const char *error)
{
    if (error)
        fprintf (stderr, "sim: %s\n", error);
    fprintf (error ? stderr : stdout,
             "usage: sim [--seeds N] [--seconds S] [--from F] [--seed S] [--replicas 3|5]\n"
             "           [--wipe-after MS] [-v]\n"
             "  runs the consensus core through seeds F, F+1, ... (F = 1) of crashes,\n"
             "  lost disks, partitions, lost/duplicated/reordered messages; --seed S\n"
             "  replays one (-v: trace); --from lets runs go past, or split, earlier\n"
             "  ranges; a disk is lost only on a replica down --wipe-after ms (%d)\n",
             SIM_WIPE_DOWN_MS);
    return error ? 2 : 0;
}

static bool
s_number (const char *text, uint64_t *value)
{
    char *end;
    if (!text || !*text || *text == '-')
        return false;
    *value = strtoull (text, &end, 10);
    return *end == 0;
}

int
main (int argc, char **argv)
{
    uint64_t seeds = 0, seconds = 0, seed = 0, from = 1, replicas = 3;
    uint64_t wipe_after = SIM_WIPE_DOWN_MS;
    bool one = false, verbose = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp (arg, "-h") || !strcmp (arg, "--help"))
            return s_usage (NULL);
        if (!strcmp (arg, "-v"))
            verbose = true;
        else if (!strcmp (arg, "--seeds") && s_number (value, &seeds) && seeds > 0)
            i++;
        else if (!strcmp (arg, "--seconds") && s_number (value, &seconds) && seconds > 0)
            i++;
        else if (!strcmp (arg, "--from") && s_number (value, &from) && from > 0)
            i++;
        else if (!strcmp (arg, "--seed") && s_number (value, &seed))
            i++, one = true;
        else if (!strcmp (arg, "--wipe-after") && s_number (value, &wipe_after) && wipe_after > 0)
            i++;
        else if (!strcmp (arg, "--replicas") && s_number (value, &replicas)
                 && (replicas == 3 || replicas == 5))
            i++;
        else
            return s_usage ("bad or unknown argument (see --help)");
    }
    if (!seeds && !seconds)
        seeds = 1000;
    totals_t totals = {0};
    double start = s_seconds ();
    if (one)
        s_run (seed, (int) replicas, verbose, wipe_after, &totals);
    else
        for (uint64_t s = from; !seeds || s < from + seeds; s++) {
            if (!s_run (s, (int) replicas, verbose, wipe_after, &totals))
                break;
            if (seconds && s_seconds () - start >= (double) seconds)
                break;
        }
    char steps[32], commits[32], elections[32], wipes[32], joins[32];
    printf ("sim: %" PRIu64 " seeds passed, %" PRIu64 " failed (%d replicas, from seed %" PRIu64
            ": %s steps, %s commits, %s elections, %s disks lost, %s joins, %.1f s)\n",
            totals.seeds - totals.failed, totals.failed, (int) replicas, one ? seed : from,
            s_human (totals.steps, steps, sizeof steps),
            s_human (totals.commits, commits, sizeof commits),
            s_human (totals.elections, elections, sizeof elections),
            s_human (totals.wipes, wipes, sizeof wipes), s_human (totals.joins, joins, sizeof joins),
            s_seconds () - start);
    return totals.failed ? 1 : 0;
}
