/*  inflight.h - requests the broker forwarded and has not seen answered.

    When an order worker goes (kill -9: the broker's next send to it fails;
    a pause: its heartbeats stop), what it held will never be answered, and
    each of its clients would wait out its own timeout (the gateway's
    1.8 s) although the next leader is ready within milliseconds. So the
    broker remembers which worker each order request went to, and when
    that worker goes it answers every client UNAVAILABLE at once; the
    gateway retries on the next leader (trades carry an idempotency key,
    so a retry never applies twice). Lookups the same way: a catalog
    killed mid-request costs its clients one retry on another catalog.
*/
#ifndef BAZAAR_INFLIGHT_H
#define BAZAAR_INFLIGHT_H

#include <stddef.h>
#include <stdint.h>

#define INFLIGHT_MAX 100000        //  more requests in flight are not tracked
#define INFLIGHT_AGE_MAX_MS 10000  //  an entry older than this is forgotten

typedef struct _inflight_t inflight_t;

inflight_t *inflight_new (void);

void inflight_destroy (inflight_t **self_p);

//  Remember that request req_id of client went to the worker whose
//  incarnation is worker. Nothing if the table is full.
void inflight_add (inflight_t *self, const void *client, size_t client_size, uint64_t req_id,
                   uint64_t worker);

//  Forget request req_id of client (its reply passed).
void inflight_remove (inflight_t *self, const void *client, size_t client_size,
                      uint64_t req_id);

typedef void (inflight_fn) (void *arg, const void *client, size_t client_size,
                            uint64_t req_id);

//  Pass every request held by worker to fn and forget them. Returns how
//  many there were.
size_t inflight_fail (inflight_t *self, uint64_t worker, inflight_fn *fn, void *arg);

//  Forget entries older than INFLIGHT_AGE_MAX_MS (replies that never came
//  from a worker that lives on). Returns how many.
size_t inflight_expire (inflight_t *self);

#endif
