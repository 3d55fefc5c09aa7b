/*  bus.c - DEALER to the broker, pending calls by req_id, deadlines.

    The pending table is open addressing with linear probing over a
    power-of-two array of (req_id, call) slots; req_id 0 marks an empty
    slot, deletion shifts the following cluster back (no tombstones). It
    grows when half full, so many requests can be in flight at once.

    Invariants: a call is in the table iff call->req_id != 0, and then its
    timer is linked to the deadline timeout. A call pausing before a retry
    has req_id 0 and its timer linked to the retry timeout.
*/
#include "bus.h"
#include "mem.h"
#include "log.h"
#include "zwatch.h"
#include "sockets.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define BUS_TABLE_MIN 1024          //  initial slots
#define BUS_RETRY_PAUSE_MS 25       //  pause before resending a refused request

typedef struct {
    uint64_t req_id;
    bus_call_t *call;
} s_slot_t;

struct _bus_t {
    h2o_evloop_t *loop;
    void *dealer;
    h2o_socket_t *watch;
    h2o_timeout_t deadline;         //  for a first send: timeout_ms
    h2o_timeout_t late_deadline;    //  for a retry: what is left of timeout_ms
    uint64_t retry_window;          //  ms after the first send to retry in
    uint64_t work_window;           //  ms after the first send a worker may start it
    h2o_timeout_t retry_pause;
    h2o_timeout_t soon;             //  0 ms: end of this loop iteration
    h2o_timeout_entry_t drain_soon; //  linked to soon after a send
    msgpack_sbuffer buffer;         //  reused for every encoded request
    msg_t reply;                    //  reused for every decoded reply
    s_slot_t *slots;
    size_t mask;                    //  slot count - 1
    size_t count;
    uint64_t next_req_id;
    bool draining;
    bool stopping;
};

static void s_drain_soon (bus_t *self);

//  ---------------------------------------------------------------------
//  Pending table

static size_t
s_home (bus_t *self, uint64_t req_id)
{
    return (size_t) ((req_id * 0x9E3779B97F4A7C15ULL) >> 17) & self->mask;
}

static void
s_table_place (bus_t *self, uint64_t req_id, bus_call_t *call)
{
    size_t i = s_home (self, req_id);
    while (self->slots[i].req_id)
        i = (i + 1) & self->mask;
    self->slots[i] = (s_slot_t) {req_id, call};
    self->count++;
}

static void
s_table_grow (bus_t *self)
{
    size_t old_size = self->mask + 1;
    s_slot_t *old = self->slots;
    self->slots = mem_calloc (old_size * 2, sizeof (s_slot_t));
    self->mask = old_size * 2 - 1;
    self->count = 0;
    for (size_t i = 0; i < old_size; i++)
        if (old[i].req_id)
            s_table_place (self, old[i].req_id, old[i].call);
    free (old);
}

static void
s_table_insert (bus_t *self, uint64_t req_id, bus_call_t *call)
{
    if ((self->count + 1) * 2 > self->mask + 1)
        s_table_grow (self);
    s_table_place (self, req_id, call);
}

//  True if home lies cyclically in (hole, index]: the entry at index may
//  not move back into hole.
static bool
s_table_stays (size_t hole, size_t index, size_t home)
{
    if (hole <= index)
        return hole < home && home <= index;
    return hole < home || home <= index;
}

//  Removes req_id and returns its call, or NULL if absent.
static bus_call_t *
s_table_take (bus_t *self, uint64_t req_id)
{
    size_t i = s_home (self, req_id);
    while (self->slots[i].req_id != req_id) {
        if (!self->slots[i].req_id)
            return NULL;
        i = (i + 1) & self->mask;
    }
    bus_call_t *call = self->slots[i].call;
    size_t hole = i;
    for (size_t j = (i + 1) & self->mask; self->slots[j].req_id; j = (j + 1) & self->mask)
        if (!s_table_stays (hole, j, s_home (self, self->slots[j].req_id))) {
            self->slots[hole] = self->slots[j];
            hole = j;
        }
    self->slots[hole] = (s_slot_t) {0, NULL};
    self->count--;
    return call;
}

//  ---------------------------------------------------------------------
//  Calls

void
bus_call_init (bus_call_t *call, msg_type_t type, bus_reply_fn on_reply)
{
    memset (call, 0, sizeof (*call));
    msg_init (&call->request, type);
    call->on_reply = on_reply;
}

//  Ends a call and tells its owner.
static void
s_call_finish (bus_call_t *call, const msg_t *reply)
{
    if (h2o_timeout_is_linked (&call->timer))
        h2o_timeout_unlink (&call->timer);
    call->req_id = 0;
    call->on_reply (call, reply);
}

