/*  tap.c - bazaar-tap: print the bus traffic decoded, one message a line.

    Connects SUB sockets to the broker tap PUB (two frames: [topic][frame]),
    the catalog PUB (one frame) and any order replica PUBs (one frame, or
    [topic][frame]), decodes every frame with msg_decode and prints it with
    msg_format, as human text or JSON lines. A frame that does not decode
    prints "undecodable (reason) N bytes" and the tap carries on.

    The catalog's sequence beacon (an INVALIDATE of no stock, every
    100 ms) prints as BEACON ("beacon":true in JSON) and hides with
    --no-heartbeats, as do STATUS and VIEW (the gateways' twice-a-second
    polls of the broker's view) and the idle messages on a leader's PUB:
    a LEARN with no trades, an APPEND with no entries that does not move the
    commit position past what that PUB last said (an empty APPEND that
    moves it announces a commit, and shows), and the copy of an ACK that
    acknowledges no more than the same follower's last in its epoch.

    Never silent: --keys defaults to ./data/keys when it holds keys (the
    system `bazaar up` started from this directory), a monitor on every
    SUB socket reports at once a peer that refuses our handshake (CURVE
    keys: the flag to pass is named), and if nothing at all was heard
    within TAP_SILENCE_MS, stderr says what each source's connection is.

    Invariants: nothing read off a socket is trusted (topics are sanitised
    before printing, the payload only goes through msg_decode); stdout is
    flushed after every line so a pipe reader sees each message at once.
*/
#include "cli.h"
#include "mem.h"
#include "log.h"
#include "msgs.h"
#include "sockets.h"
#include "stats.h"

#include <czmq.h>
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TAP_SOURCES_MAX 32       //  SUB sockets at most
#define TAP_TYPES_MAX 64         //  entries in a --type filter
#define TAP_LABEL_MAX 300        //  "broker/catalog", "order@127.0.0.1:5601"
#define TAP_LINE_MAX 4096        //  first try at a formatted message
#define TAP_SILENCE_MS 3000      //  nothing heard for this long: say why
#define TAP_ACKERS_MAX 16        //  followers whose last ACK a source remembers

typedef enum { SOURCE_TAP, SOURCE_CATALOG, SOURCE_ORDER } source_kind_t;

//  A follower's last ACK a source carried.
typedef struct {
    uint64_t replica_id, epoch, length;
} ack_seen_t;

//  One SUB socket and what it is connected to.
typedef struct {
    source_kind_t kind;
    zsock_t *sub;
    char label[TAP_LABEL_MAX];   //  source name printed on each line
    char endpoint[MSG_ENDPOINT_MAX + 1];
    const char *origin;          //  "" or where the endpoint was read, for messages
    sockets_watch_t *watch;      //  its connection and handshake
    uint64_t commit;             //  the last commit position an APPEND said
    ack_seen_t acks[TAP_ACKERS_MAX];   //  the last ACK of each follower heard
    size_t ack_count;
} source_t;

typedef struct {
    source_t sources[TAP_SOURCES_MAX];
    size_t source_count;
    zpoller_t *poller;
    bool json;
    bool hide_heartbeats;        //  --no-heartbeats
    bool want_catalog;           //  --service filter
    bool want_order;
    int types[TAP_TYPES_MAX];    //  --type filter; none means every type
    size_t type_count;
    int64_t count_limit;         //  --count; 0 means run until interrupted
    int64_t printed;             //  lines, or --stats reports
    tapstats_t *stats;           //  --stats: count by type instead of printing
    char keys[PATH_MAX];         //  the key directory in use ("" none)
    bool heard;                  //  any message received yet
    int64_t silence_at;          //  when to say that nothing was heard (0: said)
} tap_t;

//  ---------------------------------------------------------------------
//  Options

