/*  stats.h - bazaar-tap --stats: messages per second by type.

    Counts the messages the tap's filters let through, by type (and
    undecodable frames), and once a second reports each type's rate over
    that second and its total: redrawn in place on a TTY, one line per
    second otherwise, or one JSON object per second with --json.
*/
#ifndef BAZAAR_TAP_STATS_H
#define BAZAAR_TAP_STATS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct _tapstats_t tapstats_t;

//  json: JSON lines; tty: redraw in place. Returns NULL if out of memory.
tapstats_t *tapstats_new (bool json, bool tty);

void tapstats_destroy (tapstats_t **self_p);

//  tapstats_count's type of the catalog's sequence beacon (an INVALIDATE
//  of no stock), counted apart from the invalidations.
#define TAPSTATS_BEACON (-2)

//  Count one message of type (a MSG_* code), TAPSTATS_BEACON, or -1 for
//  an undecodable one.
void tapstats_count (tapstats_t *self, int type);

//  Milliseconds until the next report is due (0: now).
int64_t tapstats_due_in (tapstats_t *self);

//  If a report is due, print it and return true.
bool tapstats_report (tapstats_t *self);

#endif
