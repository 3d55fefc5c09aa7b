/*  epochs.h - the leader epochs the catalog granted, durably.

    The catalog is the one fencing authority: a new order leader CLAIMs
    an epoch, the catalog grants the highest so far + 1 and refuses any
    APPLY from an older one, so a leader paused past a failover commits
    nothing when it resumes. Epochs must only grow, across restarts of
    any process, so each grant is an EPOCHREC record in catalog.epoch,
    synced (always: grants are rare) before it is answered.
*/
#ifndef BAZAAR_EPOCHS_H
#define BAZAAR_EPOCHS_H

#include <stddef.h>
#include <stdint.h>

typedef struct _epochs_t epochs_t;

//  Open or create dir/catalog.epoch. Returns NULL and a reason in error.
epochs_t *epochs_open (const char *dir, char *error, size_t error_size);

void epochs_destroy (epochs_t **self_p);

//  The highest epoch granted, 0 if none.
uint64_t epochs_highest (epochs_t *self);

//  Grant the next epoch and make it durable. Returns it, or 0 if it could
//  not be written (nothing granted).
uint64_t epochs_grant (epochs_t *self);

#endif
