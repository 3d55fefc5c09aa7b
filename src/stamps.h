/*  stamps.h - the stamps of an order log's entries, held as runs.

    An entry's stamp (consensus.h: 2e for an entry the leader of epoch e
    recovered, 2e + 1 for one proposed under it) changes only at
    elections, so consecutive entries share it for long stretches: a run
    (first index, stamp) stands for every entry from first to the next
    run's first (or the length). Runs are sorted by first index and no two
    neighbours hold the same stamp; a lookup is a binary search, an append
    extends the last run or starts one, a cut drops the runs past it. A
    log of a million entries under one leader is one run, not 8 MB.

    Pure (no I/O): the consensus core keeps its log's stamps with it, and
    a stamped tradelog (tradelog.h) those of its records, which the core
    copies when it starts (consensus_state_t). Out of memory aborts.
*/
#ifndef BAZAAR_STAMPS_H
#define BAZAAR_STAMPS_H

#include <stddef.h>
#include <stdint.h>

typedef struct _stamps_t stamps_t;

//  An empty list of stamps. Aborts if out of memory.
stamps_t *stamps_new (void);

//  Destroy it; nothing on NULL; sets *self_p to NULL.
void stamps_destroy (stamps_t **self_p);

//  Append count entries of stamp at the end (index length on).
void stamps_append (stamps_t *self, uint64_t stamp, uint64_t count);

//  Stamp of entry index; index must be below the length.
uint64_t stamps_get (const stamps_t *self, uint64_t index);

//  One past the last index of the run that holds index (index below the
//  length): the first index whose stamp may differ.
uint64_t stamps_run_end (const stamps_t *self, uint64_t index);

//  Cut to length entries (no-op if length is not below the current one).
void stamps_cut (stamps_t *self, uint64_t length);

//  Number of entries.
uint64_t stamps_length (const stamps_t *self);

//  Number of runs (for tests and memory reports).
size_t stamps_runs (const stamps_t *self);

#endif
