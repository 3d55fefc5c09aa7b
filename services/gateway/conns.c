/*  conns.c - the HTTP listener and the limits on connections and body
    memory (see conns.h).

    Invariant: the listener is read (accepting) exactly when it is open,
    fewer than max_connections are open and the last accept did not run
    out of descriptors since a connection last closed.
*/
#include "conns.h"
#include "mem.h"
#include "log.h"
#include "http.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

//  Descriptors the gateway needs besides connections: ZeroMQ's sockets
//  and signalers, epoll, the signalfd. Only for the start-up warning.
#define CONNS_FD_RESERVE 64

//  The answer to a request refused for body memory.
#define CONNS_503_BODY HTTP_ERROR_JSON (503, "service unavailable")

typedef struct {
    h2o_linklist_t link;        //  in conns_t.open
    h2o_socket_t *sock;
    struct _conns_t *owner;
    bool refused;               //  answered 503 and shut down; closing
} s_conn_t;

struct _conns_t {
    h2o_evloop_t *loop;
    h2o_accept_ctx_t *accept_ctx;
    h2o_socket_t *listener;
    int port;
    size_t max_connections;
    size_t max_body_memory;
    size_t count;               //  connections open
    h2o_linklist_t open;        //  s_conn_t, oldest first
    bool paused;                //  listener not read
    bool out_of_fds;            //  paused because accept ran out
    h2o_timeout_t retry_timeout;
    h2o_timeout_entry_t retry;
    h2o_timeout_t sweep_timeout;
    h2o_timeout_entry_t sweep;
    uint64_t refused;           //  requests refused for body memory
};

//  ---------------------------------------------------------------------
//  Pausing and resuming the listener

static void s_on_accept (h2o_socket_t *listener, const char *err);

static void
s_pause (conns_t *self, bool out_of_fds, int error)
{
    if (self->paused)
        return;
    h2o_socket_read_stop (self->listener);
    self->paused = true;
    self->out_of_fds = out_of_fds;
    if (out_of_fds) {
        log_warn ("out of file descriptors (accept: %s) with %zu connections open: "
                  "not accepting until one closes",
                  strerror (error), self->count);
        if (self->count == 0)
            h2o_timeout_link (self->loop, &self->retry_timeout, &self->retry);
    }
    else
        log_warn ("--max-connections %zu reached: not accepting until a connection closes",
                  self->max_connections);
}

static void
s_resume (conns_t *self)
{
    if (!self->paused || !self->listener || self->count >= self->max_connections)
        return;
    if (h2o_timeout_is_linked (&self->retry))
        h2o_timeout_unlink (&self->retry);
    self->paused = false;
    self->out_of_fds = false;
    h2o_socket_read_start (self->listener, s_on_accept);
    log_debug ("accepting again (%zu connections open)", self->count);
}

static void
s_on_retry (h2o_timeout_entry_t *entry)
{
    conns_t *self = H2O_STRUCT_FROM_MEMBER (conns_t, retry, entry);
    s_resume (self);
}

//  ---------------------------------------------------------------------
//  Body memory

