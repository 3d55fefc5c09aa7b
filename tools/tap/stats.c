/*  stats.c - messages per second by type, for bazaar-tap --stats. */
#include "stats.h"
#include "mem.h"
#include "msgs.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define TAPSTATS_TYPES 258           //  every byte-sized code, undecodable, beacons
#define TAPSTATS_UNDECODABLE 256
#define TAPSTATS_BEACONS 257
#define TAPSTATS_INTERVAL_MS 1000

struct _tapstats_t {
    bool json;
    bool tty;
    uint64_t this_second[TAPSTATS_TYPES];
    uint64_t total[TAPSTATS_TYPES];
    int64_t started_at;              //  zclock_mono () of the current second
};

tapstats_t *
tapstats_new (bool json, bool tty)
{
    tapstats_t *self = mem_calloc (1, sizeof (tapstats_t));
    self->json = json;
    self->tty = tty && !json;
    self->started_at = zclock_mono ();
    return self;
}

void
tapstats_destroy (tapstats_t **self_p)
{
    if (!*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

void
tapstats_count (tapstats_t *self, int type)
{
    size_t slot = type >= 0 && type < TAPSTATS_UNDECODABLE ? (size_t) type
                : type == TAPSTATS_BEACON ? TAPSTATS_BEACONS : TAPSTATS_UNDECODABLE;
    self->this_second[slot]++;
    self->total[slot]++;
}

int64_t
tapstats_due_in (tapstats_t *self)
{
    int64_t left = self->started_at + TAPSTATS_INTERVAL_MS - zclock_mono ();
    return left > 0 ? left : 0;
}

static const char *
s_name (size_t slot)
{
    return slot == TAPSTATS_UNDECODABLE ? "undecodable"
         : slot == TAPSTATS_BEACONS ? "BEACON" : msg_type_name ((int) slot);
}

static void
s_print_json (tapstats_t *self, double seconds)
{
    printf ("{\"interval_s\":%.3f,\"per_second\":{", seconds);
    const char *comma = "";
    for (size_t slot = 0; slot < TAPSTATS_TYPES; slot++)
        if (self->total[slot]) {
            printf ("%s\"%s\":%.1f", comma, s_name (slot), (double) self->this_second[slot] / seconds);
            comma = ",";
        }
    printf ("},\"total\":{");
    comma = "";
    for (size_t slot = 0; slot < TAPSTATS_TYPES; slot++)
        if (self->total[slot]) {
            printf ("%s\"%s\":%" PRIu64, comma, s_name (slot), self->total[slot]);
            comma = ",";
        }
    printf ("}}\n");
}

static void
s_print_text (tapstats_t *self, double seconds)
{
    if (self->tty) {
        printf ("\033[H\033[2J%-14s %10s %12s\n", "TYPE", "PER SECOND", "TOTAL");
        for (size_t slot = 0; slot < TAPSTATS_TYPES; slot++)
            if (self->total[slot])
                printf ("%-14s %10.1f %12" PRIu64 "\n", s_name (slot),
                        (double) self->this_second[slot] / seconds, self->total[slot]);
        return;
    }
    bool any = false;
    for (size_t slot = 0; slot < TAPSTATS_TYPES; slot++)
        if (self->this_second[slot]) {
            printf ("%s%s=%.1f/s", any ? " " : "", s_name (slot),
                    (double) self->this_second[slot] / seconds);
            any = true;
        }
    printf ("%s\n", any ? "" : "(quiet)");
}

bool
tapstats_report (tapstats_t *self)
{
    int64_t now = zclock_mono ();
    if (now < self->started_at + TAPSTATS_INTERVAL_MS)
        return false;
    double seconds = (double) (now - self->started_at) / 1000.0;
    if (self->json)
        s_print_json (self, seconds);
    else
        s_print_text (self, seconds);
    fflush (stdout);
    memset (self->this_second, 0, sizeof (self->this_second));
    self->started_at = now;
    return true;
}
