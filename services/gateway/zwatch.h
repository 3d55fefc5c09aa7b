/*  zwatch.h - wake the h2o event loop when a ZeroMQ socket has input.

    ZeroMQ sockets are not file descriptors; ZMQ_FD is a signal that "the
    socket's state may have changed", edge-like. zwatch dups it (so h2o
    closing its socket never closes ZeroMQ's fd), hands the copy to the
    h2o loop with H2O_SOCKET_FLAG_DONT_READ (h2o only notifies, never
    reads), and calls back. The callback must receive with ZMQ_DONTWAIT
    while zwatch_readable () says so, and every send on the same socket
    must be followed by the same drain: a send can consume the signal.
*/
#ifndef BAZAAR_GATEWAY_ZWATCH_H
#define BAZAAR_GATEWAY_ZWATCH_H

#include <h2o.h>
#include <stdbool.h>

//  Watch zsocket in loop; on_ready gets the h2o socket, whose data field
//  is set to data. Calls on_ready once before returning, which arms the
//  notification (so the caller's state must be ready for it). Returns
//  NULL on error (errno set).
h2o_socket_t *zwatch_new (h2o_evloop_t *loop, void *zsocket, h2o_socket_cb on_ready, void *data);

//  Stop watching and close the duplicated fd. Does nothing on NULL.
void zwatch_destroy (h2o_socket_t **watch_p);

//  True if zsocket has a message to receive now (ZMQ_EVENTS & ZMQ_POLLIN).
//  Reading ZMQ_EVENTS also processes ZeroMQ's pending commands.
bool zwatch_readable (void *zsocket);

//  Receive and discard the rest of a multipart message.
void zwatch_skip_more (void *zsocket);

#endif
