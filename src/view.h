/*  view.h - the broker's VIEW reply, read for people: process names,
    states, lag, and one JSON rendering shared by `bazaar-client status`
    (so `bazaar status --json`) and the gateway's GET /status.

    JSON shape:
      {"leader": 3 | null, "epoch": 3, "catalog_number": 12,
       "in_sync": [1, 2],
       "processes": [{"process": "order-3", "service": "order",
                      "replica_id": 3, "incarnation": ..., "registered": true,
                      "state": "leader", "role": "leader", "position": 12,
                      "lag": 0, "epoch": 3, "heartbeat_age_ms": 40}, ...]}
    Processes are sorted: the catalog, then the replicas by id.
*/
#ifndef BAZAAR_VIEW_H
#define BAZAAR_VIEW_H

#include "msgs.h"

#include <jansson.h>
#include <stddef.h>

//  "catalog", "order-3", or the service name for anything else.
void view_process_name (const msg_worker_t *worker, char *buf, size_t size);

//  "down" (not registered), "serving" (catalog, follower), "catching up",
//  "candidate" or "leader".
const char *view_state (const msg_worker_t *worker);

//  Trades the worker (a replica or a catalog) is behind the position of
//  the leader the broker names, or behind the catalog's while no named
//  leader is registered; 0 when it is not behind (the leader never is).
uint64_t view_lag (const msg_t *view, const msg_worker_t *worker);

//  The leader the broker names, for the status line: "order-3 (epoch 4)",
//  "order-3 (epoch 4, campaigning)" while its row says candidate (the
//  broker names it at once; it leads once a majority promised it), or
//  "none". VIEW_LEADER_MAX bytes hold any of them.
#define VIEW_LEADER_MAX 80
void view_leader (const msg_t *view, char *buf, size_t size);

//  Sort view->workers in place (catalog first, then replicas by id) and
//  the in-sync ids.
void view_sort (msg_t *view);

//  The JSON above for a VIEW (sorted first); NULL if out of memory. The
//  caller owns the reference.
json_t *view_json (msg_t *view);

#endif
