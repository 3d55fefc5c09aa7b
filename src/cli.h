/*  cli.h - command line and config file options, the same for every binary.

    A program lists its options once (name, default, help). Values come
    from, in rising priority: the default, the config file given with
    -c FILE (ZPL, read with zconfig: a top-level key "name = value", or the
    same key under a section named after the program, written as an
    indented block or on one line as "gateway/port = 8081"), and the
    command line (--name VALUE or --name=VALUE).

    A config file is held to the same rule as flags: one file may be shared
    by every program, so
      - a section must be a program's name: broker, catalog, order,
        gateway, tap, client, verify or status (the client's subcommands
        read the section of their last word);
      - a key at the top level, or in the program's own section, must be
        one of its options (a flag takes no value, 1/true/yes or
        0/false/no), and the program's section holds keys only;
      - the other programs' sections are theirs: each checks its own.
    Anything else, or a file that is not ZPL text, is refused like a bad
    flag (exit 2) with the file, the line and the key.

    Every program also gets --help, --version, -v (debug logs), -q (errors
    only) and -c FILE.
*/
#ifndef BAZAAR_CLI_H
#define BAZAAR_CLI_H

#include <stdbool.h>
#include <stdint.h>

#define BAZAAR_VERSION "0.1.0"

typedef struct {
    const char *name;     //  long option name, without "--"
    const char *value;    //  default value; NULL for a flag without value
    const char *help;     //  one line for --help
} cli_option_t;

typedef struct _cli_t cli_t;

//  Parse argv against options (terminated by a {NULL} entry). On --help or
//  --version prints and sets *exit_code to 0; on a bad flag, value or
//  config file prints a message to stderr and sets *exit_code to 2. In
//  both cases returns NULL; the caller returns *exit_code from main.
//  On success sets up logging for program and returns the options.
cli_t *cli_new (const char *program, const char *summary, const cli_option_t *options,
                int argc, char **argv, int *exit_code);

void cli_destroy (cli_t **self_p);

//  The value of an option (never NULL for an option with a default).
const char *cli_get (cli_t *self, const char *name);

//  True if a value-less flag was given.
bool cli_flag (cli_t *self, const char *name);

//  Parse an option as an integer in [min, max]. Returns 0, or -1 after
//  printing a message naming the option.
int cli_get_int (cli_t *self, const char *name, int64_t min, int64_t max, int64_t *value);

//  True if endpoint is a ZeroMQ endpoint this project accepts:
//  tcp://HOST:PORT (HOST a name, an address, [an IPv6 address] or *;
//  PORT 0 to 65535 or *), ipc://PATH or inproc://NAME.
bool cli_endpoint_valid (const char *endpoint);

//  Read an option that is a ZeroMQ endpoint (cli_endpoint_valid), or ""
//  if allow_empty. Returns the value, or NULL after printing a message
//  that names the option, the value and the expected form.
const char *cli_get_endpoint (cli_t *self, const char *name, bool allow_empty);

//  Print the message cli_get_endpoint prints, for programs that split an
//  option's value into several endpoints themselves.
void cli_endpoint_error (const char *program, const char *name, const char *value);

//  Read --idempotency-trades (a count) and --idempotency-hours into trades
//  and age_ms (the key window, tradelog.h). Returns 0, or -1 after
//  printing a message.
int cli_get_key_window (cli_t *self, uint64_t *trades, int64_t *age_ms);

//  Read the --sync option: "data" (fdatasync every commit, *sync true) or
//  "none" (*sync false, with a loud warning). Returns 0, or -1 after
//  printing a message for any other value.
int cli_get_sync (cli_t *self, bool *sync);

#endif
