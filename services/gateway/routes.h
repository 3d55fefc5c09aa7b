/*  routes.h - the gateway's HTTP API (SPEC section 2).

    GET /stocks/<name>, GET /stocks, POST /orders, GET /orders/<n>,
    GET /metrics, GET /status (the broker's view and the gateway's) and
    the dashboard page (GET / and /dashboard), and HEAD of each GET; 405
    with Allow for another method on those paths, 404 for any other path.
    The query string is ignored; an absolute-form target
    (http://host/path) routes by its path.
*/
#ifndef BAZAAR_GATEWAY_ROUTES_H
#define BAZAAR_GATEWAY_ROUTES_H

#include <h2o.h>

#include "gateway.h"

//  Handle one request: answer it now or start the bus call that will.
//  Returns 0 (the request is always taken).
int routes_handle (gateway_t *gateway, h2o_req_t *req);

//  Count in the metrics an answer h2o gave req itself (a 413 from its
//  Content-Length), under the route its method and path would take, with
//  no latency (the request was never read).
void routes_count_refused (gateway_t *gateway, h2o_req_t *req, int status);

#endif
