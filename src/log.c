/*  log.c - leveled logging to stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

static const char *s_name = "bazaar";
static log_level_t s_level = LOG_LEVEL_INFO;

void
log_setup (const char *name, log_level_t level)
{
    s_name = name;
    s_level = level;
}

bool
log_enabled (log_level_t level)
{
    return level <= s_level;
}

void
log_print (log_level_t level, const char *format, ...)
{
    static const char *labels[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    if (!log_enabled (level))
        return;
    struct timeval now;
    gettimeofday (&now, NULL);
    struct tm tm;
    localtime_r (&now.tv_sec, &tm);
    char stamp[32];
    strftime (stamp, sizeof (stamp), "%Y-%m-%d %H:%M:%S", &tm);

    char line[1024];
    va_list args;
    va_start (args, format);
    vsnprintf (line, sizeof (line), format, args);
    va_end (args);
    fprintf (stderr, "%s.%03ld %s %s %s\n", stamp, (long) now.tv_usec / 1000,
             s_name, labels[level], line);
}