static const cli_option_t s_options[] = {
    {"tap", "tcp://127.0.0.1:5557", "broker tap PUB endpoint (\"\" to skip); without the "
                                    "flag, the one 'bazaar up' runs from ./data, if any"},
    {"catalog-pub", "tcp://127.0.0.1:5556", "catalog PUB endpoint (\"\" to skip; found as --tap)"},
    {"order-pub", "", "order replica PUB endpoint(s): repeat the flag or give a comma list"},
    {"service", "", "show only these services: catalog, order (comma list)"},
    {"type", "", "show only these message types, e.g. LOOKUP,COMMITTED (comma list; "
                 "undecodable frames are always shown)"},
    {"no-heartbeats", NULL, "hide HEARTBEATs, the catalog's BEACONs, STATUS/VIEW polls, and a "
                            "leader's idle APPENDs, LEARNs and ACK copies"},
    {"json", NULL, "print JSON lines (with \"source\" and \"time\") instead of text"},
    {"keys", SOCKETS_KEYS_AUTO, "CURVE key directory made by 'bazaar keys DIR'; auto: "
                                SOCKETS_KEYS_FOUND " if it holds keys (as 'bazaar up' made "
                                "them here), else none; \"\" for no CURVE"},
    {"count", "0", "exit after printing this many lines, or --stats reports (0: until "
                   "interrupted)"},
    {"stats", NULL, "print messages per second by type once a second (in place on a TTY) "
                    "instead of the messages; filters apply"},
    {NULL, NULL, NULL}
};

//  Calls fn (item, arg) for every non-empty item of a comma list. Returns
//  the first non-zero fn result, or 0.
static int
s_each_item (const char *list, int (*fn) (const char *item, void *arg), void *arg)
{
    char *copy = mem_strdup (list);
    int rc = 0;
    char *save = NULL;
    for (char *item = strtok_r (copy, ",", &save); item && rc == 0;
         item = strtok_r (NULL, ",", &save)) {
        while (isspace ((unsigned char) *item))
            item++;
        size_t len = strlen (item);
        while (len && isspace ((unsigned char) item[len - 1]))
            item[--len] = '\0';
        if (*item)
            rc = fn (item, arg);
    }
    free (copy);
    return rc;
}

static int
s_add_service (const char *item, void *arg)
{
    tap_t *self = (tap_t *) arg;
    if (strcasecmp (item, "catalog") == 0)
        self->want_catalog = true;
    else
    if (strcasecmp (item, "order") == 0)
        self->want_order = true;
    else {
        fprintf (stderr, "bazaar-tap: --service must be catalog or order, not '%s'\n", item);
        return -1;
    }
    return 0;
}

//  Message type codes fit in a msgpack positive fixint or uint8.
static int
s_type_code (const char *name)
{
    for (int code = 0; code < 256; code++)
        if (strcasecmp (msg_type_name (code), name) == 0 && strcmp (name, "UNKNOWN") != 0)
            return code;
    return -1;
}

static int
s_add_type (const char *item, void *arg)
{
    tap_t *self = (tap_t *) arg;
    int code = s_type_code (item);
    if (code < 0) {
        fprintf (stderr, "bazaar-tap: unknown message type '%s'; known:", item);
        for (int c = 0; c < 256; c++)
            if (strcmp (msg_type_name (c), "UNKNOWN") != 0)
                fprintf (stderr, " %s", msg_type_name (c));
        fprintf (stderr, "\n");
        return -1;
    }
    if (self->type_count == TAP_TYPES_MAX) {
        fprintf (stderr, "bazaar-tap: too many --type entries\n");
        return -1;
    }
    self->types[self->type_count++] = code;
    return 0;
}

//  ---------------------------------------------------------------------
//  Sources

//  Adds a SUB to endpoint; found: read from SOCKETS_ENDPOINTS_FOUND, not
//  given (messages name the file: it may be stale).
static int
s_add_source (tap_t *self, source_kind_t kind, const char *endpoint, bool found)
{
    const char *origin = found ? " (from " SOCKETS_ENDPOINTS_FOUND ")" : "";
    if (!cli_endpoint_valid (endpoint)) {
        cli_endpoint_error ("tap", kind == SOURCE_TAP       ? "tap"
                                   : kind == SOURCE_CATALOG ? "catalog-pub"
                                                            : "order-pub", endpoint);
        if (found)
            fprintf (stderr, "bazaar-tap: it was read from %s\n", SOCKETS_ENDPOINTS_FOUND);
        return -1;
    }
    if (self->source_count == TAP_SOURCES_MAX) {
        fprintf (stderr, "bazaar-tap: too many endpoints (at most %d)\n", TAP_SOURCES_MAX);
        return -1;
    }
    const char *role = kind == SOURCE_TAP ? "broker" : kind == SOURCE_CATALOG ? "catalog" : "order";
    //  MSG_HWM on receipt: queue bursts rather than drop them.
    zsock_t *sub = sockets_new (ZMQ_SUB, role, SOCKETS_RECEIVE_HWM);
    if (sub)
        zsock_set_subscribe (sub, "");
    sockets_watch_t *watch = sub ? sockets_watch_new (zsys_init (), zsock_resolve (sub)) : NULL;
    if (!watch || zsock_connect (sub, "%s", endpoint) != 0) {
        fprintf (stderr, "bazaar-tap: cannot connect to '%s'%s\n", endpoint, origin);
        sockets_watch_destroy (&watch);
        zsock_destroy (&sub);
        return -1;
    }
    source_t *source = &self->sources[self->source_count++];
    source->kind = kind;
    source->sub = sub;
    source->watch = watch;
    source->origin = origin;
    snprintf (source->endpoint, sizeof (source->endpoint), "%s", endpoint);
    const char *bare = strstr (endpoint, "://");
    bare = bare ? bare + 3 : endpoint;
    if (kind == SOURCE_TAP)
        snprintf (source->label, sizeof (source->label), "broker");
    else
    if (kind == SOURCE_CATALOG)
        snprintf (source->label, sizeof (source->label), "catalog");
    else
        snprintf (source->label, sizeof (source->label), "order@%s", bare);
    log_debug ("connected %s to %s", source->label, endpoint);
    return 0;
}

