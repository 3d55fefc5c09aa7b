/*  zwatch.c - ZeroMQ sockets in the h2o event loop (see zwatch.h). */
#include "zwatch.h"

#include <errno.h>
#include <unistd.h>
#include <zmq.h>

h2o_socket_t *
zwatch_new (h2o_evloop_t *loop, void *zsocket, h2o_socket_cb on_ready, void *data)
{
    int fd;
    size_t size = sizeof (fd);
    if (zmq_getsockopt (zsocket, ZMQ_FD, &fd, &size))
        return NULL;
    int copy = dup (fd);
    if (copy < 0)
        return NULL;
    h2o_socket_t *watch = h2o_evloop_socket_create (loop, copy, H2O_SOCKET_FLAG_DONT_READ);
    if (!watch) {
        close (copy);
        errno = ENOMEM;
        return NULL;
    }
    watch->data = data;
    h2o_socket_read_start (watch, on_ready);
    //  ZeroMQ signals only after a reader found the socket empty: drain
    //  once now, or messages already queued would never wake us.
    on_ready (watch, NULL);
    return watch;
}

void
zwatch_destroy (h2o_socket_t **watch_p)
{
    if (!*watch_p)
        return;
    h2o_socket_read_stop (*watch_p);
    h2o_socket_close (*watch_p);
    *watch_p = NULL;
}

bool
zwatch_readable (void *zsocket)
{
    int events = 0;
    size_t size = sizeof (events);
    if (zmq_getsockopt (zsocket, ZMQ_EVENTS, &events, &size))
        return false;
    return (events & ZMQ_POLLIN) != 0;
}

void
zwatch_skip_more (void *zsocket)
{
    int more = 0;
    size_t size = sizeof (more);
    while (zmq_getsockopt (zsocket, ZMQ_RCVMORE, &more, &size) == 0 && more) {
        zmq_msg_t part;
        zmq_msg_init (&part);
        int rc = zmq_msg_recv (&part, zsocket, ZMQ_DONTWAIT);
        zmq_msg_close (&part);
        if (rc < 0)
            break;
    }
}
