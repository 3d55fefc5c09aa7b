/*  cli.c - options from defaults, a zconfig file and the command line. */
#include "cli.h"
#include "log.h"

#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPTIONS_MAX 32

struct _cli_t {
    const char *program;
    const cli_option_t *options;
    char *values[OPTIONS_MAX];   //  owned; NULL means "use the default"
    bool flags[OPTIONS_MAX];
    size_t count;
};

static void
s_usage (const char *program, const char *summary, const cli_option_t *options)
{
    printf ("Usage: bazaar-%s [OPTIONS]\n%s\n\nOptions:\n", program, summary);
    for (const cli_option_t *opt = options; opt->name; opt++) {
        char left[64];
        snprintf (left, sizeof (left), "--%s%s", opt->name, opt->value ? " VALUE" : "");
        printf ("  %-26s %s", left, opt->help);
        if (opt->value && *opt->value)
            printf (" (default %s)", opt->value);
        printf ("\n");
    }
    printf ("  %-26s %s\n", "-c, --config FILE", "read options from a ZPL file (zconfig)");
    printf ("  %-26s %s\n", "-v, --verbose", "log debug messages");
    printf ("  %-26s %s\n", "-q, --quiet", "log errors only");
    printf ("  %-26s %s\n", "-h, --help", "show this help");
    printf ("  %-26s %s\n", "--version", "show the version");
}

static int
s_index (cli_t *self, const char *name)
{
    for (size_t i = 0; i < self->count; i++)
        if (streq (self->options[i].name, name))
            return (int) i;
    return -1;
}

static void
s_set (cli_t *self, int index, const char *value)
{
    free (self->values[index]);
    self->values[index] = value ? strdup (value) : NULL;
    self->flags[index] = true;
}

//  Reads known keys from the top level and from the program's section.
static int
s_load_config (cli_t *self, const char *path)
{
    zconfig_t *root = zconfig_load (path);
    if (!root) {
        fprintf (stderr, "bazaar-%s: cannot read config file %s\n", self->program, path);
        return -1;
    }
    const char *scopes[] = {"", self->program};
    for (size_t s = 0; s < 2; s++)
        for (size_t i = 0; i < self->count; i++) {
            char key[128];
            snprintf (key, sizeof (key), "%s%s%s", scopes[s], *scopes[s] ? "/" : "",
                      self->options[i].name);
            const char *value = zconfig_get (root, key, NULL);
            if (value)
                s_set (self, (int) i, value);
        }
    zconfig_destroy (&root);
    return 0;
}

cli_t *
cli_new (const char *program, const char *summary, const cli_option_t *options,
         int argc, char **argv, int *exit_code)
{
    cli_t *self = calloc (1, sizeof (cli_t));
    assert (self);
    self->program = program;
    self->options = options;
    while (options[self->count].name)
        self->count++;
    assert (self->count < OPTIONS_MAX - 5);

    struct option longopts[OPTIONS_MAX + 1] = {{0}};
    for (size_t i = 0; i < self->count; i++)
        longopts[i] = (struct option) {options[i].name,
                                       options[i].value ? required_argument : no_argument, NULL,
                                       (int) (1000 + i)};
    size_t n = self->count;
    longopts[n++] = (struct option) {"help", no_argument, NULL, 'h'};
    longopts[n++] = (struct option) {"version", no_argument, NULL, 'V'};
    longopts[n++] = (struct option) {"verbose", no_argument, NULL, 'v'};
    longopts[n++] = (struct option) {"quiet", no_argument, NULL, 'q'};
    longopts[n++] = (struct option) {"config", required_argument, NULL, 'c'};

    //  Two passes: the config file first, so flags override it.
    log_level_t level = LOG_LEVEL_INFO;
    const char *config = NULL;
    *exit_code = 2;
    opterr = 1;
    optind = 0;        //  0, not 1: glibc then also forgets a half-read "-hv"
    int opt;
    while ((opt = getopt_long (argc, argv, "hvqc:", longopts, NULL)) != -1) {
        if (opt == '?')
            goto failed;
        if (opt == 'h') {
            s_usage (program, summary, options);
            *exit_code = 0;
            goto failed;
        }
        if (opt == 'V') {
            printf ("bazaar-%s %s\n", program, BAZAAR_VERSION);
            *exit_code = 0;
            goto failed;
        }
        if (opt == 'v')
            level = LOG_LEVEL_DEBUG;
        if (opt == 'q')
            level = LOG_LEVEL_ERROR;
        if (opt == 'c')
            config = optarg;
    }
    if (optind < argc) {
        fprintf (stderr, "bazaar-%s: unexpected argument '%s' (try --help)\n", program,
                 argv[optind]);
        goto failed;
    }
    if (config && s_load_config (self, config))
        goto failed;
    optind = 0;        //  0, not 1: glibc then also forgets a half-read "-hv"
    opterr = 0;
    while ((opt = getopt_long (argc, argv, "hvqc:", longopts, NULL)) != -1)
        if (opt >= 1000)
            s_set (self, opt - 1000, optarg);
    log_setup (program, level);
    *exit_code = 0;
    return self;

failed:
    cli_destroy (&self);
    return NULL;
}

