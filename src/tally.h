/*  tally.h - a count of something refused or dropped, told to the log.

    A service that refuses work under load must say so without a line per
    refusal: a tally counts, and tally_log writes at most one line per
    TALLY_LOG_MS with what happened since the last line and in all.
*/
#ifndef BAZAAR_TALLY_H
#define BAZAAR_TALLY_H

#include <stdint.h>

#define TALLY_LOG_MS 1000

typedef struct {
    const char *what;        //  "requests whose deadline had passed"
    uint64_t count;
    uint64_t logged;         //  ... of which the log has told
    int64_t log_at;          //  no line before this (zclock_mono)
} tally_t;

//  A tally of what (a static string), zero so far.
tally_t tally_init (const char *what);

//  Count one more.
void tally_add (tally_t *self);

//  If anything was counted since the last line and TALLY_LOG_MS passed,
//  log "<verb> N <what> (M in all)" as a warning.
void tally_log (tally_t *self, const char *verb);

//  At exit: "M <what> <verb> in all", if any.
void tally_log_total (tally_t *self, const char *verb);

#endif
