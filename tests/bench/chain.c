/*  chain.c - the "baseline chain with no logic" of SPEC section 7, the
    ceiling for an uncached lookup (--cache-size 0 should reach at least
    70% of its requests/s):

        HTTP -> h2o -> DEALER -> zmq_proxy ROUTER/DEALER -> echo worker
             <-                                          <-

    Three processes, like gateway, broker and catalog:

        chain serve PORT FRONT   h2o on 127.0.0.1:PORT; each request becomes
                                 one 8-byte frame (its id) sent on a DEALER
                                 connected to FRONT; when the frame comes
                                 back the request gets the constant body
        chain proxy FRONT BACK   zmq_proxy between a ROUTER bound to FRONT
                                 and a DEALER bound to BACK
        chain echo BACK          a DEALER connected to BACK that sends every
                                 message back as it came (all its frames)

    The server wakes h2o on ZeroMQ traffic as the gateway does (bus.c,
    zwatch.c): a dup() of ZMQ_FD watched with H2O_SOCKET_FLAG_DONT_READ,
    drained until empty, and drained again at the end of every loop
    iteration that sent something (a send can consume the notification).
    Every program runs until killed.
*/
#include <errno.h>
#include <h2o.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

static const char s_body[] = "{\"data\":{\"name\":\"apple\",\"price\":152.59,\"quantity\":1000}}";

static void *
s_socket (void *context, int type)
{
    void *sock = zmq_socket (context, type);
    int zero = 0;
    if (!sock || zmq_setsockopt (sock, ZMQ_LINGER, &zero, sizeof (zero))) {
        fprintf (stderr, "chain: zmq_socket: %s\n", zmq_strerror (errno));
        exit (1);
    }
    return sock;
}

static void
s_check (int rc, const char *what, const char *endpoint)
{
    if (rc) {
        fprintf (stderr, "chain: %s %s: %s\n", what, endpoint, zmq_strerror (errno));
        exit (1);
    }
}

//  ---------------------------------------------------------------------
//  chain serve PORT FRONT

#define SLOTS 65536             //  requests in flight at most (64 in use)

typedef struct {
    uint64_t id;                //  0: free
    h2o_req_t *req;
} s_slot_t;

static s_slot_t s_slots[SLOTS];
static uint64_t s_next_id = 1;
static void *s_dealer;
static h2o_evloop_t *s_loop;
static h2o_accept_ctx_t s_accept_ctx;
static h2o_timeout_t s_soon;            //  0 ms: end of this loop iteration
static h2o_timeout_entry_t s_drain_soon;

static void
s_answer (h2o_req_t *req, int status, const char *body, size_t size)
{
    req->res.status = status;
    req->res.reason = status == 200 ? "OK" : "Service Unavailable";
    req->res.content_length = size;
    h2o_add_header (&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                    H2O_STRLIT ("application/json"));
    h2o_send_inline (req, body, size);
}

//  Receives every frame waiting and answers its request, if still there.
static void
s_drain (void)
{
    uint64_t id;
    int size;
    while ((size = zmq_recv (s_dealer, &id, sizeof (id), ZMQ_DONTWAIT)) >= 0) {
        s_slot_t *slot = &s_slots[id & (SLOTS - 1)];
        if (size != sizeof (id) || slot->id != id)
            continue;           //  client gone (or not ours)
        h2o_req_t *req = slot->req;
        *slot = (s_slot_t) {0, NULL};
        s_answer (req, 200, s_body, sizeof (s_body) - 1);
    }
}

static void
s_on_bus_ready (h2o_socket_t *watch, const char *err)
{
    (void) watch, (void) err;
    s_drain ();
}

static void
s_on_drain_soon (h2o_timeout_entry_t *entry)
{
    (void) entry;
    s_drain ();
}

//  The request's pool is freed (client gone, or answered): free its slot.
static void
s_on_dispose (void *data)
{
    uint64_t id = *(uint64_t *) data;
    s_slot_t *slot = &s_slots[id & (SLOTS - 1)];
    if (slot->id == id)
        *slot = (s_slot_t) {0, NULL};
}

static int
s_on_req (h2o_handler_t *handler, h2o_req_t *req)
{
    (void) handler;
    uint64_t id = s_next_id++;
    s_slot_t *slot = &s_slots[id & (SLOTS - 1)];
    if (slot->id || zmq_send (s_dealer, &id, sizeof (id), ZMQ_DONTWAIT) < 0) {
        static const char busy[] = "{\"error\":{\"code\":503,\"message\":\"busy\"}}";
        s_answer (req, 503, busy, sizeof (busy) - 1);
        return 0;
    }
    *slot = (s_slot_t) {id, req};
    *(uint64_t *) h2o_mem_alloc_shared (&req->pool, sizeof (id), s_on_dispose) = id;
    if (!h2o_timeout_is_linked (&s_drain_soon))
        h2o_timeout_link (s_loop, &s_soon, &s_drain_soon);
    return 0;
}

