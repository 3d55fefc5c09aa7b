/*  cwire.c - consensus_msg_t <-> msg_t (see cwire.h for the choices).

    Invariant: after cwire_to_consensus, self->entries[k].payload points
    into self->payloads, which is not written again until the next call.
*/
#include "cwire.h"
#include "mem.h"

#include <stdlib.h>
#include <string.h>

struct _cwire_t {
    consensus_entry_t *entries;  //  the last message's entries
    size_t capacity;
    msgpack_sbuffer payloads;    //  their TRADERECs, back to back
    msgpack_sbuffer record;      //  one TRADEREC being encoded
};

static const struct {
    consensus_type_t core;
    msg_type_t wire;
} s_types[] = {
    {CONSENSUS_PREPARE, MSG_CS_PREPARE}, {CONSENSUS_PROMISE, MSG_CS_PROMISE},
    {CONSENSUS_REFUSE, MSG_CS_REFUSE},   {CONSENSUS_APPEND, MSG_CS_APPEND},
    {CONSENSUS_ACK, MSG_CS_ACK},         {CONSENSUS_FETCH, MSG_CS_FETCH},
    {CONSENSUS_ENTRIES, MSG_CS_ENTRIES},
};
#define S_TYPE_COUNT (sizeof (s_types) / sizeof (s_types[0]))

static void *
s_alloc (void *old, size_t count, size_t size)
{
    return mem_realloc (old, count * size);
}

cwire_t *
cwire_new (void)
{
    cwire_t *self = s_alloc (NULL, 1, sizeof (cwire_t));
    memset (self, 0, sizeof (*self));
    msgpack_sbuffer_init (&self->payloads);
    msgpack_sbuffer_init (&self->record);
    return self;
}

void
cwire_destroy (cwire_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cwire_t *self = *self_p;
    free (self->entries);
    msgpack_sbuffer_destroy (&self->payloads);
    msgpack_sbuffer_destroy (&self->record);
    free (self);
    *self_p = NULL;
}

bool
cwire_is_consensus (int type)
{
    for (size_t i = 0; i < S_TYPE_COUNT; i++)
        if ((int) s_types[i].wire == type)
            return true;
    return false;
}

//  Entry k of a message that starts at start is transaction start + k
//  (and that index must exist).
static bool
s_numbered (uint64_t start, size_t k, uint64_t number)
{
    return k <= UINT64_MAX - start && number == start + k;
}

//  Encode msg's entries as TRADERECs into self and point self->entries
//  at them. Returns 0, or -1 if one is numbered wrong or does not encode.
static int
s_encode_entries (cwire_t *self, const msg_t *msg)
{
    if (msg->entry_count > self->capacity) {
        self->entries = s_alloc (self->entries, msg->entry_count, sizeof (consensus_entry_t));
        self->capacity = msg->entry_count;
    }
    msgpack_sbuffer_clear (&self->payloads);
    for (size_t k = 0; k < msg->entry_count; k++) {
        const msg_entry_t *entry = &msg->entries[k];
        if (!s_numbered (msg->start, k, entry->trade.number))
            return -1;
        msg_t record;
        msg_set_trade (&record, MSG_TRADEREC, &entry->trade);
        if (msg_encode (&record, &self->record))
            return -1;
        if (msgpack_sbuffer_write (&self->payloads, self->record.data, self->record.size))
            abort (); //  out of memory
        self->entries[k] = (consensus_entry_t) {entry->stamp, NULL, self->record.size};
    }
    //  The buffer may have moved while it grew: point at it only now.
    const char *cursor = self->payloads.data;
    for (size_t k = 0; k < msg->entry_count; k++) {
        self->entries[k].payload = cursor;
        cursor += self->entries[k].size;
    }
    return 0;
}

int
cwire_to_consensus (cwire_t *self, const msg_t *msg, consensus_msg_t *cmsg)
{
    size_t i = 0;
    while (i < S_TYPE_COUNT && s_types[i].wire != msg->type)
        i++;
    if (i == S_TYPE_COUNT || msg->replica_id > UINT32_MAX || msg->to > UINT32_MAX)
        return -1;
    if (s_encode_entries (self, msg))
        return -1;
    *cmsg = (consensus_msg_t) {
        .type = s_types[i].core,
        .from = (uint32_t) msg->replica_id,
        .to = (uint32_t) msg->to,
        .epoch = msg->epoch,
        .start = msg->start,
        .prev_stamp = msg->prev_stamp,
        .last_stamp = msg->last_stamp,
        .length = msg->length,
        .commit = msg->commit,
        .entries = msg->entry_count ? self->entries : NULL,
        .n_entries = msg->entry_count,
    };
    return 0;
}

//  Decode cmsg's payloads into msg->entries. Returns 0 or -1.
static int
s_decode_entries (const consensus_msg_t *cmsg, msg_t *msg)
{
    if (cmsg->n_entries == 0)
        return 0;
    if (cmsg->n_entries > MSG_LIST_MAX || !cmsg->entries
        || (msg->type != MSG_CS_APPEND && msg->type != MSG_CS_ENTRIES))
        return -1;
    msg->entries = s_alloc (NULL, cmsg->n_entries, sizeof (msg_entry_t));
    msg->entry_count = cmsg->n_entries;
    for (size_t k = 0; k < cmsg->n_entries; k++) {
        const consensus_entry_t *entry = &cmsg->entries[k];
        msg_trade_t *trade = &msg->entries[k].trade;
        msg->entries[k].stamp = entry->stamp;
        if (!entry->payload || msg_decode_trade (entry->payload, entry->size, trade)
            || !s_numbered (cmsg->start, k, trade->number))
            return -1;
    }
    return 0;
}

int
cwire_to_msg (const consensus_msg_t *cmsg, msg_t *msg)
{
    msg_reset (msg);
    size_t i = 0;
    while (i < S_TYPE_COUNT && s_types[i].core != cmsg->type)
        i++;
    if (i == S_TYPE_COUNT)
        return -1;
    msg_init (msg, s_types[i].wire);
    msg->replica_id = cmsg->from;
    msg->to = cmsg->to;
    msg->epoch = cmsg->epoch;
    msg->start = cmsg->start;
    msg->prev_stamp = cmsg->prev_stamp;
    msg->last_stamp = cmsg->last_stamp;
    msg->length = cmsg->length;
    msg->commit = cmsg->commit;
    if (s_decode_entries (cmsg, msg)) {
        msg_reset (msg);
        return -1;
    }
    return 0;
}
