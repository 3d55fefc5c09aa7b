/*  roster.c - the broker's workers in a small array, the departed in
    another.

    Workers are few (a catalog or a few, three replicas), so they live in a small
    array searched linearly; that is simpler than a hash and as fast.
    Removing one moves the last into its place.

    Invariants: gone[] holds at most one worker per service and replica
    id, and registering forgets it; leader_id and leader_epoch are what
    the last election found (before elect_after only a replica that
    reported the leader role, else 0). workers[] holds one order replica
    per id only because the broker asks roster_taken before roster_add.
*/
#include "roster.h"
#include "mem.h"
#include "log.h"

#include <czmq.h>

struct _roster_t {
    int64_t expiry_ms;
    roster_worker_t workers[ROSTER_WORKERS_MAX];
    size_t worker_count;
    roster_worker_t gone[ROSTER_GONE_MAX];   //  departed, until the same one registers again
    size_t gone_count;
    uint64_t leader_id;      //  highest live order replica id, 0 if none
    uint64_t leader_epoch;   //  the epoch the leader reports
    int64_t elect_after;     //  a new broker hears every replica before electing
};

roster_t *
roster_new (int64_t expiry_ms)
{
    roster_t *self = mem_calloc (1, sizeof (roster_t));
    self->expiry_ms = expiry_ms;
    //  After a broker restart the old leader is still leading: electing the
    //  first replica heard would make needless epochs and failovers, so
    //  the quiet spell names only a replica that reports leading.
    self->elect_after = zclock_mono () + MSG_HEARTBEAT_MS + MSG_HEARTBEAT_MS / 4;
    return self;
}

