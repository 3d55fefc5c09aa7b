/*  joining.h - a replica with no state joins before it votes.

    An empty log with no promise file is either a new system's first
    start or a replica whose files were lost (a disk, a data directory
    moved away). Nothing on disk tells them apart, and the second must
    not vote: what it promised and acknowledged is gone, so its vote
    could elect a leader without orders that committed with its help.
    So the operator says which: --new is a new system's first start.
    Without it the replica joins: it promises nothing to a candidate and
    does not lead until its synced log holds the whole log of a leader
    the others elected (a leader holds every committed order); it still
    follows that leader's epoch and acknowledges its entries. A file, order-N.joining,
    says so across restarts until then; --new with no order yet removes
    it (a new system started without --new).
    See docs/CONSENSUS.md "A replica that lost its files joins".
*/
#ifndef BAZAAR_JOINING_H
#define BAZAAR_JOINING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _joining_t joining_t;

//  For the replica whose mark is at path, with orders in its log, a
//  promise file or not, and --new or not: creates or removes the mark
//  (synced with its directory) as above; path NULL keeps it in memory
//  (the simulator's replicas have no files). Returns NULL and a reason
//  in error if it cannot.
joining_t *joining_new (const char *path, uint64_t orders, bool promised, bool new_system,
                        char *error, size_t error_size);

void joining_destroy (joining_t **self_p);

//  True while the replica must not vote or lead.
bool joining_active (joining_t *self);

//  A PREPARE of epoch from candidate arrived: true if it must be ignored
//  (joining; said once an epoch in the log).
bool joining_ignores (joining_t *self, uint64_t epoch, uint64_t candidate);

//  This replica's log as an APPEND left it: its length, the stamp of its
//  entry at the leader's length - 1 (0 if it has none), and its commit
//  position.
typedef struct {
    uint64_t length;
    uint64_t stamp;
    uint64_t commit;
} joining_log_t;

//  After an APPEND from leader under epoch, the leader this replica
//  follows, whose log (length entries) ends with end_stamp (the last
//  entry's or prev_stamp). If held ends at that length with the same
//  stamp (log matching), or its commit position covers that length (a
//  committed prefix is the same everywhere, whatever its stamps: a later
//  leader may have re-stamped it), it holds that leader's log, not just
//  as many entries of another history: the join may end at the next
//  joining_check.
void joining_on_append (joining_t *self, uint64_t leader, uint64_t epoch, uint64_t length,
                        uint64_t end_stamp, const joining_log_t *held);

//  After a sync: the replica follows leader (0: none) under epoch and
//  holds length entries durably. If they reach the last length that
//  leader said under that epoch, the join ends (the mark is removed).
//  Returns 0, or -1 if the mark cannot be removed (errno set).
int joining_check (joining_t *self, uint64_t leader, uint64_t epoch, uint64_t length);

//  The mark's path.
const char *joining_path (joining_t *self);

#endif
