/*  routes.c - the HTTP API (SPEC section 2): routing, validation, and the
    translation between HTTP and bus messages.

    A request is either answered at once (errors found locally, cache
    hits, /metrics) or turns into one bus call. The call's state lives in
    the request's pool with a dispose callback, so a client that goes away
    first cancels the call and a late reply finds nothing to write to.
*/
#include "routes.h"
#include "api.h"
#include "dashboard.h"
#include "http.h"
#include "log.h"
#include "status.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  One HTTP request waiting for its bus reply.
typedef struct {
    bus_call_t call;            //  first, so a bus_call_t * is an s_pending_t *
    gateway_t *gateway;
    h2o_req_t *req;
    route_t route;
    uint64_t started_ns;
    uint64_t generation;        //  cache generation when a LOOKUP was sent
} s_pending_t;

//  ---------------------------------------------------------------------
//  Answers, each counted in the metrics

static void
s_count (gateway_t *gateway, route_t route, int status, uint64_t started_ns)
{
    metrics_observe (gateway->metrics, route, status, metrics_now_ns () - started_ns);
}

static void
s_answer (gateway_t *gateway, h2o_req_t *req, route_t route, uint64_t started_ns,
          const char *body, size_t size)
{
    http_send (req, 200, HTTP_JSON, body, size);
    s_count (gateway, route, 200, started_ns);
}

//  Answers the error code (its status and text in MSG_ERROR_TABLE); allow
//  is the Allow header of a 405, else NULL.
static void
s_answer_refused (gateway_t *gateway, h2o_req_t *req, route_t route, uint64_t started_ns,
                  msg_error_t code, const char *allow)
{
    int status = msg_error_http (code);
    http_send_error (req, status, msg_error_text (code), allow);
    s_count (gateway, route, status, started_ns);
}

static void
s_answer_error (gateway_t *gateway, h2o_req_t *req, route_t route, uint64_t started_ns,
                msg_error_t code)
{
    s_answer_refused (gateway, req, route, started_ns, code, NULL);
}

//  Answers the error code with its text followed by ": detail".
static void
s_answer_error_detail (gateway_t *gateway, h2o_req_t *req, route_t route, uint64_t started_ns,
                       msg_error_t code, const char *detail)
{
    char text[160];
    snprintf (text, sizeof (text), "%s: %s", msg_error_text (code), detail);
    int status = msg_error_http (code);
    http_send_error (req, status, text, NULL);
    s_count (gateway, route, status, started_ns);
}

//  Answers json as the whole body (stealing it; NULL answers 500).
static void
s_answer_json (s_pending_t *pending, json_t *json)
{
    h2o_iovec_t body = json ? http_encode (pending->req, json) : h2o_iovec_init (NULL, 0);
    json_decref (json);
    if (body.len == 0) {
        s_answer_error (pending->gateway, pending->req, pending->route, pending->started_ns,
                        MSG_ERR_INTERNAL);
        return;
    }
    s_answer (pending->gateway, pending->req, pending->route, pending->started_ns,
              body.base, body.len);
}

//  Answers {"data": data} (stealing data).
static void
s_answer_data (s_pending_t *pending, json_t *data)
{
    s_answer_json (pending, json_pack ("{s:o}", "data", data));
}

//  ---------------------------------------------------------------------
//  Bus calls

static void
s_pending_dispose (void *data)
{
    s_pending_t *pending = data;
    bus_cancel (&pending->call);
}

static s_pending_t *
s_pending_new (gateway_t *gateway, h2o_req_t *req, route_t route, uint64_t started_ns,
               msg_type_t type, bus_reply_fn on_reply)
{
    s_pending_t *pending = h2o_mem_alloc_shared (&req->pool, sizeof (s_pending_t),
                                                 s_pending_dispose);
    bus_call_init (&pending->call, type, on_reply);
    pending->gateway = gateway;
    pending->req = req;
    pending->route = route;
    pending->started_ns = started_ns;
    return pending;
}

//  Sends the call (see bus.h for retry); if it cannot be sent, answers
//  503 at once.
static void
s_pending_send (s_pending_t *pending, bool retry)
{
    gateway_t *gateway = pending->gateway;
    pending->call.retry = retry;
    if (bus_send (gateway->bus, &pending->call))
        s_answer_error (gateway, pending->req, pending->route, pending->started_ns,
                        MSG_ERR_UNAVAILABLE);
}

