/*  bus.h - the gateway's one DEALER to the broker, with request ids,
    deadlines and retries.

    A caller fills a bus_call_t (usually embedded in state that lives in
    the HTTP request's pool), sets request and on_reply, and calls
    bus_send. The bus gives the request a unique req_id, sends it as one
    frame, and keeps the call in a table by req_id until exactly one of:
    the reply frame with that req_id arrives (on_reply gets it), the
    deadline passes (on_reply gets NULL), or the caller cancels.

    bus_send also sets request.deadline (msgs.h): three quarters of
    timeout_ms from now on the wall clock. A worker drops the request
    after it; the last quarter is left for a commit that started in time
    to finish and answer before the caller's 503.

    If call->retry is set, a reply ERROR with code UNAVAILABLE or
    STALE_EPOCH (no live worker, a leader change) during the first quarter
    of the deadline is not passed on: the bus sends the same request again
    (new req_id, same content) after a short pause, with a shorter deadline
    so that the whole call still ends within timeout_ms of bus_send. Only
    set retry for requests that are safe to repeat: reads, and trades that
    carry an idempotency key. A 504 (OUTCOME_UNKNOWN: the leader proposed
    it, or the replica holding it is gone) is retried the same way: the
    key makes the retry return the truth. call->uncertain then says that
    a later refusal (503) does not prove the first attempt failed. No
    reply at all is not uncertain: the worker drops work whose deadline
    passed (SPEC 3), so it never started; a leader frozen right after it
    proposed is the documented window, and the broker answers 504 for
    what a replica held when it expires it.
*/
#ifndef BAZAAR_GATEWAY_BUS_H
#define BAZAAR_GATEWAY_BUS_H

#include <h2o.h>
#include <stddef.h>
#include <stdint.h>

#include "msgs.h"

typedef struct _bus_t bus_t;
typedef struct _bus_call_t bus_call_t;

//  Called once per sent call: reply is the decoded reply (owned by the
//  bus, valid during the call), or NULL if none came in time.
typedef void (*bus_reply_fn) (bus_call_t *call, const msg_t *reply);

struct _bus_call_t {
    //  Set by the caller before bus_send
    msg_t request;              //  req_id is filled in by the bus
    bus_reply_fn on_reply;
    bool retry;                 //  resend when refused, see above
    //  Private to the bus
    bus_t *bus;
    uint64_t retry_until;       //  loop time in ms
    uint64_t req_id;            //  0 while not waiting for a reply
    bool uncertain;             //  an attempt may have been done: a 504 came
                                //  (sticky across retries)
    h2o_timeout_entry_t timer;  //  the deadline, or the pause before a retry
};

//  Connect a DEALER to endpoint in zmq_context and watch it in loop.
//  Replies are due within timeout_ms of each send. Returns NULL and
//  writes a reason into error on failure.
bus_t *bus_new (void *zmq_context, h2o_evloop_t *loop, const char *endpoint,
                uint64_t timeout_ms, char *error, size_t error_size);

//  Close the socket; calls still waiting get no callback.
void bus_destroy (bus_t **self_p);

//  Zero a call before its first use.
void bus_call_init (bus_call_t *call, msg_type_t type, bus_reply_fn on_reply);

//  Send call->request. Returns 0 when sent (on_reply will be called
//  later, possibly before bus_send returns for a very fast reply), or -1
//  if it could not be sent now (broker not connected, queue full); then
//  on_reply is never called.
int bus_send (bus_t *self, bus_call_t *call);

//  Forget a call: on_reply will not be called. Safe on an idle call.
void bus_cancel (bus_call_t *call);

//  Fail every call in progress (on_reply gets NULL). For shutdown.
void bus_fail_all (bus_t *self);

//  Number of calls in progress.
size_t bus_pending (bus_t *self);

#endif