static void
s_on_deadline (h2o_timeout_entry_t *entry)
{
    bus_call_t *call = H2O_STRUCT_FROM_MEMBER (bus_call_t, timer, entry);
    log_debug ("bus: no reply to %s req_id=%llu in time",
               msg_type_name (call->request.type), (unsigned long long) call->req_id);
    s_table_take (call->bus, call->req_id);
    s_call_finish (call, NULL);
}

//  Sends the request once, due within deadline. Returns 0 or -1.
static int
s_send (bus_t *self, bus_call_t *call, h2o_timeout_t *deadline)
{
    if (self->next_req_id == 0)
        self->next_req_id = 1;
    uint64_t req_id = self->next_req_id++;
    call->request.req_id = req_id;
    if (msg_encode (&call->request, &self->buffer))
        return -1;
    if (zmq_send (self->dealer, self->buffer.data, self->buffer.size, ZMQ_DONTWAIT) < 0) {
        log_debug ("bus: cannot send %s: %s", msg_type_name (call->request.type),
                   zmq_strerror (errno));
        return -1;
    }
    s_table_insert (self, req_id, call);
    call->bus = self;
    call->req_id = req_id;
    call->timer.cb = s_on_deadline;
    h2o_timeout_link (self->loop, deadline, &call->timer);
    return 0;
}

int
bus_send (bus_t *self, bus_call_t *call)
{
    call->retry_until = call->retry ? h2o_now (self->loop) + self->retry_window : 0;
    //  Retries keep it: the whole call has one deadline.
    call->request.deadline = msg_now_ms () + self->work_window;
    int rc = s_send (self, call, &self->deadline);
    s_drain_soon (self);
    return rc;
}

static void
s_on_retry (h2o_timeout_entry_t *entry)
{
    bus_call_t *call = H2O_STRUCT_FROM_MEMBER (bus_call_t, timer, entry);
    bus_t *self = call->bus;
    if (self->stopping || s_send (self, call, &self->late_deadline))
        s_call_finish (call, NULL);
    s_drain_soon (self);
}

//  True if the reply is a refusal worth retrying, and there is time.
static bool
s_should_retry (bus_t *self, bus_call_t *call, const msg_t *reply)
{
    if (reply->type != MSG_ERROR || self->stopping)
        return false;
    //  504 too: every trade carries a key (the client's or the gateway's),
    //  so a retry returns the truth about the first attempt, never a second trade.
    if (reply->code != MSG_ERR_UNAVAILABLE && reply->code != MSG_ERR_STALE_EPOCH
        && reply->code != MSG_ERR_OUTCOME_UNKNOWN)
        return false;
    return h2o_now (self->loop) + BUS_RETRY_PAUSE_MS < call->retry_until;
}

void
bus_cancel (bus_call_t *call)
{
    if (call->req_id)
        s_table_take (call->bus, call->req_id);
    call->req_id = 0;
    if (h2o_timeout_is_linked (&call->timer))
        h2o_timeout_unlink (&call->timer);
}

void
bus_fail_all (bus_t *self)
{
    self->stopping = true;
    for (size_t i = 0; i <= self->mask; i++)
        while (self->slots[i].req_id) {
            bus_call_t *call = s_table_take (self, self->slots[i].req_id);
            s_call_finish (call, NULL);
        }
}

size_t
bus_pending (bus_t *self)
{
    return self->count;
}

//  ---------------------------------------------------------------------
//  Receiving

static void
s_dispatch (bus_t *self, const msg_t *reply)
{
    bus_call_t *call = s_table_take (self, reply->req_id);
    if (!call) {
        log_debug ("bus: dropped late %s req_id=%llu", msg_type_name (reply->type),
                   (unsigned long long) reply->req_id);
        return;
    }
    h2o_timeout_unlink (&call->timer);
    call->req_id = 0;
    if (reply->type == MSG_ERROR && reply->code == MSG_ERR_OUTCOME_UNKNOWN)
        call->uncertain = true;
    if (s_should_retry (self, call, reply)) {
        log_debug ("bus: %s refused (%s), retrying", msg_type_name (call->request.type),
                   msg_error_text (reply->code));
        call->timer.cb = s_on_retry;
        h2o_timeout_link (self->loop, &self->retry_pause, &call->timer);
        return;
    }
    s_call_finish (call, reply);
}

//  Receives and handles one frame. Returns false when there was none;
//  that receive also processed ZeroMQ's pending commands, which re-arms
//  the ZMQ_FD notification just as reading ZMQ_EVENTS does.
static bool
s_receive_one (bus_t *self)
{
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    if (zmq_msg_recv (&frame, self->dealer, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&frame);
        return false;
    }
    bool more = zmq_msg_more (&frame);
    int rc = msg_decode (&self->reply, zmq_msg_data (&frame), zmq_msg_size (&frame));
    zmq_msg_close (&frame);
    if (more) {
        zwatch_skip_more (self->dealer);
        log_warn ("bus: dropped a multipart reply");
    }
    else
    if (rc)
        log_warn ("bus: dropped a bad frame: %s", msg_decode_strerror (rc));
    else
    if (!msg_is_reply (self->reply.type))
        log_warn ("bus: dropped %s, not a reply", msg_type_name (self->reply.type));
    else
        s_dispatch (self, &self->reply);
    msg_reset (&self->reply);
    return true;
}

