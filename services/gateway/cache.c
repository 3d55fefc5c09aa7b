/*  cache.c - stock cache with catalog invalidations (rules in cache.h).

    Sockets: a SUB to the catalog PUB (subscribed to INVALIDATE) and a
    PAIR reading the SUB's monitor (HANDSHAKE_SUCCEEDED / DISCONNECTED
    events: a connection to the catalog is complete, or lost), both woken
    by the h2o loop (zwatch).

    State: the LRU of bodies; marks, name -> highest version seen in an
    invalidation (never lowered, versions only grow even across catalog
    restarts); the catalog incarnation and last seq; generation, raised by
    every flush; connected (the monitor's view) and hearing (a catalog
    message came less than CACHE_SILENCE_MS ago, kept by the silence
    timer, which every message re-arms). The cache serves and stores only
    while both are true.
*/
#include "cache.h"
#include "mem.h"
#include "log.h"
#include "lru.h"
#include "msgs.h"
#include "zwatch.h"
#include "sockets.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

//  The catalog beacons every MSG_BEACON_MS: MSG_SILENCE_MS without any
//  message means it is stalled or its messages are not reaching us.
#define CACHE_SILENCE_MS MSG_SILENCE_MS

struct _cache_t {
    lru_t *lru;
    zhashx_t *marks;            //  name -> uint64_t * highest invalidated version
    void *sub;
    void *monitor;
    h2o_socket_t *sub_watch;
    h2o_socket_t *monitor_watch;
    h2o_evloop_t *loop;
    h2o_timeout_t silence;      //  CACHE_SILENCE_MS
    h2o_timeout_entry_t silence_timer;  //  re-armed by every message while connected
    bool timers_ready;          //  silence is initialised
    bool connected;             //  the SUB has a connection to the catalog
    bool hearing;               //  a message came within CACHE_SILENCE_MS
    bool have_incarnation;
    uint64_t incarnation;
    uint64_t last_seq;
    uint64_t generation;
    uint64_t hits;
    uint64_t misses;
    uint64_t invalidations;
    uint64_t flushes;
    cache_flush_t recent[CACHE_FLUSHES_KEPT];   //  ring: the last flushes
    msg_t msg;                  //  reused for every decoded invalidation
};

//  ---------------------------------------------------------------------
//  Rules

static void
s_flush (cache_t *self, const char *why)
{
    size_t dropped = lru_size (self->lru);
    lru_clear (self->lru);
    self->generation++;
    cache_flush_t *flush = &self->recent[self->flushes % CACHE_FLUSHES_KEPT];
    flush->at_ms = zclock_time ();
    snprintf (flush->reason, sizeof (flush->reason), "%s", why);
    flush->dropped = dropped;
    self->flushes++;
    log_debug ("cache: flush (%s), dropped %zu entries", why, dropped);
}

//  True while lookups may be served from and stored into the cache.
static bool
s_serving (cache_t *self)
{
    return self->connected && self->hearing;
}

static uint64_t
s_mark (cache_t *self, const char *name)
{
    uint64_t *mark = zhashx_lookup (self->marks, name);
    return mark ? *mark : 0;
}

static void
s_raise_mark (cache_t *self, const char *name, uint64_t version)
{
    uint64_t *mark = zhashx_lookup (self->marks, name);
    if (mark) {
        if (*mark < version)
            *mark = version;
        return;
    }
    mark = malloc (sizeof (uint64_t));
    if (mark)
        *mark = version;
    if (!mark || zhashx_insert (self->marks, name, mark)) {
        free (mark);
        //  Without the mark a racing older reply could be stored.
        s_flush (self, "out of memory for marks");
        return;
    }
    //  The table frees the mark (plain free) when it is destroyed.
    zhashx_freefn (self->marks, name, free);
}

const char *
cache_get (cache_t *self, const char *name, size_t *size)
{
    const char *body = s_serving (self) ? lru_get (self->lru, name, size, NULL) : NULL;
    if (body) {
        self->hits++;
        log_debug ("cache: hit %s", name);
    }
    else {
        self->misses++;
        log_debug ("cache: miss %s", name);
    }
    return body;
}

