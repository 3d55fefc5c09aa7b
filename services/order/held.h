/*  held.h - what waits for what: replies and queries an order replica
    cannot answer yet.

    A trade's reply (COMMITTED, number n) waits here until
      - the log holds n (the catalog committed trades this replica has
        not seen: it fetches them by JOURNAL), no longer than the wait
        limit or the client's deadline, then 503; and then, leading,
      - the sync and a follower's ACK cover n (held_release_acked: the
        caller says how far they reach).
    A query for a number beyond the log waits for a JOURNAL round to say
    whether the catalog holds it, no longer than the wait limit, then 503.
    Every answer goes into the batch, sent after the loop's next sync.
*/
#ifndef BAZAAR_HELD_H
#define BAZAAR_HELD_H

#include "batch.h"
#include "catchup.h"
#include "tradelog.h"

typedef struct _held_t held_t;

//  Hold replies to requests on log (not owned) and answer into batch
//  (not owned); fetch what they wait for through catchup (not owned).
//  Nothing waits for the log longer than wait_ms.
held_t *held_new (tradelog_t *log, batch_t *batch, catchup_t *catchup, int64_t wait_ms);

//  Logs how many were answered 503 in all.
void held_destroy (held_t **self_p);

//  Answer reply (COMMITTED) to request req_id from envelope, whose
//  deadline is deadline (msg_now_ms): at once if the log holds its
//  number and we do not lead; after the ACKs while leading; after the
//  log has caught up to it otherwise. Answers 503 itself if it cannot
//  wait (too many wait already).
void held_reply (held_t *self, const worker_envelope_t *envelope, uint64_t req_id,
                 const msg_t *reply, uint64_t deadline, bool leading);

//  The log grew (or time passed): replies it now covers move on as
//  held_reply says; those whose wait is over are answered 503.
void held_release_logged (held_t *self, bool leading);

//  True while a reply waits for the log to reach its number.
bool held_waiting_for_log (held_t *self);

//  Leading: answer the replies numbered below count that wait for the
//  ACKs, oldest first. Returns how many.
size_t held_release_acked (held_t *self, uint64_t count);

//  The oldest reply waiting for the ACKs: its number and since when
//  (zclock_mono). Returns false if none waits.
bool held_oldest_acked (held_t *self, uint64_t *number, int64_t *since);

//  A QUERY: answered at once if the log holds its number, else it waits
//  for the catalog's JOURNAL (404 if it does not hold it either).
void held_query (held_t *self, const worker_envelope_t *envelope, const msg_t *request);

//  Answer the queries whose JOURNAL round is done, 503 past the limit.
void held_answer_queries (held_t *self);

//  At most once a second, log what was answered 503 since.
void held_log_refusals (held_t *self);

#endif
