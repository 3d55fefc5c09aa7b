/*  peers.c - DEALER links to the replicas' REP endpoints, catch-up rounds.

    Invariant: a link has at most one RANGE outstanding (req_id != 0) and
    is in the round until a reply says the peer has nothing more for us,
    or the deadline passes.
*/
#include "peers.h"
#include "mem.h"
#include "log.h"
#include "sockets.h"
#include "sockpoll.h"

#include <czmq.h>

typedef struct {
    uint64_t replica_id;
    char rep[MSG_ENDPOINT_MAX + 1];
    zsock_t *dealer;
    sockets_watch_t *watch; //  the dealer's handshakes (NULL: not watched)
    uint64_t number;        //  position it last reported
    bool in_round;
    uint64_t req_id;        //  outstanding RANGE, 0 if none
    int64_t deadline;
} s_link_t;

struct _peers_t {
    uint64_t self_id;
    int64_t timeout_ms;
    s_link_t links[MSG_PEERS_MAX];
    size_t link_count;
    uint64_t next_req_id;
    msgpack_sbuffer buffer;
};

//  The watch first: it must stop before its socket closes.
static void
s_link_close (s_link_t *link)
{
    sockets_watch_destroy (&link->watch);
    zsock_destroy (&link->dealer);
}

peers_t *
peers_new (uint64_t self_id, int64_t timeout_ms)
{
    peers_t *self = mem_calloc (1, sizeof (peers_t));
    self->self_id = self_id;
    self->timeout_ms = timeout_ms;
    self->next_req_id = 1;
    msgpack_sbuffer_init (&self->buffer);
    return self;
}

void
peers_destroy (peers_t **self_p)
{
    if (!*self_p)
        return;
    peers_t *self = *self_p;
    for (size_t i = 0; i < self->link_count; i++)
        s_link_close (&self->links[i]);
    msgpack_sbuffer_destroy (&self->buffer);
    free (self);
    *self_p = NULL;
}

static s_link_t *
s_link_find (peers_t *self, uint64_t replica_id)
{
    for (size_t i = 0; i < self->link_count; i++)
        if (self->links[i].replica_id == replica_id)
            return &self->links[i];
    return NULL;
}

static const msg_peer_t *
s_announced (const msg_t *announcement, uint64_t replica_id)
{
    for (size_t i = 0; i < announcement->peer_count; i++)
        if (announcement->peers[i].replica_id == replica_id)
            return &announcement->peers[i];
    return NULL;
}

static void
s_link_add (peers_t *self, const msg_peer_t *peer)
{
    if (self->link_count == MSG_PEERS_MAX || !*peer->rep)
        return;
    zsock_t *dealer = sockets_connect (ZMQ_DEALER, peer->rep, "order", 0);
    if (!dealer) {
        log_warn ("cannot connect to replica %" PRIu64 " at %s", peer->replica_id, peer->rep);
        return;
    }
    s_link_t *link = &self->links[self->link_count++];
    memset (link, 0, sizeof (*link));
    link->replica_id = peer->replica_id;
    snprintf (link->rep, sizeof (link->rep), "%s", peer->rep);
    link->dealer = dealer;
    //  Connected already: a refused key fails each reconnection again.
    link->watch = sockets_watch_new (zsys_init (), zsock_resolve (dealer));
}

void
peers_update (peers_t *self, const msg_t *announcement)
{
    for (size_t i = self->link_count; i-- > 0;) {
        s_link_t *link = &self->links[i];
        const msg_peer_t *peer = s_announced (announcement, link->replica_id);
        if (peer && streq (peer->rep, link->rep))
            continue;
        s_link_close (link);
        *link = self->links[--self->link_count];
    }
    for (size_t i = 0; i < announcement->peer_count; i++) {
        const msg_peer_t *peer = &announcement->peers[i];
        if (peer->replica_id == self->self_id)
            continue;
        if (!s_link_find (self, peer->replica_id))
            s_link_add (self, peer);
        s_link_t *link = s_link_find (self, peer->replica_id);
        if (link)
            link->number = peer->number;
    }
}

void
peers_check_refusal (peers_t *self)
{
    for (size_t i = 0; i < self->link_count; i++) {
        s_link_t *link = &self->links[i];
        if (link->watch && sockets_watch_newly_refused (link->watch))
            log_error ("the REP of replica %" PRIu64 " at %s refused our handshake: this "
                       "process does not hold the order keys the replicas use (remade, or of "
                       "another system): give every process the same --keys DIR made by "
                       "bazaar keys DIR", link->replica_id, link->rep);
    }
}

size_t
peers_count (peers_t *self)
{
    return self->link_count;
}

uint64_t
peers_id_at (peers_t *self, size_t index)
{
    return index < self->link_count ? self->links[index].replica_id : 0;
}

