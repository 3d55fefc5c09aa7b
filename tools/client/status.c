/*  status.c - `bazaar-client status`: the broker's view, as a table or
    JSON, once or every second (--watch).

    One DEALER to the broker; a STATUS request carries a req_id and the
    reply with that id is the answer (a late reply to an earlier request,
    in --watch, is skipped). No answer within --timeout: a monitor on the
    DEALER tells why, said plainly with exit status 1 (--watch keeps
    trying): nothing listens ("broker down"), or the broker refused the
    handshake (CURVE keys: the flag to pass is named), or it accepted us
    and did not answer.

    Keys: --keys defaults to ./data/keys when it holds keys (a system that
    `bazaar up` started from this directory; sockets_find_keys).
*/
#include "status.h"
#include "sockets.h"
#include "cli.h"
#include "msgs.h"
#include "view.h"

#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define STATUS_WATCH_MS 1000

static volatile sig_atomic_t s_interrupted = 0;

static void
s_on_signal (int signum)
{
    (void) signum;
    s_interrupted = 1;
}

static const cli_option_t s_options[] = {
    {"broker", "tcp://127.0.0.1:5555", "the broker's ROUTER endpoint; without the flag, "
                                       "the one 'bazaar up' runs from ./data, if any"},
    {"timeout", "1500", "ms to wait for the broker's answer"},
    {"json", NULL, "print the view as one JSON object"},
    {"watch", NULL, "refresh every second until Ctrl-C"},
    {"keys", SOCKETS_KEYS_AUTO, "CURVE key directory made by 'bazaar keys DIR'; auto: "
                                SOCKETS_KEYS_FOUND " if it holds keys (as 'bazaar up' made "
                                "them here), else none; \"\" for no CURVE"},
    {NULL, NULL, NULL}};

static int64_t
s_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

//  Sends STATUS and waits for the VIEW with the same req_id. Returns 0
//  with view filled, or -1 (no answer in time, refused by the broker, or
//  interrupted).
static int
s_ask (void *dealer, sockets_watch_t *watch, uint64_t req_id, int64_t timeout_ms, msg_t *view)
{
    msg_t request;
    msg_init (&request, MSG_STATUS);
    request.req_id = req_id;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    int rc = msg_encode (&request, &buffer) == 0
             && zmq_send (dealer, buffer.data, buffer.size, ZMQ_DONTWAIT) >= 0 ? 0 : -1;
    msgpack_sbuffer_destroy (&buffer);
    int64_t deadline = s_now_ms () + timeout_ms;
    while (rc == 0 && !s_interrupted) {
        int64_t left = deadline - s_now_ms ();
        zmq_pollitem_t items[2] = {{dealer, 0, ZMQ_POLLIN, 0}, {NULL, 0, ZMQ_POLLIN, 0}};
        items[1].socket = watch ? sockets_watch_handle (watch) : NULL;
        if (left <= 0 || zmq_poll (items, watch ? 2 : 1, (long) left) <= 0) {
            if (left <= 0 || errno != EINTR)
                return -1;
            continue;
        }
        if (watch && sockets_watch_state (watch) == SOCKETS_PEER_REFUSED)
            return -1;                 //  no answer will come
        if (!(items[0].revents & ZMQ_POLLIN))
            continue;
        char frame[65536];
        int size = zmq_recv (dealer, frame, sizeof (frame), ZMQ_DONTWAIT);
        if (size < 0 || size > (int) sizeof (frame))
            continue;                  //  nothing, or too big for a VIEW
        if (msg_decode (view, frame, (size_t) size) == 0 && view->type == MSG_VIEW
            && view->req_id == req_id)
            return 0;
    }
    return -1;
}

static void
s_print_table (msg_t *view)
{
    view_sort (view);
    printf ("%-10s %-12s %9s %7s %10s %6s\n", "PROCESS", "STATE", "POSITION", "LAG",
            "HEARTBEAT", "EPOCH");
    printf ("%-10s %-12s\n", "broker", "alive");
    for (size_t i = 0; i < view->worker_count; i++) {
        const msg_worker_t *worker = &view->workers[i];
        char name[MSG_SERVICE_MAX + 32], lag[24], age[32];
        view_process_name (worker, name, sizeof (name));
        snprintf (lag, sizeof (lag), "%" PRIu64, view_lag (view, worker));
        snprintf (age, sizeof (age), "%" PRIu64 " ms", worker->age_ms);
        printf ("%-10s %-12s %9" PRIu64 " %7s %10s %6" PRIu64 "\n", name, view_state (worker),
                worker->number, lag, age, worker->epoch);
    }
    char leader[VIEW_LEADER_MAX];
    view_leader (view, leader, sizeof (leader));
    printf ("leader: %s; in sync with it:", leader);
    for (size_t i = 0; i < view->in_sync_count; i++)
        printf (" order-%" PRIu64, view->in_sync[i]);
    printf ("%s; catalog at %" PRIu64 " trades\n", view->in_sync_count ? "" : " none",
            view->position);
}

static void
s_print_json (msg_t *view)
{
    json_t *json = view_json (view);
    if (json)
        json_object_set_new (json, "broker", json_string ("up"));
    char *text = json ? json_dumps (json, JSON_COMPACT) : NULL;
    printf ("%s\n", text ? text : "{\"broker\":\"up\"}");
    free (text);
    json_decref (json);
}

