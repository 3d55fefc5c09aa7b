/*  client.c - bazaar-client: the lab client and load generator (SPEC §6).

    Each session is a thread with its own keep-alive HTTP connection. It
    loops: look up a random stock; if its quantity is above zero, with
    probability p place an order for it (random buy or sell, 1..5 shares)
    and remember every order that got a transaction number. At the end it
    reads back every remembered order and checks it matches. Every request
    is timed; the summary gives latency per operation and throughput.

    A 409 on a buy is a valid outcome (the stock ran short). Anything else
    unexpected - a transport error, an unexpected status, a reply that does
    not match, a transaction number handed out twice - is a problem: it is
    printed, and the exit status is 1.
*/
#include "cli.h"
#include "mem.h"
#include "http_conn.h"
#include "samples.h"
#include "status.h"
#include "verify.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CLIENT_SESSIONS_MAX 1024
#define CLIENT_NAME_MAX 64
#define CLIENT_PROBLEMS_SHOWN 50     //  problems printed; the rest only counted
#define CLIENT_TRADE_QUANTITY_MAX 5

static const char *s_stock_names[] = {"apple", "tesla",  "ford", "amazon", "nvidia",
                                      "intel", "meta", "nike", "amc",    "gamestop"};
#define STOCK_NAME_COUNT (sizeof (s_stock_names) / sizeof (s_stock_names[0]))

//  Set by the SIGINT / SIGTERM handler: sessions stop trading and verify.
static volatile sig_atomic_t s_interrupted = 0;

//  The settings of a run, shared read-only by the sessions, and the
//  counters they share.
typedef struct {
    http_url_t url;
    int64_t sessions;
    double p;
    int64_t iterations;          //  per session; 0 means bounded by duration only
    double duration_s;           //  0 means bounded by iterations only
    double rate;                 //  lookups per second over all sessions; 0 = no limit
    uint64_t seed;
    int64_t timeout_ms;
    uint64_t start_us;           //  monotonic clock at the start of the run
    atomic_uint_fast64_t requests;       //  done so far, for progress
    atomic_uint_fast64_t problems_shown;
    atomic_int sessions_done;
} run_t;

//  One order a session placed and got a transaction number for.
typedef struct {
    uint64_t number;
    char name[CLIENT_NAME_MAX + 1];
    bool sell;
    int quantity;
} placed_t;

typedef struct {
    run_t *run;
    int index;
    pthread_t thread;
    uint64_t rng;
    http_conn_t *conn;
    samples_t *samples;
    placed_t *placed;
    size_t placed_count;
    size_t placed_size;
    uint64_t refused;            //  buys answered 409
    uint64_t verified;           //  orders read back and matching
    uint64_t problems;
    uint64_t end_us;             //  when the session finished
} session_t;

//  ---------------------------------------------------------------------
//  Small helpers

static uint64_t
s_now_us (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (uint64_t) now.tv_sec * 1000000 + (uint64_t) now.tv_nsec / 1000;
}

