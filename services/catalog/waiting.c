/*  waiting.c - parked lookups (see waiting.h).

    An unordered array; settling walks it and moves the last entry into
    each freed place. It holds few requests (those that arrive in the
    tens of milliseconds before the PUB brings a trade), so a linear walk
    per turn costs nothing.
*/
#include "waiting.h"
#include "mem.h"

#include <czmq.h>

struct _waiting_t {
    waiting_request_t *requests;
    size_t count;
};

waiting_t *
waiting_new (void)
{
    waiting_t *self = mem_calloc (1, sizeof (waiting_t));
    self->requests = mem_calloc (WAITING_MAX, sizeof (waiting_request_t));
    return self;
}

void
waiting_destroy (waiting_t **self_p)
{
    if (!*self_p)
        return;
    free ((*self_p)->requests);
    free (*self_p);
    *self_p = NULL;
}

int
waiting_add (waiting_t *self, const worker_envelope_t *envelope, const msg_t *request,
             uint64_t now_ms)
{
    if (self->count == WAITING_MAX)
        return -1;
    waiting_request_t *parked = &self->requests[self->count++];
    parked->envelope = *envelope;
    parked->type = request->type;
    parked->req_id = request->req_id;
    snprintf (parked->name, sizeof (parked->name), "%s", request->name);
    parked->position = request->read_position;
    parked->parked_at = now_ms;
    parked->give_up_at = now_ms + WAITING_BOUND_MS;
    //  Past its deadline the gateway has answered 503 already.
    if (request->deadline && request->deadline < parked->give_up_at)
        parked->give_up_at = request->deadline;
    return 0;
}

size_t
waiting_settle (waiting_t *self, uint64_t count, uint64_t now_ms, waiting_fn *fn, void *arg)
{
    size_t passed = 0;
    for (size_t i = self->count; i-- > 0;) {
        waiting_request_t *parked = &self->requests[i];
        bool ready = parked->position <= count;
        if (!ready && now_ms < parked->give_up_at)
            continue;
        fn (arg, parked, ready);
        *parked = self->requests[--self->count];
        passed++;
    }
    return passed;
}

size_t
waiting_size (waiting_t *self)
{
    return self->count;
}

uint64_t
waiting_highest (waiting_t *self)
{
    uint64_t highest = 0;
    for (size_t i = 0; i < self->count; i++)
        if (self->requests[i].position > highest)
            highest = self->requests[i].position;
    return highest;
}

uint64_t
waiting_oldest (waiting_t *self)
{
    uint64_t oldest = 0;
    for (size_t i = 0; i < self->count; i++)
        if (!oldest || self->requests[i].parked_at < oldest)
            oldest = self->requests[i].parked_at;
    return oldest;
}
