/*  events.c - the dashboard's timeline, derived from the broker's views.

    Invariant: seen/leader/epoch/processes describe the last view
    observed; the ring holds the last EVENTS_KEPT events in order, each
    with a sequence number one above the one before.
*/
#include "events.h"
#include "mem.h"
#include "log.h"
#include "view.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define EVENT_TEXT_MAX 160
#define PROCESSES_MAX 64

typedef struct {
    uint64_t seq;
    int64_t at_ms;              //  wall clock, ms since the Unix epoch
    const char *kind;           //  "election", "left", "joined", "rejoined", "role", "in-sync"...
    char text[EVENT_TEXT_MAX];
} s_event_t;

typedef struct {
    char name[MSG_SERVICE_MAX + 32];    //  "order-2", "catalog"
    uint64_t incarnation;
    const char *state;                  //  view_state (): a static string
} s_process_t;

struct _events_t {
    bus_t *bus;
    h2o_evloop_t *loop;
    h2o_timeout_t period;
    h2o_timeout_entry_t timer;
    bus_call_t call;
    s_event_t ring[EVENTS_KEPT];
    uint64_t next_seq;
    //  The last view observed
    bool seen;
    bool broker_silent;
    uint64_t leader;
    uint64_t epoch;
    s_process_t processes[PROCESSES_MAX];
    size_t process_count;
    char in_sync[EVENT_TEXT_MAX / 2];   //  "1,2,3"
};

static int64_t
s_wall_ms (void)
{
    struct timeval now;
    gettimeofday (&now, NULL);
    return (int64_t) now.tv_sec * 1000 + now.tv_usec / 1000;
}

