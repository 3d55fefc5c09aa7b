/*  status.c - GET /status: the broker's view plus the gateway's own.

    The gateway part:
      "cache": {"capacity", "entries", "names" (most recent first),
                "hits", "misses", "hit_ratio" (null before any lookup),
                "evictions", "invalidations", "flushes", "live",
                "recent_flushes": [{"at_ms", "reason", "dropped"}, ...]}
      "in_flight": bus calls waiting for a reply (not this one: it is
                   built once the broker answered),
      "connections": HTTP connections open,
      "requests_per_s", "lookups_per_s", "trades_per_s", "queries_per_s"
      over the last METRICS_RATE_WINDOW_S seconds, "rate_window_s".
    And "events": the timeline the gateway derives from the broker's
    views (events.h), oldest first.
*/
#include "status.h"
#include "view.h"

#define STATUS_NAMES_MAX 1024     //  cached names listed at most

static json_t *
s_flushes_json (cache_t *cache)
{
    cache_flush_t flushes[CACHE_FLUSHES_KEPT];
    size_t count = cache_flushes (cache, flushes);
    json_t *list = json_array ();
    for (size_t i = 0; list && i < count; i++)
        json_array_append_new (list, json_pack ("{s:I,s:s,s:I}", "at_ms",
                                                (json_int_t) flushes[i].at_ms, "reason",
                                                flushes[i].reason, "dropped",
                                                (json_int_t) flushes[i].dropped));
    return list;
}

static json_t *
s_names_json (cache_t *cache)
{
    const char *names[STATUS_NAMES_MAX];
    size_t count = cache_names (cache, names, STATUS_NAMES_MAX);
    json_t *list = json_array ();
    for (size_t i = 0; list && i < count; i++)
        json_array_append_new (list, json_string (names[i]));
    return list;
}

static json_t *
s_cache_json (cache_t *cache)
{
    cache_stats_t stats;
    cache_stats (cache, &stats);
    uint64_t lookups = stats.hits + stats.misses;
    json_t *ratio = lookups ? json_real ((double) stats.hits / (double) lookups) : json_null ();
    json_t *names = s_names_json (cache), *flushes = s_flushes_json (cache);
    if (!ratio || !names || !flushes) {
        json_decref (ratio);
        json_decref (names);
        json_decref (flushes);
        return NULL;
    }
    return json_pack ("{s:I,s:I,s:o,s:I,s:I,s:o,s:I,s:I,s:I,s:b,s:o}", "capacity",
                      (json_int_t) stats.capacity, "entries", (json_int_t) stats.entries,
                      "names", names, "hits", (json_int_t) stats.hits, "misses",
                      (json_int_t) stats.misses, "hit_ratio", ratio, "evictions",
                      (json_int_t) stats.evictions, "invalidations",
                      (json_int_t) stats.invalidations, "flushes", (json_int_t) stats.flushes,
                      "live", (int) stats.live, "recent_flushes", flushes);
}

static json_t *
s_gateway_json (gateway_t *gateway)
{
    json_t *cache = s_cache_json (gateway->cache);
    if (!cache)
        return NULL;
    metrics_t *metrics = gateway->metrics;
    return json_pack ("{s:o,s:I,s:I,s:f,s:f,s:f,s:f,s:i}", "cache", cache, "in_flight",
                      (json_int_t) bus_pending (gateway->bus), "connections",
                      (json_int_t) conns_count (gateway->conns), "requests_per_s",
                      metrics_rate (metrics, ROUTE_COUNT), "lookups_per_s",
                      metrics_rate (metrics, ROUTE_STOCK), "trades_per_s",
                      metrics_rate (metrics, ROUTE_TRADE), "queries_per_s",
                      metrics_rate (metrics, ROUTE_ORDER), "rate_window_s",
                      METRICS_RATE_WINDOW_S);
}

json_t *
status_json (gateway_t *gateway, msg_t *view)
{
    json_t *json = view_json (view);
    json_t *own = s_gateway_json (gateway);
    if (!json || !own) {
        json_decref (json);
        json_decref (own);
        return NULL;
    }
    //  json_object_set_new takes the value's reference even when it fails.
    if (json_object_set_new (json, "broker", json_string ("up"))
        || json_object_set_new (json, "gateway", own)
        || json_object_set_new (json, "events", events_json (gateway->events))) {
        json_decref (json);
        return NULL;
    }
    return json;
}
