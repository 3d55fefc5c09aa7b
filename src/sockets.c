/*  sockets.c - the one factory of bus sockets (sockets.h).

    Process-wide state (set once by main, read by every socket
    constructor): this process's certificate, the public keys of the
    roles it connects to, and the ZAP handler. Without keys, a socket
    gets every setting but CURVE.
*/
#include "sockets.h"
#include "link.h"
#include "msgs.h"

#include <czmq.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *s_server_roles[] = {"broker", "catalog", "order"};
#define SERVER_ROLES (sizeof (s_server_roles) / sizeof (s_server_roles[0]))

static struct {
    zcert_t *cert;                       //  ours (public and secret)
    char server_keys[SERVER_ROLES][41];  //  Z85 public keys of the servers
    zactor_t *auth;                      //  zauth, if we bind
} s_keys;


int
sockets_setup (const char *keys_dir, const char *role, bool servers, char *error,
               size_t error_size)
{
    if (!keys_dir || !*keys_dir)
        return 0;
    if (!zsys_has_curve ()) {
        snprintf (error, error_size, "--keys: this libzmq has no CURVE support");
        return -1;
    }
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/%s.key_secret", keys_dir, role);
    s_keys.cert = zcert_load (path);
    if (!s_keys.cert) {
        snprintf (error, error_size, "--keys: cannot read %s (make keys with: bazaar keys %s)",
                  path, keys_dir);
        return -1;
    }
    for (size_t i = 0; i < SERVER_ROLES; i++) {
        snprintf (path, sizeof (path), "%s/%s.key", keys_dir, s_server_roles[i]);
        zcert_t *server = zcert_load (path);
        if (!server) {
            snprintf (error, error_size, "--keys: cannot read %s", path);
            sockets_shutdown ();
            return -1;
        }
        snprintf (s_keys.server_keys[i], sizeof (s_keys.server_keys[i]), "%s",
                  zcert_public_txt (server));
        zcert_destroy (&server);
    }
    if (servers) {
        snprintf (path, sizeof (path), "%s/allowed", keys_dir);
        if (!zsys_file_exists (path)) {
            snprintf (error, error_size, "--keys: no allow-list %s", path);
            sockets_shutdown ();
            return -1;
        }
        s_keys.auth = zactor_new (zauth, NULL);
        if (!s_keys.auth || zstr_sendx (s_keys.auth, "CURVE", path, NULL)
            || zsock_wait (s_keys.auth) < 0) {
            snprintf (error, error_size, "--keys: cannot start the ZAP handler");
            sockets_shutdown ();
            return -1;
        }
    }
    return 0;
}

void
sockets_shutdown (void)
{
    zactor_destroy (&s_keys.auth);
    zcert_destroy (&s_keys.cert);
    memset (s_keys.server_keys, 0, sizeof (s_keys.server_keys));
}

//  CURVE server: our certificate, and the ZAP handler judges clients.
static int
s_server (void *socket)
{
    if (!s_keys.cert)
        return 0;
    int one = 1;
    zcert_apply (s_keys.cert, socket);
    if (zmq_setsockopt (socket, ZMQ_ZAP_DOMAIN, "global", 6)
        || zmq_setsockopt (socket, ZMQ_CURVE_SERVER, &one, sizeof (one)))
        return -1;
    return 0;
}

//  CURVE client of a server of server_role: our certificate, its key.
static int
s_client (void *socket, const char *server_role)
{
    if (!s_keys.cert)
        return 0;
    for (size_t i = 0; i < SERVER_ROLES; i++)
        if (streq (server_role, s_server_roles[i])) {
            zcert_apply (s_keys.cert, socket);
            return zmq_setsockopt (socket, ZMQ_CURVE_SERVERKEY, s_keys.server_keys[i], 40);
        }
    errno = EINVAL;
    return -1;
}

//  Every setting of a bus socket (sockets.h), before it binds or connects.
static int
s_prepare (void *socket, const char *server_role, int flags)
{
    int linger = 0, hwm = MSG_HWM;
    int64_t max = MSG_FRAME_MAX;
    if (zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof (linger))
        || ((flags & SOCKETS_SEND_HWM)
            && zmq_setsockopt (socket, ZMQ_SNDHWM, &hwm, sizeof (hwm)))
        || ((flags & SOCKETS_RECEIVE_HWM)
            && zmq_setsockopt (socket, ZMQ_RCVHWM, &hwm, sizeof (hwm)))
        || zmq_setsockopt (socket, ZMQ_MAXMSGSIZE, &max, sizeof (max))
        || link_configure (socket))
        return -1;
    return server_role ? s_client (socket, server_role) : s_server (socket);
}

//  Destroys socket keeping errno (the caller reports it); returns NULL.
static zsock_t *
s_fail (zsock_t **socket_p)
{
    int saved = errno;
    zsock_destroy (socket_p);
    errno = saved;
    return NULL;
}