static void
s_add (events_t *self, const char *kind, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_add (events_t *self, const char *kind, const char *format, ...)
{
    s_event_t *event = &self->ring[self->next_seq % EVENTS_KEPT];
    event->seq = self->next_seq++;
    event->at_ms = s_wall_ms ();
    event->kind = kind;
    va_list args;
    va_start (args, format);
    vsnprintf (event->text, sizeof (event->text), format, args);
    va_end (args);
}

static void
s_leader_name (uint64_t leader, char *buf, size_t size)
{
    if (leader)
        snprintf (buf, size, "order-%" PRIu64, leader);
    else
        snprintf (buf, size, "none");
}

static void
s_observe_leader (events_t *self, const msg_t *view)
{
    char before[32], now[32];
    s_leader_name (self->leader, before, sizeof (before));
    s_leader_name (view->replica_id, now, sizeof (now));
    if (!self->seen)
        s_add (self, "watching", "gateway started watching: leader %s, epoch %" PRIu64, now,
               view->epoch);
    else
    if (view->replica_id != self->leader)
        s_add (self, "election", "leader changed: %s → %s (epoch %" PRIu64 ")", before, now,
               view->epoch);
    else
    if (view->epoch != self->epoch)
        s_add (self, "election", "%s leads with epoch %" PRIu64, now, view->epoch);
    self->leader = view->replica_id;
    self->epoch = view->epoch;
}

static const s_process_t *
s_find (const events_t *self, const char *name)
{
    for (size_t i = 0; i < self->process_count; i++)
        if (strcmp (self->processes[i].name, name) == 0)
            return &self->processes[i];
    return NULL;
}

static void
s_observe_process (events_t *self, const s_process_t *old, const s_process_t *now,
                   const msg_worker_t *worker)
{
    bool down = strcmp (now->state, "down") == 0;
    if (!old)
        s_add (self, "joined", "%s joined (%s)", now->name, now->state);
    else
    if (strcmp (old->state, now->state) == 0 && old->incarnation == now->incarnation)
        return;
    else
    if (down)
        s_add (self, "left", "%s left (missed heartbeats or disconnected)", now->name);
    else
    if (strcmp (old->state, "down") == 0 || old->incarnation != now->incarnation)
        s_add (self, "rejoined", "%s rejoined as %s at position %" PRIu64, now->name,
               now->state, worker->number);
    else
        s_add (self, "role", "%s: %s → %s", now->name, old->state, now->state);
}

//  The in-sync set as the leader reports it, while the leader stays.
static void
s_observe_in_sync (events_t *self, const msg_t *view, bool same_leader)
{
    char in_sync[sizeof (self->in_sync)] = "";
    size_t used = 0;
    for (size_t i = 0; i < view->in_sync_count && used < sizeof (in_sync); i++)
        used += (size_t) snprintf (in_sync + used, sizeof (in_sync) - used, "%s%" PRIu64,
                                   i ? "," : "", view->in_sync[i]);
    if (self->seen && same_leader && strcmp (in_sync, self->in_sync) != 0)
        s_add (self, "in-sync", "in-sync set: [%s] → [%s]", self->in_sync, in_sync);
    snprintf (self->in_sync, sizeof (self->in_sync), "%s", in_sync);
}

void
events_observe (events_t *self, const msg_t *view)
{
    if (!view) {
        if (self->seen && !self->broker_silent)
            s_add (self, "broker", "broker does not answer");
        self->broker_silent = true;
        return;
    }
    if (self->broker_silent)
        s_add (self, "broker", "broker answers again");
    self->broker_silent = false;
    s_observe_in_sync (self, view, self->seen && view->replica_id == self->leader);
    if (self->seen)
        s_observe_leader (self, view);
    s_process_t processes[PROCESSES_MAX];
    size_t count = 0;
    for (size_t i = 0; i < view->worker_count && count < PROCESSES_MAX; i++) {
        s_process_t *now = &processes[count++];
        view_process_name (&view->workers[i], now->name, sizeof (now->name));
        now->incarnation = view->workers[i].incarnation;
        now->state = view_state (&view->workers[i]);
        if (self->seen)
            s_observe_process (self, s_find (self, now->name), now, &view->workers[i]);
    }
    for (size_t i = 0; self->seen && i < self->process_count; i++) {
        const s_process_t *old = &self->processes[i];
        bool still = false;
        for (size_t j = 0; j < count && !still; j++)
            still = strcmp (processes[j].name, old->name) == 0;
        if (!still && strcmp (old->state, "down") != 0)
            s_add (self, "left", "%s left (missed heartbeats or disconnected)", old->name);
    }
    if (!self->seen)
        s_observe_leader (self, view);
    memcpy (self->processes, processes, count * sizeof (s_process_t));
    self->process_count = count;
    self->seen = true;
}

json_t *
events_json (events_t *self)
{
    json_t *list = json_array ();
    uint64_t first = self->next_seq > EVENTS_KEPT ? self->next_seq - EVENTS_KEPT : 0;
    for (uint64_t seq = first; list && seq < self->next_seq; seq++) {
        const s_event_t *event = &self->ring[seq % EVENTS_KEPT];
        if (json_array_append_new (list, json_pack ("{s:I,s:I,s:s,s:s}", "seq",
                                                    (json_int_t) event->seq, "at_ms",
                                                    (json_int_t) event->at_ms, "kind",
                                                    event->kind, "text", event->text))) {
            json_decref (list);
            return NULL;
        }
    }
    return list;
}

//  ---------------------------------------------------------------------
//  Polling: one STATUS call at a time, the next EVENTS_POLL_MS after the
//  answer (or the deadline).

static void
s_on_view (bus_call_t *call, const msg_t *reply)
{
    events_t *self = H2O_STRUCT_FROM_MEMBER (events_t, call, call);
    events_observe (self, reply && reply->type == MSG_VIEW ? reply : NULL);
    h2o_timeout_link (self->loop, &self->period, &self->timer);
}

static void
s_on_timer (h2o_timeout_entry_t *entry)
{
    events_t *self = H2O_STRUCT_FROM_MEMBER (events_t, timer, entry);
    bus_call_init (&self->call, MSG_STATUS, s_on_view);
    if (bus_send (self->bus, &self->call))
        h2o_timeout_link (self->loop, &self->period, &self->timer);
}

events_t *
events_new (bus_t *bus, h2o_evloop_t *loop)
{
    events_t *self = mem_calloc (1, sizeof (events_t));
    self->bus = bus;
    self->loop = loop;
    h2o_timeout_init (loop, &self->period, EVENTS_POLL_MS);
    self->timer.cb = s_on_timer;
    h2o_timeout_link (loop, &self->period, &self->timer);
    return self;
}

void
events_destroy (events_t **self_p)
{
    if (!*self_p)
        return;
    events_t *self = *self_p;
    bus_cancel (&self->call);
    if (h2o_timeout_is_linked (&self->timer))
        h2o_timeout_unlink (&self->timer);
    h2o_timeout_dispose (self->loop, &self->period);
    free (self);
    *self_p = NULL;
}