uint64_t
peers_highest (peers_t *self)
{
    uint64_t highest = 0;
    for (size_t i = 0; i < self->link_count; i++)
        if (self->links[i].number > highest)
            highest = self->links[i].number;
    return highest;
}

static int
s_link_send (peers_t *self, s_link_t *link, const msg_t *msg)
{
    if (msg_encode (msg, &self->buffer))
        return -1;
    void *handle = zsock_resolve (link->dealer);
    if (zmq_send (handle, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0
        || zmq_send (handle, self->buffer.data, self->buffer.size, ZMQ_DONTWAIT) < 0)
        return -1;
    return 0;
}

//  Asks link for its trades from count; leaves the round if it cannot.
static void
s_link_ask (peers_t *self, s_link_t *link, uint64_t count)
{
    msg_t request;
    msg_init (&request, MSG_RANGE);
    request.req_id = self->next_req_id++;
    request.start = count;
    request.quantity = MSG_RANGE_CHUNK;
    if (s_link_send (self, link, &request)) {
        link->in_round = false;
        link->req_id = 0;
        return;
    }
    link->req_id = request.req_id;
    link->deadline = zclock_mono () + self->timeout_ms;
}

void
peers_round_start (peers_t *self, uint64_t count, uint64_t replica_id)
{
    for (size_t i = 0; i < self->link_count; i++) {
        s_link_t *link = &self->links[i];
        link->in_round = !replica_id || link->replica_id == replica_id;
        link->req_id = 0;
        if (link->in_round)
            s_link_ask (self, link, count);
    }
}

bool
peers_round_done (peers_t *self)
{
    for (size_t i = 0; i < self->link_count; i++)
        if (self->links[i].in_round)
            return false;
    return true;
}

static void
s_round_end (peers_t *self)
{
    for (size_t i = 0; i < self->link_count; i++)
        self->links[i].in_round = false;
}

int
peers_send (peers_t *self, uint64_t replica_id, const msg_t *msg)
{
    s_link_t *link = s_link_find (self, replica_id);
    return link ? s_link_send (self, link, msg) : -1;
}

size_t
peers_poll_items (peers_t *self, zmq_pollitem_t *items, size_t max)
{
    size_t count = 0;
    for (size_t i = 0; i < self->link_count && count < max; i++)
        items[count++] = (zmq_pollitem_t) {zsock_resolve (self->links[i].dealer), 0,
                                           ZMQ_POLLIN, 0};
    return count;
}

//  Handles one reply frame from link.
static void
s_link_reply (peers_t *self, s_link_t *link, const msg_t *reply, peers_trades_fn *fn, void *arg)
{
    if (reply->type != MSG_TRADES || !link->in_round || reply->req_id != link->req_id)
        return;
    link->req_id = 0;
    link->number = reply->position;
    int64_t count = fn (arg, link->replica_id, reply);
    if (count < 0) {
        s_round_end (self);
        return;
    }
    if (reply->trade_count > 0 && reply->position > (uint64_t) count)
        s_link_ask (self, link, (uint64_t) count);
    else
        link->in_round = false;
}

//  Receives every reply waiting on link.
static void
s_link_drain (peers_t *self, s_link_t *link, msg_t *reply, peers_trades_fn *fn, void *arg)
{
    void *handle = zsock_resolve (link->dealer);
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    while (zmq_msg_recv (&frame, handle, ZMQ_DONTWAIT) >= 0) {
        //  [empty][reply]: skip the delimiter, decode the rest.
        if (zmq_msg_size (&frame) == 0)
            continue;
        int rc = msg_decode (reply, zmq_msg_data (&frame), zmq_msg_size (&frame));
        if (rc)
            log_warn ("dropped undecodable reply from replica %" PRIu64 ": %s", link->replica_id,
                      msg_decode_strerror (rc));
        else
            s_link_reply (self, link, reply, fn, arg);
    }
    zmq_msg_close (&frame);
}

void
peers_drain (peers_t *self, const zmq_pollitem_t *items, size_t count, peers_trades_fn *fn,
             void *arg)
{
    msg_t reply;
    msg_init (&reply, 0);
    int64_t now = zclock_mono ();
    for (size_t i = 0; i < self->link_count; i++) {
        s_link_t *link = &self->links[i];
        if (sockpoll_readable (items, count, zsock_resolve (link->dealer)))
            s_link_drain (self, link, &reply, fn, arg);
        if (link->in_round && link->req_id && now >= link->deadline) {
            log_info ("replica %" PRIu64 " did not answer a range request in time",
                      link->replica_id);
            link->in_round = false;
            link->req_id = 0;
        }
    }
    msg_reset (&reply);
}