//  SPEC 2: 503 says a trade certainly did not happen, 504 that it may
//  have. A trade of which an attempt came back 504 (bus.h, uncertain)
//  may still commit, whatever a later retry heard; a read is never
//  "outcome unknown".
static msg_error_t
s_truthful (const s_pending_t *pending, msg_error_t code)
{
    bool trade = pending->call.request.type == MSG_TRADE;
    bool refused = code == MSG_ERR_UNAVAILABLE || code == MSG_ERR_STALE_EPOCH
                || code == MSG_ERR_REFUSED || code == MSG_ERR_OUTCOME_UNKNOWN;
    if (trade && refused && pending->call.uncertain)
        return MSG_ERR_OUTCOME_UNKNOWN;
    if (!trade && code == MSG_ERR_OUTCOME_UNKNOWN)
        return MSG_ERR_UNAVAILABLE;
    return code;
}

//  Handles a missing, error or unexpected reply. Returns true if it
//  answered, false if reply is of the expected type.
static bool
s_answered_failure (s_pending_t *pending, const msg_t *reply, msg_type_t expected)
{
    msg_error_t code;
    if (!reply)
        code = MSG_ERR_UNAVAILABLE;
    else
    if (reply->type == MSG_ERROR)
        code = reply->code == MSG_ERR_OK ? MSG_ERR_INTERNAL : (msg_error_t) reply->code;
    else
    if (reply->type != expected) {
        log_warn ("got %s in reply to %s", msg_type_name (reply->type),
                  msg_type_name (pending->call.request.type));
        code = MSG_ERR_INTERNAL;
    }
    else
        return false;
    s_answer_error (pending->gateway, pending->req, pending->route, pending->started_ns,
                    s_truthful (pending, code));
    return true;
}

static json_t *
s_stock_json (const char *name, double price, uint64_t quantity)
{
    return json_pack ("{s:s,s:f,s:I}", "name", name, "price", price, "quantity",
                      (json_int_t) quantity);
}

//  ---------------------------------------------------------------------
//  GET /stocks/<name>

static void
s_on_stock (bus_call_t *call, const msg_t *reply)
{
    s_pending_t *pending = (s_pending_t *) call;
    if (s_answered_failure (pending, reply, MSG_STOCK))
        return;
    json_t *json = json_pack ("{s:o}", "data",
                              s_stock_json (reply->name, reply->price, reply->stock_qty));
    h2o_iovec_t body = json ? http_encode (pending->req, json) : h2o_iovec_init (NULL, 0);
    json_decref (json);
    if (body.len == 0) {
        s_answer_error (pending->gateway, pending->req, pending->route, pending->started_ns,
                        MSG_ERR_INTERNAL);
        return;
    }
    cache_put (pending->gateway->cache, call->request.name, body.base, body.len,
               reply->version, pending->generation);
    s_answer (pending->gateway, pending->req, pending->route, pending->started_ns, body.base,
              body.len);
}

static void
s_lookup (gateway_t *gateway, h2o_req_t *req, uint64_t started_ns, h2o_iovec_t name)
{
    char key[MSG_NAME_MAX + 1];
    msg_error_t code = api_stock_name (name, key);
    if (code != MSG_ERR_OK) {
        s_answer_error (gateway, req, ROUTE_STOCK, started_ns, code);
        return;
    }
    size_t size;
    const char *body = cache_get (gateway->cache, key, &size);
    if (body) {
        s_answer (gateway, req, ROUTE_STOCK, started_ns, body, size);
        return;
    }
    s_pending_t *pending = s_pending_new (gateway, req, ROUTE_STOCK, started_ns, MSG_LOOKUP,
                                          s_on_stock);
    memcpy (pending->call.request.name, key, strlen (key) + 1);
    pending->call.request.read_position = gateway->acked_position;
    pending->generation = cache_generation (gateway->cache);
    s_pending_send (pending, true);
}

//  ---------------------------------------------------------------------
//  GET /stocks