void
roster_destroy (roster_t **self_p)
{
    if (!*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

roster_worker_t *
roster_find (roster_t *self, const void *identity, size_t identity_size)
{
    for (size_t i = 0; i < self->worker_count; i++) {
        roster_worker_t *worker = &self->workers[i];
        if (worker->identity_size == identity_size
            && memcmp (worker->identity, identity, identity_size) == 0)
            return worker;
    }
    return NULL;
}

//  The order replica with this id, or NULL (the broker registers one per
//  id).
static roster_worker_t *
s_replica_find (roster_t *self, uint64_t replica_id)
{
    for (size_t i = 0; i < self->worker_count; i++)
        if (streq (self->workers[i].service, "order")
            && self->workers[i].replica_id == replica_id)
            return &self->workers[i];
    return NULL;
}

roster_worker_t *
roster_taken (roster_t *self, const char *service, uint64_t replica_id)
{
    return streq (service, "order") ? s_replica_find (self, replica_id) : NULL;
}

bool
roster_has_room (roster_t *self, size_t identity_size)
{
    return self->worker_count < ROSTER_WORKERS_MAX && identity_size <= ROSTER_IDENTITY_MAX;
}

//  Forgets the departed worker with the same service and replica id.
static void
s_gone_forget (roster_t *self, const char *service, uint64_t replica_id)
{
    for (size_t i = self->gone_count; i-- > 0;)
        if (streq (self->gone[i].service, service) && self->gone[i].replica_id == replica_id)
            self->gone[i] = self->gone[--self->gone_count];
}

//  Remembers a departed worker for STATUS; the oldest goes when full.
static void
s_gone_remember (roster_t *self, const roster_worker_t *worker)
{
    s_gone_forget (self, worker->service, worker->replica_id);
    if (self->gone_count == ROSTER_GONE_MAX) {
        memmove (&self->gone[0], &self->gone[1],
                 (ROSTER_GONE_MAX - 1) * sizeof (roster_worker_t));
        self->gone_count--;
    }
    self->gone[self->gone_count] = *worker;
    self->gone[self->gone_count++].in_sync_count = 0;
}

roster_worker_t *
roster_add (roster_t *self, const void *identity, size_t identity_size, const msg_t *heartbeat)
{
    assert (roster_has_room (self, identity_size));
    roster_worker_t *worker = &self->workers[self->worker_count++];
    memset (worker, 0, sizeof (*worker));
    memcpy (worker->identity, identity, identity_size);
    worker->identity_size = identity_size;
    snprintf (worker->service, sizeof (worker->service), "%s", heartbeat->service);
    worker->replica_id = heartbeat->replica_id;
    worker->incarnation = heartbeat->incarnation;
    snprintf (worker->pub, sizeof (worker->pub), "%s", heartbeat->pub);
    snprintf (worker->rep, sizeof (worker->rep), "%s", heartbeat->rep);
    //  A newcomer joins the rotation where the others are: starting at 0
    //  it would take every request until it had caught up with them.
    for (size_t i = 0; i + 1 < self->worker_count; i++)
        if (streq (self->workers[i].service, worker->service)
            && self->workers[i].dispatched > worker->dispatched)
            worker->dispatched = self->workers[i].dispatched;
    s_gone_forget (self, worker->service, worker->replica_id);
    return worker;
}

bool
roster_refresh (roster_t *self, roster_worker_t *worker, const msg_t *heartbeat)
{
    bool changed = worker->role != heartbeat->role || worker->epoch != heartbeat->epoch;
    worker->number = heartbeat->position;
    worker->epoch = heartbeat->epoch;
    worker->role = heartbeat->role;
    worker->in_sync_count = heartbeat->in_sync_count;
    worker->silent_leader = heartbeat->silent_leader;
    if (heartbeat->in_sync_count)   //  an empty list is a NULL pointer
        memcpy (worker->in_sync, heartbeat->in_sync, heartbeat->in_sync_count * sizeof (uint64_t));
    worker->heard_at = zclock_mono ();
    worker->expiry = worker->heard_at + self->expiry_ms;
    return changed;
}

void
roster_touch (roster_t *self, roster_worker_t *worker)
{
    //  heard_at too: a leader that answers is not silent to the broker,
    //  whatever its followers report (roster_silent_leader).
    worker->heard_at = zclock_mono ();
    worker->expiry = worker->heard_at + self->expiry_ms;
}

void
roster_remove (roster_t *self, roster_worker_t *worker)
{
    s_gone_remember (self, worker);
    *worker = self->workers[--self->worker_count];
}

size_t
roster_size (roster_t *self)
{
    return self->worker_count;
}

roster_worker_t *
roster_at (roster_t *self, size_t index)
{
    assert (index < self->worker_count);
    return &self->workers[index];
}

roster_worker_t *
roster_pick_any (roster_t *self, const char *service)
{
    roster_worker_t *best = NULL;
    for (size_t i = 0; i < self->worker_count; i++) {
        roster_worker_t *worker = &self->workers[i];
        if (streq (worker->service, service) && (!best || worker->dispatched < best->dispatched))
            best = worker;
    }
    if (best)
        best->dispatched++;
    return best;
}

//  Spreading requests: a worker that serves before one catching up, then
//  the least dispatched.
static bool
s_before (const roster_worker_t *worker, const roster_worker_t *best)
{
    if (!best)
        return true;
    bool serving = worker->role != MSG_ROLE_CATCHING_UP;
    if (serving != (best->role != MSG_ROLE_CATCHING_UP))
        return serving;
    return worker->dispatched < best->dispatched;
}

roster_worker_t *
roster_pick (roster_t *self, const char *service)
{
    bool is_order = streq (service, "order");
    roster_worker_t *best = NULL;
    for (size_t i = 0; i < self->worker_count; i++) {
        roster_worker_t *worker = &self->workers[i];
        if (!streq (worker->service, service))
            continue;
        if (is_order ? worker->replica_id == self->leader_id : s_before (worker, best))
            best = worker;
    }
    if (best)
        best->dispatched++;
    return best;
}

//  True during a new roster's quiet spell.
static bool
s_quiet (roster_t *self)
{
    return zclock_mono () < self->elect_after;
}

//  In the quiet spell a leader with a newer epoch outranks another (the
//  older one is fenced); otherwise, and on a tie, the higher id does.
static bool
s_outranks (const roster_worker_t *worker, const roster_worker_t *best, bool quiet)
{
    if (quiet && worker->epoch != best->epoch)
        return worker->epoch > best->epoch;
    return worker->replica_id > best->replica_id;
}

//  The replica to name, 0 for none: in the quiet spell the one that
//  reports leading, after it the highest id not catching up.
static uint64_t
s_candidate (roster_t *self)
{
    bool quiet = s_quiet (self);
    roster_worker_t *best = NULL;
    for (size_t i = 0; i < self->worker_count; i++) {
        roster_worker_t *worker = &self->workers[i];
        bool eligible = streq (worker->service, "order")
                     && (quiet ? worker->role == MSG_ROLE_LEADER
                               : worker->role != MSG_ROLE_CATCHING_UP);
        if (eligible && (!best || s_outranks (worker, best, quiet)))
            best = worker;
    }
    return best ? best->replica_id : 0;
}

bool
roster_elect (roster_t *self)
{
    uint64_t leader_id = s_candidate (self);
    roster_worker_t *leader = s_replica_find (self, leader_id);
    uint64_t epoch = leader ? leader->epoch : 0;
    if (leader_id != self->leader_id)
        log_info ("order leader is now %s%" PRIu64 " (was %" PRIu64 ")",
                  leader_id ? "replica " : "none ", leader_id, self->leader_id);
    else
    if (leader && leader->role == MSG_ROLE_LEADER && epoch != self->leader_epoch)
        log_info ("order leader %" PRIu64 " holds epoch %" PRIu64, leader_id, epoch);
    bool changed = leader_id != self->leader_id || epoch != self->leader_epoch;
    self->leader_id = leader_id;
    self->leader_epoch = epoch;
    return changed;
}

//  Order replicas the broker knows: registered, and departed ones (the
//  gone list holds no registered id), so a dead follower still counts
//  against the majority.
static size_t
s_replicas_known (roster_t *self)
{
    size_t known = 0;
    for (size_t i = 0; i < self->worker_count; i++)
        known += streq (self->workers[i].service, "order");
    for (size_t i = 0; i < self->gone_count; i++)
        known += streq (self->gone[i].service, "order");
    return known;
}

roster_worker_t *
roster_silent_leader (roster_t *self, int64_t *check_at, char *reporters, size_t reporters_size)
{
    *check_at = 0;
    *reporters = 0;
    roster_worker_t *leader = s_replica_find (self, self->leader_id);
    if (!leader)
        return NULL;
    int64_t now = zclock_mono ();
    size_t silent = 0, used = 0;
    for (size_t i = 0; i < self->worker_count; i++) {
        roster_worker_t *worker = &self->workers[i];
        //  A report counts while the heartbeat that made it is recent.
        if (worker == leader || !streq (worker->service, "order")
            || worker->silent_leader != leader->replica_id
            || now - worker->heard_at > ROSTER_SILENT_MS)
            continue;
        int written = snprintf (reporters + used, reporters_size - used, "%s%" PRIu64,
                                silent ? ", " : "", worker->replica_id);
        if (written > 0 && (size_t) written < reporters_size - used)
            used += (size_t) written;
        silent++;
    }
    if (2 * silent <= s_replicas_known (self))
        return NULL;
    int64_t bound = self->expiry_ms * ROSTER_SILENT_PERCENT / 100;
    if (bound < ROSTER_SILENT_MS)
        bound = ROSTER_SILENT_MS;
    if (now - leader->heard_at <= bound) {
        *check_at = leader->heard_at + bound + 1;
        return NULL;
    }
    return leader;
}

bool
roster_may_announce (roster_t *self, const roster_worker_t *worker)
{
    return self->leader_id || !s_quiet (self) || !streq (worker->service, "order")
        || worker->role == MSG_ROLE_CATCHING_UP;
}

void
roster_leader_message (roster_t *self, msg_t *msg)
{
    msg_init (msg, MSG_LEADER);
    msg->peers = mem_calloc (ROSTER_WORKERS_MAX, sizeof (msg_peer_t));
    roster_worker_t *leader = s_replica_find (self, self->leader_id);
    if (leader) {
        msg->replica_id = leader->replica_id;
        msg->epoch = leader->epoch;
        snprintf (msg->pub, sizeof (msg->pub), "%s", leader->pub);
        snprintf (msg->rep, sizeof (msg->rep), "%s", leader->rep);
    }
    for (size_t i = 0; i < self->worker_count && msg->peer_count < MSG_PEERS_MAX; i++) {
        roster_worker_t *worker = &self->workers[i];
        if (!streq (worker->service, "order"))
            continue;
        msg_peer_t *peer = &msg->peers[msg->peer_count++];
        peer->replica_id = worker->replica_id;
        peer->role = worker->role;
        peer->number = worker->number;
        peer->epoch = worker->epoch;
        snprintf (peer->rep, sizeof (peer->rep), "%s", worker->rep);
    }
}

//  Adds one worker to a VIEW. The trade count shown is the registered
//  catalog's, else a departed one's.
static void
s_view_add (msg_t *view, const roster_worker_t *worker, bool registered)
{
    if (view->worker_count == MSG_PEERS_MAX)
        return;
    msg_worker_t *entry = &view->workers[view->worker_count++];
    snprintf (entry->service, sizeof (entry->service), "%s", worker->service);
    entry->replica_id = worker->replica_id;
    entry->incarnation = worker->incarnation;
    entry->age_ms = (uint64_t) (zclock_mono () - worker->heard_at);
    entry->registered = registered;
    entry->role = worker->role;
    entry->number = worker->number;
    entry->epoch = worker->epoch;
    //  Several catalogs: the one furthest along.
    if (streq (worker->service, "catalog") && (registered || !view->position)
        && worker->number > view->position)
        view->position = worker->number;
}

void
roster_view (roster_t *self, msg_t *view)
{
    msg_init (view, MSG_VIEW);
    view->workers = mem_calloc (MSG_PEERS_MAX, sizeof (msg_worker_t));
    for (size_t i = 0; i < self->worker_count; i++)
        s_view_add (view, &self->workers[i], true);
    for (size_t i = 0; i < self->gone_count; i++)
        s_view_add (view, &self->gone[i], false);
    roster_worker_t *leader = s_replica_find (self, self->leader_id);
    view->replica_id = self->leader_id;
    view->epoch = self->leader_epoch;
    if (leader && leader->role == MSG_ROLE_LEADER)
        msg_set_in_sync (view, leader->in_sync, leader->in_sync_count);
}
