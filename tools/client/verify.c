/*  verify.c - bazaar-client verify (SPEC §4.4, §6).

    One round reads catalog.journal first and every order-N.log after:
    the catalog learns only committed trades, which a majority of the
    replicas held before, so read in that order the journal can look
    behind the logs but never ahead of all of them. Then, with --url, the
    live checks. A problem is either lag (a log or the journal behind, the
    gateway not showing the journal's state yet, a 503), which --wait
    retries until it heals or the time is up, or hard (a different trade,
    numbers not dense, a journal ahead of every log), which no waiting
    fixes: final once the round right after it finds damage too (a file
    read while its writer fills the zeros ahead of its appends can look
    damaged once). Only the last round is printed. The file checks are in
    verify_files.c, the live checks in verify_live.c; verify_int.h holds
    what the three share.
*/
#include "verify.h"
#include "mem.h"
#include "cli.h"
#include "http_conn.h"
#include "msgs.h"
#include "verify_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define VERIFY_SHOWN_MAX 10        //  problems printed per check; the rest counted
#define VERIFY_RETRY_MS 100
#define VERIFY_HARD_ROUNDS 2       //  rounds in a row that must find damage

//  ---------------------------------------------------------------------
//  The report: shared with verify_files.c and verify_live.c (verify_int.h)

static uint64_t
s_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (uint64_t) now.tv_sec * 1000 + (uint64_t) now.tv_nsec / 1000000;
}

//  Adds one line to the report. A problem is counted, and printed unless
//  a limited check printed VERIFY_SHOWN_MAX already.
void
verify_say (verify_t *self, v_kind_t kind, const char *format, ...)
{
    if (kind != V_OK) {
        self->problems++;
        self->hard += kind == V_HARD;
        if (self->limited && self->shown++ >= VERIFY_SHOWN_MAX)
            return;
    }
    va_list args;
    va_start (args, format);
    int len = vsnprintf (NULL, 0, format, args);
    va_end (args);
    size_t need = self->out_used + (size_t) len + 2;
    if (need > self->out_size) {
        self->out_size = need * 2;
        self->out = mem_realloc (self->out, self->out_size);
    }
    va_start (args, format);
    vsnprintf (self->out + self->out_used, (size_t) len + 1, format, args);
    va_end (args);
    self->out_used += (size_t) len;
    self->out[self->out_used++] = '\n';
    self->out[self->out_used] = '\0';
}

//  Starts a check that prints at most VERIFY_SHOWN_MAX problems.
void
verify_check_start (verify_t *self)
{
    self->limited = true;
    self->shown = 0;
}

//  Ends it: says how many problems were counted but not printed.
void
verify_check_done (verify_t *self, const char *check)
{
    self->limited = false;
    if (self->shown > VERIFY_SHOWN_MAX)
        verify_say (self, V_OK, "%s: %" PRIu64 " more problems not shown", check,
                    self->shown - VERIFY_SHOWN_MAX);
}


//  ---------------------------------------------------------------------
//  Rounds and main

static void
s_round_reset (verify_t *self)
{
    verify_files_free (self);
    free (self->out);
    size_t options = offsetof (verify_t, stocks);
    memset ((char *) self + options, 0, sizeof (verify_t) - options);
}

static void
s_round (verify_t *self)
{
    s_round_reset (self);
    verify_read_files (self);
    if (self->live) {
        http_conn_t *conn = http_conn_new (&self->url, (int) self->timeout_ms);
        verify_check_stocks_live (self, conn);
        verify_check_orders_live (self, conn);
        http_conn_destroy (&conn);
    }
}

static const cli_option_t s_options[] = {
    {"data", "data", "data directory holding catalog.stocks, catalog.journal, order-N.log"},
    {"url", "", "also check the live system at this gateway, e.g. http://127.0.0.1:8080 "
                "(default: files only)"},
    {"wait", "5", "seconds to keep re-checking while replicas or the gateway catch up "
                  "(0: one round)"},
    {"timeout", "5000", "milliseconds to wait for any one HTTP response"},
    {NULL, NULL, NULL}
};