//  The catalog sends the list sorted by name (PROTOCOL-NOTES): kept as is.
static void
s_on_stocks (bus_call_t *call, const msg_t *reply)
{
    s_pending_t *pending = (s_pending_t *) call;
    if (s_answered_failure (pending, reply, MSG_STOCKS))
        return;
    json_t *list = json_array ();
    for (size_t i = 0; list && i < reply->stock_count; i++) {
        const msg_stock_t *stock = &reply->stocks[i];
        json_array_append_new (list, s_stock_json (stock->name, stock->price, stock->stock_qty));
    }
    s_answer_data (pending, list);
}

static void
s_list (gateway_t *gateway, h2o_req_t *req, uint64_t started_ns)
{
    s_pending_t *pending = s_pending_new (gateway, req, ROUTE_STOCKS, started_ns, MSG_LIST,
                                          s_on_stocks);
    pending->call.request.read_position = gateway->acked_position;
    s_pending_send (pending, true);
}

//  ---------------------------------------------------------------------
//  POST /orders

static void
s_on_committed (bus_call_t *call, const msg_t *reply)
{
    s_pending_t *pending = (s_pending_t *) call;
    if (s_answered_failure (pending, reply, MSG_COMMITTED))
        return;
    //  Before answering, so this client's next lookup sees its trade: no
    //  cached copy older than it stays, and every lookup from now on asks
    //  a catalog that has applied it (read-your-writes, msgs.h).
    cache_invalidate (pending->gateway->cache, reply->name, reply->version);
    if (reply->number + 1 > pending->gateway->acked_position)
        pending->gateway->acked_position = reply->number + 1;
    s_answer_data (pending, json_pack ("{s:I}", "transaction_number",
                                       (json_int_t) reply->number));
}

//  Copies the Idempotency-Key header into trade->key, or makes up a
//  unique key so the bus may retry the trade safely. Returns NULL, or why
//  the bus cannot carry the key (the detail of a MALFORMED answer).
static const char *
s_parse_key (gateway_t *gateway, h2o_req_t *req, msg_t *trade)
{
    ssize_t index = h2o_find_header_by_str (&req->headers, H2O_STRLIT ("idempotency-key"), -1);
    if (index >= 0) {
        //  Which of two would a retry mean? Neither is guessed.
        if (h2o_find_header_by_str (&req->headers, H2O_STRLIT ("idempotency-key"), index) >= 0)
            return "more than one Idempotency-Key";
        const char *bad = api_idempotency_key (req->headers.entries[index].value, trade->key);
        if (bad)
            return bad;
    }
    if (trade->key[0] == '\0')
        snprintf (trade->key, sizeof (trade->key), "gw-%016" PRIx64 "-%" PRIu64,
                  gateway->key_prefix, gateway->next_key++);
    return NULL;
}

static void
s_trade (gateway_t *gateway, h2o_req_t *req, uint64_t started_ns)
{
    if (req->entity.len > API_BODY_MAX) {
        s_answer_error (gateway, req, ROUTE_TRADE, started_ns, MSG_ERR_TOO_LARGE);
        return;
    }
    s_pending_t *pending = s_pending_new (gateway, req, ROUTE_TRADE, started_ns, MSG_TRADE,
                                          s_on_committed);
    msg_t *trade = &pending->call.request;
    msg_error_t code = api_parse_order (req->entity, trade);
    if (code != MSG_ERR_OK) {
        s_answer_error (gateway, req, ROUTE_TRADE, started_ns, code);
        return;
    }
    const char *bad_key = s_parse_key (gateway, req, trade);
    if (bad_key) {
        s_answer_error_detail (gateway, req, ROUTE_TRADE, started_ns, MSG_ERR_MALFORMED,
                               bad_key);
        return;
    }
    s_pending_send (pending, true);
}

//  ---------------------------------------------------------------------
//  GET /orders/<n>

static void
s_on_order (bus_call_t *call, const msg_t *reply)
{
    s_pending_t *pending = (s_pending_t *) call;
    if (s_answered_failure (pending, reply, MSG_ORDER))
        return;
    s_answer_data (pending,
                   json_pack ("{s:I,s:s,s:s,s:I}", "number", (json_int_t) reply->number,
                              "name", reply->name, "type",
                              reply->side == MSG_SIDE_BUY ? "buy" : "sell", "quantity",
                              (json_int_t) reply->quantity));
}

