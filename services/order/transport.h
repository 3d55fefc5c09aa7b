/*  transport.h - an order replica's sockets for the consensus messages.

    Sockets it owns:
      pub  PUB bound on --pub: CS_APPEND to all (followers subscribe),
           LEARN (catalogs subscribe), and for the tap a copy of the
           CS_* (but CS_APPEND) and RANGE messages the REP endpoint
           received: nothing a subscriber would act on.
      rep  ROUTER bound on --rep: receives [empty][CS_*] from the peers'
           DEALERs (never answered), and answers [empty][RANGE] with
           committed trades only ([empty][TRADES], position A = the
           commit position): catalogs copy ranges from here.
      sub  SUB to the PUB of the replica the broker names (CS_APPEND only).
    Point-to-point messages leave through peers.h (one DEALER per peer's
    REP endpoint, as the broker's announcements list them).
*/
#ifndef BAZAAR_TRANSPORT_H
#define BAZAAR_TRANSPORT_H

#include "msgs.h"
#include "peers.h"
#include "tradelog.h"

#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

typedef struct _transport_t transport_t;

//  A CS_* message arrived (on rep or sub).
typedef void (transport_msg_fn) (void *arg, const msg_t *msg);

//  Bind pub and rep for replica replica_id; answer RANGE from log (not
//  owned) below the commit position the caller keeps up to date. Returns
//  NULL and a reason in error.
transport_t *transport_new (tradelog_t *log, uint64_t replica_id, const char *pub,
                            const char *rep, char *error, size_t error_size);

void transport_destroy (transport_t **self_p);

//  The peers (DEALERs to their REP endpoints; not owned).
void transport_set_peers (transport_t *self, peers_t *peers);

//  Entries below commit may be served by RANGE.
void transport_set_commit (transport_t *self, uint64_t commit);

//  Subscribe to replica_id's PUB at pub (NULL or "": none). Nothing
//  changes if it is the one subscribed to already.
void transport_follow (transport_t *self, uint64_t replica_id, const char *pub);

//  Logs once (again after a handshake succeeded) that the followed PUB
//  refused our handshake (CURVE keys that do not match): otherwise a
//  replica hears nothing from its leader and says nothing.
void transport_check_refusal (transport_t *self);

size_t transport_poll_items (transport_t *self, zmq_pollitem_t *items, size_t max);

//  Receive everything waiting on the sockets the last sockpoll_wait over
//  items[0..count) found readable: CS_* to fn, RANGE answered.
void transport_drain (transport_t *self, const zmq_pollitem_t *items, size_t count,
                      transport_msg_fn *fn, void *arg);

//  Send msg: to all on the PUB (a CS_APPEND or a LEARN), to all through each peer's
//  REP (anything else to all), or to replica msg->to. Returns 0 or -1.
int transport_send (transport_t *self, const msg_t *msg);

#endif