//  Fills the options. Returns 0, or 2 after printing why not.
static int
s_setup (verify_t *self, cli_t *cli)
{
    const char *url = cli_get (cli, "url"), *wait = cli_get (cli, "wait");
    char *end = NULL;
    self->wait_s = strtod (wait, &end);
    if (!*wait || *end || !isfinite (self->wait_s) || self->wait_s < 0 || self->wait_s > 86400) {
        fprintf (stderr, "bazaar-client verify: --wait must be seconds from 0 to 86400, "
                 "not '%s'\n", wait);
        return 2;
    }
    if (cli_get_int (cli, "timeout", 1, 3600 * 1000, &self->timeout_ms))
        return 2;
    self->live = *url != '\0';
    if (self->live && http_url_parse (&self->url, url)) {
        fprintf (stderr, "bazaar-client verify: --url must look like http://HOST:PORT, "
                 "not '%s'\n", url);
        return 2;
    }
    snprintf (self->dir, sizeof (self->dir), "%s", cli_get (cli, "data"));
    char path[PATH_MAX + 32];
    snprintf (path, sizeof (path), "%s/catalog.stocks", self->dir);
    struct stat st;
    int rc = stat (self->dir, &st);
    if (rc || !S_ISDIR (st.st_mode)) {
        fprintf (stderr, "bazaar-client verify: cannot open data directory %s: %s\n", self->dir,
                 rc ? strerror (errno) : "not a directory");
        return 2;
    }
    if (stat (path, &st)) {
        fprintf (stderr, "bazaar-client verify: %s has no catalog files (no catalog.stocks): "
                 "not a Bazaar data directory, or no catalog ever ran there\n", self->dir);
        return 2;
    }
    return 0;
}

int
verify_main (int argc, char **argv)
{
    //  getopt names argv[0] in its messages.
    static char program[] = "bazaar-client verify";
    argv[0] = program;
    int exit_code = 0;
    cli_t *cli = cli_new ("client verify", "Check a data directory (and with --url the live "
                          "system) against the invariants: dense trade numbers, every order "
                          "log holding the trades of catalog.journal (canonical dumps: number, "
                          "name, side, quantity, key), quantities and "
                          "orders over HTTP equal to the journal.",
                          s_options, argc, argv, &exit_code);
    if (!cli)
        return exit_code;
    verify_t self;
    memset (&self, 0, sizeof (self));
    exit_code = s_setup (&self, cli);
    cli_destroy (&cli);
    if (exit_code)
        return exit_code;
    signal (SIGPIPE, SIG_IGN);

    uint64_t start = s_now_ms ();
    unsigned rounds = 0, hard_rounds = 0;
    size_t first_trades = 0;
    while (true) {
        s_round (&self);
        if (rounds++ == 0)
            first_trades = self.trade_count;
        hard_rounds = self.hard ? hard_rounds + 1 : 0;
        //  Damage must show twice in a row: a file read while its writer
        //  fills the zeros ahead of its appends can look damaged once.
        if (self.problems == 0 || hard_rounds == VERIFY_HARD_ROUNDS
            || (!self.hard && (double) (s_now_ms () - start) >= self.wait_s * 1000))
            break;
        struct timespec pause = {0, VERIFY_RETRY_MS * 1000 * 1000};
        nanosleep (&pause, NULL);
    }
    fputs (self.out ? self.out : "", stdout);
    if (rounds > 1)
        printf ("verify: checked %u times over %.1f s\n", rounds,
                (double) (s_now_ms () - start) / 1000);
    //  Lag while the journal grows is trades in flight, not damage.
    if (self.problems && !self.hard && self.trade_count != first_trades)
        printf ("verify: the system was still moving (catalog.journal went from %zu to %zu "
                "trades while re-checking): the lag above may be trades in flight; check "
                "again when it is quiet, or with a longer --wait\n",
                first_trades, self.trade_count);
    if (self.problems)
        printf ("verify: FAILED (%" PRIu64 " problem%s)\n", self.problems,
                self.problems == 1 ? "" : "s");
    else
        printf ("verify: OK\n");
    exit_code = self.problems ? 1 : 0;
    s_round_reset (&self);
    return exit_code;
}
