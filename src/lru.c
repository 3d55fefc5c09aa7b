/*  lru.c - least-recently-used cache: a hash index for lookup (strindex,
    the project's one string-keyed table) and a doubly linked list for
    recency, both over the same nodes.

    Invariants: count <= capacity; every node is in the index (its id the
    node's address, its string the node's key) and in the recency list;
    head is the most recently used, tail the next to evict. The index has
    room for capacity keys from the start, so an insert never allocates.
*/
#include "lru.h"
#include "mem.h"
#include "strindex.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct _node_t node_t;
struct _node_t {
    node_t *prev;         //  more recently used
    node_t *next;         //  less recently used
    char *key;
    void *value;
    size_t size;          //  bytes of value in use
    size_t room;          //  bytes allocated for value
    uint64_t version;
};

struct _lru_t {
    size_t capacity;
    size_t count;
    strindex_t *index;    //  key -> node
    node_t *head;
    node_t *tail;
    uint64_t evictions;
};

static const char *
s_key_of (void *arg, uint64_t id)
{
    (void) arg;
    return ((node_t *) (uintptr_t) id)->key;
}

static uint64_t
s_id (node_t *node)
{
    return (uint64_t) (uintptr_t) node;
}

lru_t *
lru_new (size_t capacity)
{
    lru_t *self = mem_calloc (1, sizeof (lru_t));
    self->index = strindex_new (s_key_of, NULL);
    if (strindex_reserve (self->index, capacity)) {
        strindex_destroy (&self->index);
        free (self);
        return NULL;
    }
    self->capacity = capacity;
    return self;
}

static void
s_node_free (node_t *node)
{
    free (node->key);
    free (node->value);
    free (node);
}

void
lru_destroy (lru_t **self_p)
{
    if (!*self_p)
        return;
    lru_t *self = *self_p;
    lru_clear (self);
    strindex_destroy (&self->index);
    free (self);
    *self_p = NULL;
}

//  Returns the node for key, or NULL.
static node_t *
s_find (lru_t *self, const char *key)
{
    return (node_t *) (uintptr_t) strindex_find (self->index, key);
}

static void
s_unlink (lru_t *self, node_t *node)
{
    if (node->prev)
        node->prev->next = node->next;
    else
        self->head = node->next;
    if (node->next)
        node->next->prev = node->prev;
    else
        self->tail = node->prev;
    node->prev = node->next = NULL;
}

static void
s_push_front (lru_t *self, node_t *node)
{
    node->prev = NULL;
    node->next = self->head;
    if (self->head)
        self->head->prev = node;
    else
        self->tail = node;
    self->head = node;
}

//  Takes node out of both structures and frees it.
static void
s_drop (lru_t *self, node_t *node)
{
    strindex_remove (self->index, node->key, s_id (node));
    s_unlink (self, node);
    s_node_free (node);
    self->count--;
}

//  Copies value into node, growing its buffer if needed. Returns 0 or -1
//  (node unchanged) if out of memory.
static int
s_set_value (node_t *node, const void *value, size_t size, uint64_t version)
{
    if (size > node->room || !node->value) {
        void *grown = realloc (node->value, size ? size : 1);
        if (!grown)
            return -1;
        node->value = grown;
        node->room = size ? size : 1;
    }
    if (size)
        memcpy (node->value, value, size);
    node->size = size;
    node->version = version;
    return 0;
}

static node_t *
s_node_new (const char *key, const void *value, size_t size, uint64_t version)
{
    node_t *node = calloc (1, sizeof (node_t));
    if (!node)
        return NULL;
    node->key = strdup (key);
    if (!node->key || s_set_value (node, value, size, version)) {
        s_node_free (node);
        return NULL;
    }
    return node;
}

int
lru_put (lru_t *self, const char *key, const void *value, size_t size, uint64_t version)
{
    assert (self && key);
    node_t *node = s_find (self, key);
    if (node) {
        if (s_set_value (node, value, size, version))
            return -1;
        s_unlink (self, node);
        s_push_front (self, node);
        return 0;
    }
    if (self->capacity == 0)
        return 1;
    node = s_node_new (key, value, size, version);
    if (!node)
        return -1;
    if (self->count == self->capacity) {
        s_drop (self, self->tail);
        self->evictions++;
    }
    strindex_insert (self->index, node->key, s_id (node));     //  room reserved: cannot fail
    s_push_front (self, node);
    self->count++;
    return 0;
}

static const void *
s_result (node_t *node, size_t *size, uint64_t *version)
{
    if (size)
        *size = node->size;
    if (version)
        *version = node->version;
    return node->value;
}

const void *
lru_get (lru_t *self, const char *key, size_t *size, uint64_t *version)
{
    assert (self && key);
    node_t *node = s_find (self, key);
    if (!node)
        return NULL;
    if (node != self->head) {
        s_unlink (self, node);
        s_push_front (self, node);
    }
    return s_result (node, size, version);
}

