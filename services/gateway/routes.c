/*  routes.c - the HTTP API (SPEC section 2): routing, validation, and the
    translation between HTTP and bus messages.

    A request is either answered at once (errors found locally, cache
    hits, /metrics) or turns into one bus call. The call's state lives in
    the request's pool with a dispose callback, so a client that goes away
    first cancels the call and a late reply finds nothing to write to.
*/
#include "routes.h"
#include "dashboard.h"
#include "http.h"
#include "log.h"
#include "status.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUTES_BODY_MAX (64 * 1024)     //  larger POST bodies get 413
#define ROUTES_OVERFLOWS_MAX 16         //  numbers too big for jansson, per body

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

static void
s_answer_error (gateway_t *gateway, h2o_req_t *req, route_t route, uint64_t started_ns,
                msg_error_t code)
{
    int status = msg_error_http (code);
    http_send_error (req, status, msg_error_text (code), NULL);
    s_count (gateway, route, status, started_ns);
}

static void
s_answer_status (gateway_t *gateway, h2o_req_t *req, route_t route, uint64_t started_ns,
                 int status, const char *text, const char *allow)
{
    http_send_error (req, status, text, allow);
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
    s_answer_error (pending->gateway, pending->req, pending->route, pending->started_ns, code);
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
    if (name.len == 0 || name.len > MSG_NAME_MAX || memchr (name.base, '\0', name.len)) {
        s_answer_error (gateway, req, ROUTE_STOCK, started_ns, MSG_ERR_STOCK_NOT_FOUND);
        return;
    }
    char key[MSG_NAME_MAX + 1];
    memcpy (key, name.base, name.len);
    key[name.len] = '\0';
    size_t size;
    const char *body = cache_get (gateway->cache, key, &size);
    if (body) {
        s_answer (gateway, req, ROUTE_STOCK, started_ns, body, size);
        return;
    }
    s_pending_t *pending = s_pending_new (gateway, req, ROUTE_STOCK, started_ns, MSG_LOOKUP,
                                          s_on_stock);
    memcpy (pending->call.request.name, key, name.len + 1);
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
    //  Before answering, so this client's next lookup sees its trade.
    cache_invalidate (pending->gateway->cache, reply->name, reply->version);
    s_answer_data (pending, json_pack ("{s:I}", "transaction_number",
                                       (json_int_t) reply->number));
}

//  Reads a quantity: a JSON integer in 1..MSG_QUANTITY_MAX (1.0 is a
//  real, and refused like any real).
static bool
s_parse_quantity (const json_t *quantity, uint64_t *value)
{
    json_int_t integer = json_integer_value (quantity);
    if (!json_is_integer (quantity) || integer <= 0 || integer > (json_int_t) MSG_QUANTITY_MAX)
        return false;
    *value = (uint64_t) integer;
    return true;
}

static bool
s_parse_side (const json_t *type, uint8_t *side)
{
    const char *text = json_string_value (type);
    if (text && strcmp (text, "buy") == 0)
        *side = MSG_SIDE_BUY;
    else
    if (text && strcmp (text, "sell") == 0)
        *side = MSG_SIDE_SELL;
    else
        return false;
    return true;
}

//  Blanks out the number jansson could not represent (error says where it
//  ends) with null and spaces. Returns false if it is not found there.
static bool
s_blank_number (char *text, size_t size, const json_error_t *error)
{
    if (error->position <= 0 || (size_t) error->position > size)
        return false;
    size_t end = (size_t) error->position, start = end;
    while (start > 0 && strchr ("0123456789+-.eE", text[start - 1]) && text[start - 1])
        start--;
    //  Overflowing numbers are at least 5 characters (1e400), null is 4.
    if (end - start < 4 || !(text[start] == '-' || (text[start] >= '0' && text[start] <= '9')))
        return false;
    memcpy (text + start, "null", 4);
    memset (text + start + 4, ' ', end - start - 4);
    return true;
}

//  Parses body. jansson refuses a whole document for one number it cannot
//  hold (an integer beyond 64 bits, a real beyond double): such numbers
//  read as null instead, so the field they are in is judged by the usual
//  rules (a huge quantity is an invalid quantity, a huge extra field is
//  ignored). Returns NULL if body is not JSON.
static json_t *
s_load_json (h2o_iovec_t body)
{
    json_error_t error;
    json_t *root = json_loadb (body.base, body.len, 0, &error);
    if (root || json_error_code (&error) != json_error_numeric_overflow)
        return root;
    char *text = malloc (body.len ? body.len : 1);
    if (!text)
        return NULL;
    memcpy (text, body.base, body.len);
    for (int tries = 0; !root && tries < ROUTES_OVERFLOWS_MAX; tries++) {
        if (json_error_code (&error) != json_error_numeric_overflow
            || !s_blank_number (text, body.len, &error))
            break;
        root = json_loadb (text, body.len, 0, &error);
    }
    free (text);
    return root;
}

//  Reads name, type and quantity from a JSON body into trade, in the
//  order SPEC section 2 checks them. Returns MSG_ERR_OK or the error.
static msg_error_t
s_parse_order (h2o_iovec_t body, msg_t *trade)
{
    json_t *root = s_load_json (body);
    json_t *name = json_object_get (root, "name");
    msg_error_t code = MSG_ERR_OK;
    if (!json_is_object (root) || !json_is_string (name))
        code = MSG_ERR_MALFORMED;
    else
    if (!s_parse_side (json_object_get (root, "type"), &trade->side))
        code = MSG_ERR_INVALID_TYPE;
    else
    if (!s_parse_quantity (json_object_get (root, "quantity"), &trade->quantity))
        code = MSG_ERR_INVALID_QUANTITY;
    else
    if (json_string_length (name) > MSG_NAME_MAX)
        code = MSG_ERR_STOCK_NOT_FOUND;
    else
        memcpy (trade->name, json_string_value (name), json_string_length (name) + 1);
    json_decref (root);
    return code;
}

