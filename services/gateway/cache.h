/*  cache.h - the gateway's stock cache and the rules that keep it correct.

    Holds ready-made JSON bodies of GET /stocks/<name> in an LRU (src/lru)
    with the stock version each was built from, and listens to the
    catalog's invalidations (SUB, one INVALIDATE frame per change):

    - INVALIDATE (incarnation, seq, name, version) drops a cached copy
      older than version and raises the name's mark to version; a lookup
      reply older than the mark is never stored (it raced the change).
    - A beacon is an INVALIDATE with an empty name, sent every 100 ms,
      whose seq is the catalog's last seq (not a new one): a seq other
      than the last one seen means invalidations were lost.
    - A sequence gap (an invalidation's seq is not last + 1, a beacon's
      is not last), a new catalog incarnation, or the SUB connecting or
      disconnecting flushes everything and starts a new generation; a
      lookup sent in an older generation is never stored.
    - Nothing is served or stored while the SUB is not connected, from
      connecting until the first message, and after 1 s without any
      message (beacon or invalidation; that also flushes) until the next:
      without invalidations the cache cannot know what went stale.
    - The gateway's own COMMITTED replies go through cache_invalidate too,
      so a client always sees its own trade.
*/
#ifndef BAZAAR_GATEWAY_CACHE_H
#define BAZAAR_GATEWAY_CACHE_H

#include <h2o.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _cache_t cache_t;

typedef struct {
    uint64_t hits;
    uint64_t misses;
    uint64_t evictions;
    uint64_t invalidations;     //  invalidations applied (catalog + own trades)
    uint64_t flushes;
    size_t entries;
    size_t capacity;
    bool live;                  //  serving: connected, catalog heard within 1 s
} cache_stats_t;

//  One flush of the whole cache, for GET /status and the dashboard.
#define CACHE_FLUSHES_KEPT 16
#define CACHE_REASON_MAX 48
typedef struct {
    int64_t at_ms;              //  wall clock, ms since the Unix epoch
    char reason[CACHE_REASON_MAX];
    size_t dropped;             //  entries it dropped
} cache_flush_t;

//  Create a cache of capacity entries fed by the catalog PUB at endpoint.
//  Capacity 0 disables caching (no SUB socket). Returns NULL and writes a
//  reason into error on failure.
cache_t *cache_new (void *zmq_context, h2o_evloop_t *loop, const char *endpoint,
                    size_t capacity, char *error, size_t error_size);

//  Close the sockets and free the entries. Does nothing on NULL.
void cache_destroy (cache_t **self_p);

//  The cached body for name, counted as a hit, or NULL (a miss). The
//  body stays valid until the next call into the cache.
const char *cache_get (cache_t *self, const char *name, size_t *size);

//  Token to pass to cache_put for a lookup sent now.
uint64_t cache_generation (cache_t *self);

//  Offer a lookup reply: body for name at version, from a lookup sent in
//  generation. Stored only if no rule above forbids it.
void cache_put (cache_t *self, const char *name, const char *body, size_t size,
                uint64_t version, uint64_t generation);

//  name is now at version: drop older copies, raise the mark.
void cache_invalidate (cache_t *self, const char *name, uint64_t version);

//  Counters for /metrics.
void cache_stats (cache_t *self, cache_stats_t *stats);

//  The names cached now, most recently used first, at most max (valid
//  until the cache next changes). Returns the count.
size_t cache_names (cache_t *self, const char **names, size_t max);

//  The last CACHE_FLUSHES_KEPT flushes, oldest first, into flushes (room
//  for CACHE_FLUSHES_KEPT). Returns the count.
size_t cache_flushes (cache_t *self, cache_flush_t *flushes);

#endif
