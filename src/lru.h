/*  lru.h - a least-recently-used cache of byte strings keyed by string.

    Holds at most `capacity` entries; putting a new key into a full cache
    evicts the least recently used entry (and counts it). Every entry
    carries a 64-bit version chosen by the caller (the gateway stores the
    stock version there). Get, put and remove are O(1): a hash table finds
    the entry, a doubly linked list keeps the recency order.

    The cache owns copies of keys and values. A pointer returned by
    lru_get or lru_peek stays valid until the next lru_put, lru_remove,
    lru_clear or lru_destroy on the same cache.
*/
#ifndef BAZAAR_LRU_H
#define BAZAAR_LRU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _lru_t lru_t;

//  Create a cache of at most capacity entries. Capacity 0 makes a cache
//  that never stores anything. Returns NULL if out of memory for an
//  index of capacity keys.
lru_t *lru_new (size_t capacity);

//  Destroy the cache and every entry. Does nothing if *self_p is NULL.
void lru_destroy (lru_t **self_p);

//  Store a copy of value (size bytes) with version under key, replacing
//  the entry in place if key is present, and make it the most recently
//  used. Returns 0 when stored, 1 if the capacity is 0, -1 if out of
//  memory (the cache is unchanged then).
int lru_put (lru_t *self, const char *key, const void *value, size_t size, uint64_t version);

//  Find key and make it the most recently used. Returns its value and
//  fills *size and *version (either may be NULL), or NULL if absent.
const void *lru_get (lru_t *self, const char *key, size_t *size, uint64_t *version);

//  Like lru_get but leaves the recency order alone.
const void *lru_peek (lru_t *self, const char *key, size_t *size, uint64_t *version);

//  Remove key. Returns true if it was present.
bool lru_remove (lru_t *self, const char *key);

//  Remove every entry (evictions are not counted).
void lru_clear (lru_t *self);

//  Number of entries held now.
size_t lru_size (lru_t *self);

//  Maximum number of entries.
size_t lru_capacity (lru_t *self);

//  The keys held now, most recently used first, at most max of them,
//  into keys (pointers valid until the cache next changes). Returns the
//  count. Does not touch the recency order.
size_t lru_keys (lru_t *self, const char **keys, size_t max);

//  Number of entries evicted to make room since the cache was created.
uint64_t lru_evictions (lru_t *self);

//  Self test; aborts on failure.
void lru_test (bool verbose);

#endif
