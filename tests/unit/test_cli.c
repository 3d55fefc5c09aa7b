/*  test_cli.c - options from defaults, a zconfig file and the command
    line; --help, --version and bad flags; integer parsing.

    cli prints to stdout and stderr: s_parse captures both so the checks
    can read them and the test output stays clean.
*/
#include "cli.h"
#include "log.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_option_t s_options[] = {
    {"port", "8080", "HTTP port"},
    {"host", "127.0.0.1", "address to listen on"},
    {"broker", "tcp://127.0.0.1:5555", "broker endpoint"},
    {"cache-size", "8", "cache entries"},
    {"fast", NULL, "a flag without a value"},
    {NULL, NULL, NULL},
};

#define ARGS_MAX 16
#define OUTPUT_MAX 4096

typedef struct {
    int exit_code;
    char out[OUTPUT_MAX]; //  what cli printed on stdout
    char err[OUTPUT_MAX]; //  and on stderr
} s_result_t;

//  Between s_capture_start and s_capture_end, what is written to stream
//  goes to a temp file; s_capture_end copies it into text.
typedef struct {
    FILE *stream;
    int saved;
    FILE *capture;
} s_capture_t;

static void
s_capture_start (s_capture_t *capture, FILE *stream)
{
    fflush (stream);
    capture->stream = stream;
    capture->capture = tmpfile ();
    assert_non_null (capture->capture);
    capture->saved = dup (fileno (stream));
    dup2 (fileno (capture->capture), fileno (stream));
}

static void
s_capture_end (s_capture_t *capture, char *text)
{
    fflush (capture->stream);
    dup2 (capture->saved, fileno (capture->stream));
    close (capture->saved);
    rewind (capture->capture);
    size_t size = fread (text, 1, OUTPUT_MAX - 1, capture->capture);
    text[size] = '\0';
    fclose (capture->capture);
}

//  Parses the NULL-terminated args as bazaar-gateway would (started by a
//  path, as from a shell).
static cli_t *
s_parse (s_result_t *result, const char **args)
{
    char *argv[ARGS_MAX + 1] = {"./build/bin/bazaar-gateway"};
    int argc = 1;
    while (args[argc - 1]) {
        assert_true (argc < ARGS_MAX);
        argv[argc] = (char *)args[argc - 1];
        argc++;
    }
    s_capture_t out, err;
    s_capture_start (&out, stdout);
    s_capture_start (&err, stderr);
    result->exit_code = -1;
    cli_t *cli = cli_new ("gateway", "Test gateway.", s_options, argc, argv, &result->exit_code);
    s_capture_end (&err, result->err);
    s_capture_end (&out, result->out);
    return cli;
}

//  Parses args and fails unless that succeeded quietly.
static cli_t *
s_parse_ok (const char **args)
{
    s_result_t result;
    cli_t *cli = s_parse (&result, args);
    if (!cli)
        fail_msg ("cli_new failed (%d): %s", result.exit_code, result.err);
    assert_int_equal (result.exit_code, 0);
    assert_string_equal (result.err, "");
    return cli;
}

//  Parses args and fails unless cli_new refused them with exit_code.
static void
s_parse_fails (const char **args, int exit_code, s_result_t *result)
{
    cli_t *cli = s_parse (result, args);
    assert_null (cli);
    assert_int_equal (result->exit_code, exit_code);
}

//  A config file in /tmp, removed by the teardown.
static int
s_setup (void **state)
{
    char *path = strdup ("/tmp/bazaar-cli-XXXXXX");
    int fd = path ? mkstemp (path) : -1;
    if (fd < 0) {
        free (path);
        return -1;
    }
    close (fd);
    *state = path;
    return 0;
}

static int
s_teardown (void **state)
{
    unlink (*state);
    free (*state);
    return 0;
}

static void
s_write_config (const char *path, const char *text)
{
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    fputs (text, file);
    assert_int_equal (fclose (file), 0);
}

//  ---------------------------------------------------------------------
//  Values

