/*  log.h - leveled logging to stderr, one line per event.

    The level and process name are process-wide settings that main fills
    in once with log_setup; everything else only calls the macros.

    Warnings and errors do not flood: one call site (one format string)
    prints at most LOG_BURST lines per LOG_WINDOW_MS; what it logs beyond
    that in the window is counted and told in one line when the window is
    over: "... N more like that in the last 1.0 s; the last: <text>".
*/
#ifndef BAZAAR_LOG_H
#define BAZAAR_LOG_H

#include <stdbool.h>

#define LOG_BURST 10           //  lines per call site and window, in full
#define LOG_WINDOW_MS 1000
#define LOG_SITES_MAX 64       //  call sites counted; any more print every line

typedef enum { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG } log_level_t;

//  Name the process in every line and set the most verbose level printed;
//  at exit, tell the counts still pending.
void log_setup (const char *name, log_level_t level);

//  True if a message at level would be printed (skip costly formatting).
bool log_enabled (log_level_t level);

//  Print one line: "2026-11-25 12:00:00.123 name LEVEL message" (a
//  warning or an error, unless its call site is over its burst: then it
//  is counted). Thread-safe.
void log_print (log_level_t level, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

#define log_error(...) log_print (LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_print (LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_print (LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) \
    do { if (log_enabled (LOG_LEVEL_DEBUG)) log_print (LOG_LEVEL_DEBUG, __VA_ARGS__); } while (0)

#endif
