/*  cli.c - options from defaults, a zconfig file and the command line. */
#include "cli.h"
#include "mem.h"
#include "log.h"

#include <ctype.h>
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPTIONS_MAX 32

struct _cli_t {
    const char *program;
    //  The program's options, then verbose and quiet: flags a config file
    //  may set too (on the command line they are -v and -q).
    cli_option_t options[OPTIONS_MAX];
    char *values[OPTIONS_MAX];   //  owned; NULL means "use the default"
    bool given[OPTIONS_MAX];     //  set on the command line or in a config file
    size_t count;                //  options, verbose and quiet included
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
    self->values[index] = value ? mem_strdup (value) : NULL;
    self->given[index] = true;
}

//  ---------------------------------------------------------------------
//  Config files, held to the same rule as flags: what is not understood
//  is refused with the file, the line and the key. zconfig reads the
//  values but cannot say on which line a name sits, and takes a NUL byte
//  for the end of the file; s_scan reads the lines itself for that.

#define CONFIG_PATH_MAX 256

//  The sections a shared config file may hold: one per program (the
//  client's subcommands by their last word: "client verify" reads "verify").
static const char *s_sections[] = {"broker", "catalog", "order", "gateway",
                                   "tap",    "client",  "verify", "status", NULL};

typedef struct {
    size_t line;                  //  1-based
    char path[CONFIG_PATH_MAX];   //  "gateway/port", however the file wrote it
} s_entry_t;

typedef struct {
    const char *file;
    s_entry_t *entries;           //  one per name line, in file order
    size_t count;
    size_t error_line;            //  where the first problem is, 0 if none
    char error[160];
} s_config_t;

static bool
s_name_char (char c)
{
    return isalnum ((unsigned char) c) || (c && strchr ("$-_@.&+/", c));
}

//  Checks one line as ZPL (rfc.zeromq.org/spec:4, as zconfig reads it) and
//  returns the length of its name, 0 for a blank or comment line, or -1
//  with config->error set.
static int
s_scan_line (s_config_t *config, const char *text, size_t length, size_t indent)
{
    if (indent == length || text[indent] == '#')
        return 0;
    const char *name = text + indent, *end = text + length;
    if (indent % 4) {
        snprintf (config->error, sizeof (config->error),
                  "indented by %zu spaces (ZPL indents by 4)", indent);
        return -1;
    }
    const char *cursor = name;
    while (cursor < end && s_name_char (*cursor))
        cursor++;
    int name_length = (int) (cursor - name);
    if (name_length == 0 || *name == '/' || cursor[-1] == '/') {
        snprintf (config->error, sizeof (config->error), "not a name: '%.*s'",
                  (int) (end - name > 40 ? 40 : end - name), name);
        return -1;
    }
    while (cursor < end && (*cursor == ' ' || *cursor == '\t'))
        cursor++;
    if (cursor == end || *cursor == '#')
        return name_length;
    if (*cursor != '=') {
        snprintf (config->error, sizeof (config->error), "expected '=' after '%.*s'",
                  name_length, name);
        return -1;
    }
    for (cursor++; cursor < end && (*cursor == ' ' || *cursor == '\t'); cursor++)
        ;
    if (cursor < end && (*cursor == '"' || *cursor == '\'')) {
        const char *close = memchr (cursor + 1, *cursor, (size_t) (end - cursor - 1));
        if (!close) {
            snprintf (config->error, sizeof (config->error), "no closing %c for '%.*s'",
                      *cursor, name_length, name);
            return -1;
        }
        for (cursor = close + 1; cursor < end && (*cursor == ' ' || *cursor == '\t'); cursor++)
            ;
        if (cursor < end && *cursor != '#') {
            snprintf (config->error, sizeof (config->error),
                      "text after the quoted value of '%.*s'", name_length, name);
            return -1;
        }
    }
    return name_length;
}

