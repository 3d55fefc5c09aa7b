/*  held.c - replies and queries waiting for the log, the ACKs or the
    catalog.

    Invariants: a reply waits in `beyond` only while its number is at or
    past the log's count; the `acked` ring is in the order the log took
    the replies, which is number order. Every reply and query leaves with
    one answer: its own, 404, or 503.
*/
#include "held.h"
#include "log.h"
#include "tally.h"

#include <czmq.h>

#define BEYOND_MAX 4096          //  replies waiting for a gap to fill; more get 503
#define QUERIES_MAX 4096         //  queries waiting for a catch-up; more get 503

//  A reply waiting for the log or for the ACKs.
typedef struct {
    worker_envelope_t envelope;
    msg_t reply;                 //  COMMITTED, with the client's req_id
    int64_t deadline;            //  beyond: answered 503 if the gap is still open then
    int64_t held_at;             //  acked: since when it waits
} s_held_reply_t;

//  A query for a number beyond the log: the order may be committed and
//  acknowledged elsewhere, so ask the catalog before answering 404.
typedef struct {
    worker_envelope_t envelope;
    uint64_t req_id;
    uint64_t number;
    uint64_t journal_needed;     //  answer once this JOURNAL round is done
    int64_t deadline;
} s_query_t;

struct _held_t {
    tradelog_t *log;
    batch_t *batch;
    catchup_t *catchup;
    int64_t wait_ms;
    s_held_reply_t *beyond;      //  numbered beyond the log
    size_t beyond_count;
    s_held_reply_t *acked;       //  ring: in the log, waiting for the ACKs
    size_t acked_size, acked_head, acked_count;
    s_query_t *queries;
    size_t query_count;
    tally_t full_queries;        //  queries answered 503: QUERIES_MAX waited already
    tally_t full_held;           //  commits answered 503: BEYOND_MAX waited already
    tally_t late_held;           //  commits answered 503: their gap did not fill in time
};

held_t *
held_new (tradelog_t *log, batch_t *batch, catchup_t *catchup, int64_t wait_ms)
{
    held_t *self = calloc (1, sizeof (held_t));
    assert (self);
    self->log = log;
    self->batch = batch;
    self->catchup = catchup;
    self->wait_ms = wait_ms;
    self->beyond = calloc (BEYOND_MAX, sizeof (s_held_reply_t));
    self->queries = calloc (QUERIES_MAX, sizeof (s_query_t));
    assert (self->beyond && self->queries);
    self->full_queries = tally_init ("queries beyond the log: too many waiting for the catalog");
    self->full_held = tally_init ("commits beyond a gap: too many waiting for it to fill");
    self->late_held = tally_init ("commits beyond a gap that did not fill in time");
    return self;
}

void
held_destroy (held_t **self_p)
{
    if (!*self_p)
        return;
    held_t *self = *self_p;
    tally_log_total (&self->full_queries, "answered 503");
    tally_log_total (&self->full_held, "answered 503");
    tally_log_total (&self->late_held, "answered 503");
    free (self->beyond);
    free (self->acked);
    free (self->queries);
    free (self);
    *self_p = NULL;
}

void
held_log_refusals (held_t *self)
{
    tally_log (&self->full_queries, "answered 503 to");
    tally_log (&self->full_held, "answered 503 to");
    tally_log (&self->late_held, "answered 503 to");
}

//  ---------------------------------------------------------------------
//  Replies

//  Leading: the reply waits for the ACKs at the ring's tail.
static int
s_wait_for_acks (held_t *self, const s_held_reply_t *reply)
{
    if (self->acked_count == self->acked_size) {
        size_t size = self->acked_size ? self->acked_size * 2 : 1024;
        s_held_reply_t *acked = malloc (size * sizeof (s_held_reply_t));
        if (!acked)
            return -1;
        for (size_t i = 0; i < self->acked_count; i++)
            acked[i] = self->acked[(self->acked_head + i) % self->acked_size];
        free (self->acked);
        self->acked = acked;
        self->acked_size = size;
        self->acked_head = 0;
    }
    size_t tail = (self->acked_head + self->acked_count++) % self->acked_size;
    s_held_reply_t *slot = &self->acked[tail];
    *slot = *reply;
    slot->held_at = zclock_mono ();
    return 0;
}

//  A reply the log holds: leading, it waits for the ACKs; otherwise it
//  goes with the next sync.
static void
s_logged (held_t *self, const s_held_reply_t *reply, bool leading)
{
    if (!leading)
        batch_add (self->batch, &reply->envelope, &reply->reply);
    else
    if (s_wait_for_acks (self, reply))
        batch_add_error (self->batch, &reply->envelope, reply->reply.req_id, MSG_ERR_UNAVAILABLE);
}

