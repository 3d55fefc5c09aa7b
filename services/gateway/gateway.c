/*  gateway.c - set up the h2o loop, the listener, signals and the bus;
    run until SIGINT / SIGTERM; shut down cleanly.

    Shutdown: stop accepting, answer every request still waiting for the
    bus with 503, ask h2o to stop keep-alive, expire idle connections,
    and give what is left up to GATEWAY_DRAIN_MS to finish before tearing
    everything down.
*/
#include "gateway.h"
#include "mem.h"
#include "api.h"
#include "http.h"
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
s_on_413 (void *arg, h2o_req_t *req)
{
    routes_count_refused ((gateway_t *) arg, req, 413);
}

static void
s_configure_h2o (gateway_t *self)
{
    h2o_config_init (&self->globalconf);
    //  A larger body is refused from its Content-Length before it is read
    //  (or as its chunks arrive), and this is all a connection buffers.
    self->globalconf.max_request_entity_size = API_BODY_MAX;
    //  HTTP/1.1 only (SPEC §1): neither "Upgrade: h2c" nor HTTP/2 with prior
    //  knowledge, whose streams h2o refuses (REFUSED_STREAM) where this
    //  gateway promises a JSON 413. The HTTP/2 preface closes the connection.
    self->globalconf.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *host = h2o_config_register_host (
        &self->globalconf, h2o_iovec_init (H2O_STRLIT ("default")), 65535);
    //  h2o answers that 413 itself, on the host's fallback path: as JSON.
    http_register_json_413 (&host->fallback_path, s_on_413, self);
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
    gateway_t *self = mem_calloc (1, sizeof (gateway_t));
    self->config = *config;
    self->key_prefix = s_random_prefix ();
    s_configure_h2o (self);
    self->metrics = metrics_new ();
    self->zmq_context = zmq_ctx_new ();
    if (!self->zmq_context) {
        snprintf (error, error_size, "out of memory");
        goto failed;
    }
    self->bus = bus_new (self->zmq_context, self->loop, config->broker, config->timeout_ms,
                         error, error_size);
    if (!self->bus)
        goto failed;
    self->events = events_new (self->bus, self->loop);
    self->cache = cache_new (self->zmq_context, self->loop, config->catalog_pub,
                             config->cache_size, error, error_size);
    if (!self->cache || s_watch_signals (self, error, error_size))
        goto failed;
    self->conns = conns_new (self->loop, &self->accept_ctx, config->host, config->port,
                             config->max_connections, config->max_body_memory, error,
                             error_size);
    if (!self->conns)
        goto failed;
    self->port = conns_port (self->conns);
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
    conns_close_listener (self->conns);
    bus_fail_all (self->bus);
    h2o_context_request_shutdown (&self->context);
    uint64_t deadline = h2o_now (self->loop) + GATEWAY_DRAIN_MS;
    while (conns_count (self->conns) > 0 && h2o_now (self->loop) < deadline) {
        //  Idle keep-alive connections wait on the request timeout: run it
        //  as if it had passed, which closes them.
        h2o_timeout_run (self->loop, &self->context.http1.req_timeout, UINT64_MAX / 2);
        h2o_evloop_run (self->loop, 10);
    }
    return conns_count (self->conns) == 0;
}

int
gateway_run (gateway_t *self)
{
    bool ipv6 = strchr (self->config.host, ':') != NULL;
    log_info ("listening on http://%s%s%s:%d (broker %s, catalog invalidations %s, cache %zu, "
              "max connections %zu)",
              ipv6 ? "[" : "", self->config.host, ipv6 ? "]" : "", self->port,
              self->config.broker, self->config.catalog_pub, self->config.cache_size,
              self->config.max_connections);
    while (!self->stopping)
        h2o_evloop_run (self->loop, INT32_MAX);
    if (!s_drain_connections (self))
        log_warn ("%zu connections still open at exit", conns_count (self->conns));
    return 0;
}

void
gateway_destroy (gateway_t **self_p)
{
    if (!*self_p)
        return;
    gateway_t *self = *self_p;
    size_t connections = self->conns ? conns_count (self->conns) : 0;
    conns_destroy (&self->conns);
    s_close_socket (&self->signals);
    cache_destroy (&self->cache);
    events_destroy (&self->events);
    bus_destroy (&self->bus);
    if (self->zmq_context)
        zmq_ctx_term (self->zmq_context);
    metrics_destroy (&self->metrics);
    if (connections == 0) {
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