//  Reads the file's lines into config->entries. Returns 0, or -1 with
//  config->error (and error_line if the problem has one) set.
static int
s_scan (s_config_t *config)
{
    FILE *file = fopen (config->file, "r");
    if (!file) {
        snprintf (config->error, sizeof (config->error), "cannot read it: %s", strerror (errno));
        return -1;
    }
    char names[8][CONFIG_PATH_MAX] = {{0}};     //  the name at each depth
    size_t depth = 0, capacity = 0;
    char *text = NULL;
    size_t text_size = 0;
    ssize_t length;
    int rc = 0;
    for (size_t line = 1; rc == 0 && (length = getline (&text, &text_size, file)) >= 0; line++) {
        config->error_line = line;
        while (length > 0 && (text[length - 1] == '\n' || text[length - 1] == '\r'))
            length--;
        for (ssize_t i = 0; i < length && rc == 0; i++)
            if (((unsigned char) text[i] < ' ' && text[i] != '\t') || text[i] == 0x7f) {
                snprintf (config->error, sizeof (config->error),
                          "not a text file (byte 0x%02x)", (unsigned char) text[i]);
                rc = -1;
            }
        size_t indent = strspn (text, " ");
        int name_length = rc ? -1 : s_scan_line (config, text, (size_t) length, indent);
        if (name_length <= 0) {
            rc = name_length < 0 ? -1 : 0;
            continue;
        }
        size_t level = indent / 4;
        if ((config->count && level > depth + 1) || (!config->count && level) || level >= 8) {
            snprintf (config->error, sizeof (config->error),
                      "indented deeper than one level below the line before");
            rc = -1;
            continue;
        }
        depth = level;
        snprintf (names[depth], sizeof (names[depth]), "%s%s%.*s", depth ? names[depth - 1] : "",
                  depth ? "/" : "", name_length, text + indent);
        if (config->count == capacity) {
            capacity = capacity ? capacity * 2 : 16;
            config->entries = mem_realloc (config->entries, capacity * sizeof (s_entry_t));
        }
        s_entry_t *entry = &config->entries[config->count++];
        entry->line = line;
        snprintf (entry->path, sizeof (entry->path), "%s", names[depth]);
    }
    free (text);
    fclose (file);
    if (rc == 0)
        config->error_line = 0;
    return rc;
}

static bool
s_is_section (const char *name, size_t length)
{
    for (const char **section = s_sections; *section; section++)
        if (strlen (*section) == length && memcmp (*section, name, length) == 0)
            return true;
    return false;
}

//  The program's own section: its name, or its last word.
static const char *
s_own_section (cli_t *self)
{
    const char *space = strrchr (self->program, ' ');
    return space ? space + 1 : self->program;
}

//  What an entry of the file is to this program: an option at the top level
//  (1), one in its own section (2), something for another program or a
//  section header (0), or a mistake (-1, with config->error set).
static int
s_classify (cli_t *self, s_config_t *config, const char *path, bool has_children, int *index)
{
    const char *slash = strchr (path, '/');
    size_t head = slash ? (size_t) (slash - path) : strlen (path);
    const char *own = s_own_section (self);
    *index = s_index (self, slash ? slash + 1 : path);
    if (!slash && has_children && !s_is_section (path, head))
        snprintf (config->error, sizeof (config->error),
                  "unknown section '%s' (a section is a program: broker, catalog, order, "
                  "gateway, tap, client, verify, status)",
                  path);
    else if (!slash && has_children)
        return 0;
    else if (!slash && *index >= 0)
        return 1;
    else if (!slash && s_is_section (path, head))
        return 0;           //  an empty section
    else if (!slash)
        snprintf (config->error, sizeof (config->error),
                  "unknown option '%s' (bazaar-%s has no --%s; see --help)", path, self->program,
                  path);
    else if (!s_is_section (path, head))
        snprintf (config->error, sizeof (config->error),
                  "unknown section '%.*s' in '%s' (a section is a program: broker, catalog, "
                  "order, gateway, tap, client, verify, status)",
                  (int) head, path, path);
    else if (strlen (own) != head || memcmp (own, path, head) != 0)
        return 0;           //  another program's: it checks its own section
    else if (has_children || strchr (slash + 1, '/'))
        snprintf (config->error, sizeof (config->error),
                  "'%s' is not an option: options sit at the top level or directly in the "
                  "program's section",
                  path);
    else if (*index < 0)
        snprintf (config->error, sizeof (config->error),
                  "unknown option '%s' in section '%s' (bazaar-%s has no --%s; see --help)",
                  slash + 1, own, self->program, slash + 1);
    else
        return 2;
    return -1;
}

static size_t
s_line_of (s_config_t *config, const char *path)
{
    for (size_t i = 0; i < config->count; i++)
        if (streq (config->entries[i].path, path))
            return config->entries[i].line;
    return 0;
}

//  Sets an option from the file; a flag takes no value, 1/true/yes or
//  0/false/no. Returns 0, or -1 with config->error set.
static int
s_apply (cli_t *self, s_config_t *config, int index, const char *value)
{
    if (self->options[index].value) {
        s_set (self, index, value ? value : "");
        return 0;
    }
    if (!value || !*value || streq (value, "1") || streq (value, "true") || streq (value, "yes"))
        s_set (self, index, NULL);
    else if (!streq (value, "0") && !streq (value, "false") && !streq (value, "no")) {
        snprintf (config->error, sizeof (config->error),
                  "option '%s' is a flag: give it no value, 1 or 0, not '%s'",
                  self->options[index].name, value);
        return -1;
    }
    return 0;
}

