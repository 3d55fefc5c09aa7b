/*  batch.c - encoded replies kept back-to-back in one buffer. */
#include "batch.h"
#include "mem.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    worker_envelope_t envelope;
    size_t offset;
    size_t size;
} s_reply_t;

struct _batch_t {
    s_reply_t *replies;
    size_t count;
    size_t allocated;
    msgpack_sbuffer encoded;   //  every reply's frame, back to back
    msgpack_sbuffer scratch;
};

batch_t *
batch_new (void)
{
    batch_t *self = mem_calloc (1, sizeof (batch_t));
    msgpack_sbuffer_init (&self->encoded);
    msgpack_sbuffer_init (&self->scratch);
    return self;
}

void
batch_destroy (batch_t **self_p)
{
    if (!*self_p)
        return;
    batch_t *self = *self_p;
    free (self->replies);
    msgpack_sbuffer_destroy (&self->encoded);
    msgpack_sbuffer_destroy (&self->scratch);
    free (self);
    *self_p = NULL;
}

int
batch_add (batch_t *self, const worker_envelope_t *envelope, const msg_t *reply)
{
    if (self->count == self->allocated) {
        size_t allocated = self->allocated ? self->allocated * 2 : 64;
        self->replies = mem_realloc (self->replies, allocated * sizeof (s_reply_t));
        self->allocated = allocated;
    }
    if (msg_encode (reply, &self->scratch))
        return -1;
    s_reply_t *held = &self->replies[self->count];
    held->envelope = *envelope;
    held->offset = self->encoded.size;
    held->size = self->scratch.size;
    if (msgpack_sbuffer_write (&self->encoded, self->scratch.data, self->scratch.size))
        return -1;
    self->count++;
    return 0;
}

int
batch_add_error (batch_t *self, const worker_envelope_t *envelope, uint64_t req_id,
                 msg_error_t code)
{
    msg_t reply;
    msg_init (&reply, MSG_ERROR);
    reply.req_id = req_id;
    reply.code = code;
    snprintf (reply.text, sizeof (reply.text), "%s", msg_error_text (code));
    return batch_add (self, envelope, &reply);
}

void
batch_send (batch_t *self, worker_t *worker)
{
    for (size_t i = 0; i < self->count; i++) {
        const s_reply_t *held = &self->replies[i];
        worker_send_frame (worker, &held->envelope, self->encoded.data + held->offset,
                           held->size);
    }
    self->count = 0;
    self->encoded.size = 0;
}