const void *
lru_peek (lru_t *self, const char *key, size_t *size, uint64_t *version)
{
    assert (self && key);
    node_t *node = s_find (self, key);
    return node ? s_result (node, size, version) : NULL;
}

bool
lru_remove (lru_t *self, const char *key)
{
    assert (self && key);
    node_t *node = s_find (self, key);
    if (!node)
        return false;
    s_drop (self, node);
    return true;
}

void
lru_clear (lru_t *self)
{
    assert (self);
    node_t *node = self->head;
    while (node) {
        node_t *next = node->next;
        strindex_remove (self->index, node->key, s_id (node));
        s_node_free (node);
        node = next;
    }
    self->head = self->tail = NULL;
    self->count = 0;
}

size_t
lru_keys (lru_t *self, const char **keys, size_t max)
{
    assert (self);
    size_t count = 0;
    for (node_t *node = self->head; node && count < max; node = node->next)
        keys[count++] = node->key;
    return count;
}

size_t
lru_size (lru_t *self)
{
    assert (self);
    return self->count;
}

size_t
lru_capacity (lru_t *self)
{
    assert (self);
    return self->capacity;
}

uint64_t
lru_evictions (lru_t *self)
{
    assert (self);
    return self->evictions;
}

//  ---------------------------------------------------------------------
//  Self test

static void
s_expect (lru_t *self, const char *key, const char *value, uint64_t version)
{
    size_t size = 0;
    uint64_t found_version = 0;
    const char *found = lru_peek (self, key, &size, &found_version);
    if (!value) {
        assert (found == NULL);
        return;
    }
    assert (found);
    assert (size == strlen (value) && memcmp (found, value, size) == 0);
    assert (found_version == version);
}

static void
s_test_basic (void)
{
    lru_t *lru = lru_new (2);
    assert (lru && lru_capacity (lru) == 2 && lru_size (lru) == 0);
    assert (lru_put (lru, "a", "1", 1, 10) == 0);
    assert (lru_put (lru, "b", "22", 2, 20) == 0);
    s_expect (lru, "a", "1", 10);
    assert (lru_get (lru, "a", NULL, NULL));        //  a is now newest
    assert (lru_put (lru, "c", "333", 3, 30) == 0); //  evicts b
    assert (lru_evictions (lru) == 1 && lru_size (lru) == 2);
    s_expect (lru, "b", NULL, 0);
    s_expect (lru, "c", "333", 30);
    assert (lru_put (lru, "a", "longer value", 12, 11) == 0);   //  in place
    assert (lru_size (lru) == 2 && lru_evictions (lru) == 1);
    s_expect (lru, "a", "longer value", 11);
    assert (lru_put (lru, "d", "", 0, 40) == 0);    //  evicts c, not a
    s_expect (lru, "c", NULL, 0);
    s_expect (lru, "d", "", 40);
    assert (lru_remove (lru, "a") && !lru_remove (lru, "a"));
    assert (lru_size (lru) == 1);
    lru_clear (lru);
    assert (lru_size (lru) == 0 && lru_get (lru, "d", NULL, NULL) == NULL);
    assert (lru_put (lru, "e", "5", 1, 50) == 0);
    s_expect (lru, "e", "5", 50);
    lru_destroy (&lru);
    assert (lru == NULL);
    lru_destroy (&lru);
}

static void
s_test_zero_capacity (void)
{
    lru_t *lru = lru_new (0);
    assert (lru);
    assert (lru_put (lru, "a", "1", 1, 1) == 1);
    assert (lru_size (lru) == 0 && lru_get (lru, "a", NULL, NULL) == NULL);
    assert (lru_evictions (lru) == 0);
    lru_destroy (&lru);
}

//  Many keys through a small cache: the newest `capacity` keys survive.
static void
s_test_churn (void)
{
    const size_t capacity = 16;
    lru_t *lru = lru_new (capacity);
    assert (lru);
    char key[32];
    for (int i = 0; i < 10000; i++) {
        snprintf (key, sizeof (key), "key-%d", i);
        assert (lru_put (lru, key, key, strlen (key), (uint64_t) i) == 0);
        assert (lru_size (lru) == (i < (int) capacity ? (size_t) i + 1 : capacity));
    }
    assert (lru_evictions (lru) == 10000 - capacity);
    for (int i = 0; i < 10000; i++) {
        snprintf (key, sizeof (key), "key-%d", i);
        s_expect (lru, key, i >= 10000 - (int) capacity ? key : NULL, (uint64_t) i);
    }
    lru_destroy (&lru);
}

void
lru_test (bool verbose)
{
    if (verbose)
        printf (" * lru: ");
    s_test_basic ();
    s_test_zero_capacity ();
    s_test_churn ();
    if (verbose)
        printf ("OK\n");
}