//  Walks the top level and one level down, in file order; applies the
//  entries of the given kind (1: top level, 2: own section). Returns 0,
//  or -1 with config->error and error_line set.
static int
s_walk (cli_t *self, s_config_t *config, zconfig_t *root, int kind)
{
    for (zconfig_t *top = zconfig_child (root); top; top = zconfig_next (top))
        for (zconfig_t *node = top; node;
             node = node == top ? zconfig_child (top) : zconfig_next (node)) {
            char path[CONFIG_PATH_MAX * 2];
            snprintf (path, sizeof (path), "%s%s%s", node == top ? "" : zconfig_name (top),
                      node == top ? "" : "/", zconfig_name (node));
            int index;
            int use = s_classify (self, config, path, zconfig_child (node) != NULL, &index);
            if (use == kind && s_apply (self, config, index, zconfig_value (node)) == 0)
                continue;
            if (use < 0 || use == kind) {
                config->error_line = s_line_of (config, path);
                return -1;
            }
        }
    return 0;
}

//  Reads the options of this program from the top level and its section
//  (which overrides the top level). Returns 0, or -1 after printing why.
static int
s_load_config (cli_t *self, const char *path)
{
    s_config_t config = {.file = path};
    zconfig_t *root = NULL;
    int rc = s_scan (&config);
    if (rc == 0) {
        root = zconfig_load (path);
        if (!root)
            snprintf (config.error, sizeof (config.error), "not a ZPL file");
    }
    if (!root || s_walk (self, &config, root, 1) || s_walk (self, &config, root, 2)) {
        char where[32] = "";
        if (config.error_line)
            snprintf (where, sizeof (where), " line %zu", config.error_line);
        fprintf (stderr, "bazaar-%s: config file %s%s: %s\n", self->program, path, where,
                 config.error);
        rc = -1;
    }
    zconfig_destroy (&root);
    free (config.entries);
    return rc;
}

cli_t *
cli_new (const char *program, const char *summary, const cli_option_t *options,
         int argc, char **argv, int *exit_code)
{
    cli_t *self = mem_calloc (1, sizeof (cli_t));
    self->program = program;
    size_t own = 0;
    for (; options[own].name; own++) {
        assert (own < OPTIONS_MAX - 7);
        self->options[own] = options[own];
    }
    self->options[own] = (cli_option_t) {"verbose", NULL, "log debug messages"};
    self->options[own + 1] = (cli_option_t) {"quiet", NULL, "log errors only"};
    self->count = own + 2;

    struct option longopts[OPTIONS_MAX + 1] = {{0}};
    for (size_t i = 0; i < own; i++)
        longopts[i] = (struct option) {options[i].name,
                                       options[i].value ? required_argument : no_argument, NULL,
                                       (int) (1000 + i)};
    size_t n = own;
    longopts[n++] = (struct option) {"help", no_argument, NULL, 'h'};
    longopts[n++] = (struct option) {"version", no_argument, NULL, 'V'};
    longopts[n++] = (struct option) {"verbose", no_argument, NULL, 'v'};
    longopts[n++] = (struct option) {"quiet", no_argument, NULL, 'q'};
    longopts[n++] = (struct option) {"config", required_argument, NULL, 'c'};

    //  Two passes: the config file first, so flags override it.
    log_level_t level = LOG_LEVEL_INFO;
    bool level_given = false;
    const char *config = NULL;
    //  getopt names the program by args[0] in its messages: ours, not the
    //  path it was started by. (It may also reorder args: a copy.)
    char name[64];
    snprintf (name, sizeof (name), "bazaar-%s", program);
    char **args = mem_calloc ((size_t) argc + 1, sizeof (char *));
    memcpy (args, argv, (size_t) argc * sizeof (char *));
    args[0] = name;
    *exit_code = 2;
    opterr = 1;
    optind = 0;        //  0, not 1: glibc then also forgets a half-read "-hv"
    int opt;
    while ((opt = getopt_long (argc, args, "hvqc:", longopts, NULL)) != -1) {
        if (opt == '?') {
            fprintf (stderr, "%s: try --help\n", args[0]);
            goto failed;
        }
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
        if (opt == 'v' || opt == 'q') {
            level = opt == 'v' ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR;
            level_given = true;
        }
        if (opt == 'c')
            config = optarg;
    }
    if (optind < argc) {
        fprintf (stderr, "bazaar-%s: unexpected argument '%s' (try --help)\n", program,
                 args[optind]);
        goto failed;
    }
    if (config && s_load_config (self, config))
        goto failed;
    if (!level_given && cli_flag (self, "verbose"))
        level = LOG_LEVEL_DEBUG;
    else if (!level_given && cli_flag (self, "quiet"))
        level = LOG_LEVEL_ERROR;
    optind = 0;        //  0, not 1: glibc then also forgets a half-read "-hv"
    opterr = 0;
    while ((opt = getopt_long (argc, args, "hvqc:", longopts, NULL)) != -1)
        if (opt >= 1000)
            s_set (self, opt - 1000, optarg);
    log_setup (program, level);
    *exit_code = 0;
    free (args);
    return self;

failed:
    free (args);
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
    return self->given[index];
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
