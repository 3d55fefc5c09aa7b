/*  broker.h - the Majordomo-style router between clients and workers.

    One ROUTER socket. Workers announce themselves with HEARTBEAT
    (service, replica id) and keep doing so; the broker forgets a worker
    after `expiry_ms` without one (the order leader sooner when a majority
    of the replicas report it silent and the broker does not hear it
    either: roster.h). A client request is routed by
    msg_service (type) to a live worker: round robin for "catalog", the
    live replica with the highest id for "order". With no live worker
    the client gets ERROR UNAVAILABLE at once.
*/
#ifndef BAZAAR_BROKER_H
#define BAZAAR_BROKER_H

#include <stddef.h>
#include <stdint.h>

typedef struct _broker_t broker_t;

//  Bind the ROUTER to endpoint and the tap PUB to tap_endpoint (NULL or
//  "" for none). Returns NULL and a reason in error if a bind fails.
broker_t *broker_new (const char *endpoint, const char *tap_endpoint, int64_t expiry_ms,
                      char *error, size_t error_size);

void broker_destroy (broker_t **self_p);

//  Route messages until interrupted (SIGINT/SIGTERM). Returns 0.
int broker_run (broker_t *self);

#endif
