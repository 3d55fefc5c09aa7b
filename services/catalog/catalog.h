/*  catalog.h - the catalog worker: lookups, lists and committed trades.

    Each turn of the loop handles every request waiting, makes the trades
    among them durable with one journal sync (group commit), then sends
    the replies and publishes one INVALIDATE per changed stock. Every
    100 ms it also publishes a beacon: an INVALIDATE with an empty name and
    the current (not a new) sequence number.
*/
#ifndef BAZAAR_CATALOG_H
#define BAZAAR_CATALOG_H

#include "store.h"

typedef struct _catalog_t catalog_t;

//  Serve store (the catalog takes ownership) as service "catalog" through
//  broker, publishing invalidations on pub. Returns NULL if pub cannot bind.
catalog_t *catalog_new (store_t **store_p, const char *broker, const char *pub);

void catalog_destroy (catalog_t **self_p);

//  Serve until interrupted. Returns 0, or -1 if the journal could not be
//  synced (the process must exit: memory is ahead of the disk).
int catalog_run (catalog_t *self);

#endif