static void
s_query (gateway_t *gateway, h2o_req_t *req, uint64_t started_ns, h2o_iovec_t text)
{
    uint64_t number;
    msg_error_t code = api_order_number (text, &number);
    if (code != MSG_ERR_OK) {
        s_answer_error (gateway, req, ROUTE_ORDER, started_ns, code);
        return;
    }
    s_pending_t *pending = s_pending_new (gateway, req, ROUTE_ORDER, started_ns, MSG_QUERY,
                                          s_on_order);
    pending->call.request.number = number;
    s_pending_send (pending, true);
}

//  ---------------------------------------------------------------------
//  GET /metrics

static void
s_metrics (gateway_t *gateway, h2o_req_t *req, uint64_t started_ns)
{
    cache_stats_t stats;
    cache_stats (gateway->cache, &stats);
    size_t size = 0;
    char *text = metrics_render (gateway->metrics, &stats, &size);
    if (!text) {
        s_answer_error (gateway, req, ROUTE_METRICS, started_ns, MSG_ERR_INTERNAL);
        return;
    }
    http_send (req, 200, HTTP_PROMETHEUS, text, size);
    free (text);
    s_count (gateway, ROUTE_METRICS, 200, started_ns);
}

//  ---------------------------------------------------------------------
//  GET /status and the dashboard (GET / and /dashboard)

static void
s_on_view (bus_call_t *call, const msg_t *reply)
{
    s_pending_t *pending = (s_pending_t *) call;
    events_observe (pending->gateway->events,
                    reply && reply->type == MSG_VIEW ? reply : NULL);
    if (s_answered_failure (pending, reply, MSG_VIEW))
        return;
    //  The bus owns reply and lets us read it during the call; sorting
    //  its workers in place changes nothing the bus relies on.
    s_answer_json (pending, status_json (pending->gateway, (msg_t *) reply));
}

static void
s_status (gateway_t *gateway, h2o_req_t *req, uint64_t started_ns)
{
    s_pending_t *pending = s_pending_new (gateway, req, ROUTE_STATUS, started_ns, MSG_STATUS,
                                          s_on_view);
    s_pending_send (pending, false);
}

static void
s_dashboard (gateway_t *gateway, h2o_req_t *req, uint64_t started_ns)
{
    http_send (req, 200, HTTP_HTML, dashboard_html, dashboard_html_size);
    s_count (gateway, ROUTE_DASHBOARD, 200, started_ns);
}

//  ---------------------------------------------------------------------
//  Routing

void
routes_count_refused (gateway_t *gateway, h2o_req_t *req, int status)
{
    api_match_t match;
    api_route (req->input.method, api_target_path (req->input.path), &match);
    metrics_observe (gateway->metrics, match.route, status, 0);
}

//  RFC 9112 §3.2: a server must answer 400 to an HTTP/1.1 request without
//  Host. h2o gives such a request its default host's own name, which is
//  then the only sign that it had none (a Host naming it points elsewhere).
static bool
s_has_host (h2o_req_t *req)
{
    return req->version < 0x101
        || req->input.authority.base != req->hostconf->authority.hostport.base;
}

int
routes_handle (gateway_t *gateway, h2o_req_t *req)
{
    uint64_t started_ns = metrics_now_ns ();
    api_match_t match;
    msg_error_t code = api_route (req->input.method, api_target_path (req->input.path), &match);
    if (!s_has_host (req))
        s_answer_error_detail (gateway, req, match.route, started_ns, MSG_ERR_MALFORMED,
                               "an HTTP/1.1 request needs a Host header");
    else if (code != MSG_ERR_OK)
        s_answer_refused (gateway, req, match.route, started_ns, code, match.allow);
    else
        switch (match.route) {
            case ROUTE_STOCKS: s_list (gateway, req, started_ns); break;
            case ROUTE_STOCK: s_lookup (gateway, req, started_ns, match.rest); break;
            case ROUTE_TRADE: s_trade (gateway, req, started_ns); break;
            case ROUTE_ORDER: s_query (gateway, req, started_ns, match.rest); break;
            case ROUTE_STATUS: s_status (gateway, req, started_ns); break;
            case ROUTE_DASHBOARD: s_dashboard (gateway, req, started_ns); break;
            default: s_metrics (gateway, req, started_ns); break;
        }
    return 0;
}
