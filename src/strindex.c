/*  strindex.c - open addressing over hashes of strings held elsewhere.

    Invariants: capacity is 0 or a power of two; every held string sits in
    one slot (id not 0) at its home (hash & mask) or after it, with no
    empty slot between home and it (linear probing; removal shifts the
    following slots back instead of leaving tombstones); count <= 3/4 of
    capacity.
*/
#include "strindex.h"
#include "mem.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define STRINDEX_CAPACITY_MIN 16
#define STRINDEX_HUGE_PAGE (2 * 1024 * 1024)

typedef struct {
    uint64_t hash;
    uint64_t id;          //  0: empty
} s_slot_t;

struct _strindex_t {
    s_slot_t *slots;
    size_t capacity;
    size_t count;
    uint64_t seed;
    strindex_string_fn *string_of;
    void *arg;
};

//  The two halves of a 128-bit product folded into one: a cheap mix with
//  every bit of a and b in every bit of the result.
static uint64_t
s_mix (uint64_t a, uint64_t b)
{
    __uint128_t product = (__uint128_t) a * b;
    return (uint64_t) product ^ (uint64_t) (product >> 64);
}

//  Eight bytes a step (names and keys are at most 64 bytes); the seed
//  enters every step, so which strings collide depends on it.
static uint64_t
s_hash (const strindex_t *self, const char *string)
{
    size_t length = strlen (string);
    uint64_t hash = self->seed ^ (length * 0x9e3779b97f4a7c15ull);
    for (; length >= 8; length -= 8, string += 8) {
        uint64_t word;
        memcpy (&word, string, 8);
        hash = s_mix (hash ^ word, self->seed | 1) + 0x9e3779b97f4a7c15ull;
    }
    uint64_t tail = 0;
    memcpy (&tail, string, length);
    return s_mix (hash ^ tail, 0xbf58476d1ce4e5b9ull ^ self->seed);
}

static uint64_t
s_random_seed (void)
{
    uint64_t seed;
    if (getrandom (&seed, sizeof (seed), GRND_NONBLOCK) != sizeof (seed)) {
        struct timespec now;
        clock_gettime (CLOCK_MONOTONIC, &now);
        seed = (uint64_t) now.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t) getpid ()
             ^ (uint64_t) (uintptr_t) &now;
    }
    return seed;
}

strindex_t *
strindex_new (strindex_string_fn *string_of, void *arg)
{
    strindex_t *self = mem_calloc (1, sizeof (strindex_t));
    self->seed = s_random_seed ();
    self->string_of = string_of;
    self->arg = arg;
    return self;
}

void
strindex_destroy (strindex_t **self_p)
{
    if (!*self_p)
        return;
    strindex_t *self = *self_p;
    free (self->slots);
    free (self);
    *self_p = NULL;
}

//  Puts a slot of a string not held yet at the first free place from its home.
static void
s_place (s_slot_t *slots, size_t mask, s_slot_t slot)
{
    size_t at = slot.hash & mask;
    while (slots[at].id)
        at = (at + 1) & mask;
    slots[at] = slot;
}

//  A zeroed array of capacity slots. Every insert touches a random one:
//  in 4 KB pages a table of a million keys misses the TLB on nearly every
//  insert, so a large table asks for huge pages (where the system gives
//  them on request: transparent_hugepage "madvise").
static s_slot_t *
s_slots_new (size_t capacity)
{
    size_t size = capacity * sizeof (s_slot_t);
    s_slot_t *slots = calloc (capacity, sizeof (s_slot_t));
    if (slots && size >= 4 * STRINDEX_HUGE_PAGE) {
        //  The whole huge pages inside it; calloc left them untouched.
        uintptr_t first = ((uintptr_t) slots + STRINDEX_HUGE_PAGE - 1) & ~(uintptr_t) (STRINDEX_HUGE_PAGE - 1);
        uintptr_t end = ((uintptr_t) slots + size) & ~(uintptr_t) (STRINDEX_HUGE_PAGE - 1);
        madvise ((void *) first, end - first, MADV_HUGEPAGE);
    }
    return slots;
}

int
strindex_reserve (strindex_t *self, size_t count)
{
    size_t capacity = self->capacity ? self->capacity : STRINDEX_CAPACITY_MIN;
    while (count > capacity / 4 * 3) {
        if (capacity > SIZE_MAX / 2 / sizeof (s_slot_t))
            return -1;
        capacity *= 2;
    }
    if (capacity == self->capacity)
        return 0;
    s_slot_t *slots = s_slots_new (capacity);
    if (!slots)
        return -1;
    //  The stored hashes place every slot again: no string is read.
    for (size_t at = 0; at < self->capacity; at++)
        if (self->slots[at].id)
            s_place (slots, capacity - 1, self->slots[at]);
    free (self->slots);
    self->slots = slots;
    self->capacity = capacity;
    return 0;
}

//  The place of string (hash) if held, else of the empty slot ending its
//  probe. The table must have a slot.
static size_t
s_probe (strindex_t *self, const char *string, uint64_t hash)
{
    size_t mask = self->capacity - 1;
    size_t at = hash & mask;
    for (; self->slots[at].id; at = (at + 1) & mask)
        if (self->slots[at].hash == hash
            && strcmp (self->string_of (self->arg, self->slots[at].id), string) == 0)
            break;
    return at;
}

uint64_t
strindex_hash (strindex_t *self, const char *string)
{
    return s_hash (self, string);
}

void
strindex_prefetch (strindex_t *self, uint64_t hash)
{
    if (self->capacity)
        __builtin_prefetch (&self->slots[hash & (self->capacity - 1)], 1);
}

int
strindex_insert (strindex_t *self, const char *string, uint64_t id)
{
    return strindex_insert_hashed (self, string, s_hash (self, string), id);
}

int
strindex_insert_hashed (strindex_t *self, const char *string, uint64_t hash, uint64_t id)
{
    if (strindex_reserve (self, self->count + 1))
        return -1;
    size_t at = s_probe (self, string, hash);
    if (self->slots[at].id)
        return 1;
    self->slots[at] = (s_slot_t) {hash, id};
    self->count++;
    return 0;
}

uint64_t
strindex_find (strindex_t *self, const char *string)
{
    if (self->count == 0)
        return 0;
    return self->slots[s_probe (self, string, s_hash (self, string))].id;
}

//  Empties the slot at hole, moving back each later slot of its run that
//  may sit there (its home is not cyclically in (hole, it]).
static void
s_close_hole (strindex_t *self, size_t hole)
{
    size_t mask = self->capacity - 1;
    for (size_t next = (hole + 1) & mask; self->slots[next].id; next = (next + 1) & mask) {
        size_t home = self->slots[next].hash & mask;
        if (((next - home) & mask) >= ((next - hole) & mask)) {
            self->slots[hole] = self->slots[next];
            hole = next;
        }
    }
    self->slots[hole] = (s_slot_t) {0, 0};
}

bool
strindex_remove (strindex_t *self, const char *string, uint64_t id)
{
    if (self->count == 0)
        return false;
    size_t at = s_probe (self, string, s_hash (self, string));
    if (self->slots[at].id != id || id == 0)
        return false;
    s_close_hole (self, at);
    self->count--;
    return true;
}

size_t
strindex_size (strindex_t *self)
{
    return self->count;
}
