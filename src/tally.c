/*  tally.c - counts told to the log at most once a second. */
#include "tally.h"
#include "log.h"

#include <czmq.h>

tally_t
tally_init (const char *what)
{
    return (tally_t) {.what = what};
}

void
tally_add (tally_t *self)
{
    self->count++;
}

void
tally_log (tally_t *self, const char *verb)
{
    int64_t now = zclock_mono ();
    if (self->count == self->logged || now < self->log_at)
        return;
    log_warn ("%s %" PRIu64 " %s (%" PRIu64 " in all)", verb, self->count - self->logged,
              self->what, self->count);
    self->logged = self->count;
    self->log_at = now + TALLY_LOG_MS;
}

void
tally_log_total (tally_t *self, const char *verb)
{
    if (self->count)
        log_info ("%" PRIu64 " %s %s in all", self->count, self->what, verb);
}
