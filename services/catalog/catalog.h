/*  catalog.h - the catalog worker: lookups and lists of the stocks, a
    learner of the committed order log (learner.h).

    The catalog is never on a trade's path: the order replicas' majority-
    committed log is the commit point, and the catalog applies what
    committed, in number order, to its store (catalog.journal and the
    stocks). Each turn of the loop answers every request waiting, writes
    what it learned to its journal (fdatasynced at most every SYNC_MS,
    100 ms: a copy of the replicas' log), then sends the replies and
    publishes one INVALIDATE per trade applied. A LOOKUP or LIST carries
    the position its answer must reflect (read-your-writes, msgs.h); one
    the store does not cover yet waits (waiting.h). Any number of
    catalogs may serve; each needs its own files (--name or --data). Every 100 ms it also
    publishes a beacon: an INVALIDATE with an empty name and the current
    (not a new) sequence number. It answers lookups once a first copy
    from the replicas found nothing more to copy.
*/
#ifndef BAZAAR_CATALOG_H
#define BAZAAR_CATALOG_H

#include "store.h"

typedef struct _catalog_t catalog_t;

//  Serve store (the catalog takes ownership) as service "catalog"
//  through broker, publishing invalidations on pub. Returns NULL and a
//  reason in error if pub cannot bind or broker is not an endpoint; then
//  store is still the caller's.
catalog_t *catalog_new (store_t **store_p, const char *broker, const char *pub, char *error,
                        size_t error_size);

void catalog_destroy (catalog_t **self_p);

//  Serve until interrupted. Returns 0, or -1 if the journal could not be
//  synced (the process must exit: memory is ahead of the disk) or a
//  committed trade does not apply.
int catalog_run (catalog_t *self);

#endif