static int
s_add_order_pub (const char *item, void *arg)
{
    return s_add_source ((tap_t *) arg, SOURCE_ORDER, item, false);
}

//  cli keeps only the last value of a repeated option: collect every
//  --order-pub VALUE and --order-pub=VALUE from argv ourselves, and fall
//  back to the value cli found (a config file's) if argv has none.
static int
s_add_order_pubs (tap_t *self, cli_t *cli, int argc, char **argv)
{
    bool found = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--") == 0)
            break;
        const char *value = NULL;
        if (strcmp (argv[i], "--order-pub") == 0 && i + 1 < argc)
            value = argv[++i];
        else
        if (strncmp (argv[i], "--order-pub=", 12) == 0)
            value = argv[i] + 12;
        if (value && s_each_item (value, s_add_order_pub, self))
            return -1;
        found = found || value;
    }
    if (!found)
        return s_each_item (cli_get (cli, "order-pub"), s_add_order_pub, self);
    return 0;
}

static void
s_tap_destroy (tap_t **self_p)
{
    if (!*self_p)
        return;
    tap_t *self = *self_p;
    zpoller_destroy (&self->poller);
    for (size_t i = 0; i < self->source_count; i++) {
        sockets_watch_destroy (&self->sources[i].watch);
        zsock_destroy (&self->sources[i].sub);
    }
    tapstats_destroy (&self->stats);
    free (self);
    *self_p = NULL;
}

//  Builds the tap from parsed options. Returns NULL after printing why.
static tap_t *
s_tap_new (cli_t *cli, const char *keys, int argc, char **argv)
{
    tap_t *self = mem_calloc (1, sizeof (tap_t));
    snprintf (self->keys, sizeof (self->keys), "%s", keys);
    self->silence_at = zclock_mono () + TAP_SILENCE_MS;
    self->json = cli_flag (cli, "json");
    if (cli_flag (cli, "stats"))
        self->stats = tapstats_new (self->json, isatty (STDOUT_FILENO));
    self->hide_heartbeats = cli_flag (cli, "no-heartbeats");
    if (cli_get_int (cli, "count", 0, INT64_MAX, &self->count_limit)
        || s_each_item (cli_get (cli, "service"), s_add_service, self)
        || s_each_item (cli_get (cli, "type"), s_add_type, self))
        goto failed;
    //  Not given: those of a system `bazaar up` runs from here, if any.
    char tap[MSG_ENDPOINT_MAX + 1], catalog_pub[MSG_ENDPOINT_MAX + 1];
    const char *tap_endpoint = sockets_find_endpoint (
        "tap", cli_get (cli, "tap"), cli_flag (cli, "tap"), tap, sizeof (tap));
    const char *catalog_endpoint =
        sockets_find_endpoint ("catalog-pub", cli_get (cli, "catalog-pub"),
                               cli_flag (cli, "catalog-pub"), catalog_pub, sizeof (catalog_pub));
    if (*tap_endpoint && s_add_source (self, SOURCE_TAP, tap_endpoint, tap_endpoint == tap))
        goto failed;
    if (*catalog_endpoint && s_add_source (self, SOURCE_CATALOG, catalog_endpoint,
                                           catalog_endpoint == catalog_pub))
        goto failed;
    if (s_add_order_pubs (self, cli, argc, argv))
        goto failed;
    if (self->source_count == 0) {
        fprintf (stderr, "bazaar-tap: no endpoint to listen to\n");
        goto failed;
    }
    self->poller = zpoller_new (NULL);
    if (!self->poller)
        goto failed;
    for (size_t i = 0; i < self->source_count; i++) {
        zpoller_add (self->poller, self->sources[i].sub);
        zpoller_add (self->poller, sockets_watch_handle (self->sources[i].watch));
    }
    return self;

failed:
    s_tap_destroy (&self);
    return NULL;
}

