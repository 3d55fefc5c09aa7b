/*  bare_h2o.c - the upper baseline of SPEC section 7: an h2o (2.2.5,
    evloop) HTTP/1.1 server that answers every request with a constant
    JSON body, nothing else. A cached GET /stocks/<name> on the gateway
    should reach at least 80% of its requests/s.

    Same h2o setup as the gateway (one host, one handler on "/", one
    evloop thread) and the same answer headers: content-type
    application/json and content-length.

    Usage: bare_h2o PORT    (listens on 127.0.0.1; runs until killed)
*/
#include <errno.h>
#include <h2o.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const char s_body[] = "{\"data\":{\"name\":\"apple\",\"price\":152.59,\"quantity\":1000}}";
static h2o_accept_ctx_t s_accept_ctx;

static int
s_on_req (h2o_handler_t *handler, h2o_req_t *req)
{
    (void) handler;
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = sizeof (s_body) - 1;
    h2o_add_header (&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                    H2O_STRLIT ("application/json"));
    h2o_send_inline (req, s_body, sizeof (s_body) - 1);
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

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: bare_h2o PORT\n");
        return 2;
    }
    signal (SIGPIPE, SIG_IGN);
    static h2o_globalconf_t config;
    static h2o_context_t context;
    h2o_config_init (&config);
    h2o_hostconf_t *host =
        h2o_config_register_host (&config, h2o_iovec_init (H2O_STRLIT ("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path (host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler (path, sizeof (h2o_handler_t));
    handler->on_req = s_on_req;

    h2o_evloop_t *loop = h2o_evloop_create ();
    h2o_context_init (&context, loop, &config);
    s_accept_ctx.ctx = &context;
    s_accept_ctx.hosts = config.hosts;

    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons ((uint16_t) atoi (argv[1])),
                                  .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    int one = 1;
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof (one))
        || bind (fd, (struct sockaddr *) &address, sizeof (address))
        || listen (fd, SOMAXCONN)) {
        fprintf (stderr, "bare_h2o: cannot listen on port %s: %s\n", argv[1], strerror (errno));
        return 1;
    }
    h2o_socket_t *listener = h2o_evloop_socket_create (loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_read_start (listener, s_on_accept);
    while (h2o_evloop_run (loop, INT32_MAX) == 0)
        ;
    return 1;
}