uint64_t
cache_generation (cache_t *self)
{
    return self->generation;
}

//  Returns why a lookup reply may not be stored, or NULL if it may.
static const char *
s_refusal (cache_t *self, const char *name, uint64_t version, uint64_t generation)
{
    if (!self->connected)
        return "not connected to the catalog";
    if (!self->hearing)
        return "the catalog is silent";
    if (generation != self->generation)
        return "raced a flush";
    if (version < s_mark (self, name))
        return "raced an invalidation";
    uint64_t cached = 0;
    if (lru_peek (self->lru, name, NULL, &cached) && cached > version)
        return "a newer copy is cached";
    return NULL;
}

void
cache_put (cache_t *self, const char *name, const char *body, size_t size, uint64_t version,
           uint64_t generation)
{
    if (lru_capacity (self->lru) == 0)
        return;
    const char *refusal = s_refusal (self, name, version, generation);
    if (refusal) {
        log_debug ("cache: not storing %s v%" PRIu64 ": %s", name, version, refusal);
        return;
    }
    uint64_t evictions = lru_evictions (self->lru);
    if (lru_put (self->lru, name, body, size, version) < 0)
        log_warn ("cache: out of memory storing %s", name);
    else
    if (lru_evictions (self->lru) != evictions)
        log_debug ("cache: evicted an entry to store %s v%" PRIu64, name, version);
}

void
cache_invalidate (cache_t *self, const char *name, uint64_t version)
{
    self->invalidations++;
    s_raise_mark (self, name, version);
    uint64_t cached = 0;
    if (lru_peek (self->lru, name, NULL, &cached) && cached < version) {
        lru_remove (self->lru, name);
        log_debug ("cache: invalidated %s v%" PRIu64 " (now v%" PRIu64 ")", name, cached,
                   version);
    }
    else
        log_debug ("cache: invalidation of %s v%" PRIu64 " (nothing stale cached)", name,
                   version);
}

void
cache_stats (cache_t *self, cache_stats_t *stats)
{
    stats->hits = self->hits;
    stats->misses = self->misses;
    stats->evictions = lru_evictions (self->lru);
    stats->invalidations = self->invalidations;
    stats->flushes = self->flushes;
    stats->entries = lru_size (self->lru);
    stats->capacity = lru_capacity (self->lru);
    stats->live = s_serving (self);
}

size_t
cache_names (cache_t *self, const char **names, size_t max)
{
    return lru_keys (self->lru, names, max);
}

size_t
cache_flushes (cache_t *self, cache_flush_t *flushes)
{
    size_t count = self->flushes < CACHE_FLUSHES_KEPT ? self->flushes : CACHE_FLUSHES_KEPT;
    for (size_t i = 0; i < count; i++)
        flushes[i] = self->recent[(self->flushes - count + i) % CACHE_FLUSHES_KEPT];
    return count;
}

//  ---------------------------------------------------------------------
//  The invalidation stream

//  No catalog message for CACHE_SILENCE_MS while connected.
static void
s_on_silence (h2o_timeout_entry_t *entry)
{
    cache_t *self = H2O_STRUCT_FROM_MEMBER (cache_t, silence_timer, entry);
    if (!self->hearing) {
        //  Connected but never heard since: nothing is cached, nothing to do.
        log_info ("cache: connected, but no message from the catalog in %d ms "
                  "(is it sending beacons?): cache off until one arrives",
                  CACHE_SILENCE_MS);
        return;
    }
    log_info ("cache: nothing from the catalog for %d ms, cache off until it speaks",
              CACHE_SILENCE_MS);
    s_flush (self, "catalog silent");
    self->hearing = false;
}

//  (Re)starts the silence timer.
static void
s_arm_silence (cache_t *self)
{
    if (h2o_timeout_is_linked (&self->silence_timer))
        h2o_timeout_unlink (&self->silence_timer);
    h2o_timeout_link (self->loop, &self->silence, &self->silence_timer);
}

