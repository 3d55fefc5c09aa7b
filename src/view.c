/*  view.c - the broker's VIEW for people: names, states, lag, JSON. */
#include "view.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
view_process_name (const msg_worker_t *worker, char *buf, size_t size)
{
    if (strcmp (worker->service, "order") == 0)
        snprintf (buf, size, "order-%" PRIu64, worker->replica_id);
    else
        snprintf (buf, size, "%s", worker->service);
}

const char *
view_state (const msg_worker_t *worker)
{
    if (!worker->registered)
        return "down";
    if (strcmp (worker->service, "order") != 0)
        return "serving";
    switch (worker->role) {
        case MSG_ROLE_CATCHING_UP: return "catching up";
        case MSG_ROLE_CANDIDATE: return "candidate";
        case MSG_ROLE_LEADER: return "leader";
        default: return "serving";
    }
}

//  The registered row of the replica the broker names, or NULL.
static const msg_worker_t *
s_named_leader (const msg_t *view)
{
    for (size_t i = 0; i < view->worker_count; i++) {
        const msg_worker_t *worker = &view->workers[i];
        if (worker->registered && worker->replica_id == view->replica_id
            && strcmp (worker->service, "order") == 0)
            return worker;
    }
    return NULL;
}

uint64_t
view_lag (const msg_t *view, const msg_worker_t *worker)
{
    //  Positions are each process's last heartbeat, taken at different
    //  moments: under load the catalog's may be past the leader's, and the
    //  leader is still the mark (never behind itself).
    const msg_worker_t *leader = s_named_leader (view);
    uint64_t ahead = leader ? leader->number : view->position;
    return worker->number >= ahead ? 0 : ahead - worker->number;
}

void
view_leader (const msg_t *view, char *buf, size_t size)
{
    if (!view->replica_id) {
        snprintf (buf, size, "none");
        return;
    }
    const msg_worker_t *leader = s_named_leader (view);
    bool campaigning = leader && leader->role == MSG_ROLE_CANDIDATE;
    snprintf (buf, size, "order-%" PRIu64 " (epoch %" PRIu64 "%s)", view->replica_id,
              view->epoch, campaigning ? ", campaigning" : "");
}

static int
s_compare (const void *a, const void *b)
{
    const msg_worker_t *x = a, *y = b;
    int order_x = strcmp (x->service, "order") == 0;
    int order_y = strcmp (y->service, "order") == 0;
    if (order_x != order_y)
        return order_x - order_y;
    int by_service = strcmp (x->service, y->service);
    if (by_service)
        return by_service;
    return (x->replica_id > y->replica_id) - (x->replica_id < y->replica_id);
}

static int
s_compare_id (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return (x > y) - (x < y);
}

void
view_sort (msg_t *view)
{
    if (view->worker_count > 1)
        qsort (view->workers, view->worker_count, sizeof (msg_worker_t), s_compare);
    if (view->in_sync_count > 1)
        qsort (view->in_sync, view->in_sync_count, sizeof (uint64_t), s_compare_id);
}

static json_t *
s_process_json (const msg_t *view, const msg_worker_t *worker)
{
    char name[MSG_SERVICE_MAX + 32];
    view_process_name (worker, name, sizeof (name));
    return json_pack ("{s:s,s:s,s:I,s:I,s:b,s:s,s:s,s:I,s:I,s:I,s:I}", "process", name,
                      "service", worker->service, "replica_id", (json_int_t) worker->replica_id,
                      "incarnation", (json_int_t) worker->incarnation, "registered",
                      (int) worker->registered, "state", view_state (worker), "role",
                      msg_role_name (worker->role), "position", (json_int_t) worker->number,
                      "lag", (json_int_t) view_lag (view, worker), "epoch",
                      (json_int_t) worker->epoch, "heartbeat_age_ms",
                      (json_int_t) worker->age_ms);
}

json_t *
view_json (msg_t *view)
{
    view_sort (view);
    json_t *processes = json_array ();
    json_t *in_sync = json_array ();
    for (size_t i = 0; processes && i < view->worker_count; i++)
        json_array_append_new (processes, s_process_json (view, &view->workers[i]));
    for (size_t i = 0; in_sync && i < view->in_sync_count; i++)
        json_array_append_new (in_sync, json_integer ((json_int_t) view->in_sync[i]));
    json_t *leader = view->replica_id ? json_integer ((json_int_t) view->replica_id)
                                      : json_null ();
    if (!processes || !in_sync || !leader) {
        json_decref (processes);
        json_decref (in_sync);
        json_decref (leader);
        return NULL;
    }
    return json_pack ("{s:o,s:I,s:I,s:o,s:o}", "leader", leader, "epoch",
                      (json_int_t) view->epoch, "catalog_number", (json_int_t) view->position,
                      "in_sync", in_sync, "processes", processes);
}
