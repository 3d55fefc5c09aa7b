/*  outbox.c - an order replica's messages waiting to leave a turn (see
    outbox.h).

    A dropped ACK is an msg_t reset to type 0 in place, which
    outbox_send_held skips: the others keep their order.
*/
#include "outbox.h"
#include "mem.h"

#include <string.h>

struct _outbox_t {
    outbox_send_fn *send;
    void *arg;
    msg_t *held;
    size_t held_count, held_size;
    msg_t early;   //  type 0: none pending
    size_t early_capacity;   //  entries early's list has room for
};

outbox_t *
outbox_new (outbox_send_fn *fn, void *arg)
{
    outbox_t *self = mem_calloc (1, sizeof (outbox_t));
    self->send = fn;
    self->arg = arg;
    msg_init (&self->early, 0);
    return self;
}

void
outbox_destroy (outbox_t **self_p)
{
    if (!*self_p)
        return;
    outbox_t *self = *self_p;
    for (size_t i = 0; i < self->held_count; i++)
        msg_reset (&self->held[i]);
    free (self->held);
    msg_reset (&self->early);
    free (self);
    *self_p = NULL;
}

//  The leader keeps the longest match a follower reported in its epoch,
//  so an earlier ACK that a later one covers says nothing more. Only the
//  last such ACK is weighed: one drained backlog costs a step per ACK.
static void
s_drop_covered_ack (outbox_t *self, const msg_t *ack)
{
    for (size_t i = self->held_count; i-- > 0;) {
        msg_t *queued = &self->held[i];
        if (queued->type == MSG_CS_ACK && queued->to == ack->to && queued->epoch == ack->epoch) {
            if (queued->length <= ack->length)
                msg_reset (queued);
            return;
        }
    }
}

void
outbox_hold (outbox_t *self, msg_t *msg)
{
    if (msg->type == MSG_CS_ACK)
        s_drop_covered_ack (self, msg);
    if (self->held_count == self->held_size) {
        self->held_size = self->held_size ? self->held_size * 2 : 64;
        self->held = mem_realloc (self->held, self->held_size * sizeof (msg_t));
    }
    self->held[self->held_count++] = *msg;
    msg_init (msg, 0);
}

static bool
s_continues (const msg_t *early, const msg_t *append)
{
    return early->type == MSG_CS_APPEND && append->type == MSG_CS_APPEND && append->to == 0
        && append->epoch == early->epoch
        && append->start == early->start + early->entry_count
        && early->entry_count + append->entry_count <= MSG_APPEND_BATCH;
}

void
outbox_early (outbox_t *self, msg_t *msg)
{
    msg_t *early = &self->early;
    if (s_continues (early, msg)) {
        size_t count = early->entry_count + msg->entry_count;
        if (count > self->early_capacity) {
            self->early_capacity = count > 2 * self->early_capacity ? count
                                                                   : 2 * self->early_capacity;
            early->entries = mem_realloc (early->entries,
                                          self->early_capacity * sizeof (msg_entry_t));
        }
        if (msg->entry_count)
            memcpy (early->entries + early->entry_count, msg->entries,
                    msg->entry_count * sizeof (msg_entry_t));
        early->entry_count = count;
        early->length = msg->length;
        early->commit = msg->commit;
        msg_reset (msg);
        return;
    }
    outbox_send_early (self);
    if (msg->to == 0) {
        *early = *msg;
        self->early_capacity = early->entry_count;
        msg_init (msg, 0);
    }
    else {
        self->send (self->arg, msg);
        msg_reset (msg);
    }
}

void
outbox_send_early (outbox_t *self)
{
    if (self->early.type) {
        self->send (self->arg, &self->early);
        msg_reset (&self->early);
    }
}

void
outbox_send_held (outbox_t *self)
{
    for (size_t i = 0; i < self->held_count; i++) {
        if (self->held[i].type)
            self->send (self->arg, &self->held[i]);
        msg_reset (&self->held[i]);
    }
    self->held_count = 0;
}