//  Answers 503 on a connection h2o is reading a request from, and shuts
//  the socket down: h2o reads the end of the stream and closes it. h2o
//  writes nothing while it is reading a request, so the bytes cannot mix.
static void
s_refuse (conns_t *self, s_conn_t *conn)
{
    static const char answer[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                 "Content-Type: application/json\r\n"
                                 "Connection: close\r\n"
                                 "Content-Length: 54\r\n\r\n" CONNS_503_BODY;
    _Static_assert (sizeof (CONNS_503_BODY) - 1 == 54, "Content-Length of the 503");
    int fd = h2o_socket_get_fd (conn->sock);
    //  Best effort: a full send buffer loses the answer, not the cut.
    if (write (fd, answer, sizeof (answer) - 1) < 0)
        log_debug ("503 for body memory not written: %s", strerror (errno));
    shutdown (fd, SHUT_RDWR);
    conn->refused = true;
    self->refused++;
}

//  Bytes a connection holds for the request it is receiving; 0 if it is
//  not receiving one (h2o reads a connection only between answers).
static size_t
s_receiving (const s_conn_t *conn)
{
    if (conn->refused || !h2o_socket_is_reading (conn->sock))
        return 0;
    return conn->sock->input->size;
}

static void
s_enforce_body_memory (conns_t *self)
{
    size_t held = 0;
    for (h2o_linklist_t *node = self->open.next; node != &self->open; node = node->next)
        held += s_receiving (H2O_STRUCT_FROM_MEMBER (s_conn_t, link, node));
    size_t before = held, refused = 0;
    while (held > self->max_body_memory) {
        s_conn_t *largest = NULL;
        for (h2o_linklist_t *node = self->open.next; node != &self->open; node = node->next) {
            s_conn_t *conn = H2O_STRUCT_FROM_MEMBER (s_conn_t, link, node);
            if (s_receiving (conn) && (!largest || s_receiving (conn) > s_receiving (largest)))
                largest = conn;
        }
        if (!largest)
            break;
        held -= s_receiving (largest);
        s_refuse (self, largest);
        refused++;
    }
    if (refused)
        log_warn ("%zu bytes held by requests being received, over --max-body-memory %zu: "
                  "refused %zu with 503 (%" PRIu64 " in all)",
                  before, self->max_body_memory, refused, self->refused);
}

static void
s_on_sweep (h2o_timeout_entry_t *entry)
{
    conns_t *self = H2O_STRUCT_FROM_MEMBER (conns_t, sweep, entry);
    s_enforce_body_memory (self);
    if (self->count > 0)
        h2o_timeout_link (self->loop, &self->sweep_timeout, &self->sweep);
}

//  ---------------------------------------------------------------------
//  Accepting

static void
s_on_close (void *data)
{
    s_conn_t *conn = data;
    conns_t *self = conn->owner;
    h2o_linklist_unlink (&conn->link);
    free (conn);
    self->count--;
    s_resume (self);
}

static bool
s_out_of_fds (int error)
{
    return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
}

static void
s_on_accept (h2o_socket_t *listener, const char *err)
{
    conns_t *self = listener->data;
    if (err)
        return;
    if (self->count >= self->max_connections) {
        s_pause (self, false, 0);
        return;
    }
    s_conn_t *conn = calloc (1, sizeof (s_conn_t));
    h2o_socket_t *sock = conn ? h2o_evloop_socket_accept (listener) : NULL;
    if (!sock) {
        int error = conn ? errno : ENOMEM;
        free (conn);
        //  EAGAIN, ECONNABORTED...: nothing waiting, or it went away.
        if (s_out_of_fds (error))
            s_pause (self, true, error);
        return;
    }
    conn->sock = sock;
    conn->owner = self;
    h2o_linklist_insert (&self->open, &conn->link);
    self->count++;
    sock->on_close.cb = s_on_close;
    sock->on_close.data = conn;
    if (!h2o_timeout_is_linked (&self->sweep))
        h2o_timeout_link (self->loop, &self->sweep_timeout, &self->sweep);
    h2o_accept (self->accept_ctx, sock);
}

//  ---------------------------------------------------------------------
//  Listening

//  Binds and listens on fd for address; returns 0 or -1 (errno set).
static int
s_bind (int fd, const struct addrinfo *address)
{
    int one = 1;
    if (setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof (one))
        || bind (fd, address->ai_addr, address->ai_addrlen) || listen (fd, SOMAXCONN))
        return -1;
    return 0;
}

//  Returns the port fd is bound to.
static int
s_bound_port (int fd)
{
    struct sockaddr_storage address;
    socklen_t size = sizeof (address);
    if (getsockname (fd, (struct sockaddr *) &address, &size))
        return -1;
    if (address.ss_family == AF_INET6)
        return ntohs (((struct sockaddr_in6 *) &address)->sin6_port);
    return ntohs (((struct sockaddr_in *) &address)->sin_port);
}