//  Copies the Idempotency-Key header into trade->key, or makes up a
//  unique key so the bus may retry the trade safely. Returns MSG_ERR_OK
//  or MSG_ERR_MALFORMED for a key over MSG_KEY_MAX.
static msg_error_t
s_parse_key (gateway_t *gateway, h2o_req_t *req, msg_t *trade)
{
    ssize_t index = h2o_find_header_by_str (&req->headers, H2O_STRLIT ("idempotency-key"), -1);
    if (index >= 0) {
        h2o_iovec_t key = req->headers.entries[index].value;
        if (key.len > MSG_KEY_MAX || memchr (key.base, '\0', key.len))
            return MSG_ERR_MALFORMED;
        memcpy (trade->key, key.base, key.len);
        trade->key[key.len] = '\0';
    }
    if (trade->key[0] == '\0')
        snprintf (trade->key, sizeof (trade->key), "gw-%016" PRIx64 "-%" PRIu64,
                  gateway->key_prefix, gateway->next_key++);
    return MSG_ERR_OK;
}

static void
s_trade (gateway_t *gateway, h2o_req_t *req, uint64_t started_ns)
{
    if (req->entity.len > ROUTES_BODY_MAX) {
        s_answer_status (gateway, req, ROUTE_TRADE, started_ns, 413, "request too large", NULL);
        return;
    }
    s_pending_t *pending = s_pending_new (gateway, req, ROUTE_TRADE, started_ns, MSG_TRADE,
                                          s_on_committed);
    msg_t *trade = &pending->call.request;
    msg_error_t code = s_parse_order (req->entity, trade);
    if (code == MSG_ERR_OK)
        code = s_parse_key (gateway, req, trade);
    if (code != MSG_ERR_OK) {
        s_answer_error (gateway, req, ROUTE_TRADE, started_ns, code);
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

//  Parses a non-empty string of ASCII digits that fits in uint64.
static int
s_parse_number (h2o_iovec_t text, uint64_t *number)
{
    if (text.len == 0)
        return -1;
    uint64_t value = 0;
    for (size_t i = 0; i < text.len; i++) {
        unsigned digit = (unsigned) (text.base[i] - '0');
        if (digit > 9 || value > (UINT64_MAX - digit) / 10)
            return -1;
        value = value * 10 + digit;
    }
    *number = value;
    return 0;
}

static void
s_query (gateway_t *gateway, h2o_req_t *req, uint64_t started_ns, h2o_iovec_t text)
{
    uint64_t number;
    if (s_parse_number (text, &number)) {
        s_answer_status (gateway, req, ROUTE_ORDER, started_ns, 400, "invalid order number",
                         NULL);
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

typedef struct {
    const char *path;           //  the path, or its prefix if prefix
    bool prefix;
    const char *method;         //  the one method allowed
    route_t route;
} s_route_t;

static const s_route_t s_routes[] = {
    {"/stocks", false, "GET", ROUTE_STOCKS},
    {"/stocks/", true, "GET", ROUTE_STOCK},
    {"/orders", false, "POST", ROUTE_TRADE},
    {"/orders/", true, "GET", ROUTE_ORDER},
    {"/metrics", false, "GET", ROUTE_METRICS},
    {"/status", false, "GET", ROUTE_STATUS},
    {"/", false, "GET", ROUTE_DASHBOARD},
    {"/dashboard", false, "GET", ROUTE_DASHBOARD},
};

//  Finds the route for path; sets *rest to what follows a prefix.
static const s_route_t *
s_route_find (h2o_iovec_t path, h2o_iovec_t *rest)
{
    for (size_t i = 0; i < sizeof (s_routes) / sizeof (s_routes[0]); i++) {
        const s_route_t *route = &s_routes[i];
        size_t len = strlen (route->path);
        if (route->prefix ? path.len >= len && memcmp (path.base, route->path, len) == 0
                          : h2o_memis (path.base, path.len, route->path, len)) {
            *rest = h2o_iovec_init (path.base + len, path.len - len);
            return route;
        }
    }
    return NULL;
}

int
routes_handle (gateway_t *gateway, h2o_req_t *req)
{
    uint64_t started_ns = metrics_now_ns ();
    size_t path_len = req->input.query_at != SIZE_MAX ? req->input.query_at : req->input.path.len;
    h2o_iovec_t rest;
    const s_route_t *route = s_route_find (h2o_iovec_init (req->input.path.base, path_len), &rest);
    if (!route)
        s_answer_status (gateway, req, ROUTE_OTHER, started_ns, 404, "not found", NULL);
    else
    if (!h2o_memis (req->input.method.base, req->input.method.len, route->method,
                    strlen (route->method)))
        s_answer_status (gateway, req, route->route, started_ns, 405, "method not allowed",
                         route->method);
    else
        switch (route->route) {
            case ROUTE_STOCKS: s_list (gateway, req, started_ns); break;
            case ROUTE_STOCK: s_lookup (gateway, req, started_ns, rest); break;
            case ROUTE_TRADE: s_trade (gateway, req, started_ns); break;
            case ROUTE_ORDER: s_query (gateway, req, started_ns, rest); break;
            case ROUTE_STATUS: s_status (gateway, req, started_ns); break;
            case ROUTE_DASHBOARD: s_dashboard (gateway, req, started_ns); break;
            default: s_metrics (gateway, req, started_ns); break;
        }
    return 0;
}
