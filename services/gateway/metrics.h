/*  metrics.h - request counters and latency histograms for /metrics.

    Counts every answered HTTP request by route and status, and its
    latency (from h2o handing us the request to our answer) in a
    histogram per route, and answered requests per second over the last
    METRICS_RATE_WINDOW_S seconds; renders them with the cache counters in the
    Prometheus text format, version 0.0.4.
*/
#ifndef BAZAAR_GATEWAY_METRICS_H
#define BAZAAR_GATEWAY_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"

typedef enum {
    ROUTE_STOCK,        //  GET /stocks/<name>
    ROUTE_STOCKS,       //  GET /stocks
    ROUTE_TRADE,        //  POST /orders
    ROUTE_ORDER,        //  GET /orders/<n>
    ROUTE_METRICS,      //  GET /metrics
    ROUTE_STATUS,       //  GET /status
    ROUTE_DASHBOARD,    //  GET / and /dashboard
    ROUTE_OTHER,        //  anything else
    ROUTE_COUNT
} route_t;

typedef struct _metrics_t metrics_t;

metrics_t *metrics_new (void);

void metrics_destroy (metrics_t **self_p);

//  Record one answered request.
void metrics_observe (metrics_t *self, route_t route, int status, uint64_t elapsed_ns);

//  Requests per second answered for route (ROUTE_COUNT: all routes) over
//  the last METRICS_RATE_WINDOW_S whole seconds.
#define METRICS_RATE_WINDOW_S 5
double metrics_rate (metrics_t *self, route_t route);

//  Render every metric; returns a malloc'd string (the caller frees it)
//  and its length in *size, or NULL if out of memory.
char *metrics_render (metrics_t *self, const cache_stats_t *cache, size_t *size);

//  Monotonic clock in nanoseconds.
uint64_t metrics_now_ns (void);

#endif
