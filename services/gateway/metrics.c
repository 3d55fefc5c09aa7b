/*  metrics.c - counters and histograms, Prometheus text output. */
#include "metrics.h"
#include "mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define METRICS_STATUS_MAX 600   //  statuses 0..599 are counted one by one

//  Histogram bucket upper bounds in seconds; +Inf is implied.
static const double s_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                  0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
#define METRICS_BUCKETS (sizeof (s_bounds) / sizeof (s_bounds[0]))

typedef struct {
    uint64_t buckets[METRICS_BUCKETS + 1];  //  not cumulative; last is +Inf
    uint64_t count;
    uint64_t sum_ns;
} s_histogram_t;

//  Answered requests per route in each of the last seconds: a ring
//  indexed by monotonic second; a slot is reset when its second comes
//  round again.
#define METRICS_RATE_SLOTS (METRICS_RATE_WINDOW_S + 2)

struct _metrics_t {
    uint64_t requests[ROUTE_COUNT][METRICS_STATUS_MAX];
    s_histogram_t latency[ROUTE_COUNT];
    uint64_t per_second[METRICS_RATE_SLOTS][ROUTE_COUNT];
    uint64_t slot_second[METRICS_RATE_SLOTS];
};

static const char *s_route_names[ROUTE_COUNT] = {
    "/stocks/:name", "/stocks", "/orders", "/orders/:number", "/metrics", "/status", "/",
    "other"};

uint64_t
metrics_now_ns (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (uint64_t) now.tv_sec * 1000000000ULL + (uint64_t) now.tv_nsec;
}

metrics_t *
metrics_new (void)
{
    return mem_calloc (1, sizeof (metrics_t));
}

void
metrics_destroy (metrics_t **self_p)
{
    if (!*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

void
metrics_observe (metrics_t *self, route_t route, int status, uint64_t elapsed_ns)
{
    if (route >= ROUTE_COUNT)
        route = ROUTE_OTHER;
    if (status >= 0 && status < METRICS_STATUS_MAX)
        self->requests[route][status]++;
    uint64_t second = metrics_now_ns () / 1000000000ULL;
    size_t slot = second % METRICS_RATE_SLOTS;
    if (self->slot_second[slot] != second) {
        memset (self->per_second[slot], 0, sizeof (self->per_second[slot]));
        self->slot_second[slot] = second;
    }
    self->per_second[slot][route]++;
    s_histogram_t *histogram = &self->latency[route];
    size_t bucket = 0;
    double seconds = (double) elapsed_ns / 1e9;
    while (bucket < METRICS_BUCKETS && seconds > s_bounds[bucket])
        bucket++;
    histogram->buckets[bucket]++;
    histogram->count++;
    histogram->sum_ns += elapsed_ns;
}

static void
s_render_cache (FILE *out, const cache_stats_t *cache)
{
    fprintf (out,
             "# HELP bazaar_cache_hits_total Stock lookups answered from the cache.\n"
             "# TYPE bazaar_cache_hits_total counter\n"
             "bazaar_cache_hits_total %" PRIu64 "\n"
             "# HELP bazaar_cache_misses_total Stock lookups sent to the catalog.\n"
             "# TYPE bazaar_cache_misses_total counter\n"
             "bazaar_cache_misses_total %" PRIu64 "\n"
             "# HELP bazaar_cache_evictions_total Entries evicted to make room.\n"
             "# TYPE bazaar_cache_evictions_total counter\n"
             "bazaar_cache_evictions_total %" PRIu64 "\n"
             "# HELP bazaar_cache_invalidations_total Invalidations applied "
             "(catalog messages and own trades).\n"
             "# TYPE bazaar_cache_invalidations_total counter\n"
             "bazaar_cache_invalidations_total %" PRIu64 "\n"
             "# HELP bazaar_cache_flushes_total Whole-cache flushes (gap, restart, "
             "reconnect, silent catalog).\n"
             "# TYPE bazaar_cache_flushes_total counter\n"
             "bazaar_cache_flushes_total %" PRIu64 "\n"
             "# HELP bazaar_cache_entries Entries in the cache now.\n"
             "# TYPE bazaar_cache_entries gauge\n"
             "bazaar_cache_entries %zu\n"
             "# HELP bazaar_cache_capacity Maximum entries (--cache-size).\n"
             "# TYPE bazaar_cache_capacity gauge\n"
             "bazaar_cache_capacity %zu\n"
             "# HELP bazaar_cache_live 1 while the cache serves: connected to the "
             "catalog and heard from it within 1 s.\n"
             "# TYPE bazaar_cache_live gauge\n"
             "bazaar_cache_live %d\n",
             cache->hits, cache->misses, cache->evictions, cache->invalidations,
             cache->flushes, cache->entries, cache->capacity, cache->live ? 1 : 0);
}

double
metrics_rate (metrics_t *self, route_t route)
{
    uint64_t now = metrics_now_ns () / 1000000000ULL, total = 0;
    //  Whole seconds only: the current one is still counting.
    for (uint64_t second = now - METRICS_RATE_WINDOW_S; second < now; second++) {
        size_t slot = second % METRICS_RATE_SLOTS;
        if (self->slot_second[slot] != second)
            continue;
        for (int r = 0; r < ROUTE_COUNT; r++)
            if (route == ROUTE_COUNT || r == (int) route)
                total += self->per_second[slot][r];
    }
    return (double) total / METRICS_RATE_WINDOW_S;
}

static void
s_render_requests (FILE *out, metrics_t *self)
{
    fprintf (out, "# HELP bazaar_http_requests_total HTTP requests answered.\n"
                  "# TYPE bazaar_http_requests_total counter\n");
    for (int route = 0; route < ROUTE_COUNT; route++)
        for (int status = 0; status < METRICS_STATUS_MAX; status++)
            if (self->requests[route][status])
                fprintf (out,
                         "bazaar_http_requests_total{route=\"%s\",status=\"%d\"} %" PRIu64
                         "\n",
                         s_route_names[route], status, self->requests[route][status]);
}

static void
s_render_latency (FILE *out, metrics_t *self)
{
    const char *name = "bazaar_http_request_duration_seconds";
    fprintf (out, "# HELP %s Time to answer an HTTP request.\n# TYPE %s histogram\n", name,
             name);
    for (int route = 0; route < ROUTE_COUNT; route++) {
        const s_histogram_t *histogram = &self->latency[route];
        const char *label = s_route_names[route];
        uint64_t cumulative = 0;
        for (size_t i = 0; i < METRICS_BUCKETS; i++) {
            cumulative += histogram->buckets[i];
            fprintf (out, "%s_bucket{route=\"%s\",le=\"%g\"} %" PRIu64 "\n", name, label,
                     s_bounds[i], cumulative);
        }
        fprintf (out, "%s_bucket{route=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", name, label,
                 histogram->count);
        fprintf (out, "%s_sum{route=\"%s\"} %.9f\n", name, label,
                 (double) histogram->sum_ns / 1e9);
        fprintf (out, "%s_count{route=\"%s\"} %" PRIu64 "\n", name, label, histogram->count);
    }
}

char *
metrics_render (metrics_t *self, const cache_stats_t *cache, size_t *size)
{
    char *text = NULL;
    FILE *out = open_memstream (&text, size);
    if (!out)
        return NULL;
    s_render_cache (out, cache);
    s_render_requests (out, self);
    s_render_latency (out, self);
    if (fclose (out)) {
        free (text);
        return NULL;
    }
    return text;
}