//  Says why the broker did not answer: down, refused us (keys), or silent.
static void
s_print_no_answer (sockets_peer_t peer, const char *keys, int64_t timeout_ms, bool json,
                   const char *broker)
{
    const char *state = peer == SOCKETS_PEER_REFUSED ? "refused"
                      : peer == SOCKETS_PEER_UNSEEN ? "down" : "silent";
    char why[512];
    if (peer == SOCKETS_PEER_REFUSED)
        sockets_refusal (why, sizeof (why), "the broker", broker, keys);
    else
    if (peer == SOCKETS_PEER_UNSEEN)
        snprintf (why, sizeof (why), "broker down: nothing listens at %s (no answer within "
                  "%" PRId64 " ms)", broker, timeout_ms);
    else
        snprintf (why, sizeof (why), "broker down: connected to %s but no answer within "
                  "%" PRId64 " ms (busy or hung?)", broker, timeout_ms);
    if (json) {
        json_t *object = json_pack ("{s:s, s:s}", "broker", state, "error", why);
        char *text = object ? json_dumps (object, JSON_COMPACT) : NULL;
        printf ("%s\n", text ? text : "{\"broker\":\"down\"}");
        free (text);
        json_decref (object);
    }
    else
        printf ("%s\n", why);
}

//  One round: ask, print. Returns 0 if the broker answered, 1 if not.
static int
s_round (void *dealer, sockets_watch_t *watch, const char *keys, uint64_t req_id,
         int64_t timeout_ms, bool json, const char *broker)
{
    msg_t view;
    msg_init (&view, 0);
    int rc = s_ask (dealer, watch, req_id, timeout_ms, &view);
    if (rc == 0 && json)
        s_print_json (&view);
    else
    if (rc == 0)
        s_print_table (&view);
    else
        s_print_no_answer (watch ? sockets_watch_state (watch) : SOCKETS_PEER_CONNECTED, keys,
                           timeout_ms, json, broker);
    fflush (stdout);
    msg_reset (&view);
    return rc ? 1 : 0;
}

//  A DEALER to the broker, watched by *watch (NULL if the monitor could
//  not start: then a silence cannot be told from a refusal).
static void *
s_connect (void *context, const char *broker, const char *where, sockets_watch_t **watch)
{
    void *dealer = sockets_new_in (context, ZMQ_DEALER, "broker", 0);
    *watch = dealer ? sockets_watch_new (context, dealer) : NULL;
    if (!dealer || zmq_connect (dealer, broker) < 0) {
        fprintf (stderr, "bazaar-client status: cannot connect to %s: %s\n", where,
                 zmq_strerror (errno));
        sockets_watch_destroy (watch);
        if (dealer)
            zmq_close (dealer);
        return NULL;
    }
    return dealer;
}

static int
s_watch (void *dealer, sockets_watch_t *watch, const char *keys, int64_t timeout_ms, bool json,
         const char *broker)
{
    bool tty = isatty (STDOUT_FILENO) && !json;
    for (uint64_t req_id = 1; !s_interrupted; req_id++) {
        int64_t next = s_now_ms () + STATUS_WATCH_MS;
        if (tty)
            printf ("\033[H\033[2J");
        s_round (dealer, watch, keys, req_id, timeout_ms, json, broker);
        int64_t left = next - s_now_ms ();
        if (left > 0 && !s_interrupted) {
            struct timespec pause = {left / 1000, (left % 1000) * 1000000};
            nanosleep (&pause, NULL);
        }
    }
    return 0;
}

int
status_main (int argc, char **argv)
{
    static char program[] = "bazaar-client status";
    argv[0] = program;
    int exit_code = 0;
    cli_t *cli = cli_new ("client status", "Ask the broker who is alive, who leads (epoch), "
                          "each replica's position, lag and heartbeat age.",
                          s_options, argc, argv, &exit_code);
    if (!cli)
        return exit_code;
    int64_t timeout_ms;
    if (cli_get_int (cli, "timeout", 1, 60000, &timeout_ms)) {
        cli_destroy (&cli);
        return 2;
    }
    bool json = cli_flag (cli, "json"), watch = cli_flag (cli, "watch");
    char broker[MSG_ENDPOINT_MAX + 1], found[MSG_ENDPOINT_MAX + 1], keys[PATH_MAX], error[512];
    //  Not given: the broker of a system `bazaar up` runs from here, if any.
    const char *endpoint = sockets_find_endpoint ("broker", cli_get (cli, "broker"),
                                                  cli_flag (cli, "broker"), found, sizeof (found));
    snprintf (broker, sizeof (broker), "%s", endpoint);
    //  Messages name the file an endpoint came from: it may be stale.
    char where[MSG_ENDPOINT_MAX + 64];
    snprintf (where, sizeof (where), "%s%s", broker,
              endpoint == found ? " (from " SOCKETS_ENDPOINTS_FOUND ")" : "");
    //  A client of the broker like the tap: the tap's key pair.
    snprintf (keys, sizeof (keys), "%s", sockets_find_keys (cli_get (cli, "keys"), "tap"));
    if (sockets_setup (keys, "tap", false, error, sizeof (error))) {
        fprintf (stderr, "bazaar-client status: %s\n", error);
        cli_destroy (&cli);
        return 2;
    }
    cli_destroy (&cli);
    struct sigaction action = {0};
    action.sa_handler = s_on_signal;
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);

    void *context = zmq_ctx_new ();
    sockets_watch_t *peer = NULL;
    void *dealer = s_connect (context, broker, where, &peer);
    if (!dealer)
        exit_code = 2;
    else
    if (watch)
        exit_code = s_watch (dealer, peer, keys, timeout_ms, json, where);
    else
        exit_code = s_round (dealer, peer, keys, 1, timeout_ms, json, where);
    sockets_watch_destroy (&peer);
    if (dealer)
        zmq_close (dealer);
    zmq_ctx_term (context);
    sockets_shutdown ();
    return exit_code;
}
