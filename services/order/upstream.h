/*  upstream.h - an order replica's link to the catalog.

    A DEALER that is a client of the broker, and a second DEALER straight
    to the catalog's own ROUTER once the broker has announced where it is
    (msgs.h "Direct link"). A call goes out on the direct link while it
    is connected, and through the broker otherwise. Three kinds of call go out:
    APPLY (a client's trade, under the leader's epoch), JOURNAL (copy
    committed trades: the catalog is the last resort for catching up) and
    CLAIM (a new leader asks for the next epoch). Each has a request id
    and a deadline; a call that gets no answer in time comes back with no
    reply, so the caller answers 503 or tries again.
*/
#ifndef BAZAAR_UPSTREAM_H
#define BAZAAR_UPSTREAM_H

#include "msgs.h"
#include "worker.h"

typedef struct _upstream_t upstream_t;

typedef enum { UPSTREAM_APPLY, UPSTREAM_JOURNAL, UPSTREAM_CLAIM } upstream_kind_t;

//  What a reply (or a timeout) belongs to.
typedef struct {
    upstream_kind_t kind;
    uint64_t req_id;
    uint64_t client_req_id;        //  APPLY: the TRADE's req_id
    uint64_t deadline;             //  APPLY: its deadline (msg_now_ms), the client's if sooner
    worker_envelope_t envelope;    //  APPLY: who asked
} upstream_call_t;

//  reply is NULL when the call's deadline passed.
typedef void (upstream_fn) (void *arg, const upstream_call_t *call, const msg_t *reply);

upstream_t *upstream_new (const char *broker, int64_t timeout_ms);

void upstream_destroy (upstream_t **self_p);

//  The catalog's direct endpoint, as announced ("" if none): connects
//  the direct link to a new one; with none, calls go through the broker.
//  Replies to calls already out on a link still arrive until the calls'
//  deadlines.
void upstream_set_catalog (upstream_t *self, const char *endpoint);

//  Poll items for the replies, at most max; returns how many were filled.
size_t upstream_poll_items (upstream_t *self, zmq_pollitem_t *items, size_t max);

//  Send APPLY for request (a TRADE from envelope) under epoch, telling
//  the catalog our log count. Returns 0, or -1 if it cannot go out.
int upstream_apply (upstream_t *self, const worker_envelope_t *envelope, const msg_t *request,
                    uint64_t epoch, uint64_t count);

//  Ask for committed trades from number from, unless a JOURNAL is out.
//  Returns 0 if one is out now, -1 if it could not be sent.
int upstream_journal (upstream_t *self, uint64_t from);

//  True while a JOURNAL is out.
bool upstream_journal_busy (upstream_t *self);

//  Ask for a new epoch, unless a CLAIM is out. Returns 0 or -1.
int upstream_claim (upstream_t *self, uint64_t replica_id, uint64_t count);

//  Pass every reply waiting to fn.
void upstream_drain (upstream_t *self, upstream_fn *fn, void *arg);

//  Pass every call whose deadline passed to fn, with no reply.
void upstream_expire (upstream_t *self, upstream_fn *fn, void *arg);

#endif
