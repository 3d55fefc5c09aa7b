/*  sockets.h - what every bus socket gets before it binds or connects.

    One place for the settings that protect a process from its peers:
    every socket that receives from the bus refuses a frame longer than
    MSG_FRAME_MAX (ZMQ_MAXMSGSIZE: libzmq reads the frame's length and
    drops the connection before it holds the frame).

    Call sockets_server on a socket before it binds and sockets_client
    before it connects; both take the libzmq handle (zsock_resolve of a
    zsock_t, or a raw socket).
*/
#ifndef BAZAAR_SOCKETS_H
#define BAZAAR_SOCKETS_H

//  Prepare a socket that binds. Returns 0, or -1 with errno set.
int sockets_server (void *socket);

//  Prepare a socket that connects to a server of server_role ("broker",
//  "catalog" or "order"). Returns 0, or -1 with errno set.
int sockets_client (void *socket, const char *server_role);

#endif