//  Receives every waiting frame. Not reentrant: a send made by a reply
//  callback schedules another drain.
static void
s_drain (bus_t *self)
{
    if (self->draining)
        return;
    self->draining = true;
    while (s_receive_one (self))
        ;
    self->draining = false;
}

static void
s_on_ready (h2o_socket_t *watch, const char *err)
{
    (void) err;
    s_drain (watch->data);
}

//  A send can consume the ZMQ_FD signal of a reply that arrived meanwhile,
//  so every send must be followed by a drain before the loop sleeps again.
//  Doing it once at the end of the loop iteration covers every send made
//  in that iteration at the cost of one.
static void
s_on_drain_soon (h2o_timeout_entry_t *entry)
{
    s_drain (H2O_STRUCT_FROM_MEMBER (bus_t, drain_soon, entry));
}

static void
s_drain_soon (bus_t *self)
{
    if (!h2o_timeout_is_linked (&self->drain_soon))
        h2o_timeout_link (self->loop, &self->soon, &self->drain_soon);
}

//  ---------------------------------------------------------------------
//  Construction

static void *
s_dealer_new (void *zmq_context, const char *endpoint)
{
    void *dealer = sockets_new_in (zmq_context, ZMQ_DEALER, "broker", 0);
    if (!dealer)
        return NULL;
    int one = 1;
    if (zmq_setsockopt (dealer, ZMQ_IMMEDIATE, &one, sizeof (one))
        || zmq_connect (dealer, endpoint)) {
        int saved = errno;
        zmq_close (dealer);
        errno = saved;
        return NULL;
    }
    return dealer;
}

bus_t *
bus_new (void *zmq_context, h2o_evloop_t *loop, const char *endpoint, uint64_t timeout_ms,
         char *error, size_t error_size)
{
    bus_t *self = mem_calloc (1, sizeof (bus_t));
    self->loop = loop;
    self->slots = mem_calloc (BUS_TABLE_MIN, sizeof (s_slot_t));
    self->mask = BUS_TABLE_MIN - 1;
    msgpack_sbuffer_init (&self->buffer);
    self->retry_window = timeout_ms / 4;
    //  Workers drop a request after three quarters of the timeout; the
    //  last quarter lets a commit that started in time finish and answer
    //  before the 503, which shrinks the window where a 503 hides a trade.
    self->work_window = timeout_ms - timeout_ms / 4;
    h2o_timeout_init (loop, &self->deadline, timeout_ms);
    h2o_timeout_init (loop, &self->late_deadline, timeout_ms - self->retry_window);
    h2o_timeout_init (loop, &self->retry_pause, BUS_RETRY_PAUSE_MS);
    h2o_timeout_init (loop, &self->soon, 0);
    self->drain_soon.cb = s_on_drain_soon;
    self->dealer = s_dealer_new (zmq_context, endpoint);
    if (!self->dealer)
        goto error;
    self->watch = zwatch_new (loop, self->dealer, s_on_ready, self);
    if (!self->watch)
        goto error;
    return self;

error:
    snprintf (error, error_size, "cannot connect to broker %s: %s", endpoint,
              zmq_strerror (errno));
    bus_destroy (&self);
    return NULL;
}

//  Unlinks every entry of a timeout so it can be disposed of.
static void
s_timeout_clear (h2o_timeout_t *timeout)
{
    while (!h2o_linklist_is_empty (&timeout->_entries)) {
        h2o_timeout_entry_t *entry =
            H2O_STRUCT_FROM_MEMBER (h2o_timeout_entry_t, _link, timeout->_entries.next);
        h2o_timeout_unlink (entry);
    }
}

void
bus_destroy (bus_t **self_p)
{
    if (!*self_p)
        return;
    bus_t *self = *self_p;
    zwatch_destroy (&self->watch);
    if (self->dealer)
        zmq_close (self->dealer);
    if (self->slots) {
        for (size_t i = 0; i <= self->mask; i++)
            while (self->slots[i].req_id)
                bus_cancel (self->slots[i].call);
        s_timeout_clear (&self->deadline);
        s_timeout_clear (&self->late_deadline);
        s_timeout_clear (&self->retry_pause);
        s_timeout_clear (&self->soon);
        h2o_timeout_dispose (self->loop, &self->deadline);
        h2o_timeout_dispose (self->loop, &self->late_deadline);
        h2o_timeout_dispose (self->loop, &self->retry_pause);
        h2o_timeout_dispose (self->loop, &self->soon);
        msgpack_sbuffer_destroy (&self->buffer);
    }
    free (self->slots);
    free (self);
    *self_p = NULL;
}