//  Any well-formed message from the catalog: it is alive and reaching us.
static void
s_heard (cache_t *self)
{
    if (self->connected)
        s_arm_silence (self);
    if (!self->hearing) {
        //  Lookups sent while deaf may have raced changes we never heard
        //  of: their replies must not be stored. (Nothing is cached now.)
        self->generation++;
        self->hearing = true;
        log_debug ("cache: hearing from the catalog, serving");
    }
}

//  INVALIDATE, or a beacon (empty name: seq is the catalog's last seq,
//  not a new one; nothing changed).
static void
s_on_invalidate (cache_t *self, const msg_t *msg)
{
    bool beacon = msg->name[0] == '\0';
    s_heard (self);
    if (!self->have_incarnation || msg->incarnation != self->incarnation) {
        if (self->have_incarnation)
            log_info ("cache: catalog restarted (incarnation %" PRIx64 "), flushing",
                      msg->incarnation);
        s_flush (self, "new catalog incarnation");
        self->have_incarnation = true;
        self->incarnation = msg->incarnation;
    }
    else
    if (beacon && msg->seq != self->last_seq) {
        log_info ("cache: beacon at seq %" PRIu64 ", last invalidation seen %" PRIu64
                  ": missed some, flushing",
                  msg->seq, self->last_seq);
        s_flush (self, "beacon shows missed invalidations");
    }
    else
    if (!beacon && msg->seq != self->last_seq + 1) {
        log_info ("cache: invalidation gap (seq %" PRIu64 " after %" PRIu64 "), flushing",
                  msg->seq, self->last_seq);
        s_flush (self, "sequence gap");
    }
    self->last_seq = msg->seq;
    if (!beacon)
        cache_invalidate (self, msg->name, msg->version);
}

static void
s_receive_invalidation (cache_t *self)
{
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    if (zmq_msg_recv (&frame, self->sub, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&frame);
        return;
    }
    bool more = zmq_msg_more (&frame);
    int rc = msg_decode (&self->msg, zmq_msg_data (&frame), zmq_msg_size (&frame));
    zmq_msg_close (&frame);
    if (more)
        zwatch_skip_more (self->sub);
    if (more || rc || self->msg.type != MSG_INVALIDATE) {
        log_warn ("cache: dropped a bad invalidation frame (%s)",
                  rc ? msg_decode_strerror (rc) : msg_type_name (self->msg.type));
        //  Something was published that we cannot read: assume we missed
        //  an invalidation.
        s_flush (self, "unreadable invalidation");
    }
    else
        s_on_invalidate (self, &self->msg);
    msg_reset (&self->msg);
}

static void
s_on_sub_ready (h2o_socket_t *watch, const char *err)
{
    (void) err;
    cache_t *self = watch->data;
    while (zwatch_readable (self->sub))
        s_receive_invalidation (self);
}

//  ---------------------------------------------------------------------
//  Connection state, from the SUB socket's monitor

static void
s_on_event (cache_t *self, uint16_t event)
{
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        log_info ("cache: connected to the catalog invalidations, serving from its first message");
        s_flush (self, "subscriber connected");
        self->connected = true;
        self->hearing = false;
        s_arm_silence (self);
    }
    else
    if (event == ZMQ_EVENT_DISCONNECTED) {
        log_info ("cache: lost the catalog invalidations, cache off until reconnected");
        s_flush (self, "subscriber disconnected");
        self->connected = false;
        self->hearing = false;
        if (h2o_timeout_is_linked (&self->silence_timer))
            h2o_timeout_unlink (&self->silence_timer);
    }
}

static void
s_receive_event (cache_t *self)
{
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    if (zmq_msg_recv (&frame, self->monitor, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&frame);
        return;
    }
    uint16_t event = 0;
    bool more = zmq_msg_more (&frame);
    if (zmq_msg_size (&frame) >= sizeof (event))
        memcpy (&event, zmq_msg_data (&frame), sizeof (event));
    zmq_msg_close (&frame);
    if (more)
        zwatch_skip_more (self->monitor);
    s_on_event (self, event);
}