zsock_t *
sockets_new (int type, const char *server_role, int flags)
{
    zsock_t *socket = zsock_new (type);
    if (socket && s_prepare (zsock_resolve (socket), server_role, flags))
        return s_fail (&socket);
    return socket;
}

zsock_t *
sockets_bind (int type, const char *endpoint, int flags)
{
    zsock_t *socket = sockets_new (type, NULL, flags);
    if (socket && zsock_bind (socket, "%s", endpoint) < 0)
        return s_fail (&socket);
    return socket;
}

zsock_t *
sockets_connect (int type, const char *endpoint, const char *server_role, int flags)
{
    zsock_t *socket = sockets_new (type, server_role, flags);
    if (socket && zsock_connect (socket, "%s", endpoint) < 0)
        return s_fail (&socket);
    return socket;
}

void *
sockets_new_in (void *context, int type, const char *server_role, int flags)
{
    void *socket = zmq_socket (context, type);
    if (socket && s_prepare (socket, server_role, flags)) {
        int saved = errno;
        zmq_close (socket);
        errno = saved;
        return NULL;
    }
    return socket;
}

int
sockets_receive (void *socket, zmq_msg_t *frames, size_t max)
{
    int count = 0, more = 1;
    while (more) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        //  Only the first frame may be missing: the rest of a message
        //  arrives with it.
        if (zmq_msg_recv (&frame, socket, count ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&frame);
            return count ? -1 : 0;
        }
        more = zmq_msg_more (&frame);
        if ((size_t) count < max)
            zmq_msg_move (&frames[count], &frame);
        count++;
        zmq_msg_close (&frame);
    }
    return count;
}

zsock_t *
sockets_subscribe (const char *endpoint, const char *server_role, int type)
{
    zsock_t *sub = sockets_new (ZMQ_SUB, server_role, SOCKETS_RECEIVE_HWM);
    if (!sub)
        return NULL;
    unsigned char topic[MSG_TOPIC_SIZE];
    msg_topic ((msg_type_t) type, topic);
    zmq_setsockopt (zsock_resolve (sub), ZMQ_SUBSCRIBE, topic, sizeof (topic));
    if (zsock_connect (sub, "%s", endpoint) < 0)
        return s_fail (&sub);
    return sub;
}

const char *
sockets_find_keys (const char *keys_dir, const char *role)
{
    if (!keys_dir || strcmp (keys_dir, SOCKETS_KEYS_AUTO) != 0)
        return keys_dir;
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/%s.key_secret", SOCKETS_KEYS_FOUND, role);
    return zsys_file_exists (path) ? SOCKETS_KEYS_FOUND : "";
}

const char *
sockets_find_endpoint (const char *name, const char *value, bool given, char *buf, size_t size)
{
    FILE *file = given ? NULL : fopen (SOCKETS_ENDPOINTS_FOUND, "r");
    if (!file)
        return value;
    const char *found = value;
    char line[MSG_ENDPOINT_MAX + 64];
    size_t length = strlen (name);
    while (found == value && fgets (line, sizeof (line), file)) {
        line[strcspn (line, "\n")] = '\0';
        if (strncmp (line, name, length) == 0 && line[length] == '='
            && strlen (line + length + 1) < size) {
            snprintf (buf, size, "%s", line + length + 1);
            found = buf;
        }
    }
    fclose (file);
    return found;
}

//  ---------------------------------------------------------------------
//  Watching a connection's handshake

struct _sockets_watch_t {
    void *socket;                //  the socket watched
    void *monitor;               //  PAIR connected to the socket's monitor
    sockets_peer_t state;
    bool refusal_told;           //  sockets_watch_newly_refused said it
};

sockets_watch_t *
sockets_watch_new (void *context, void *socket)
{
    static int s_watches = 0;    //  one inproc name per watch in a process
    char endpoint[64];
    snprintf (endpoint, sizeof (endpoint), "inproc://sockets-watch-%d-%d", (int) getpid (),
              ++s_watches);
    int events = ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED
               | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
               | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    sockets_watch_t *self = (sockets_watch_t *) calloc (1, sizeof (sockets_watch_t));
    if (!self || zmq_socket_monitor (socket, endpoint, events)) {
        free (self);
        return NULL;
    }
    self->socket = socket;
    int linger = 0;
    self->monitor = zmq_socket (context, ZMQ_PAIR);
    if (!self->monitor
        || zmq_setsockopt (self->monitor, ZMQ_LINGER, &linger, sizeof (linger))
        || zmq_connect (self->monitor, endpoint)) {
        sockets_watch_destroy (&self);
        return NULL;
    }
    return self;
}