void
cli_destroy (cli_t **self_p)
{
    if (!*self_p)
        return;
    cli_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        free (self->values[i]);
    free (self);
    *self_p = NULL;
}

const char *
cli_get (cli_t *self, const char *name)
{
    int index = s_index (self, name);
    assert (index >= 0);
    return self->values[index] ? self->values[index] : self->options[index].value;
}

bool
cli_flag (cli_t *self, const char *name)
{
    int index = s_index (self, name);
    assert (index >= 0);
    return self->flags[index];
}

int
cli_get_key_window (cli_t *self, uint64_t *trades, int64_t *age_ms)
{
    int64_t count, hours;
    if (cli_get_int (self, "idempotency-trades", 0, INT64_MAX / 2, &count)
        || cli_get_int (self, "idempotency-hours", 0, 24 * 365, &hours))
        return -1;
    *trades = (uint64_t) count;
    *age_ms = hours * 3600 * 1000;
    return 0;
}

int
cli_get_sync (cli_t *self, bool *sync)
{
    const char *value = cli_get (self, "sync");
    if (!streq (value, "data") && !streq (value, "none")) {
        fprintf (stderr, "bazaar-%s: --sync must be 'data' or 'none', not '%s'\n", self->program,
                 value);
        return -1;
    }
    *sync = streq (value, "data");
    if (!*sync)
        log_warn ("--sync=none: commits are NOT durable, a crash can lose acknowledged orders");
    return 0;
}

int
cli_get_int (cli_t *self, const char *name, int64_t min, int64_t max, int64_t *value)
{
    const char *text = cli_get (self, name);
    char *end = NULL;
    errno = 0;
    long long parsed = text ? strtoll (text, &end, 10) : 0;
    if (!text || !*text || *end || errno || parsed < min || parsed > max) {
        fprintf (stderr, "bazaar-%s: --%s must be an integer from %lld to %lld, not '%s'\n",
                 self->program, name, (long long) min, (long long) max, text ? text : "");
        return -1;
    }
    *value = parsed;
    return 0;
}

//  ---------------------------------------------------------------------
//  Endpoints: refused here with a clear message, rather than by libzmq
//  with EINVAL (or not at all: it takes port 99999) deep in a constructor.

static bool
s_port_valid (const char *port)
{
    if (streq (port, "*"))
        return true;
    size_t length = strlen (port);
    if (length == 0 || length > 5 || strspn (port, "0123456789") != length)
        return false;
    return atoi (port) <= 65535;
}

bool
cli_endpoint_valid (const char *endpoint)
{
    if (!endpoint)
        return false;
    if (strncmp (endpoint, "ipc://", 6) == 0)
        return endpoint[6] != '\0';
    if (strncmp (endpoint, "inproc://", 9) == 0)
        return endpoint[9] != '\0';
    if (strncmp (endpoint, "tcp://", 6) != 0)
        return false;
    const char *host = endpoint + 6;
    const char *colon = strrchr (host, ':');
    if (!colon || colon == host || !s_port_valid (colon + 1))
        return false;
    if (*host == '[')           //  [::1]:5555
        return colon[-1] == ']' && colon - host > 2;
    for (const char *c = host; c < colon; c++)
        if (*c == ':' || *c == '/' || *c <= ' ')
            return false;
    return true;
}

void
cli_endpoint_error (const char *program, const char *name, const char *value)
{
    fprintf (stderr,
             "bazaar-%s: --%s: '%s' is not an endpoint (expected tcp://HOST:PORT, e.g. "
             "tcp://127.0.0.1:5555, or ipc://PATH or inproc://NAME)\n",
             program, name, value);
}

const char *
cli_get_endpoint (cli_t *self, const char *name, bool allow_empty)
{
    const char *value = cli_get (self, name);
    if ((allow_empty && *value == '\0') || cli_endpoint_valid (value))
        return value;
    cli_endpoint_error (self->program, name, value);
    return NULL;
}