static void
s_on_monitor_ready (h2o_socket_t *watch, const char *err)
{
    (void) err;
    cache_t *self = watch->data;
    while (zwatch_readable (self->monitor))
        s_receive_event (self);
}

//  ---------------------------------------------------------------------
//  Construction

//  INVALIDATE only, in any shape (a malformed one must still flush): the
//  catalog's beacons are of no use to the cache.
static int
s_subscribe (void *sub)
{
    unsigned char topics[MSG_TOPIC_SHAPES][MSG_TOPIC_SIZE];
    msg_topics_any_shape (MSG_INVALIDATE, topics);
    for (int i = 0; i < MSG_TOPIC_SHAPES; i++)
        if (zmq_setsockopt (sub, ZMQ_SUBSCRIBE, topics[i], MSG_TOPIC_SIZE))
            return -1;
    return 0;
}

//  Creates the SUB, its monitor and their watches. Returns 0 or -1.
static int
s_connect (cache_t *self, void *zmq_context, h2o_evloop_t *loop, const char *endpoint)
{
    self->loop = loop;
    h2o_timeout_init (loop, &self->silence, CACHE_SILENCE_MS);
    self->silence_timer.cb = s_on_silence;
    self->timers_ready = true;
    int zero = 0, reconnect_ms = 50;
    char monitor_endpoint[64];
    snprintf (monitor_endpoint, sizeof (monitor_endpoint), "inproc://gateway-cache-%p",
              (void *) self);
    self->sub = sockets_new_in (zmq_context, ZMQ_SUB, "catalog", 0);
    if (!self->sub || s_subscribe (self->sub)
        || zmq_setsockopt (self->sub, ZMQ_RECONNECT_IVL, &reconnect_ms, sizeof (reconnect_ms))
        || zmq_socket_monitor (self->sub, monitor_endpoint,
                               ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED))
        return -1;
    self->monitor = zmq_socket (zmq_context, ZMQ_PAIR);
    if (!self->monitor || zmq_setsockopt (self->monitor, ZMQ_LINGER, &zero, sizeof (zero))
        || zmq_connect (self->monitor, monitor_endpoint))
        return -1;
    if (zmq_connect (self->sub, endpoint))
        return -1;
    self->sub_watch = zwatch_new (loop, self->sub, s_on_sub_ready, self);
    self->monitor_watch = zwatch_new (loop, self->monitor, s_on_monitor_ready, self);
    return self->sub_watch && self->monitor_watch ? 0 : -1;
}

cache_t *
cache_new (void *zmq_context, h2o_evloop_t *loop, const char *endpoint, size_t capacity,
           char *error, size_t error_size)
{
    cache_t *self = mem_calloc (1, sizeof (cache_t));
    self->lru = lru_new (capacity);
    self->marks = zhashx_new ();
    if (!self->lru)
        goto error;
    if (capacity > 0 && s_connect (self, zmq_context, loop, endpoint))
        goto error;
    return self;

error:
    snprintf (error, error_size, "cannot subscribe to catalog invalidations at %s: %s",
              endpoint, zmq_strerror (errno));
    cache_destroy (&self);
    return NULL;
}

void
cache_destroy (cache_t **self_p)
{
    if (!*self_p)
        return;
    cache_t *self = *self_p;
    zwatch_destroy (&self->sub_watch);
    zwatch_destroy (&self->monitor_watch);
    if (self->timers_ready) {
        if (h2o_timeout_is_linked (&self->silence_timer))
            h2o_timeout_unlink (&self->silence_timer);
        h2o_timeout_dispose (self->loop, &self->silence);
    }
    if (self->sub) {
        zmq_socket_monitor (self->sub, NULL, 0);
        zmq_close (self->sub);
    }
    if (self->monitor)
        zmq_close (self->monitor);
    lru_destroy (&self->lru);
    zhashx_destroy (&self->marks);
    msg_reset (&self->msg);
    free (self);
    *self_p = NULL;
}