//  splitmix64: small, fast, and good enough to pick stocks.
static uint64_t
s_random (uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double
s_random_unit (uint64_t *state)
{
    return (double) (s_random (state) >> 11) / 9007199254740992.0;   //  [0, 1)
}

static void
s_problem (session_t *self, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

//  Counts a problem and prints it unless too many were printed already.
static void
s_problem (session_t *self, const char *format, ...)
{
    self->problems++;
    uint64_t shown = atomic_fetch_add (&self->run->problems_shown, 1);
    if (shown > CLIENT_PROBLEMS_SHOWN)
        return;
    if (shown == CLIENT_PROBLEMS_SHOWN) {
        fprintf (stderr, "bazaar-client: more problems, not shown\n");
        return;
    }
    char text[512];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof (text), format, args);
    va_end (args);
    fprintf (stderr, "bazaar-client: session %d: %s\n", self->index, text);
}

//  Sends one request and records it. Returns the status or -1.
static int
s_request (session_t *self, op_t op, const char *method, const char *path, const char *body,
           json_t **json)
{
    *json = NULL;
    const char *response = NULL;
    size_t size = 0;
    uint64_t start = s_now_us ();
    int status = http_conn_request (self->conn, method, path, body, &response, &size);
    uint64_t end = s_now_us ();
    atomic_fetch_add (&self->run->requests, 1);
    if (samples_add (self->samples, op, start - self->run->start_us, end - start, status))
        s_problem (self, "out of memory recording a request");
    if (status < 0) {
        s_problem (self, "%s %s: %s", method, path, http_conn_error (self->conn));
        return -1;
    }
    *json = json_loadb (response, size, 0, NULL);
    if (!*json)
        s_problem (self, "%s %s: HTTP %d with a body that is not JSON: %.200s", method, path,
                   status, response);
    return status;
}

//  Reply checks: each returns NULL if the reply is right, or why not.

static const char *
s_check_stock (json_t *json, const char *name, int64_t *quantity)
{
    json_t *data = json_object_get (json, "data");
    if (!json_is_object (data))
        return "reply has no \"data\" object";
    const char *got_name = json_string_value (json_object_get (data, "name"));
    json_t *got_quantity = json_object_get (data, "quantity");
    if (!got_name || strcmp (got_name, name) != 0)
        return "reply is for another stock";
    if (!json_is_integer (got_quantity) || json_integer_value (got_quantity) < 0)
        return "quantity is not a non-negative integer";
    if (!json_is_number (json_object_get (data, "price")))
        return "price is not a number";
    *quantity = json_integer_value (got_quantity);
    return NULL;
}

static const char *
s_check_committed (json_t *json, uint64_t *number)
{
    json_t *data = json_object_get (json, "data");
    if (!json_is_object (data))
        return "reply has no \"data\" object";
    json_t *got_number = json_object_get (data, "transaction_number");
    if (!json_is_integer (got_number) || json_integer_value (got_number) < 0)
        return "transaction_number is not a non-negative integer";
    *number = (uint64_t) json_integer_value (got_number);
    return NULL;
}

//  ---------------------------------------------------------------------
//  The three operations

//  GET /stocks/<name>. Sets *quantity, or -1 if there is none to trust
//  (problem reported). Returns 0, or -1 on a transport error.
static int
s_lookup (session_t *self, const char *name, int64_t *quantity)
{
    char path[128];
    snprintf (path, sizeof (path), "/stocks/%s", name);
    json_t *json = NULL;
    int status = s_request (self, OP_LOOKUP, "GET", path, NULL, &json);
    *quantity = -1;
    if (status == 200 && json) {
        const char *why = s_check_stock (json, name, quantity);
        if (why)
            s_problem (self, "GET %s: %s", path, why);
    }
    else
    if (status > 0)
        s_problem (self, "GET %s: unexpected HTTP %d", path, status);
    json_decref (json);
    return status < 0 ? -1 : 0;
}

static int
s_remember (session_t *self, const placed_t *order)
{
    if (self->placed_count == self->placed_size) {
        size_t size = self->placed_size ? self->placed_size * 2 : 256;
        placed_t *bigger = realloc (self->placed, size * sizeof (placed_t));
        if (!bigger)
            return -1;
        self->placed = bigger;
        self->placed_size = size;
    }
    self->placed[self->placed_count++] = *order;
    return 0;
}

//  POST /orders. Returns 0, or -1 on a transport error.
static int
s_trade (session_t *self, const char *name)
{
    placed_t order = {0};
    snprintf (order.name, sizeof (order.name), "%s", name);
    order.sell = s_random (&self->rng) & 1;
    order.quantity = 1 + (int) (s_random (&self->rng) % CLIENT_TRADE_QUANTITY_MAX);
    char body[192];
    snprintf (body, sizeof (body), "{\"name\":\"%s\",\"type\":\"%s\",\"quantity\":%d}", name,
              order.sell ? "sell" : "buy", order.quantity);
    json_t *json = NULL;
    int status = s_request (self, OP_TRADE, "POST", "/orders", body, &json);
    if (status == 200 && json) {
        const char *why = s_check_committed (json, &order.number);
        if (why)
            s_problem (self, "POST /orders %s: %s", body, why);
        else
        if (s_remember (self, &order))
            s_problem (self, "out of memory remembering an order");
    }
    else
    if (status == 409 && !order.sell)
        self->refused++;
    else
    if (status > 0)
        s_problem (self, "POST /orders %s: unexpected HTTP %d", body, status);
    json_decref (json);
    return status < 0 ? -1 : 0;
}

//  GET /orders/<n> and compare with what was placed.
static void
s_query (session_t *self, const placed_t *order)
{
    char path[64];
    snprintf (path, sizeof (path), "/orders/%llu", (unsigned long long) order->number);
    json_t *json = NULL;
    int status = s_request (self, OP_QUERY, "GET", path, NULL, &json);
    if (status == 200 && json) {
        const char *why = verify_check_order (json, order->number, order->name, order->sell,
                                              order->quantity);
        if (why) {
            char *got = json_dumps (json, JSON_COMPACT);
            s_problem (self, "GET %s: mismatch (%s): placed %s %d %s, got %s", path, why,
                       order->sell ? "sell" : "buy", order->quantity, order->name,
                       got ? got : "?");
            free (got);
        }
        else
            self->verified++;
    }
    else
    if (status > 0)
        s_problem (self, "GET %s: placed %s %d %s, got HTTP %d", path,
                   order->sell ? "sell" : "buy", order->quantity, order->name, status);
    json_decref (json);
}

//  ---------------------------------------------------------------------
//  Sessions

static bool
s_should_stop (session_t *self, int64_t iteration)
{
    const run_t *run = self->run;
    if (s_interrupted)
        return true;
    if (run->iterations && iteration >= run->iterations)
        return true;
    return run->duration_s > 0
           && (double) (s_now_us () - run->start_us) >= run->duration_s * 1e6;
}

//  Sleeps until the next lookup is due under --rate.
static void
s_pace (session_t *self, uint64_t *next_due_us)
{
    const run_t *run = self->run;
    if (run->rate <= 0)
        return;
    *next_due_us += (uint64_t) ((double) run->sessions / run->rate * 1e6);
    uint64_t now = s_now_us ();
    if (*next_due_us > now) {
        uint64_t wait = *next_due_us - now;
        struct timespec pause = {(time_t) (wait / 1000000), (long) (wait % 1000000) * 1000};
        nanosleep (&pause, NULL);
    }
}

static void *
s_session_run (void *arg)
{
    session_t *self = (session_t *) arg;
    uint64_t next_due = s_now_us ();
    for (int64_t iteration = 0; !s_should_stop (self, iteration); iteration++) {
        const char *name = s_stock_names[s_random (&self->rng) % STOCK_NAME_COUNT];
        int64_t quantity = -1;
        if (s_lookup (self, name, &quantity))
            break;   //  transport error: stop, still verify what was placed
        if (quantity > 0 && s_random_unit (&self->rng) < self->run->p && s_trade (self, name))
            break;
        s_pace (self, &next_due);
    }
    for (size_t i = 0; i < self->placed_count; i++)
        s_query (self, &self->placed[i]);
    self->end_us = s_now_us ();
    atomic_fetch_add (&self->run->sessions_done, 1);
    return NULL;
}

static int
s_compare_number (const void *a, const void *b)
{
    uint64_t x = (*(const placed_t *const *) a)->number;
    uint64_t y = (*(const placed_t *const *) b)->number;
    return x < y ? -1 : x > y;
}

//  Transaction numbers are never reused: no two placed orders share one.
static uint64_t
s_check_unique (session_t *sessions, int64_t count)
{
    size_t total = 0;
    for (int64_t i = 0; i < count; i++)
        total += sessions[i].placed_count;
    const placed_t **all = mem_alloc (total * sizeof (placed_t *));
    size_t used = 0;
    for (int64_t i = 0; i < count; i++)
        for (size_t j = 0; j < sessions[i].placed_count; j++)
            all[used++] = &sessions[i].placed[j];
    qsort (all, total, sizeof (placed_t *), s_compare_number);
    uint64_t duplicates = 0;
    for (size_t i = 1; i < total; i++)
        if (all[i]->number == all[i - 1]->number) {
            duplicates++;
            fprintf (stderr, "bazaar-client: transaction number %llu was given to two orders\n",
                     (unsigned long long) all[i]->number);
        }
    free (all);
    return duplicates;
}

//  ---------------------------------------------------------------------
//  Options and main

static const cli_option_t s_options[] = {
    {"url", "http://127.0.0.1:8080", "gateway base URL"},
    {"sessions", "5", "concurrent sessions, each with its own connection"},
    {"p", "0.5", "probability of placing an order after a lookup that found stock"},
    {"iterations", "100", "lookups per session (0: no limit; needs --duration)"},
    {"duration", "0", "stop trading after this many seconds (0: no limit); "
                      "alone it lifts the iteration limit"},
    {"rate", "0", "at most this many lookups per second over all sessions (0: no limit)"},
    {"seed", "", "random seed (default: from the clock; printed for reruns)"},
    {"csv", "", "write one row per request to FILE: op,start_us,latency_us,status"},
    {"timeout", "5000", "milliseconds to wait for any one response"},
    {NULL, NULL, NULL}
};

static int
s_get_double (cli_t *cli, const char *name, double min, double max, double *value)
{
    const char *text = cli_get (cli, name);
    char *end = NULL;
    double parsed = strtod (text, &end);
    if (!*text || *end || !isfinite (parsed) || parsed < min || parsed > max) {
        fprintf (stderr, "bazaar-client: --%s must be a number from %g to %g, not '%s'\n", name,
                 min, max, text);
        return -1;
    }
    *value = parsed;
    return 0;
}

//  Fills run from the options. Returns 0, or -1 after printing why.
static int
s_run_setup (run_t *run, cli_t *cli)
{
    int64_t seed = 0;
    if (http_url_parse (&run->url, cli_get (cli, "url"))) {
        fprintf (stderr, "bazaar-client: --url must look like http://HOST:PORT, not '%s'\n",
                 cli_get (cli, "url"));
        return -1;
    }
    if (cli_get_int (cli, "sessions", 1, CLIENT_SESSIONS_MAX, &run->sessions)
        || cli_get_int (cli, "iterations", 0, INT64_MAX, &run->iterations)
        || cli_get_int (cli, "timeout", 1, 3600 * 1000, &run->timeout_ms)
        || s_get_double (cli, "p", 0, 1, &run->p)
        || s_get_double (cli, "duration", 0, 1e9, &run->duration_s)
        || s_get_double (cli, "rate", 0, 1e9, &run->rate))
        return -1;
    if (*cli_get (cli, "seed") && cli_get_int (cli, "seed", 0, INT64_MAX, &seed))
        return -1;
    run->seed = *cli_get (cli, "seed") ? (uint64_t) seed
                                       : (s_now_us () ^ ((uint64_t) getpid () << 32)) >> 1;
    //  --duration alone means "for that long", not "for 100 iterations".
    if (run->duration_s > 0 && !cli_flag (cli, "iterations"))
        run->iterations = 0;
    if (run->iterations == 0 && run->duration_s == 0) {
        fprintf (stderr, "bazaar-client: give --iterations or --duration (or both)\n");
        return -1;
    }
    return 0;
}

static void
s_on_signal (int signum)
{
    (void) signum;
    s_interrupted = 1;
}

//  Starts the sessions with SIGINT / SIGTERM blocked, so only the main
//  thread sees them. Returns how many were started.
static int64_t
s_start_sessions (run_t *run, session_t *sessions)
{
    sigset_t block, old;
    sigemptyset (&block);
    sigaddset (&block, SIGINT);
    sigaddset (&block, SIGTERM);
    pthread_sigmask (SIG_BLOCK, &block, &old);
    int64_t started = 0;
    for (; started < run->sessions; started++) {
        session_t *session = &sessions[started];
        session->run = run;
        session->index = (int) started;
        //  splitmix64 streams are one sequence at different offsets: scatter
        //  the starting points so sessions do not replay each other.
        uint64_t mix = run->seed ^ ((uint64_t) started << 32 | (uint64_t) started);
        session->rng = s_random (&mix) ^ s_random (&mix);
        session->conn = http_conn_new (&run->url, (int) run->timeout_ms);
        session->samples = samples_new ();
        if (pthread_create (&session->thread, NULL, s_session_run, session) != 0) {
            fprintf (stderr, "bazaar-client: cannot start session %lld\n", (long long) started);
            break;
        }
    }
    pthread_sigmask (SIG_SETMASK, &old, NULL);
    return started;
}

//  Waits for the sessions, showing progress on a terminal.
static void
s_wait_sessions (run_t *run, int64_t started)
{
    bool tty = isatty (STDERR_FILENO);
    unsigned ticks = 0;
    while (atomic_load (&run->sessions_done) < started) {
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep (&pause, NULL);
        if (tty && ++ticks % 10 == 0) {
            double elapsed = (double) (s_now_us () - run->start_us) / 1e6;
            uint64_t requests = atomic_load (&run->requests);
            fprintf (stderr, "\r%llu requests, %.1f s, %.0f requests/s   ",
                     (unsigned long long) requests, elapsed,
                     elapsed > 0 ? (double) requests / elapsed : 0.0);
        }
    }
    if (tty)
        fprintf (stderr, "\r%60s\r", "");
}

//  Joins the sessions, prints the summary, writes the CSV. Returns the
//  exit status.
static int
s_finish (run_t *run, session_t *sessions, int64_t started, const char *csv)
{
    samples_t *all = samples_new ();
    uint64_t placed = 0, refused = 0, verified = 0, problems = 0;
    uint64_t end_us = run->start_us;
    for (int64_t i = 0; i < started; i++) {
        pthread_join (sessions[i].thread, NULL);
        if (sessions[i].end_us > end_us)
            end_us = sessions[i].end_us;
        placed += sessions[i].placed_count;
        refused += sessions[i].refused;
        verified += sessions[i].verified;
        problems += sessions[i].problems;
        if (all && samples_take (all, sessions[i].samples))
            samples_destroy (&all);
    }
    double elapsed = (double) (end_us - run->start_us) / 1e6;
    problems += s_check_unique (sessions, started);
    if (!all) {
        fprintf (stderr, "bazaar-client: out of memory for the summary\n");
        return 1;
    }
    samples_print_summary (all, elapsed, stdout);
    printf ("orders: %llu placed, %llu buys refused (409), %llu verified; %llu problems%s\n",
            (unsigned long long) placed, (unsigned long long) refused,
            (unsigned long long) verified, (unsigned long long) problems,
            s_interrupted ? " (interrupted)" : "");
    if (*csv && samples_write_csv (all, csv)) {
        fprintf (stderr, "bazaar-client: cannot write %s\n", csv);
        problems++;
    }
    samples_destroy (&all);
    printf ("%s\n", problems || started < run->sessions ? "FAILED" : "OK");
    return problems || started < run->sessions ? 1 : 0;
}

int
main (int argc, char **argv)
{
    if (argc > 1 && strcmp (argv[1], "verify") == 0)
        return verify_main (argc - 1, argv + 1);
    if (argc > 1 && strcmp (argv[1], "status") == 0)
        return status_main (argc - 1, argv + 1);
    int exit_code = 0;
    cli_t *cli = cli_new ("client", "Bazaar lab client and load generator: look up, trade, "
                          "then check every order placed. 'bazaar-client verify --help': "
                          "check a data directory and a live system against the invariants; "
                          "'bazaar-client status --help': ask the broker who is alive and leads.",
                          s_options, argc, argv, &exit_code);
    if (!cli)
        return exit_code;
    run_t run = {0};
    if (s_run_setup (&run, cli)) {
        cli_destroy (&cli);
        return 2;
    }
    char csv[4096];
    snprintf (csv, sizeof (csv), "%s", cli_get (cli, "csv"));
    cli_destroy (&cli);

    struct sigaction action = {0};
    action.sa_handler = s_on_signal;
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);
    signal (SIGPIPE, SIG_IGN);

    printf ("bazaar-client: %s%s%s, %lld sessions, p=%.2f, ", run.url.host,
            *run.url.port ? ":" : "", run.url.port, (long long) run.sessions, run.p);
    if (run.iterations)
        printf ("%lld iterations", (long long) run.iterations);
    if (run.iterations && run.duration_s > 0)
        printf (" or ");
    if (run.duration_s > 0)
        printf ("%.1f s", run.duration_s);
    printf (", seed %llu\n", (unsigned long long) run.seed);
    fflush (stdout);

    session_t *sessions = mem_calloc ((size_t) run.sessions, sizeof (session_t));
    run.start_us = s_now_us ();
    int64_t started = s_start_sessions (&run, sessions);
    s_wait_sessions (&run, started);
    int rc = s_finish (&run, sessions, started, csv);
    for (int64_t i = 0; i < run.sessions; i++) {
        http_conn_destroy (&sessions[i].conn);
        samples_destroy (&sessions[i].samples);
        free (sessions[i].placed);
    }
    free (sessions);
    return rc;
}
