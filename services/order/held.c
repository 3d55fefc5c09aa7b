/*  held.c - replies waiting for their entry's fate (see held.h).

    Invariant: waiting[0 .. count) are the replies not yet answered, in
    the order they were held (their indexes grow, except for retries).
*/
#include "held.h"
#include "mem.h"
#include "log.h"

#include <czmq.h>

typedef struct {
    worker_envelope_t envelope;
    uint64_t req_id;
    uint64_t deadline;
    uint64_t index;
    uint64_t stock_qty;
    msg_trade_t trade;
} s_waiting_t;

struct _held_t {
    tradelog_t *log;
    batch_t *batch;
    s_waiting_t *waiting;
    size_t count, size;
    uint64_t refused, unknown;              //  answered 503, 504 in all
    uint64_t refused_logged, unknown_logged;
    int64_t logged_at;
};

held_t *
held_new (tradelog_t *log, batch_t *batch)
{
    held_t *self = mem_calloc (1, sizeof (held_t));
    self->log = log;
    self->batch = batch;
    return self;
}

void
held_destroy (held_t **self_p)
{
    if (!*self_p)
        return;
    held_t *self = *self_p;
    if (self->refused || self->unknown)
        log_info ("trades answered 503 after proposing: %" PRIu64 ", 504 outcome unknown: %"
                  PRIu64, self->refused, self->unknown);
    free (self->waiting);
    free (self);
    *self_p = NULL;
}

int
held_wait (held_t *self, const worker_envelope_t *envelope, uint64_t req_id,
           uint64_t deadline, uint64_t index, const msg_trade_t *trade, uint64_t stock_qty)
{
    if (self->count == HELD_MAX)
        return -1;
    if (self->count == self->size) {
        self->size = self->size ? self->size * 2 : 256;
        self->waiting = mem_realloc (self->waiting, self->size * sizeof (s_waiting_t));
    }
    s_waiting_t *waiting = &self->waiting[self->count++];
    waiting->envelope = *envelope;
    waiting->req_id = req_id;
    waiting->deadline = deadline;
    waiting->index = index;
    waiting->stock_qty = stock_qty;
    waiting->trade = *trade;
    waiting->trade.number = index;
    return 0;
}

//  True if the log's entry index is the trade waiting for it.
static bool
s_holds (held_t *self, const s_waiting_t *waiting)
{
    msg_trade_t logged;
    return tradelog_get (self->log, waiting->index, &logged) == 0
        && streq (logged.name, waiting->trade.name) && logged.side == waiting->trade.side
        && logged.quantity == waiting->trade.quantity && streq (logged.key, waiting->trade.key);
}

static void
s_committed (held_t *self, const s_waiting_t *waiting)
{
    msg_t reply;
    msg_set_trade (&reply, MSG_COMMITTED, &waiting->trade);
    reply.req_id = waiting->req_id;
    reply.stock_qty = waiting->stock_qty;
    reply.version = waiting->index + 1;
    batch_add (self->batch, &waiting->envelope, &reply);
}

//  The answer for waiting now: MSG_ERR_OK for COMMITTED (sent), an error
//  code (sent), or -1 to keep waiting.
static int
s_decide (held_t *self, const s_waiting_t *waiting, uint64_t commit, uint64_t length,
          bool leading, uint64_t cut_from, uint64_t now)
{
    if (waiting->index < commit) {
        if (s_holds (self, waiting)) {
            s_committed (self, waiting);
            return MSG_ERR_OK;
        }
        return MSG_ERR_UNAVAILABLE;
    }
    if (waiting->index >= length || (cut_from <= waiting->index && !s_holds (self, waiting)))
        return MSG_ERR_UNAVAILABLE;
    if (!leading || (waiting->deadline && waiting->deadline <= now))
        return MSG_ERR_OUTCOME_UNKNOWN;
    return -1;
}

void
held_update (held_t *self, uint64_t commit, uint64_t length, bool leading, uint64_t cut_from)
{
    uint64_t now = msg_now_ms ();
    size_t kept = 0;
    for (size_t i = 0; i < self->count; i++) {
        s_waiting_t *waiting = &self->waiting[i];
        int code = s_decide (self, waiting, commit, length, leading, cut_from, now);
        if (code < 0) {
            if (kept != i)
                self->waiting[kept] = *waiting;
            kept++;
            continue;
        }
        if (code == MSG_ERR_OK)
            continue;
        batch_add_error (self->batch, &waiting->envelope, waiting->req_id, (msg_error_t) code);
        if (code == MSG_ERR_OUTCOME_UNKNOWN)
            self->unknown++;
        else
            self->refused++;
    }
    self->count = kept;
}

size_t
held_count (held_t *self)
{
    return self->count;
}

void
held_log_refusals (held_t *self)
{
    int64_t now = zclock_mono ();
    if (now - self->logged_at < 1000)
        return;
    if (self->refused > self->refused_logged || self->unknown > self->unknown_logged)
        log_warn ("trades proposed and then answered 503 (cut): %" PRIu64 ", 504 (outcome "
                  "unknown: deadline or step-down): %" PRIu64 " in the last second",
                  self->refused - self->refused_logged, self->unknown - self->unknown_logged);
    self->refused_logged = self->refused;
    self->unknown_logged = self->unknown;
    self->logged_at = now;
}
