/*  order_log.c - orders in a journal file, indexed in memory.

    Invariant: orders[i] is order number i for i < count, and the file
    holds exactly orders[0 .. durable) plus whatever the journal queued.
*/
#include "order_log.h"
#include "journal.h"

#include <czmq.h>
#include <errno.h>

typedef struct {
    const char *name;     //  interned in names
    uint8_t side;
    uint32_t quantity;
    char *key;            //  owned, NULL if none
} s_order_t;

struct _order_log_t {
    journal_t *journal;
    s_order_t *orders;
    uint64_t count;
    uint64_t allocated;
    zhashx_t *names;      //  name -> the one copy orders point at
    msgpack_sbuffer buffer;
};

static void
s_free_string (void **item)
{
    free (*item);
    *item = NULL;
}

//  Adds trade to memory only.
static int
s_remember (order_log_t *self, const msg_trade_t *trade)
{
    if (trade->number != self->count)
        return -1;
    if (self->count == self->allocated) {
        uint64_t allocated = self->allocated ? self->allocated * 2 : 1024;
        s_order_t *orders = realloc (self->orders, allocated * sizeof (s_order_t));
        if (!orders)
            return -1;
        self->orders = orders;
        self->allocated = allocated;
    }
    const char *name = zhashx_lookup (self->names, trade->name);
    if (!name) {
        char *copy = strdup (trade->name);
        if (!copy)
            return -1;
        zhashx_insert (self->names, trade->name, copy);
        name = copy;
    }
    s_order_t *order = &self->orders[self->count];
    order->name = name;
    order->side = trade->side;
    order->quantity = (uint32_t) trade->quantity;
    order->key = *trade->key ? strdup (trade->key) : NULL;
    self->count++;
    return 0;
}

static int
s_on_record (const void *data, size_t size, void *arg)
{
    order_log_t *self = arg;
    msg_t msg;
    msg_init (&msg, 0);
    int rc = msg_decode (&msg, data, size);
    if (rc == 0 && msg.type == MSG_TRADEREC) {
        msg_trade_t trade;
        msg_get_trade (&msg, &trade);
        rc = s_remember (self, &trade);
    }
    else
        rc = -1;
    msg_reset (&msg);
    return rc;
}

order_log_t *
order_log_open (const char *dir, uint64_t replica_id, bool sync, char *error, size_t error_size)
{
    order_log_t *self = calloc (1, sizeof (order_log_t));
    assert (self);
    self->names = zhashx_new ();
    zhashx_set_destructor (self->names, s_free_string);
    msgpack_sbuffer_init (&self->buffer);
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/order-%" PRIu64 ".log", dir, replica_id);
    if (journal_make_dir (dir)) {
        snprintf (error, error_size, "cannot create %s: %s", dir, strerror (errno));
        goto failed;
    }
    self->journal = journal_open (path, sync, s_on_record, self);
    if (!self->journal) {
        snprintf (error, error_size, "%s: %s", path,
                  errno == EBADMSG ? "record out of order: refusing to start"
                                   : journal_strerror (errno));
        goto failed;
    }
    return self;
failed:
    order_log_destroy (&self);
    return NULL;
}

void
order_log_destroy (order_log_t **self_p)
{
    if (!*self_p)
        return;
    order_log_t *self = *self_p;
    journal_destroy (&self->journal);
    for (uint64_t i = 0; i < self->count; i++)
        free (self->orders[i].key);
    free (self->orders);
    zhashx_destroy (&self->names);
    msgpack_sbuffer_destroy (&self->buffer);
    free (self);
    *self_p = NULL;
}

uint64_t
order_log_count (order_log_t *self)
{
    return self->count;
}

int
order_log_append (order_log_t *self, const msg_trade_t *trade)
{
    msg_t record;
    msg_set_trade (&record, MSG_TRADEREC, trade);
    if (trade->number != self->count || msg_encode (&record, &self->buffer)
        || journal_append (self->journal, self->buffer.data, self->buffer.size))
        return -1;
    return s_remember (self, trade);
}

int
order_log_sync (order_log_t *self)
{
    return journal_sync (self->journal);
}

int
order_log_get (order_log_t *self, uint64_t number, msg_trade_t *trade)
{
    if (number >= self->count)
        return -1;
    const s_order_t *order = &self->orders[number];
    trade->number = number;
    snprintf (trade->name, sizeof (trade->name), "%s", order->name);
    trade->side = order->side;
    trade->quantity = order->quantity;
    snprintf (trade->key, sizeof (trade->key), "%s", order->key ? order->key : "");
    return 0;
}