//  ---------------------------------------------------------------------
//  Filtering and printing

//  The service a message belongs to, or NULL if it cannot be told.
static const char *
s_message_service (const source_t *source, const char *topic, const msg_t *msg)
{
    if (source->kind == SOURCE_CATALOG)
        return "catalog";
    if (source->kind == SOURCE_ORDER)
        return "order";
    if (strcmp (topic, "catalog") == 0 || strcmp (topic, "order") == 0)
        return topic;
    if (msg && msg->type == MSG_HEARTBEAT)
        return msg->service;
    return msg ? msg_service (msg->type) : NULL;
}

//  The catalog's sequence beacon: an INVALIDATE of no stock.
static bool
s_is_beacon (const msg_t *msg)
{
    return msg && msg->type == MSG_INVALIDATE && msg->name[0] == '\0';
}

//  An ACK that acknowledges no more than its sender's last one in the
//  same epoch (a heartbeat's). Remembers it.
static bool
s_is_idle_ack (source_t *source, const msg_t *ack)
{
    size_t i = 0;
    while (i < source->ack_count && source->acks[i].replica_id != ack->replica_id)
        i++;
    bool idle = i < source->ack_count && source->acks[i].epoch == ack->epoch
             && ack->length <= source->acks[i].length;
    if (i == source->ack_count && i < TAP_ACKERS_MAX)
        source->ack_count++;
    if (i < source->ack_count)
        source->acks[i] = (ack_seen_t) {ack->replica_id, ack->epoch, ack->length};
    return idle;
}

//  What --no-heartbeats hides: a HEARTBEAT, the catalog's beacon, a
//  STATUS and its VIEW (each gateway polls twice a second for its
//  dashboard's timeline), and on a leader's PUB a LEARN of nothing, an
//  empty APPEND that says no commit position newer than source's last,
//  or an idle ACK's copy. Remembers what it needs.
static bool
s_is_idle (source_t *source, const msg_t *msg)
{
    if (!msg)
        return false;
    if (msg->type == MSG_HEARTBEAT || s_is_beacon (msg) || msg->type == MSG_STATUS
        || msg->type == MSG_VIEW)
        return true;
    if (msg->type == MSG_LEARN)
        return msg->trade_count == 0;
    if (msg->type == MSG_CS_ACK)
        return s_is_idle_ack (source, msg);
    if (msg->type != MSG_CS_APPEND)
        return false;
    bool idle = msg->entry_count == 0 && msg->commit <= source->commit;
    if (msg->commit > source->commit)
        source->commit = msg->commit;
    return idle;
}

static bool
s_wanted (const tap_t *self, const char *service, const msg_t *msg, bool idle)
{
    if (self->want_catalog || self->want_order) {
        if (!service)
            return false;
        if (!((self->want_catalog && strcmp (service, "catalog") == 0)
              || (self->want_order && strcmp (service, "order") == 0)))
            return false;
    }
    if (idle && self->hide_heartbeats)
        return false;
    if (msg && self->type_count) {
        for (size_t i = 0; i < self->type_count; i++)
            if (self->types[i] == (int) msg->type)
                return true;
        return false;
    }
    return true;
}

//  Copies at most size - 1 printable ASCII bytes of a wire string.
static void
s_sanitize (char *dest, size_t size, const void *data, size_t len)
{
    const unsigned char *bytes = (const unsigned char *) data;
    size_t used = 0;
    for (size_t i = 0; i < len && used + 1 < size; i++)
        dest[used++] = (bytes[i] >= 0x20 && bytes[i] < 0x7f && bytes[i] != '"'
                        && bytes[i] != '\\') ? (char) bytes[i] : '?';
    dest[used] = '\0';
}

