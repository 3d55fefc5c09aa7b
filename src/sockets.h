/*  sockets.h - the one factory of bus sockets.

    Every socket of the bus is made here (sockets_new and its shorthands,
    as czmq's zsock_new_router ("@endpoint") makes one), so the settings
    that protect a process from its peers are written once:

    - Linger 0: a process that ends drops what it could not send.
    - High-water marks: libzmq's default (1000 messages per peer) unless
      the flags ask for MSG_HWM in a direction (msgs.h).
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

    A socket that will bind is made with server_role NULL (a CURVE server);
    one that will connect names the role of its server (a CURVE client).
    Options a caller adds (a SUB's subscriptions, a routing id, a monitor)
    go between sockets_new and the bind or connect.
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

//  Where `bazaar up` writes the endpoints of the system it runs
//  (name=ENDPOINT lines: broker, tap, catalog-pub), relative to the
//  directory it was started from, and removes them when it stops.
#define SOCKETS_ENDPOINTS_FOUND "data/run/endpoints"

//  The endpoint a tool uses for its flag name: value if the flag was
//  given, else the one SOCKETS_ENDPOINTS_FOUND lists (copied into buf),
//  so a tool run where `bazaar up --ports BASE` was finds the system;
//  else value (the flag's default).
const char *sockets_find_endpoint (const char *name, const char *value, bool given, char *buf,
                                   size_t size);

//  Process-wide, once, from main and before any socket: load the key
//  pair of role from keys_dir and, if the process binds sockets (servers
//  true), start the ZAP handler with the allow-list. keys_dir NULL or ""
//  means no CURVE. Returns 0, or -1 with a reason in error.
int sockets_setup (const char *keys_dir, const char *role, bool servers, char *error,
                   size_t error_size);

//  Stop the ZAP handler and forget the keys (end of main; safe without
//  a setup).
void sockets_shutdown (void);

//  Flags of sockets_new: the directions that queue MSG_HWM messages per
//  peer instead of libzmq's default.
#define SOCKETS_SEND_HWM 1
#define SOCKETS_RECEIVE_HWM 2
#define SOCKETS_HWM (SOCKETS_SEND_HWM | SOCKETS_RECEIVE_HWM)

//  A bus socket of type (ZMQ_ROUTER, ZMQ_DEALER, ZMQ_PUB, ZMQ_SUB) with
//  every setting above, neither bound nor connected: a CURVE server if
//  server_role is NULL, else a client of server_role ("broker",
//  "catalog" or "order"). Returns it (the caller destroys it), or NULL
//  with errno set.
zsock_t *sockets_new (int type, const char *server_role, int flags);

//  sockets_new (type, NULL, flags), bound to endpoint (a wildcard port
//  is resolved: zsock_last_endpoint). Returns it, or NULL with errno set.
zsock_t *sockets_bind (int type, const char *endpoint, int flags);

//  sockets_new (type, server_role, flags), connected to endpoint.
//  Returns it, or NULL with errno set.
zsock_t *sockets_connect (int type, const char *endpoint, const char *server_role, int flags);

//  The same as sockets_new, as a raw libzmq socket of context, for a
//  process that runs its own context (the gateway, the client's status).
//  Returns it (the caller closes it with zmq_close), or NULL with errno
//  set.
void *sockets_new_in (void *context, int type, const char *server_role, int flags);

//  Receives one whole message from socket (a libzmq handle) if one is
//  waiting: its first frames into frames[0..max), which the caller has
//  initialised (zmq_msg_init) and closes either way; frames past max are
//  read and dropped. Returns how many frames the message had (more than
//  max if some were dropped), 0 if no message was waiting, or -1 if the
//  socket failed part way through one.
int sockets_receive (void *socket, zmq_msg_t *frames, size_t max);

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

//  Stop watching: before the socket watched is closed. Safe on NULL.
void sockets_watch_destroy (sockets_watch_t **self_p);

//  The libzmq socket that becomes readable when something happened (for
//  a poller); sockets_watch_state reads it.
void *sockets_watch_handle (sockets_watch_t *self);

//  Reads what happened since the last call and returns the peer's state:
//  REFUSED stays until a later handshake succeeds.
sockets_peer_t sockets_watch_state (sockets_watch_t *self);

//  Reads the watch like sockets_watch_state; true once when the peer has
//  refused our handshake (once more after a later one succeeded), for a
//  service to log it: a refused key is silent on both sides otherwise.
bool sockets_watch_newly_refused (sockets_watch_t *self);

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
