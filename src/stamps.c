/*  stamps.c - an order log's stamps as sorted runs (see stamps.h).

    Invariants: runs[0].first == 0 when n_runs > 0; runs[i].first <
    runs[i + 1].first; runs[i].stamp != runs[i + 1].stamp; the last run's
    first < length; n_runs == 0 iff length == 0.
*/
#include "stamps.h"

#include <stdlib.h>

typedef struct {
    uint64_t first; //  index of the run's first entry
    uint64_t stamp;
} s_run_t;

struct _stamps_t {
    s_run_t *runs;
    size_t n_runs, capacity;
    uint64_t length;
};

stamps_t *
stamps_new (void)
{
    stamps_t *self = calloc (1, sizeof *self);
    if (!self)
        abort (); //  the project's policy: out of memory aborts
    return self;
}

void
stamps_destroy (stamps_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->runs);
    free (*self_p);
    *self_p = NULL;
}

void
stamps_append (stamps_t *self, uint64_t stamp, uint64_t count)
{
    if (count == 0)
        return;
    if (self->n_runs == 0 || self->runs[self->n_runs - 1].stamp != stamp) {
        if (self->n_runs == self->capacity) {
            self->capacity = self->capacity ? self->capacity * 2 : 8;
            self->runs = realloc (self->runs, self->capacity * sizeof *self->runs);
            if (!self->runs)
                abort ();
        }
        self->runs[self->n_runs++] = (s_run_t) {self->length, stamp};
    }
    self->length += count;
}

//  The slot of the run that holds index (< length): the last run whose
//  first is at or below it.
static size_t
s_find (const stamps_t *self, uint64_t index)
{
    size_t low = 0, high = self->n_runs; //  runs[low].first <= index < runs[high].first
    while (high - low > 1) {
        size_t middle = low + (high - low) / 2;
        if (self->runs[middle].first <= index)
            low = middle;
        else
            high = middle;
    }
    return low;
}

uint64_t
stamps_get (const stamps_t *self, uint64_t index)
{
    return self->runs[s_find (self, index)].stamp;
}

uint64_t
stamps_run_end (const stamps_t *self, uint64_t index)
{
    size_t slot = s_find (self, index);
    return slot + 1 < self->n_runs ? self->runs[slot + 1].first : self->length;
}

void
stamps_cut (stamps_t *self, uint64_t length)
{
    if (length >= self->length)
        return;
    while (self->n_runs && self->runs[self->n_runs - 1].first >= length)
        self->n_runs--;
    self->length = length;
}

uint64_t
stamps_length (const stamps_t *self)
{
    return self->length;
}

size_t
stamps_runs (const stamps_t *self)
{
    return self->n_runs;
}
