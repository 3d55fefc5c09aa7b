/*  batch.h - replies held back until a group commit is durable.

    A service handles every request that is waiting, adds each reply
    here, makes the batch durable with one sync, then sends them all.
*/
#ifndef BAZAAR_BATCH_H
#define BAZAAR_BATCH_H

#include "msgs.h"
#include "worker.h"

typedef struct _batch_t batch_t;

batch_t *batch_new (void);

void batch_destroy (batch_t **self_p);

//  Encode reply for the client behind envelope and hold it. Returns 0 or -1.
int batch_add (batch_t *self, const worker_envelope_t *envelope, const msg_t *reply);

//  Hold an ERROR reply with code for request req_id.
int batch_add_error (batch_t *self, const worker_envelope_t *envelope, uint64_t req_id,
                     msg_error_t code);

//  Send every held reply through worker and empty the batch.
void batch_send (batch_t *self, worker_t *worker);

#endif