void
held_reply (held_t *self, const worker_envelope_t *envelope, uint64_t req_id, const msg_t *reply,
            uint64_t deadline, bool leading)
{
    s_held_reply_t held = {.envelope = *envelope, .reply = *reply};
    held.reply.req_id = req_id;
    if (reply->number < tradelog_count (self->log)) {
        s_logged (self, &held, leading);
        return;
    }
    //  The catalog committed trades we have not seen: fetch them first.
    if (self->beyond_count == BEYOND_MAX) {
        tally_add (&self->full_held);
        batch_add_error (self->batch, envelope, req_id, MSG_ERR_UNAVAILABLE);
        return;
    }
    //  No later than the client's own deadline: by then it has its 503.
    int64_t left = (int64_t) (deadline - msg_now_ms ());
    if (left > self->wait_ms)
        left = self->wait_ms;
    held.deadline = zclock_mono () + (left > 0 ? left : 0);
    self->beyond[self->beyond_count++] = held;
    catchup_journal (self->catchup);
}

//  Replies the log now covers move on; those whose gap is still open at
//  their deadline are answered 503 (the catalog committed them: the
//  window DESIGN "Deadlines" describes) so none waits forever.
void
held_release_logged (held_t *self, bool leading)
{
    int64_t now = zclock_mono ();
    size_t kept = 0;
    for (size_t i = 0; i < self->beyond_count; i++) {
        s_held_reply_t *held = &self->beyond[i];
        if (held->reply.number < tradelog_count (self->log))
            s_logged (self, held, leading);
        else
        if (now >= held->deadline) {
            tally_add (&self->late_held);
            batch_add_error (self->batch, &held->envelope, held->reply.req_id,
                             MSG_ERR_UNAVAILABLE);
        }
        else
            self->beyond[kept++] = *held;
    }
    self->beyond_count = kept;
}

bool
held_waiting_for_log (held_t *self)
{
    return self->beyond_count > 0;
}

size_t
held_release_acked (held_t *self, uint64_t count)
{
    size_t released = 0;
    while (self->acked_count && self->acked[self->acked_head].reply.number < count) {
        s_held_reply_t *held = &self->acked[self->acked_head];
        batch_add (self->batch, &held->envelope, &held->reply);
        self->acked_head = (self->acked_head + 1) % self->acked_size;
        self->acked_count--;
        released++;
    }
    return released;
}

bool
held_oldest_acked (held_t *self, uint64_t *number, int64_t *since)
{
    if (!self->acked_count)
        return false;
    *number = self->acked[self->acked_head].reply.number;
    *since = self->acked[self->acked_head].held_at;
    return true;
}

//  ---------------------------------------------------------------------
//  Queries

static void
s_answer_query (held_t *self, const worker_envelope_t *envelope, uint64_t req_id,
                uint64_t number)
{
    msg_trade_t trade;
    if (tradelog_get (self->log, number, &trade)) {
        batch_add_error (self->batch, envelope, req_id, MSG_ERR_TXN_NOT_FOUND);
        return;
    }
    msg_t reply;
    msg_set_trade (&reply, MSG_ORDER, &trade);
    reply.req_id = req_id;
    batch_add (self->batch, envelope, &reply);
}

void
held_query (held_t *self, const worker_envelope_t *envelope, const msg_t *request)
{
    if (request->number < tradelog_count (self->log)) {
        s_answer_query (self, envelope, request->req_id, request->number);
        return;
    }
    if (self->query_count == QUERIES_MAX) {
        tally_add (&self->full_queries);
        batch_add_error (self->batch, envelope, request->req_id, MSG_ERR_UNAVAILABLE);
        return;
    }
    s_query_t *query = &self->queries[self->query_count++];
    query->envelope = *envelope;
    query->req_id = request->req_id;
    query->number = request->number;
    query->deadline = zclock_mono () + self->wait_ms;
    query->journal_needed = catchup_journal (self->catchup);
}

void
held_answer_queries (held_t *self)
{
    int64_t now = zclock_mono ();
    uint64_t journal_done = catchup_journals_done (self->catchup);
    size_t kept = 0;
    for (size_t i = 0; i < self->query_count; i++) {
        s_query_t *query = &self->queries[i];
        if (query->number < tradelog_count (self->log) || journal_done >= query->journal_needed)
            s_answer_query (self, &query->envelope, query->req_id, query->number);
        else
        if (now >= query->deadline)
            batch_add_error (self->batch, &query->envelope, query->req_id, MSG_ERR_UNAVAILABLE);
        else
            self->queries[kept++] = *query;
    }
    self->query_count = kept;
}
