/*  gateway.h - the HTTP gateway: one h2o event loop that turns HTTP
    requests into bus requests and bus replies into HTTP answers.

    Everything the process holds lives in one gateway_t: the h2o
    configuration and context, the listener (conns.h), the DEALER to the broker
    (bus.h), the stock cache with its catalog subscription (cache.h), the
    timeline of events (events.h) and the counters (metrics.h). One thread; nothing blocks.
*/
#ifndef BAZAAR_GATEWAY_H
#define BAZAAR_GATEWAY_H

#include <h2o.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "cache.h"
#include "conns.h"
#include "events.h"
#include "metrics.h"

typedef struct {
    const char *host;           //  HTTP listen address
    int port;                   //  HTTP port; 0 picks a free one
    const char *broker;         //  broker ROUTER endpoint
    const char *catalog_pub;    //  catalog invalidation PUB endpoint
    size_t cache_size;          //  LRU entries; 0 disables the cache
    uint64_t timeout_ms;        //  deadline for a bus reply
    size_t max_connections;     //  HTTP connections open at once (conns.h)
    size_t max_body_memory;     //  bytes held by requests being received
} gateway_config_t;

typedef struct _gateway_t gateway_t;

struct _gateway_t {
    gateway_config_t config;
    h2o_globalconf_t globalconf;
    h2o_context_t context;
    h2o_accept_ctx_t accept_ctx;
    h2o_evloop_t *loop;
    conns_t *conns;             //  the listener and its limits
    h2o_socket_t *signals;      //  signalfd for SIGINT / SIGTERM
    int port;                   //  the port actually bound
    void *zmq_context;
    bus_t *bus;
    cache_t *cache;
    events_t *events;           //  the dashboard's timeline (events.h)
    metrics_t *metrics;
    uint64_t key_prefix;        //  random per process, for generated keys
    uint64_t next_key;
    uint64_t acked_position;    //  1 + the highest transaction number acknowledged:
                                //  every lookup asks a catalog for at least this
    bool stopping;
};

//  Set up everything and start listening. SIGINT and SIGTERM must be
//  blocked in every thread already (main does it first). Returns NULL
//  and writes a reason into error on failure.
gateway_t *gateway_new (const gateway_config_t *config, char *error, size_t error_size);

//  Serve until SIGINT or SIGTERM, then answer what is in flight and
//  close connections. Returns 0.
int gateway_run (gateway_t *self);

//  Free everything. Does nothing on NULL.
void gateway_destroy (gateway_t **self_p);

#endif
