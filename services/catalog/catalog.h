/*  catalog.h - the catalog worker: lookups, lists and committed trades.

    Each turn of the loop handles every request waiting, makes the trades
    among them durable with one journal sync (group commit), then sends
    the replies and publishes one INVALIDATE per changed stock. Every
    100 ms it also publishes a beacon: an INVALIDATE with an empty name and
    the current (not a new) sequence number.

    Fencing and healing: APPLY carries the leader's epoch and log count.
    An epoch older than the newest granted (CLAIM) is refused with
    STALE_EPOCH. A log count beyond the journal, or a replica announced
    with more trades than the journal holds (the file was lost, cut or
    restored from an old copy), makes the catalog copy the missing range
    from the replicas (RANGE, peers.h) before it serves again, so it never
    hands out a number a replica already holds.
*/
#ifndef BAZAAR_CATALOG_H
#define BAZAAR_CATALOG_H

#include "epochs.h"
#include "store.h"

typedef struct _catalog_t catalog_t;

//  Serve store and epochs (the catalog takes ownership of both) as
//  service "catalog" through broker, and directly on a ROUTER bound to
//  rep ("" for none; a port * is picked by the system and announced),
//  publishing invalidations, and copies of the direct traffic for the
//  tap, on pub. Returns NULL and a reason in error if pub or rep cannot
//  bind or broker is not an endpoint; then store and epochs are still
//  the caller's.
catalog_t *catalog_new (store_t **store_p, epochs_t **epochs_p, const char *broker,
                        const char *pub, const char *rep, char *error, size_t error_size);

void catalog_destroy (catalog_t **self_p);

//  Serve until interrupted. Returns 0, or -1 if the journal could not be
//  synced (the process must exit: memory is ahead of the disk) or the
//  broker refused this catalog because another one is serving.
int catalog_run (catalog_t *self);

#endif