static void
s_on_accept (h2o_socket_t *listener, const char *err)
{
    if (err)
        return;
    h2o_socket_t *sock = h2o_evloop_socket_accept (listener);
    if (sock)
        h2o_accept (&s_accept_ctx, sock);
}

static int
s_serve (const char *port, const char *front)
{
    signal (SIGPIPE, SIG_IGN);
    static h2o_globalconf_t config;
    static h2o_context_t context;
    h2o_config_init (&config);
    h2o_hostconf_t *host =
        h2o_config_register_host (&config, h2o_iovec_init (H2O_STRLIT ("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path (host, "/", 0);
    h2o_create_handler (path, sizeof (h2o_handler_t))->on_req = s_on_req;
    s_loop = h2o_evloop_create ();
    h2o_context_init (&context, s_loop, &config);
    s_accept_ctx.ctx = &context;
    s_accept_ctx.hosts = config.hosts;
    h2o_timeout_init (s_loop, &s_soon, 0);
    s_drain_soon.cb = s_on_drain_soon;

    //  The DEALER, as the gateway's bus: linger 0, immediate.
    s_dealer = s_socket (zmq_ctx_new (), ZMQ_DEALER);
    int one = 1;
    s_check (zmq_setsockopt (s_dealer, ZMQ_IMMEDIATE, &one, sizeof (one)), "immediate", "");
    s_check (zmq_connect (s_dealer, front), "connect", front);
    int fd;
    size_t fd_size = sizeof (fd);
    s_check (zmq_getsockopt (s_dealer, ZMQ_FD, &fd, &fd_size), "ZMQ_FD of", front);
    h2o_socket_t *watch =
        h2o_evloop_socket_create (s_loop, dup (fd), H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_read_start (watch, s_on_bus_ready);
    s_drain ();

    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons ((uint16_t) atoi (port)),
                                  .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    int listen_fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd < 0 || setsockopt (listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof (one))
        || bind (listen_fd, (struct sockaddr *) &address, sizeof (address))
        || listen (listen_fd, SOMAXCONN)) {
        fprintf (stderr, "chain: cannot listen on port %s: %s\n", port, strerror (errno));
        return 1;
    }
    h2o_socket_t *listener =
        h2o_evloop_socket_create (s_loop, listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_read_start (listener, s_on_accept);
    while (h2o_evloop_run (s_loop, INT32_MAX) == 0)
        ;
    return 1;
}

//  ---------------------------------------------------------------------
//  chain proxy FRONT BACK

static int
s_proxy (const char *front, const char *back)
{
    void *context = zmq_ctx_new ();
    void *router = s_socket (context, ZMQ_ROUTER);
    void *dealer = s_socket (context, ZMQ_DEALER);
    s_check (zmq_bind (router, front), "bind", front);
    s_check (zmq_bind (dealer, back), "bind", back);
    zmq_proxy (router, dealer, NULL);
    fprintf (stderr, "chain: zmq_proxy: %s\n", zmq_strerror (errno));
    return 1;
}

//  ---------------------------------------------------------------------
//  chain echo BACK

static int
s_echo (const char *back)
{
    void *dealer = s_socket (zmq_ctx_new (), ZMQ_DEALER);
    s_check (zmq_connect (dealer, back), "connect", back);
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    //  Frames: [client identity added by the ROUTER][id]; send back as is.
    while (zmq_msg_recv (&frame, dealer, 0) >= 0) {
        int more = zmq_msg_more (&frame);
        if (zmq_msg_send (&frame, dealer, more ? ZMQ_SNDMORE : 0) < 0)
            break;
    }
    fprintf (stderr, "chain: echo: %s\n", zmq_strerror (errno));
    return 1;
}

int
main (int argc, char **argv)
{
    if (argc == 4 && strcmp (argv[1], "serve") == 0)
        return s_serve (argv[2], argv[3]);
    if (argc == 4 && strcmp (argv[1], "proxy") == 0)
        return s_proxy (argv[2], argv[3]);
    if (argc == 3 && strcmp (argv[1], "echo") == 0)
        return s_echo (argv[2]);
    fprintf (stderr, "usage: chain serve PORT FRONT | chain proxy FRONT BACK | chain echo BACK\n");
    return 2;
}