static int
s_listen (conns_t *self, const char *host, int port, char *error, size_t error_size)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *addresses = NULL;
    char service[16];
    snprintf (service, sizeof (service), "%d", port);
    int rc = getaddrinfo (host, service, &hints, &addresses);
    if (rc) {
        snprintf (error, error_size, "cannot resolve %s: %s", host, gai_strerror (rc));
        return -1;
    }
    int fd = socket (addresses->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || s_bind (fd, addresses)) {
        snprintf (error, error_size, "cannot listen on %s:%d: %s", host, port, strerror (errno));
        if (fd >= 0)
            close (fd);
        freeaddrinfo (addresses);
        return -1;
    }
    freeaddrinfo (addresses);
    self->port = s_bound_port (fd);
    self->listener = h2o_evloop_socket_create (self->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    self->listener->data = self;
    h2o_socket_read_start (self->listener, s_on_accept);
    return 0;
}

//  Raises the soft descriptor limit towards what max_connections needs
//  (up to the hard limit); warns if it stays short.
static void
s_check_fd_limit (size_t max_connections)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit))
        return;
    rlim_t needed = (rlim_t) max_connections + CONNS_FD_RESERVE;
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < needed) {
        struct rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max == RLIM_INFINITY || limit.rlim_max > needed
                              ? needed
                              : limit.rlim_max;
        if (raised.rlim_cur > limit.rlim_cur && setrlimit (RLIMIT_NOFILE, &raised) == 0)
            limit = raised;
    }
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < needed)
        log_warn ("file descriptor limit %llu is below --max-connections %zu + %d for the bus: "
                  "the gateway stops accepting when it runs out",
                  (unsigned long long) limit.rlim_cur, max_connections, CONNS_FD_RESERVE);
}

//  ---------------------------------------------------------------------
//  Construction

conns_t *
conns_new (h2o_evloop_t *loop, h2o_accept_ctx_t *accept_ctx, const char *host, int port,
           size_t max_connections, size_t max_body_memory, char *error, size_t error_size)
{
    conns_t *self = mem_calloc (1, sizeof (conns_t));
    self->loop = loop;
    self->accept_ctx = accept_ctx;
    self->max_connections = max_connections;
    self->max_body_memory = max_body_memory;
    h2o_linklist_init_anchor (&self->open);
    h2o_timeout_init (loop, &self->retry_timeout, CONNS_RETRY_MS);
    self->retry.cb = s_on_retry;
    h2o_timeout_init (loop, &self->sweep_timeout, CONNS_SWEEP_MS);
    self->sweep.cb = s_on_sweep;
    s_check_fd_limit (max_connections);
    if (s_listen (self, host, port, error, error_size)) {
        conns_destroy (&self);
        return NULL;
    }
    return self;
}

void
conns_close_listener (conns_t *self)
{
    if (h2o_timeout_is_linked (&self->retry))
        h2o_timeout_unlink (&self->retry);
    if (self->listener) {
        h2o_socket_read_stop (self->listener);
        h2o_socket_close (self->listener);
        self->listener = NULL;
    }
}

void
conns_destroy (conns_t **self_p)
{
    if (!*self_p)
        return;
    conns_t *self = *self_p;
    conns_close_listener (self);
    if (h2o_timeout_is_linked (&self->sweep))
        h2o_timeout_unlink (&self->sweep);
    h2o_timeout_dispose (self->loop, &self->retry_timeout);
    h2o_timeout_dispose (self->loop, &self->sweep_timeout);
    //  Open connections call back into self when they close: keep it.
    if (self->count == 0)
        free (self);
    *self_p = NULL;
}

int
conns_port (conns_t *self)
{
    return self->port;
}

size_t
conns_count (conns_t *self)
{
    return self->count;
}
