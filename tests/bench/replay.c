/*  replay.c - how long opening a data directory's trade files takes, and
    the memory each stored trade holds: the restart cost of issue 13,
    without the sockets around it.

        replay DIR catalog | replay DIR ID

    "catalog" opens DIR as bazaar-catalog does (store_open: catalog.stocks,
    then catalog.journal replayed into the stocks); a replica id opens
    order-ID.stocks and the stamped order-ID.log in DIR as bazaar-order
    --id ID does (store_open_config, stamped; the promise file and the
    consensus core's copy of the stamps are not counted). The catalog
    with no key window (a learner holds no keys), a replica with the
    default one. Prints one line: the time the open took (wall clock and CPU)
    and the resident memory it added, in all and per trade (one open per
    process, so memory freed by an earlier one cannot hide what this one
    takes). Exits 0, or 1 with the reason on stderr (2 for bad usage).

    A data dir of N trades comes from fill (fill.c).
*/
#include "store.h"
#include "tradelog.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t
s_now_us (clockid_t clock)
{
    struct timespec now;
    clock_gettime (clock, &now);
    return (int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

//  Resident bytes of this process (second field of /proc/self/statm).
static int64_t
s_resident (void)
{
    long pages = 0, resident = 0;
    FILE *file = fopen ("/proc/self/statm", "r");
    if (file) {
        if (fscanf (file, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose (file);
    }
    return (int64_t) resident * sysconf (_SC_PAGESIZE);
}

static void
s_report (const char *what, uint64_t trades, const int64_t started_us[2],
          int64_t resident_before)
{
    int64_t us = s_now_us (CLOCK_MONOTONIC) - started_us[0];
    int64_t cpu_us = s_now_us (CLOCK_PROCESS_CPUTIME_ID) - started_us[1];
    int64_t added = s_resident () - resident_before;
    printf ("%-8s %9" PRIu64 " trades  %7.1f ms (cpu %7.1f ms)  %7.1f MB  %6.1f bytes per trade\n",
            what, trades, (double) us / 1000.0, (double) cpu_us / 1000.0, (double) added / 1e6,
            trades ? (double) added / (double) trades : 0.0);
}

int
main (int argc, char **argv)
{
    long id = argc == 3 ? strtol (argv[2], NULL, 10) : 0;
    if (argc != 3 || (strcmp (argv[2], "catalog") && (id < 1 || id > 1000))) {
        fprintf (stderr, "usage: replay DIR catalog | replay DIR ID\n");
        return 2;
    }
    char error[PATH_MAX + 256] = "";
    int64_t resident = s_resident ();
    int64_t started[2] = {s_now_us (CLOCK_MONOTONIC), s_now_us (CLOCK_PROCESS_CPUTIME_ID)};
    if (id == 0) {
        tradelog_window_t no_keys = TRADELOG_WINDOW_NONE;   //  as bazaar-catalog
        store_t *store = store_open (argv[1], NULL, true, &no_keys, error, sizeof (error));
        if (store)
            s_report ("catalog", store_trade_count (store), started, resident);
        store_destroy (&store);
    }
    else {
        char name[32];
        snprintf (name, sizeof (name), "order-%ld", id);
        store_config_t config = {.dir = argv[1], .name = name, .log_suffix = "log",
                                 .stamped = true, .sync = true};
        store_t *store = store_open_config (&config, error, sizeof (error));
        if (store)
            s_report (name, store_trade_count (store), started, resident);
        store_destroy (&store);
    }
    if (*error) {
        fprintf (stderr, "replay: %s\n", error);
        return 1;
    }
    return 0;
}