static void
test_cli_defaults (void **state)
{
    (void)state;
    cli_t *cli = s_parse_ok ((const char *[]){NULL});
    assert_string_equal (cli_get (cli, "port"), "8080");
    assert_string_equal (cli_get (cli, "host"), "127.0.0.1");
    assert_string_equal (cli_get (cli, "broker"), "tcp://127.0.0.1:5555");
    assert_null (cli_get (cli, "fast"));
    assert_false (cli_flag (cli, "fast"));
    assert_false (cli_flag (cli, "port"));
    cli_destroy (&cli);
    assert_null (cli);
    cli_destroy (&cli);
}

static void
test_cli_flag_forms (void **state)
{
    (void)state;
    cli_t *cli = s_parse_ok ((const char *[]){"--port", "9000", "--host=10.1.2.3", "--fast",
                                              "--cache-size=0", "--broker=", NULL});
    assert_string_equal (cli_get (cli, "port"), "9000");
    assert_string_equal (cli_get (cli, "host"), "10.1.2.3");
    assert_string_equal (cli_get (cli, "cache-size"), "0");
    assert_string_equal (cli_get (cli, "broker"), "");
    assert_true (cli_flag (cli, "fast"));
    assert_true (cli_flag (cli, "port"));
    cli_destroy (&cli);

    cli = s_parse_ok ((const char *[]){"--port", "1", "--port=2", NULL});
    assert_string_equal (cli_get (cli, "port"), "2"); //  the last one wins
    cli_destroy (&cli);
}

static void
test_cli_config_file (void **state)
{
    const char *path = *state;
    s_write_config (path, "#   Bazaar test config\n"
                          "port = 7000\n"
                          "broker = \"tcp://10.0.0.9:5555\"\n"
                          "gateway\n"
                          "    host = 10.0.0.1\n"
                          "    cache-size = 16\n"
                          "    fast = 1\n"
                          "catalog\n"
                          "    port = 1111\n"
                          "    host = 10.9.9.9\n");
    cli_t *cli = s_parse_ok ((const char *[]){"-c", path, NULL});
    assert_string_equal (cli_get (cli, "port"), "7000");
    assert_string_equal (cli_get (cli, "broker"), "tcp://10.0.0.9:5555");
    assert_string_equal (cli_get (cli, "host"), "10.0.0.1");
    assert_string_equal (cli_get (cli, "cache-size"), "16");
    assert_true (cli_flag (cli, "fast"));
    cli_destroy (&cli);
}

static void
test_cli_section_overrides_top_level (void **state)
{
    const char *path = *state;
    s_write_config (path, "port = 7000\n"
                          "gateway\n"
                          "    port = 7001\n");
    cli_t *cli = s_parse_ok ((const char *[]){"--config", path, NULL});
    assert_string_equal (cli_get (cli, "port"), "7001");
    cli_destroy (&cli);
}

static void
test_cli_flags_override_config (void **state)
{
    const char *path = *state;
    s_write_config (path, "port = 7000\nhost = 10.0.0.1\n");
    cli_t *cli = s_parse_ok ((const char *[]){"--port", "9", "-c", path, NULL});
    assert_string_equal (cli_get (cli, "port"), "9");
    assert_string_equal (cli_get (cli, "host"), "10.0.0.1");
    cli_destroy (&cli);

    char config[128];
    snprintf (config, sizeof (config), "--config=%s", path);
    cli = s_parse_ok ((const char *[]){config, "--port=10", NULL});
    assert_string_equal (cli_get (cli, "port"), "10");
    cli_destroy (&cli);
}

//  README's example: "gateway/port = 8081" on one line is the same as the
//  key under a "gateway" section.
static void
test_cli_config_section_path_form (void **state)
{
    const char *path = *state;
    s_write_config (path, "gateway/port = 8081\ncatalog/data = \"/tmp/x\"\n");
    cli_t *cli = s_parse_ok ((const char *[]){"-c", path, NULL});
    assert_string_equal (cli_get (cli, "port"), "8081");
    cli_destroy (&cli);
}

//  A file that is refused: exit 2, and the message names the file, the
//  line (when there is one) and each of the words in expect.
static void
s_config_refused (const char *path, const char *text, size_t length, int line,
                  const char *expect)
{
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    assert_int_equal (fwrite (text, 1, length, file), length);
    assert_int_equal (fclose (file), 0);
    s_result_t result;
    s_parse_fails ((const char *[]){"-c", path, NULL}, 2, &result);
    char where[64];
    snprintf (where, sizeof (where), "%s line %d:", path, line);
    if (!strstr (result.err, line ? where : path) || !strstr (result.err, expect))
        fail_msg ("config %s: expected '%s' and '%s' in: %s", text, line ? where : path, expect,
                  result.err);
}

