/*  events.h - what happened to the system lately, for the dashboard: a
    bounded ring of events the gateway derives from the broker's view.

    The gateway asks the broker for its view every EVENTS_POLL_MS (and
    also sees the views GET /status fetches), compares each with the one
    before and keeps the last EVENTS_KEPT events: elections (leader or
    epoch changes), processes leaving, joining and rejoining, role
    changes (catching up, caught up), the in-sync set, the broker going
    silent and back. The dashboard adds the cache's recent flushes.
    GET /status carries them as "events", oldest first, so a page opened
    after a failover still shows it. The ring lives in the gateway's
    memory: it holds what happened since this gateway started.
*/
#ifndef BAZAAR_GATEWAY_EVENTS_H
#define BAZAAR_GATEWAY_EVENTS_H

#include <h2o.h>
#include <jansson.h>

#include "bus.h"
#include "msgs.h"

#define EVENTS_KEPT 64
#define EVENTS_POLL_MS 500

typedef struct _events_t events_t;

//  Start polling the broker's view over bus every EVENTS_POLL_MS in loop.
events_t *events_new (bus_t *bus, h2o_evloop_t *loop);

//  Stop polling and free the ring.
void events_destroy (events_t **self_p);

//  Compare view (a VIEW reply) with the last one seen and record what
//  changed; view NULL means the broker did not answer.
void events_observe (events_t *self, const msg_t *view);

//  [{"seq","at_ms","kind","text"}, ...] oldest first; NULL if out of
//  memory. The caller owns the result.
json_t *events_json (events_t *self);

#endif
