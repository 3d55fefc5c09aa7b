/*  waiting.h - lookups that wait for the catalog to learn a position.

    Read-your-writes (msgs.h): a LOOKUP or LIST carries N, the number of
    trades its answer must reflect. A catalog that has applied fewer
    parks the request here; each turn answers the ones its store now
    covers and gives up on the ones that waited too long (UNAVAILABLE:
    the gateway may try another catalog). A parked request is never
    answered from a store behind its position.

    The table is small and bounded (WAITING_MAX): a request that finds it
    full is refused at once, like one that waited too long.
*/
#ifndef BAZAAR_WAITING_H
#define BAZAAR_WAITING_H

#include "msgs.h"
#include "worker.h"

#include <stdbool.h>
#include <stdint.h>

#define WAITING_MAX 10000
//  How long a request waits at most for the committed log to reach this
//  catalog. The leader's LEARN brings the commit position at the commit,
//  or in a beacon within 50 ms, and a copy round by RANGE takes milliseconds; the
//  bound is under the gateway's retry window (a quarter of its 1800 ms
//  timeout), so a lookup refused here is asked again, maybe of another
//  catalog, and waits once more.
#define WAITING_BOUND_MS 400

typedef struct _waiting_t waiting_t;

//  One parked request, as the caller gets it back.
typedef struct {
    worker_envelope_t envelope;
    msg_type_t type;             //  LOOKUP or LIST
    uint64_t req_id;
    char name[MSG_NAME_MAX + 1];
    uint64_t position;
    uint64_t give_up_at;         //  msg_now_ms () time
    uint64_t parked_at;
} waiting_request_t;

//  Called for a request that may be answered now (ready) or must be
//  refused (!ready: it waited its bound or its deadline passed).
typedef void (waiting_fn) (void *arg, const waiting_request_t *request, bool ready);

waiting_t *waiting_new (void);

void waiting_destroy (waiting_t **self_p);

//  Park request (LOOKUP or LIST) from envelope until the store holds
//  request->number trades. Returns 0, or -1 if the table is full (the
//  caller refuses it).
int waiting_add (waiting_t *self, const worker_envelope_t *envelope, const msg_t *request,
                 uint64_t now_ms);

//  Pass every request covered by count trades to fn (ready), then every
//  one past its bound at now_ms (not ready), and forget them. Returns how
//  many were passed.
size_t waiting_settle (waiting_t *self, uint64_t count, uint64_t now_ms, waiting_fn *fn,
                       void *arg);

//  Number of parked requests.
size_t waiting_size (waiting_t *self);

//  The highest position a parked request waits for (0: none), and when
//  the oldest was parked (msg_now_ms time; 0: none).
uint64_t waiting_highest (waiting_t *self);
uint64_t waiting_oldest (waiting_t *self);

#endif
