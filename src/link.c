/*  link.c - socket options for connections that cross hosts (link.h). */
#include "link.h"

#include <stdio.h>
#include <zmq.h>

int
link_configure (void *socket)
{
    int heartbeat = LINK_HEARTBEAT_MS, timeout = LINK_TIMEOUT_MS;
    int reconnect = LINK_RECONNECT_MS, connect_timeout = LINK_CONNECT_TIMEOUT_MS;
    if (zmq_setsockopt (socket, ZMQ_HEARTBEAT_IVL, &heartbeat, sizeof (heartbeat))
        || zmq_setsockopt (socket, ZMQ_HEARTBEAT_TIMEOUT, &timeout, sizeof (timeout))
        || zmq_setsockopt (socket, ZMQ_HEARTBEAT_TTL, &timeout, sizeof (timeout))
        || zmq_setsockopt (socket, ZMQ_RECONNECT_IVL, &reconnect, sizeof (reconnect))
        || zmq_setsockopt (socket, ZMQ_CONNECT_TIMEOUT, &connect_timeout,
                           sizeof (connect_timeout)))
        return -1;
    return 0;
}

int
link_set_routing_id (void *socket, unsigned long long incarnation)
{
    //  Printable and never starting with a zero byte (reserved by libzmq).
    char id[24];
    int size = snprintf (id, sizeof (id), "w%016llx", incarnation);
    return zmq_setsockopt (socket, ZMQ_ROUTING_ID, id, (size_t) size);
}
