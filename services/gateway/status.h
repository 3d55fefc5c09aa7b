/*  status.h - the body of GET /status: the broker's view (src/view.h)
    and the gateway's own: the cache (names held, hit ratio, recent
    flushes and why), requests in flight, requests per second.
*/
#ifndef BAZAAR_GATEWAY_STATUS_H
#define BAZAAR_GATEWAY_STATUS_H

#include <jansson.h>

#include "gateway.h"
#include "msgs.h"

//  {"broker":"up", <view_json fields>, "gateway":{...}} for a VIEW reply
//  (sorted in place). NULL if out of memory; the caller owns the result.
json_t *status_json (gateway_t *gateway, msg_t *view);

#endif
