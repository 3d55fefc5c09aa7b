/*  gateway.c - set up the h2o loop, the listener, signals and the bus;
    run until SIGINT / SIGTERM; shut down cleanly.

    Shutdown: stop accepting, answer every request still waiting for the
    bus with 503, ask h2o to stop keep-alive, expire idle connections,
    and give what is left up to GATEWAY_DRAIN_MS to finish before tearing
    everything down.
*/
#include "gateway.h"
#include "log.h"
#include "routes.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

//  h2o's own 413 limit, and so the most a connection buffers for a body.
//  Bodies up to it reach routes.c, which refuses those over 64 KiB with
//  its JSON 413; larger ones get h2o's plain-text 413.
#define GATEWAY_MAX_ENTITY (4 * 1024 * 1024)
#define GATEWAY_DRAIN_MS 500

typedef struct {
    h2o_handler_t super;
    gateway_t *gateway;
} s_handler_t;

static int
s_on_req (h2o_handler_t *handler, h2o_req_t *req)
{
    return routes_handle (((s_handler_t *) handler)->gateway, req);
}

//  ---------------------------------------------------------------------
//  Listener

static void
s_on_connection_close (void *data)
{
    gateway_t *self = data;
    self->connections--;
}

static void
s_on_accept (h2o_socket_t *listener, const char *err)
{
    gateway_t *self = listener->data;
    if (err)
        return;
    h2o_socket_t *sock = h2o_evloop_socket_accept (listener);
    if (!sock)
        return;
    self->connections++;
    sock->on_close.cb = s_on_connection_close;
    sock->on_close.data = self;
    h2o_accept (&self->accept_ctx, sock);
}

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
s_listen (gateway_t *self, char *error, size_t error_size)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *addresses = NULL;
    char port[16];
    snprintf (port, sizeof (port), "%d", self->config.port);
    int rc = getaddrinfo (self->config.host, port, &hints, &addresses);
    if (rc) {
        snprintf (error, error_size, "cannot resolve %s: %s", self->config.host,
                  gai_strerror (rc));
        return -1;
    }
    int fd = socket (addresses->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || s_bind (fd, addresses)) {
        snprintf (error, error_size, "cannot listen on %s:%d: %s", self->config.host,
                  self->config.port, strerror (errno));
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

//  ---------------------------------------------------------------------
//  Signals: SIGINT and SIGTERM arrive through a signalfd in the loop

static void
s_on_signal (h2o_socket_t *sock, const char *err)
{
    (void) err;
    gateway_t *self = sock->data;
    struct signalfd_siginfo info;
    while (read (h2o_socket_get_fd (sock), &info, sizeof (info)) == sizeof (info)) {
        log_info ("got %s, stopping", strsignal ((int) info.ssi_signo));
        self->stopping = true;
    }
}

static int
s_watch_signals (gateway_t *self, char *error, size_t error_size)
{
    sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGINT);
    sigaddset (&signals, SIGTERM);
    int fd = signalfd (-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        snprintf (error, error_size, "signalfd: %s", strerror (errno));
        return -1;
    }
    self->signals = h2o_evloop_socket_create (self->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    self->signals->data = self;
    h2o_socket_read_start (self->signals, s_on_signal);
    return 0;
}

//  ---------------------------------------------------------------------
//  Construction

static void
s_configure_h2o (gateway_t *self)
{
    h2o_config_init (&self->globalconf);
    self->globalconf.max_request_entity_size = GATEWAY_MAX_ENTITY;
    h2o_hostconf_t *host = h2o_config_register_host (
        &self->globalconf, h2o_iovec_init (H2O_STRLIT ("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path (host, "/", 0);
    s_handler_t *handler = (s_handler_t *) h2o_create_handler (path, sizeof (s_handler_t));
    handler->super.on_req = s_on_req;
    handler->gateway = self;
    self->loop = h2o_evloop_create ();
    h2o_context_init (&self->context, self->loop, &self->globalconf);
    self->accept_ctx.ctx = &self->context;
    self->accept_ctx.hosts = self->globalconf.hosts;
}

static uint64_t
s_random_prefix (void)
{
    uint64_t prefix = 0;
    int fd = open ("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read (fd, &prefix, sizeof (prefix)) != sizeof (prefix))
            prefix = 0;
        close (fd);
    }
    return prefix ? prefix : (uint64_t) getpid () << 32 ^ (uint64_t) time (NULL);
}

gateway_t *
gateway_new (const gateway_config_t *config, char *error, size_t error_size)
{
    gateway_t *self = calloc (1, sizeof (gateway_t));
    if (!self) {
        snprintf (error, error_size, "out of memory");
        return NULL;
    }
    self->config = *config;
    self->key_prefix = s_random_prefix ();
    s_configure_h2o (self);
    self->metrics = metrics_new ();
    self->zmq_context = zmq_ctx_new ();
    if (!self->metrics || !self->zmq_context) {
        snprintf (error, error_size, "out of memory");
        goto failed;
    }
    self->bus = bus_new (self->zmq_context, self->loop, config->broker, config->timeout_ms,
                         error, error_size);
    if (!self->bus)
        goto failed;
    self->cache = cache_new (self->zmq_context, self->loop, config->catalog_pub,
                             config->cache_size, error, error_size);
    if (!self->cache || s_watch_signals (self, error, error_size)
        || s_listen (self, error, error_size))
        goto failed;
    return self;

failed:
    gateway_destroy (&self);
    return NULL;
}

//  ---------------------------------------------------------------------
//  Running and stopping

static void
s_close_socket (h2o_socket_t **sock_p)
{
    if (*sock_p) {
        h2o_socket_read_stop (*sock_p);
        h2o_socket_close (*sock_p);
        *sock_p = NULL;
    }
}

//  Lets connections finish; returns true if all closed in time.
static bool
s_drain_connections (gateway_t *self)
{
    s_close_socket (&self->listener);
    bus_fail_all (self->bus);
    h2o_context_request_shutdown (&self->context);
    uint64_t deadline = h2o_now (self->loop) + GATEWAY_DRAIN_MS;
    while (self->connections > 0 && h2o_now (self->loop) < deadline) {
        //  Idle keep-alive connections wait on the request timeout: run it
        //  as if it had passed, which closes them.
        h2o_timeout_run (self->loop, &self->context.http1.req_timeout, UINT64_MAX / 2);
        h2o_evloop_run (self->loop, 10);
    }
    return self->connections == 0;
}

int
gateway_run (gateway_t *self)
{
    bool ipv6 = strchr (self->config.host, ':') != NULL;
    log_info ("listening on http://%s%s%s:%d (broker %s, catalog invalidations %s, cache %zu)",
              ipv6 ? "[" : "", self->config.host, ipv6 ? "]" : "", self->port,
              self->config.broker, self->config.catalog_pub, self->config.cache_size);
    while (!self->stopping)
        h2o_evloop_run (self->loop, INT32_MAX);
    if (!s_drain_connections (self))
        log_warn ("%zu connections still open at exit", self->connections);
    return 0;
}

void
gateway_destroy (gateway_t **self_p)
{
    if (!*self_p)
        return;
    gateway_t *self = *self_p;
    s_close_socket (&self->listener);
    s_close_socket (&self->signals);
    cache_destroy (&self->cache);
    bus_destroy (&self->bus);
    if (self->zmq_context)
        zmq_ctx_term (self->zmq_context);
    metrics_destroy (&self->metrics);
    if (self->connections == 0) {
        //  h2o asserts nothing is pending: only tear down a quiet loop.
        h2o_evloop_run (self->loop, 0);
        //  h2o_context_request_shutdown armed this for HTTP/2 (unused).
        if (h2o_timeout_is_linked (&self->context.http2._graceful_shutdown_timeout))
            h2o_timeout_unlink (&self->context.http2._graceful_shutdown_timeout);
        //  h2o 2.2.5 (evloop) closes the context's queue but never frees it.
        h2o_multithread_queue_t *queue = self->context.queue;
        h2o_context_dispose (&self->context);
        free (queue);
        h2o_config_dispose (&self->globalconf);
        h2o_evloop_destroy (self->loop);
        free (self);
    }
    *self_p = NULL;
}
