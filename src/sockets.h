/*  sockets.h - what every bus socket gets before it binds or connects.

    One place for the settings that protect a process from its peers:

    - Every socket gets link.h's ZMTP heartbeats and reconnect options, so
      a partition shows as a closed connection within LINK_TIMEOUT_MS.
    - Every socket that receives from the bus refuses a frame longer than
      MSG_FRAME_MAX (ZMQ_MAXMSGSIZE: libzmq reads the frame's length and
      drops the connection before it holds the frame).
    - With keys (sockets_setup with a directory made by `bazaar keys`),
      every socket uses ZeroMQ's CURVE: a socket that binds is a CURVE
      server whose ZAP handler (czmq's zauth) admits only the public keys
      in DIR/allowed; a socket that connects is a CURVE client that knows
      the public key of the role it connects to. A peer without a key, or
      with one not on the allow-list, fails the handshake and can send or
      read nothing.

    The key directory holds one key pair per role (SOCKETS_ROLES):
      DIR/ROLE.key          public certificate (czmq zcert, ZPL text)
      DIR/ROLE.key_secret   its secret half (mode 0600)
      DIR/allowed/ROLE.key  the allow-list: every role's public certificate
    Replicas share the "order" pair, so a client connecting to any replica
    knows its key; removing a role's file from allowed/ locks that role out.

    Call sockets_server on a socket before it binds and sockets_client
    before it connects; both take the libzmq handle (zsock_resolve of a
    zsock_t, or a raw socket).
*/
#ifndef BAZAAR_SOCKETS_H
#define BAZAAR_SOCKETS_H

#include <stdbool.h>
#include <stddef.h>

#define SOCKETS_ROLES {"broker", "catalog", "order", "gateway", "tap"}

//  Process-wide, once, from main and before any socket: load the key
//  pair of role from keys_dir and, if the process binds sockets (servers
//  true), start the ZAP handler with the allow-list. keys_dir NULL or ""
//  means no CURVE. Returns 0, or -1 with a reason in error.
int sockets_setup (const char *keys_dir, const char *role, bool servers, char *error,
                   size_t error_size);

//  True if sockets_setup loaded keys.
bool sockets_secure (void);

//  Stop the ZAP handler and forget the keys (end of main; safe without
//  a setup).
void sockets_shutdown (void);

//  Prepare a socket that binds. Returns 0, or -1 with errno set.
int sockets_server (void *socket);

//  Prepare a socket that connects to a server of server_role ("broker",
//  "catalog" or "order"). Returns 0, or -1 with errno set.
int sockets_client (void *socket, const char *server_role);

//  Make a key directory: a key pair per role and the allow-list, as
//  described above. Existing keys are kept. Returns 0, or -1 with a
//  reason in error.
int sockets_make_keys (const char *dir, char *error, size_t error_size);

#endif
