/*  epochs.c - catalog.epoch: one EPOCHREC per grant, the last is the highest. */
#include "epochs.h"
#include "journal.h"
#include "msgs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _epochs_t {
    journal_t *journal;
    uint64_t highest;
    msgpack_sbuffer buffer;
};

static int
s_on_record (const void *data, size_t size, void *arg)
{
    epochs_t *self = arg;
    msg_t msg;
    msg_init (&msg, 0);
    int rc = msg_decode (&msg, data, size) || msg.type != MSG_EPOCHREC ? -1 : 0;
    if (rc == 0 && msg.epoch > self->highest)
        self->highest = msg.epoch;
    msg_reset (&msg);
    return rc;
}

epochs_t *
epochs_open (const char *dir, char *error, size_t error_size)
{
    epochs_t *self = calloc (1, sizeof (epochs_t));
    if (!self) {
        snprintf (error, error_size, "out of memory");
        return NULL;
    }
    msgpack_sbuffer_init (&self->buffer);
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/catalog.epoch", dir);
    self->journal = journal_open (path, true, s_on_record, self);
    if (!self->journal) {
        snprintf (error, error_size, "%s: %s", path,
                  errno == EBADMSG ? "not an epoch record: refusing to start"
                                   : journal_strerror (errno));
        epochs_destroy (&self);
    }
    return self;
}

void
epochs_destroy (epochs_t **self_p)
{
    if (!*self_p)
        return;
    epochs_t *self = *self_p;
    journal_destroy (&self->journal);
    msgpack_sbuffer_destroy (&self->buffer);
    free (self);
    *self_p = NULL;
}

uint64_t
epochs_highest (epochs_t *self)
{
    return self->highest;
}

uint64_t
epochs_grant (epochs_t *self)
{
    msg_t record;
    msg_init (&record, MSG_EPOCHREC);
    record.epoch = self->highest + 1;
    if (msg_encode (&record, &self->buffer)
        || journal_append (self->journal, self->buffer.data, self->buffer.size)
        || journal_sync (self->journal))
        return 0;
    self->highest = record.epoch;
    return self->highest;
}
