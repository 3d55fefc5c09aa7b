/*  log.c - leveled logging to stderr, with repeated warnings counted.

    A warning or error that repeats (the same call site, i.e. the same
    format string) prints at most LOG_BURST lines per LOG_WINDOW_MS; the
    rest of that window is counted, not printed, and told in one line
    "... N more like that in the last 1.0 s; the last: <text>" once the
    window is over (tally.c's way: a flood of junk frames costs a few
    lines a second, not one line each). The first suppression starts a
    small thread that tells those counts on time even if the process
    logs nothing else; an exit tells what is still pending.
*/
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 1024

static const char *s_name = "bazaar";
static log_level_t s_level = LOG_LEVEL_INFO;

//  A call site whose lines are being counted.
typedef struct {
    const char *format;           //  identifies the call site; NULL: free
    log_level_t level;
    int64_t window_start;         //  ms (CLOCK_MONOTONIC); 0: no window open
    unsigned printed;             //  lines printed in full in this window
    uint64_t suppressed;          //  lines counted, not printed
    char last[LOG_LINE_MAX];      //  the last of them
} s_site_t;

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static s_site_t s_sites[LOG_SITES_MAX];
static bool s_teller_started;

static int64_t
s_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void
s_write (log_level_t level, const char *text)
{
    static const char *labels[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    struct timeval now;
    gettimeofday (&now, NULL);
    struct tm tm;
    localtime_r (&now.tv_sec, &tm);
    char stamp[32];
    strftime (stamp, sizeof (stamp), "%Y-%m-%d %H:%M:%S", &tm);
    fprintf (stderr, "%s.%03ld %s %s %s\n", stamp, (long) now.tv_usec / 1000, s_name,
             labels[level], text);
}

//  Tells what a site counted and closes its window. Under s_lock.
static void
s_site_tell (s_site_t *site, int64_t now)
{
    if (site->suppressed) {
        char line[LOG_LINE_MAX + 96];
        snprintf (line, sizeof (line), "... %llu more like that in the last %.1f s; the last: %s",
                  (unsigned long long) site->suppressed,
                  (double) (now - site->window_start) / 1000.0, site->last);
        s_write (site->level, line);
    }
    site->window_start = 0;
    site->printed = 0;
    site->suppressed = 0;
}

//  Tells every count whose window is over (all of them if now is 0).
static void
s_tell_due (int64_t now)
{
    pthread_mutex_lock (&s_lock);
    for (size_t i = 0; i < LOG_SITES_MAX; i++) {
        s_site_t *site = &s_sites[i];
        if (site->suppressed && (!now || now - site->window_start >= LOG_WINDOW_MS))
            s_site_tell (site, now ? now : s_now_ms ());
    }
    pthread_mutex_unlock (&s_lock);
}

static void *
s_teller (void *args)
{
    (void) args;
    while (true) {
        usleep (LOG_WINDOW_MS * 1000 / 4);
        s_tell_due (s_now_ms ());
    }
    return NULL;
}

static void
s_tell_all_at_exit (void)
{
    s_tell_due (0);
}

//  True if the line is to be printed; otherwise counts it. Under s_lock.
static bool
s_site_admits (log_level_t level, const char *format, const char *text)
{
    s_site_t *site = NULL;
    for (size_t i = 0; i < LOG_SITES_MAX && !site; i++)
        if (s_sites[i].format == format || !s_sites[i].format)
            site = &s_sites[i];
    if (!site)
        return true;        //  more call sites than slots: print them all
    site->format = format;
    site->level = level;
    int64_t now = s_now_ms ();
    if (site->window_start && now - site->window_start >= LOG_WINDOW_MS)
        s_site_tell (site, now);
    if (!site->window_start)
        site->window_start = now;
    if (site->printed < LOG_BURST) {
        site->printed++;
        return true;
    }
    site->suppressed++;
    snprintf (site->last, sizeof (site->last), "%s", text);
    if (!s_teller_started) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init (&attr);
        pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
        s_teller_started = pthread_create (&thread, &attr, s_teller, NULL) == 0;
        pthread_attr_destroy (&attr);
    }
    return false;
}

void
log_setup (const char *name, log_level_t level)
{
    static bool at_exit;
    s_name = name;
    s_level = level;
    if (!at_exit)
        at_exit = atexit (s_tell_all_at_exit) == 0;
}

bool
log_enabled (log_level_t level)
{
    return level <= s_level;
}

void
log_print (log_level_t level, const char *format, ...)
{
    if (!log_enabled (level))
        return;
    char line[LOG_LINE_MAX];
    va_list args;
    va_start (args, format);
    vsnprintf (line, sizeof (line), format, args);
    va_end (args);
    if (level <= LOG_LEVEL_WARN) {
        pthread_mutex_lock (&s_lock);
        bool admitted = s_site_admits (level, format, line);
        pthread_mutex_unlock (&s_lock);
        if (!admitted)
            return;
    }
    s_write (level, line);
}
