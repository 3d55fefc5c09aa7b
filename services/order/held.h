/*  held.h - what waits for what: the replies to trades that wait for
    their entry's fate.

    A trade the leader proposed (or a retry with the key of an entry not
    yet committed) waits here for entry `index` of the log. Each turn the
    loop says where the log stands and held answers, into the batch (sent
    after the turn's sync):
      - the entry is committed (index below the commit position) and it
        is still this trade: COMMITTED with its number;
      - it was cut, or another trade took the index: 503 (it certainly
        did not commit under this proposal);
      - the client's deadline passed, or this replica stopped leading:
        504 "outcome unknown" (it may still commit; a retry with the same
        Idempotency-Key returns the truth).
    The one place a reply is parked.
*/
#ifndef BAZAAR_HELD_H
#define BAZAAR_HELD_H

#include "batch.h"
#include "tradelog.h"

#include <stdbool.h>
#include <stdint.h>

#define HELD_MAX 100000

typedef struct _held_t held_t;

//  Hold replies about entries of log (not owned), answered into batch
//  (not owned).
held_t *held_new (tradelog_t *log, batch_t *batch);

//  Logs how many were answered 503 and 504 in all.
void held_destroy (held_t **self_p);

//  Wait for entry index, which must be trade, for request req_id from
//  envelope (deadline: msg_now_ms clock, 0 none). stock_qty is the
//  stock's quantity after the trade, for the reply. Returns 0, or -1 if
//  too many wait (the caller answers 504: it was proposed).
int held_wait (held_t *self, const worker_envelope_t *envelope, uint64_t req_id,
               uint64_t deadline, uint64_t index, const msg_trade_t *trade, uint64_t stock_qty);

//  Answer what the log now decides: commit and length are the log's,
//  leading whether this replica still leads, cut_from the lowest index
//  cut since the last call (UINT64_MAX: none).
void held_update (held_t *self, uint64_t commit, uint64_t length, bool leading,
                  uint64_t cut_from);

//  Number of replies waiting.
size_t held_count (held_t *self);

//  At most once a second, log what was answered 503 or 504 since.
void held_log_refusals (held_t *self);

#endif