static void
test_cli_config_refuses_what_it_does_not_know (void **state)
{
    const char *path = *state;
#define REFUSED(text, line, expect) s_config_refused (path, text, sizeof (text) - 1, line, expect)
    REFUSED ("port = 1\nprot = 8081\n", 2, "'prot'");
    REFUSED ("# comment\n\ncache_size = 0\n", 3, "'cache_size'");
    REFUSED ("gatway\n    port = 8081\n", 1, "'gatway'");
    REFUSED ("gatway/port = 8081\n", 1, "'gatway'");
    REFUSED ("gateway\n    port = 1\n    cache_size = 0\n", 3, "'cache_size'");
    REFUSED ("gateway\n    port\n        deeper = 1\n", 2, "gateway/port");
    REFUSED ("gateway/port/deeper = 1\n", 1, "gateway/port/deeper");
    REFUSED ("port = 1\nfast = maybe\n", 2, "'maybe'");
    //  not ZPL at all
    REFUSED ("port 8081\n", 1, "expected '='");
    REFUSED ("gateway\n  port = 1\n", 2, "indented");
    REFUSED ("gateway\n            port = 1\n", 2, "indented");
    REFUSED ("port = \"8081\n", 1, "no closing");
    REFUSED ("port = \"8081\" junk\n", 1, "after the quoted value");
    REFUSED ("port = 1\n\x00\x01\x02garbage\xff\n", 2, "not a text file");
    REFUSED ("\x7f" "ELF\x02\x01\x01", 1, "not a text file");
    REFUSED ("*** = 1\n", 1, "not a name");
#undef REFUSED
}

//  Sections of the other programs are theirs to check; a flag takes
//  1/true/yes or 0/false/no.
static void
test_cli_config_shares_a_file (void **state)
{
    const char *path = *state;
    s_write_config (path, "port = 7000\n"
                          "broker\n"
                          "    bind = tcp://*:5555\n"
                          "    tap = \"\"\n"
                          "order\n"
                          "    id = 2\n"
                          "tap\n"
                          "gateway\n"
                          "    fast = 0\n");
    cli_t *cli = s_parse_ok ((const char *[]){"-c", path, NULL});
    assert_string_equal (cli_get (cli, "port"), "7000");
    assert_false (cli_flag (cli, "fast"));
    cli_destroy (&cli);
    s_write_config (path, "fast = yes\n");
    cli = s_parse_ok ((const char *[]){"-c", path, NULL});
    assert_true (cli_flag (cli, "fast"));
    cli_destroy (&cli);
}

static void
test_cli_verbosity (void **state)
{
    (void)state;
    cli_t *cli = s_parse_ok ((const char *[]){"-v", NULL});
    assert_true (log_enabled (LOG_LEVEL_DEBUG));
    cli_destroy (&cli);
    cli = s_parse_ok ((const char *[]){"--quiet", NULL});
    assert_true (log_enabled (LOG_LEVEL_ERROR));
    assert_false (log_enabled (LOG_LEVEL_WARN));
    cli_destroy (&cli);
    cli = s_parse_ok ((const char *[]){NULL});
    assert_true (log_enabled (LOG_LEVEL_INFO));
    assert_false (log_enabled (LOG_LEVEL_DEBUG));
    cli_destroy (&cli);
}

//  verbose and quiet in a config file, as flags; -v and -q override them.
static void
test_cli_verbosity_from_a_config_file (void **state)
{
    const char *path = *state;
    s_write_config (path, "verbose = 1\n");
    cli_t *cli = s_parse_ok ((const char *[]){"-c", path, NULL});
    assert_true (log_enabled (LOG_LEVEL_DEBUG));
    cli_destroy (&cli);
    s_write_config (path, "gateway\n    quiet = yes\n");
    cli = s_parse_ok ((const char *[]){"-c", path, NULL});
    assert_false (log_enabled (LOG_LEVEL_WARN));
    cli_destroy (&cli);
    cli = s_parse_ok ((const char *[]){"-c", path, "-v", NULL});
    assert_true (log_enabled (LOG_LEVEL_DEBUG));
    cli_destroy (&cli);
    s_write_config (path, "verbose = 0\n");
    cli = s_parse_ok ((const char *[]){"-c", path, NULL});
    assert_false (log_enabled (LOG_LEVEL_DEBUG));
    assert_true (log_enabled (LOG_LEVEL_INFO));
    cli_destroy (&cli);
}

