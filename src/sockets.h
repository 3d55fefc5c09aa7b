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

#include <czmq.h>

#include <stdbool.h>
#include <stddef.h>

#define SOCKETS_ROLES {"broker", "catalog", "order", "gateway", "tap"}

//  Messages a loop takes from one socket per turn, so one busy socket
//  cannot starve the others or the timers.
#define SOCKETS_RECEIVE_MAX 4096

//  Where `bazaar up` keeps the keys, relative to the directory it was
//  started from (its default data directory ./data, then keys/).
#define SOCKETS_KEYS_FOUND "data/keys"
//  The --keys default of the tools: look for SOCKETS_KEYS_FOUND.
#define SOCKETS_KEYS_AUTO "auto"

//  The key directory a tool that joins the bus uses. keys_dir
//  SOCKETS_KEYS_AUTO means SOCKETS_KEYS_FOUND if it holds role's secret
//  key (a system `bazaar up` started from this directory), else "" (no
//  CURVE); any other value is returned as given ("" is no CURVE).
const char *sockets_find_keys (const char *keys_dir, const char *role);

//  Process-wide, once, from main and before any socket: load the key
//  pair of role from keys_dir and, if the process binds sockets (servers
//  true), start the ZAP handler with the allow-list. keys_dir NULL or ""
//  means no CURVE. Returns 0, or -1 with a reason in error.
int sockets_setup (const char *keys_dir, const char *role, bool servers, char *error,
                   size_t error_size);

//  Stop the ZAP handler and forget the keys (end of main; safe without
//  a setup).
void sockets_shutdown (void);

//  Prepare a socket that binds. Returns 0, or -1 with errno set.
int sockets_server (void *socket);

//  Prepare a socket that connects to a server of server_role ("broker",
//  "catalog" or "order"). Returns 0, or -1 with errno set.
int sockets_client (void *socket, const char *server_role);

//  A SUB connected to the PUB at endpoint of a server of server_role,
//  subscribed to messages of type only (msg_topic), with the bus's
//  high-water mark. Returns it (the caller destroys it), or NULL with
//  errno set if the endpoint or the keys refuse.
zsock_t *sockets_subscribe (const char *endpoint, const char *server_role, int type);

//  What a connecting socket learned of its peer so far (sockets_watch).
typedef enum {
    SOCKETS_PEER_UNSEEN,      //  no connection (nothing listens, or not yet)
    SOCKETS_PEER_CONNECTED,   //  TCP is up, the handshake has not finished
    SOCKETS_PEER_ACCEPTED,    //  the handshake succeeded
    SOCKETS_PEER_REFUSED      //  the handshake failed: CURVE keys, or none
} sockets_peer_t;

//  Watches the connections of one socket (a libzmq monitor): whether its
//  peer listens, and whether the ZMTP handshake (CURVE) succeeded.
typedef struct _sockets_watch_t sockets_watch_t;

//  Start watching socket, a libzmq socket of context, before it connects.
//  Returns NULL if the monitor cannot start.
sockets_watch_t *sockets_watch_new (void *context, void *socket);

//  Stop watching. Safe on NULL.
void sockets_watch_destroy (sockets_watch_t **self_p);

//  The libzmq socket that becomes readable when something happened (for
//  a poller); sockets_watch_state reads it.
void *sockets_watch_handle (sockets_watch_t *self);

//  Reads what happened since the last call and returns the peer's state:
//  REFUSED stays until a later handshake succeeds.
sockets_peer_t sockets_watch_state (sockets_watch_t *self);

//  Writes to buf, for a person, why peer (e.g. "the broker") at endpoint
//  refused our handshake and which flag to pass; keys_dir is the key
//  directory we used ("" for none).
void sockets_refusal (char *buf, size_t size, const char *peer, const char *endpoint,
                      const char *keys_dir);

//  Make a key directory: a key pair per role and the allow-list, as
//  described above. Existing keys are kept. Returns 0, or -1 with a
//  reason in error.
int sockets_make_keys (const char *dir, char *error, size_t error_size);

#endif
