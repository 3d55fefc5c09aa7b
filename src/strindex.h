/*  strindex.h - a hash index from strings the caller holds to ids.

    The tradelog finds a trade by its idempotency key and a stock name's
    one copy by the name with it. The index keeps no copy of a string: it
    stores each string's 64-bit hash and its id, and asks the caller for
    the string of an id (strindex_string_fn) to compare. Open addressing
    with linear probing in one array of 16-byte slots: an insert is one
    cache miss and no allocation, where czmq's zhashx took a malloc, a
    strdup'ed key and about 100 bytes per entry. The hash is seeded at
    random per index, so a client cannot choose keys that collide.

    An id is any value but 0. Memory: 16 bytes a slot, at most 3/4 of the
    slots used, so 21 to 43 bytes per string held.
*/
#ifndef BAZAAR_STRINDEX_H
#define BAZAAR_STRINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _strindex_t strindex_t;

//  The string an id held by the index stands for (never NULL).
typedef const char *(strindex_string_fn) (void *arg, uint64_t id);

//  An empty index; string_of (arg, id) gives the string of an id it
//  holds.
strindex_t *strindex_new (strindex_string_fn *string_of, void *arg);

//  Destroy the index (not the strings). Nothing on NULL.
void strindex_destroy (strindex_t **self_p);

//  Make room for count strings in all, so that inserts up to that many
//  allocate nothing and cannot fail. Returns 0, or -1 if out of memory
//  (the index is unchanged then).
int strindex_reserve (strindex_t *self, size_t count);

//  Give string the id (not 0), unless the index holds string already:
//  then nothing changes (the first id stays). Returns 0 when inserted, 1
//  when string was held, -1 if out of memory (nothing changed; never
//  after strindex_reserve made room).
int strindex_insert (strindex_t *self, const char *string, uint64_t id);

//  A bulk load (the tradelog's replay) hides the cache miss of each insert
//  behind the work on the next strings: strindex_hash gives a string's
//  hash in this index, strindex_prefetch starts loading the slots where
//  it goes (a hint: nothing changes), and strindex_insert_hashed is
//  strindex_insert of a string whose hash is known.
uint64_t strindex_hash (strindex_t *self, const char *string);
void strindex_prefetch (strindex_t *self, uint64_t hash);
int strindex_insert_hashed (strindex_t *self, const char *string, uint64_t hash, uint64_t id);

//  The id of string, or 0 if the index does not hold it.
uint64_t strindex_find (strindex_t *self, const char *string);

//  Forget string if the index holds it with id (another id stays).
//  Returns true if it was removed.
bool strindex_remove (strindex_t *self, const char *string, uint64_t id);

//  Number of strings held.
size_t strindex_size (strindex_t *self);

#endif