//  ---------------------------------------------------------------------
//  Refusals, --help, --version

static void
test_cli_bad_flags (void **state)
{
    (void)state;
    s_result_t result;
    s_parse_fails ((const char *[]){"--nope", NULL}, 2, &result);
    assert_non_null (strstr (result.err, "nope"));
    //  Named as the program, not by its path, and pointing to --help.
    assert_int_equal (strncmp (result.err, "bazaar-gateway: ", 16), 0);
    assert_null (strchr (result.err, '/'));
    assert_non_null (strstr (result.err, "--help"));
    s_parse_fails ((const char *[]){"-x", NULL}, 2, &result);
    assert_string_not_equal (result.err, "");
    s_parse_fails ((const char *[]){"--port", NULL}, 2, &result);
    assert_non_null (strstr (result.err, "port"));
    s_parse_fails ((const char *[]){"--fast=1", NULL}, 2, &result);
    s_parse_fails ((const char *[]){"extra", NULL}, 2, &result);
    assert_non_null (strstr (result.err, "extra"));
    s_parse_fails ((const char *[]){"-c", NULL}, 2, &result);
    assert_string_equal (result.out, "");
}

static void
test_cli_missing_config_file (void **state)
{
    (void)state;
    s_result_t result;
    s_parse_fails ((const char *[]){"-c", "/nonexistent/bazaar.cfg", NULL}, 2, &result);
    assert_non_null (strstr (result.err, "/nonexistent/bazaar.cfg"));
}

static void
test_cli_help (void **state)
{
    (void)state;
    const char *forms[] = {"--help", "-h"};
    for (size_t i = 0; i < 2; i++) {
        s_result_t result;
        s_parse_fails ((const char *[]){"--port", "1", forms[i], NULL}, 0, &result);
        assert_non_null (strstr (result.out, "Usage: bazaar-gateway"));
        assert_non_null (strstr (result.out, "Test gateway."));
        assert_non_null (strstr (result.out, "--port VALUE"));
        assert_non_null (strstr (result.out, "(default 8080)"));
        assert_non_null (strstr (result.out, "--fast "));
        assert_non_null (strstr (result.out, "--version"));
        assert_string_equal (result.err, "");
    }
}

static void
test_cli_version (void **state)
{
    (void)state;
    s_result_t result;
    s_parse_fails ((const char *[]){"--version", NULL}, 0, &result);
    assert_string_equal (result.out, "bazaar-gateway " BAZAAR_VERSION "\n");
}

//  Each cli_new starts from fresh getopt state, even after a parse that
//  stopped in the middle of "-hv".
static void
test_cli_parses_twice (void **state)
{
    (void)state;
    s_result_t result;
    s_parse_fails ((const char *[]){"-hv", NULL}, 0, &result);
    cli_t *cli = s_parse_ok ((const char *[]){"--port", "5", NULL});
    assert_string_equal (cli_get (cli, "port"), "5");
    assert_false (log_enabled (LOG_LEVEL_DEBUG));
    cli_destroy (&cli);
}

//  ---------------------------------------------------------------------
//  cli_get_int

typedef struct {
    const char *text;
    int64_t min;
    int64_t max;
    int rc;
    int64_t value; //  when rc is 0
} s_int_case_t;

