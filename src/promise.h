/*  promise.h - a replica's promise file: the highest epoch it promised
    and its commit position, durable and checksummed.

    The consensus core (services/order/consensus.h) asks the caller to
    persist both before a ready's messages leave: a PROMISE or an ACK is
    a durable fact only if, after kill -9, the replica still knows what it
    promised. So promise_store returns only once the values are on disk,
    and a damaged file stops the replica (promise_open refuses, naming
    the file) instead of starting over from epoch 0 (SPEC section 3).

    Format (docs/DESIGN.md "The promise file"): two 4096-byte slots, each
    a whole record with its own sequence number and crc32, written in
    turn; the newest whole slot wins, so a store torn by a crash leaves
    the value before it.
*/
#ifndef BAZAAR_PROMISE_H
#define BAZAAR_PROMISE_H

#include <stddef.h>
#include <stdint.h>

#define PROMISE_SLOT_SIZE 4096
#define PROMISE_FILE_SIZE (2 * PROMISE_SLOT_SIZE)

typedef struct _promise_t promise_t;

//  Open the promise file at path, or create it (epoch 0, commit 0) if it
//  does not exist: the new file is complete under its name (written
//  aside, synced, renamed) and its directory is synced. The file is
//  locked (flock) while open. Returns 0 and *self_p, or -1 with a
//  message naming the file in error (size bytes) if it cannot be read
//  or created, another process holds it, or it is damaged: wrong size,
//  no whole slot, or whole slots that contradict each other.
int promise_open (const char *path, promise_t **self_p, char *error, size_t size);

//  Close the file; nothing on NULL; sets *self_p to NULL.
void promise_destroy (promise_t **self_p);

//  Make epoch and commit the stored values, durably (one pwrite of a
//  slot, one fdatasync) before it returns. Returns 0, or -1 with errno
//  set: EINVAL if epoch or commit is below the stored one (a programmer
//  error: neither ever goes down), or the write or sync failed. After
//  -1 the stored values are unchanged here and the other slot still
//  holds them on disk; a failed sync leaves it unknown which of the two
//  values a restart reads, so the caller stops, as for a failed log sync.
int promise_store (promise_t *self, uint64_t epoch, uint64_t commit);

//  The highest epoch promised (0 for a fresh replica).
uint64_t promise_epoch (promise_t *self);

//  The stored commit position.
uint64_t promise_commit (promise_t *self);

//  What promise_open had to recover from, for the caller to log, or NULL
//  if the file was whole: one slot was not (a store cut short by a
//  crash) and the other one's value is the stored one.
const char *promise_recovered (promise_t *self);

#endif