void
sockets_watch_destroy (sockets_watch_t **self_p)
{
    if (!*self_p)
        return;
    //  The monitor first: libzmq sends its events blocking, so an event
    //  of the socket after our end closed would hang the thread sending
    //  it (an I/O thread: a replica stopped heartbeating when it stopped
    //  following a leader).
    zmq_socket_monitor ((*self_p)->socket, NULL, 0);
    if ((*self_p)->monitor)
        zmq_close ((*self_p)->monitor);
    free (*self_p);
    *self_p = NULL;
}

void *
sockets_watch_handle (sockets_watch_t *self)
{
    return self->monitor;
}

sockets_peer_t
sockets_watch_state (sockets_watch_t *self)
{
    //  An event is two frames: [uint16 event, uint32 value][endpoint].
    uint8_t head[6];
    while (true) {
        int size = zmq_recv (self->monitor, head, sizeof (head), ZMQ_DONTWAIT);
        if (size < 0)
            break;
        int more = 0;
        size_t more_size = sizeof (more);
        char endpoint[256];
        while (zmq_getsockopt (self->monitor, ZMQ_RCVMORE, &more, &more_size) == 0 && more)
            zmq_recv (self->monitor, endpoint, sizeof (endpoint), ZMQ_DONTWAIT);
        if (size < 2)
            continue;
        uint16_t event;
        memcpy (&event, head, sizeof (event));
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            self->state = SOCKETS_PEER_ACCEPTED;
        else
        if (event == ZMQ_EVENT_CONNECTED && self->state != SOCKETS_PEER_REFUSED)
            self->state = SOCKETS_PEER_CONNECTED;
        else
        if (event == ZMQ_EVENT_DISCONNECTED && self->state != SOCKETS_PEER_REFUSED)
            self->state = SOCKETS_PEER_UNSEEN;
        else
        if (event & (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                     | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH))
            self->state = SOCKETS_PEER_REFUSED;
    }
    return self->state;
}

bool
sockets_watch_newly_refused (sockets_watch_t *self)
{
    sockets_peer_t state = sockets_watch_state (self);
    bool news = state == SOCKETS_PEER_REFUSED && !self->refusal_told;
    if (state == SOCKETS_PEER_REFUSED)
        self->refusal_told = true;
    if (state == SOCKETS_PEER_ACCEPTED)
        self->refusal_told = false;
    return news;
}

void
sockets_refusal (char *buf, size_t size, const char *peer, const char *endpoint,
                 const char *keys_dir)
{
    if (keys_dir && *keys_dir)
        snprintf (buf, size, "%s at %s is up but refused us: it does not take the keys in "
                  "%s (another system's, or a bus without CURVE): pass --keys DIR with its "
                  "keys, or --keys \"\"", peer, endpoint, keys_dir);
    else if (zsys_file_exists (SOCKETS_KEYS_FOUND "/allowed"))
        //  --keys "" was given, or the keys there lack our role's.
        snprintf (buf, size, "%s at %s is up but refused us: CURVE keys? pass --keys DIR "
                  "(./" SOCKETS_KEYS_FOUND " holds keys: --keys " SOCKETS_KEYS_FOUND ")",
                  peer, endpoint);
    else
        snprintf (buf, size, "%s at %s is up but refused us: CURVE keys? pass --keys DIR "
                  "(bazaar up keeps them in DATA/keys; none in ./" SOCKETS_KEYS_FOUND ")",
                  peer, endpoint);
}

int
sockets_make_keys (const char *dir, char *error, size_t error_size)
{
    const char *roles[] = SOCKETS_ROLES;
    char allowed[PATH_MAX];
    snprintf (allowed, sizeof (allowed), "%s/allowed", dir);
    if (zsys_dir_create ("%s", allowed)) {
        snprintf (error, error_size, "cannot create %s: %s", allowed, strerror (errno));
        return -1;
    }
    chmod (dir, 0700);
    for (size_t i = 0; i < sizeof (roles) / sizeof (roles[0]); i++) {
        char path[PATH_MAX], secret[PATH_MAX + 8], listed[PATH_MAX + 32];
        snprintf (path, sizeof (path), "%s/%s.key", dir, roles[i]);
        snprintf (secret, sizeof (secret), "%s_secret", path);
        snprintf (listed, sizeof (listed), "%s/%s.key", allowed, roles[i]);
        zcert_t *cert = zsys_file_exists (secret) ? zcert_load (secret) : NULL;
        bool made = !cert;
        if (made) {
            cert = zcert_new ();
            if (!cert) {
                snprintf (error, error_size, "cannot make a key pair (CURVE support?)");
                return -1;
            }
            zcert_set_meta (cert, "role", "%s", roles[i]);
        }
        int rc = made ? zcert_save (cert, path) : 0;
        if (rc == 0)
            rc = chmod (secret, 0600);
        if (rc == 0)
            rc = zcert_save_public (cert, listed);
        zcert_destroy (&cert);
        if (rc) {
            snprintf (error, error_size, "cannot write the keys of %s under %s: %s", roles[i],
                      dir, strerror (errno));
            return -1;
        }
    }
    return 0;
}
