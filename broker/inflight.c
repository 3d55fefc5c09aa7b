/*  inflight.c - a hash of (client identity, req_id) -> the worker holding it.

    Keys are the client identity in hex, a colon and the req_id in decimal:
    identities are short (5 bytes from a ROUTER), so this is cheap and
    needs no custom hash.
*/
#include "inflight.h"
#include "mem.h"

#include <czmq.h>

typedef struct {
    unsigned char client[256];
    size_t client_size;
    uint64_t req_id;
    uint64_t worker;
    int64_t added_at;
} s_entry_t;

struct _inflight_t {
    zhashx_t *entries;       //  key -> s_entry_t (owned)
};

static void
s_entry_free (void **item)
{
    free (*item);
    *item = NULL;
}

inflight_t *
inflight_new (void)
{
    inflight_t *self = mem_calloc (1, sizeof (inflight_t));
    self->entries = zhashx_new ();
    assert (self->entries);
    zhashx_set_destructor (self->entries, s_entry_free);
    return self;
}

void
inflight_destroy (inflight_t **self_p)
{
    if (!*self_p)
        return;
    inflight_t *self = *self_p;
    zhashx_destroy (&self->entries);
    free (self);
    *self_p = NULL;
}

//  Writes the key of (client, req_id) into key (at least 2 * 256 + 24).
//  Twice per routed order request: no printf here.
static void
s_key (char *key, const void *client, size_t client_size, uint64_t req_id)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *bytes = client;
    for (size_t i = 0; i < client_size; i++) {
        *key++ = hex[bytes[i] >> 4];
        *key++ = hex[bytes[i] & 15];
    }
    *key++ = ':';
    char digits[24];
    size_t count = 0;
    do
        digits[count++] = (char) ('0' + req_id % 10);
    while (req_id /= 10);
    while (count)
        *key++ = digits[--count];
    *key = '\0';
}

void
inflight_add (inflight_t *self, const void *client, size_t client_size, uint64_t req_id,
              uint64_t worker)
{
    s_entry_t *entry = malloc (sizeof (s_entry_t));
    if (!entry || client_size > sizeof (entry->client)
        || zhashx_size (self->entries) >= INFLIGHT_MAX) {
        free (entry);
        return;
    }
    memcpy (entry->client, client, client_size);
    entry->client_size = client_size;
    entry->req_id = req_id;
    entry->worker = worker;
    entry->added_at = zclock_mono ();
    char key[2 * sizeof (entry->client) + 24];
    s_key (key, client, client_size, req_id);
    zhashx_update (self->entries, key, entry);
}

void
inflight_remove (inflight_t *self, const void *client, size_t client_size, uint64_t req_id)
{
    if (client_size > 256 || zhashx_size (self->entries) == 0)
        return;
    char key[2 * 256 + 24];
    s_key (key, client, client_size, req_id);
    zhashx_delete (self->entries, key);
}

//  Removes every entry of worker (or, with worker 0, every entry added
//  before oldest), passing each to fn if fn is given. Returns how many.
//  Keys are copied before they are deleted: deleting an entry frees the
//  hash's own key.
static size_t
s_remove_where (inflight_t *self, uint64_t worker, int64_t oldest, inflight_fn *fn, void *arg)
{
    zlistx_t *doomed = zlistx_new ();
    assert (doomed);
    zlistx_set_duplicator (doomed, (zlistx_duplicator_fn *) strdup);
    zlistx_set_destructor (doomed, (zlistx_destructor_fn *) zstr_free);
    for (s_entry_t *entry = zhashx_first (self->entries); entry;
         entry = zhashx_next (self->entries))
        if (worker ? entry->worker == worker : entry->added_at < oldest) {
            if (fn)
                fn (arg, entry->client, entry->client_size, entry->req_id);
            zlistx_add_end (doomed, (void *) zhashx_cursor (self->entries));
        }
    size_t count = zlistx_size (doomed);
    for (char *key = zlistx_first (doomed); key; key = zlistx_next (doomed))
        zhashx_delete (self->entries, key);
    zlistx_destroy (&doomed);
    return count;
}

size_t
inflight_fail (inflight_t *self, uint64_t worker, inflight_fn *fn, void *arg)
{
    return worker ? s_remove_where (self, worker, 0, fn, arg) : 0;
}

size_t
inflight_expire (inflight_t *self)
{
    if (zhashx_size (self->entries) == 0)
        return 0;
    return s_remove_where (self, 0, zclock_mono () - INFLIGHT_AGE_MAX_MS, NULL, NULL);
}