static void
test_cli_get_int (void **state)
{
    (void)state;
    const s_int_case_t cases[] = {
        {"8080", 1, 65535, 0, 8080},
        {"1", 1, 65535, 0, 1},
        {"65535", 1, 65535, 0, 65535},
        {"0", 1, 65535, -1, 0},
        {"65536", 1, 65535, -1, 0},
        {"-1", 0, 10, -1, 0},
        {"-5", -10, 10, 0, -5},
        {"12x", 0, 100, -1, 0},
        {"0x10", 0, 100, -1, 0},
        {"", 0, 100, -1, 0},
        {"1.5", 0, 100, -1, 0},
        {"9223372036854775807", 0, INT64_MAX, 0, INT64_MAX},
        {"9223372036854775808", 0, INT64_MAX, -1, 0},
        {"-9223372036854775808", INT64_MIN, 0, 0, INT64_MIN},
        {"99999999999999999999", 0, INT64_MAX, -1, 0},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        char flag[64];
        snprintf (flag, sizeof (flag), "--port=%s", cases[i].text);
        cli_t *cli = s_parse_ok ((const char *[]){flag, NULL});
        int64_t value = 4242;
        s_capture_t err;
        char text[OUTPUT_MAX];
        s_capture_start (&err, stderr);
        int rc = cli_get_int (cli, "port", cases[i].min, cases[i].max, &value);
        s_capture_end (&err, text);
        if (rc != cases[i].rc)
            fail_msg ("cli_get_int '%s': %d, expected %d", cases[i].text, rc, cases[i].rc);
        if (rc == 0) {
            assert_int_equal (value, cases[i].value);
            assert_string_equal (text, "");
        } else {
            assert_int_equal (value, 4242); //  untouched
            assert_non_null (strstr (text, "--port"));
        }
        cli_destroy (&cli);
    }
}

static void
test_cli_get_int_default (void **state)
{
    (void)state;
    cli_t *cli = s_parse_ok ((const char *[]){NULL});
    int64_t value = 0;
    assert_int_equal (cli_get_int (cli, "cache-size", 0, 1000, &value), 0);
    assert_int_equal (value, 8);
    cli_destroy (&cli);
}

//  The endpoints every program's address flags accept.
static void
test_cli_endpoint_valid (void **state)
{
    (void)state;
    const char *good[] = {"tcp://127.0.0.1:5555", "tcp://*:5555", "tcp://localhost:1",
                          "tcp://[::1]:5555", "tcp://127.0.0.1:*", "tcp://10.0.0.2:0",
                          "ipc:///tmp/bazaar.sock", "inproc://bus"};
    const char *bad[] = {"", "127.0.0.1:5555", "tcp://127.0.0.1", "tcp://127.0.0.1:",
                         "tcp://127.0.0.1:99999", "tcp://127.0.0.1:65536", "tcp://:5555",
                         "tcp://", "tcp://127.0.0.1:55x5", "udp://127.0.0.1:5555",
                         "tcp://a b:5555", "tcp://[]:5555", "ipc://", "inproc://",
                         "tcp://1:2:3", "tcp://127.0.0.1:-1"};
    for (size_t i = 0; i < sizeof (good) / sizeof (good[0]); i++)
        if (!cli_endpoint_valid (good[i]))
            fail_msg ("'%s' refused", good[i]);
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
        if (cli_endpoint_valid (bad[i]))
            fail_msg ("'%s' accepted", bad[i]);
    assert_false (cli_endpoint_valid (NULL));
}

int
test_cli_run (void)
{
#define CLI_TEST(name) cmocka_unit_test_setup_teardown (name, s_setup, s_teardown)
    const struct CMUnitTest tests[] = {
        CLI_TEST (test_cli_defaults),
        CLI_TEST (test_cli_flag_forms),
        CLI_TEST (test_cli_config_file),
        CLI_TEST (test_cli_section_overrides_top_level),
        CLI_TEST (test_cli_flags_override_config),
        CLI_TEST (test_cli_config_section_path_form),
        CLI_TEST (test_cli_config_refuses_what_it_does_not_know),
        CLI_TEST (test_cli_config_shares_a_file),
        CLI_TEST (test_cli_verbosity),
        CLI_TEST (test_cli_verbosity_from_a_config_file),
        CLI_TEST (test_cli_bad_flags),
        CLI_TEST (test_cli_missing_config_file),
        CLI_TEST (test_cli_help),
        CLI_TEST (test_cli_version),
        CLI_TEST (test_cli_parses_twice),
        CLI_TEST (test_cli_get_int),
        CLI_TEST (test_cli_get_int_default),
        cmocka_unit_test (test_cli_endpoint_valid),
    };
#undef CLI_TEST
    int failed = cmocka_run_group_tests_name ("cli", tests, NULL, NULL);
    log_setup ("unit-tests", LOG_LEVEL_INFO);
    return failed;
}