//  "HH:MM:SS.mmm" local time, or ISO 8601 UTC for JSON.
static void
s_timestamp (char *buf, size_t size, bool json)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    struct tm tm;
    char seconds[24];
    int millis = (int) ((now.tv_nsec / 1000000) % 1000);
    if (json) {
        gmtime_r (&now.tv_sec, &tm);
        strftime (seconds, sizeof (seconds), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf (buf, size, "%s.%03dZ", seconds, millis);
    }
    else {
        localtime_r (&now.tv_sec, &tm);
        strftime (seconds, sizeof (seconds), "%H:%M:%S", &tm);
        snprintf (buf, size, "%s.%03d", seconds, millis);
    }
}

//  Prints one decoded message. Returns 0, or -1 if out of memory.
static int
s_print_message (tap_t *self, const char *label, const msg_t *msg)
{
    char stack[TAP_LINE_MAX];
    char *text = stack;
    int len = msg_format (msg, self->json, stack, sizeof (stack));
    if (len < 0)
        return -1;
    if ((size_t) len >= sizeof (stack)) {
        text = mem_alloc ((size_t) len + 1);
        msg_format (msg, self->json, text, (size_t) len + 1);
    }
    char stamp[40];
    s_timestamp (stamp, sizeof (stamp), self->json);
    bool beacon = s_is_beacon (msg);
    if (self->json)   //  text is "{...}": splice time and source in front
        printf ("{\"time\":\"%s\",\"source\":\"%s\",%s%s\n", stamp, label,
                beacon ? "\"beacon\":true," : "", text + 1);
    else
    if (beacon)
        printf ("%s %s BEACON seq=%" PRIu64 " incarnation=%" PRIu64 "\n", stamp, label,
                msg->seq, msg->incarnation);
    else
        printf ("%s %s %s\n", stamp, label, text);
    if (text != stack)
        free (text);
    return 0;
}

static void
s_print_undecodable (tap_t *self, const char *label, const char *reason, size_t bytes)
{
    char stamp[40];
    s_timestamp (stamp, sizeof (stamp), self->json);
    if (self->json)
        printf ("{\"time\":\"%s\",\"source\":\"%s\",\"type\":\"undecodable\","
                "\"reason\":\"%s\",\"bytes\":%zu}\n",
                stamp, label, reason, bytes);
    else
        printf ("%s %s undecodable (%s) %zu bytes\n", stamp, label, reason, bytes);
}

//  Handles one multipart message from a source. Returns true if it printed.
static bool
s_handle (tap_t *self, source_t *source, zmsg_t *zmsg)
{
    char topic[MSG_SERVICE_MAX + 1] = "";
    char label[TAP_LABEL_MAX + MSG_SERVICE_MAX + 2];
    size_t frames = zmsg_size (zmsg);
    zframe_t *payload = zmsg_last (zmsg);
    size_t bytes = zmsg_content_size (zmsg);
    const char *reason = NULL;
    char why[64];

    //  The tap always sends [topic][frame]; a replica PUB may add a topic.
    if (frames == 2 || (source->kind == SOURCE_TAP && frames > 2)) {
        zframe_t *first = zmsg_first (zmsg);
        s_sanitize (topic, sizeof (topic), zframe_data (first), zframe_size (first));
    }
    if ((source->kind == SOURCE_TAP && frames != 2) || frames < 1 || frames > 2) {
        snprintf (why, sizeof (why), "expected %d frames, got %zu",
                  source->kind == SOURCE_TAP ? 2 : 1, frames);
        reason = why;
    }
    if (*topic && strcmp (topic, source->label) != 0)
        snprintf (label, sizeof (label), "%s/%s", source->label, topic);
    else
        snprintf (label, sizeof (label), "%s", source->label);

    msg_t msg;
    msg_init (&msg, 0);
    if (!reason) {
        bytes = zframe_size (payload);
        int rc = msg_decode (&msg, zframe_data (payload), bytes);
        if (rc != MSG_DECODE_OK)
            reason = msg_decode_strerror (rc);
    }
    bool printed = false;
    const msg_t *decoded = reason ? NULL : &msg;
    bool idle = s_is_idle (source, decoded);
    bool wanted = s_wanted (self, s_message_service (source, topic, decoded), decoded, idle);
    if (wanted && self->stats)
        tapstats_count (self->stats, reason ? -1
                                     : s_is_beacon (&msg) ? TAPSTATS_BEACON : (int) msg.type);
    else
    if (wanted) {
        if (reason)
            s_print_undecodable (self, label, reason, bytes);
        else
        if (s_print_message (self, label, &msg))
            log_error ("out of memory formatting a %s", msg_type_name (msg.type));
        fflush (stdout);
        printed = true;
    }
    msg_reset (&msg);
    return printed;
}

