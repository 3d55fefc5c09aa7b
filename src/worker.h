/*  worker.h - the worker side of the broker protocol.

    A DEALER connected to the broker. worker_tick sends a HEARTBEAT
    (which also registers the worker) every WORKER_HEARTBEAT_MS; requests
    arrive as [client envelope][request] and are answered with the same
    envelope. The envelope is opaque: keep it, hand it back. The broker's
    own messages (LEADER announcements, a REFUSED error) arrive as one
    frame and reach the handler with no envelope.
*/
#ifndef BAZAAR_WORKER_H
#define BAZAAR_WORKER_H

#include "msgs.h"

#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#define WORKER_HEARTBEAT_MS MSG_HEARTBEAT_MS
//  Requests a worker's loop handles per turn (worker_drain's max), so its
//  timers and its other sockets are served under a flood.
#define WORKER_BATCH_MAX 1024
#define WORKER_ENVELOPE_MAX 256

typedef struct {
    unsigned char data[WORKER_ENVELOPE_MAX];
    size_t size;
} worker_envelope_t;

typedef struct _worker_t worker_t;

//  Connect to the broker as a worker for service. pub and rep are the
//  worker's own endpoints, announced in heartbeats ("" if none). Returns
//  NULL and a reason in error if the broker's endpoint cannot be used.
worker_t *worker_new (const char *broker, const char *service, uint64_t replica_id,
                      const char *pub, const char *rep, char *error, size_t error_size);

void worker_destroy (worker_t **self_p);

//  Random per process start: a new value tells peers this is a restart.
uint64_t worker_incarnation (worker_t *self);

//  Poll items for the socket requests arrive on; returns how many were
//  filled (1), at most max.
size_t worker_poll_items (worker_t *self, zmq_pollitem_t *items, size_t max);

//  Send a heartbeat if one is due. Returns ms until the next is due.
int64_t worker_tick (worker_t *self);

//  Stop (false) or start (true) heartbeats: a worker that cannot serve
//  yet stays unregistered and lets the broker expire it.
void worker_set_ready (worker_t *self, bool ready);

//  Set what heartbeats report: position (log or trade count), epoch and
//  role (MSG_ROLE_*). A change of role or epoch is sent at once.
void worker_set_position (worker_t *self, uint64_t number, uint64_t epoch, uint8_t role);

//  Set the leader this order replica reports silent (0: none). A change
//  is sent at once: the broker may expire a leader a majority cannot hear.
void worker_set_silent_leader (worker_t *self, uint64_t leader_id);

//  Set the in-sync set heartbeats report (a leader's followers in sync;
//  count 0 otherwise). Copies ids; an unchanged set costs a compare.
void worker_set_in_sync (worker_t *self, const uint64_t *ids, size_t count);

//  envelope is NULL for a message from the broker itself (LEADER, ERROR).
typedef void (worker_handler_fn) (void *arg, const worker_envelope_t *envelope,
                                  const msg_t *request);

//  If the last sockpoll_wait over items[0..count) found the socket
//  readable, receive every waiting request, at most max, passing each to
//  handler, except a request whose deadline has passed (msg_expired):
//  that one is dropped before any work, counted, answered ERROR
//  UNAVAILABLE ("deadline passed") and logged (one warning a second at
//  most, with the count). Returns the number received.
int worker_drain (worker_t *self, const zmq_pollitem_t *items, size_t count, int max,
                  worker_handler_fn *handler, void *arg);

//  Send reply to the client behind envelope. Returns 0 or -1.
int worker_send (worker_t *self, const worker_envelope_t *envelope, const msg_t *reply);

//  Send an already encoded reply frame. Returns 0 or -1.
int worker_send_frame (worker_t *self, const worker_envelope_t *envelope, const void *data,
                       size_t size);

#endif
