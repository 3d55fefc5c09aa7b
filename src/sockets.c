/*  sockets.c - the frame limit on every bus socket. */
#include "sockets.h"
#include "msgs.h"

#include <stdint.h>
#include <zmq.h>

static int
s_limit (void *socket)
{
    int64_t max = MSG_FRAME_MAX;
    return zmq_setsockopt (socket, ZMQ_MAXMSGSIZE, &max, sizeof (max));
}

int
sockets_server (void *socket)
{
    return s_limit (socket);
}

int
sockets_client (void *socket, const char *server_role)
{
    (void) server_role;
    return s_limit (socket);
}
