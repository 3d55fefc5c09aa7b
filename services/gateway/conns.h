/*  conns.h - the gateway's HTTP listener and connections, within limits.

    - At most max_connections are open at once. At the limit the
      listener stops being read: new clients wait in the kernel's listen
      backlog and are accepted, in order, as connections close.
    - Out of file descriptors (accept fails with EMFILE, ENFILE, ENOBUFS
      or ENOMEM) the listener stops being read too, so the loop never
      spins on a readable listener it cannot accept from; it resumes when
      a connection closes, or after CONNS_RETRY_MS if none is open.
    - Body memory: h2o holds a request, its body included, in the
      connection's input buffer until it is answered. Every
      CONNS_SWEEP_MS the bytes held by connections still receiving a
      request are summed; while the sum is over max_body_memory the one
      holding most is refused (a raw 503 JSON answer, then the socket is
      shut down, which makes h2o close it). Bodies over 64 KiB never get
      this far: h2o refuses them from Content-Length.
*/
#ifndef BAZAAR_GATEWAY_CONNS_H
#define BAZAAR_GATEWAY_CONNS_H

#include <h2o.h>
#include <stddef.h>

#define CONNS_RETRY_MS 200      //  retry accept when out of fds and nothing can close
#define CONNS_SWEEP_MS 20       //  how often held body bytes are summed

typedef struct _conns_t conns_t;

//  Listen on host:port (0 picks a free port) and accept connections into
//  accept_ctx within the limits above. Returns NULL and writes a reason
//  into error on failure.
conns_t *conns_new (h2o_evloop_t *loop, h2o_accept_ctx_t *accept_ctx, const char *host,
                    int port, size_t max_connections, size_t max_body_memory, char *error,
                    size_t error_size);

//  Close the listener and stop watching. Connections still open are
//  h2o's; they must all be closed first (conns_count is 0), or the
//  connections keep a pointer to freed memory. Nothing on NULL.
void conns_destroy (conns_t **self_p);

//  Stop accepting for good (shutdown): close the listener.
void conns_close_listener (conns_t *self);

//  The port the listener is bound to.
int conns_port (conns_t *self);

//  HTTP connections open now.
size_t conns_count (conns_t *self);

#endif