//  A source's connection for a person: its state and what to do.
static void
s_describe_source (tap_t *self, source_t *source, char *buf, size_t size)
{
    const char *peer = source->kind == SOURCE_TAP ? "the broker tap"
                     : source->kind == SOURCE_CATALOG ? "the catalog PUB" : "the order PUB";
    sockets_peer_t state = sockets_watch_state (source->watch);
    if (state == SOCKETS_PEER_REFUSED)
        sockets_refusal (buf, size, peer, source->endpoint, self->keys);
    else
    if (state == SOCKETS_PEER_UNSEEN)
        snprintf (buf, size, "%s at %s%s: nothing listens (not running, or elsewhere: pass "
                  "--%s ENDPOINT)", peer, source->endpoint, source->origin,
                  source->kind == SOURCE_TAP ? "tap"
                  : source->kind == SOURCE_CATALOG ? "catalog-pub" : "order-pub");
    else
        snprintf (buf, size, "%s at %s: connected, nothing published", peer, source->endpoint);
}

//  Tells stderr at once about a source that refused our handshake.
static void
s_check_refusals (tap_t *self)
{
    for (size_t i = 0; i < self->source_count; i++) {
        source_t *source = &self->sources[i];
        if (sockets_watch_newly_refused (source->watch)) {
            char why[600];
            s_describe_source (self, source, why, sizeof (why));
            fprintf (stderr, "bazaar-tap: %s\n", why);
        }
    }
}

//  Nothing heard within TAP_SILENCE_MS: says what each source is (but
//  a refusal, which s_check_refusals told already).
static void
s_tell_silence (tap_t *self)
{
    self->silence_at = 0;
    s_check_refusals (self);
    for (size_t i = 0; i < self->source_count && !self->heard; i++) {
        if (sockets_watch_state (self->sources[i].watch) == SOCKETS_PEER_REFUSED)
            continue;
        char why[600];
        s_describe_source (self, &self->sources[i], why, sizeof (why));
        fprintf (stderr, "bazaar-tap: nothing heard in %d s: %s\n", TAP_SILENCE_MS / 1000, why);
    }
}

//  Poll timeout: until the next --stats report or the silence notice.
static int
s_timeout (tap_t *self)
{
    int64_t timeout = self->stats ? tapstats_due_in (self->stats) : -1;
    if (self->silence_at) {
        int64_t left = self->silence_at - zclock_mono ();
        left = left > 0 ? left : 0;
        timeout = timeout < 0 || left < timeout ? left : timeout;
    }
    return (int) timeout;
}

static int
s_tap_run (tap_t *self)
{
    while (self->count_limit == 0 || self->printed < self->count_limit) {
        void *which = zpoller_wait (self->poller, s_timeout (self));
        if (self->stats && tapstats_report (self->stats))
            self->printed++;
        if (self->silence_at && zclock_mono () >= self->silence_at)
            s_tell_silence (self);
        if (!which) {
            if (zpoller_terminated (self->poller))
                break;   //  SIGINT / SIGTERM
            continue;
        }
        source_t *source = NULL;
        for (size_t i = 0; i < self->source_count && !source; i++)
            if (self->sources[i].sub == which)
                source = &self->sources[i];
        if (!source) {   //  a monitor: a connection or handshake changed
            s_check_refusals (self);
            continue;
        }
        zmsg_t *zmsg = zmsg_recv (source->sub);
        if (!zmsg)
            break;       //  interrupted
        self->heard = true;
        if (s_handle (self, source, zmsg))
            self->printed++;
        zmsg_destroy (&zmsg);
    }
    return 0;
}

int
main (int argc, char **argv)
{
    int exit_code = 0;
    cli_t *cli = cli_new ("tap", "Print the Bazaar bus traffic decoded, one message a line.",
                          s_options, argc, argv, &exit_code);
    if (!cli)
        return exit_code;
    char error[512];
    const char *keys = sockets_find_keys (cli_get (cli, "keys"), "tap");
    if (sockets_setup (keys, "tap", false, error, sizeof (error))) {
        fprintf (stderr, "bazaar-tap: %s\n", error);
        cli_destroy (&cli);
        return 2;
    }
    tap_t *tap = s_tap_new (cli, keys, argc, argv);
    cli_destroy (&cli);
    if (!tap) {
        sockets_shutdown ();
        return 2;
    }
    int rc = s_tap_run (tap);
    s_tap_destroy (&tap);
    sockets_shutdown ();
    return rc;
}
