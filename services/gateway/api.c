/*  api.c - routing and request parsing for the HTTP API (see api.h). */
#include "api.h"

#include <h2o/string_.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define API_OVERFLOWS_MAX 16            //  numbers too big for jansson, per body

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

static bool
s_is (h2o_iovec_t text, const char *literal)
{
    return text.len == strlen (literal) && memcmp (text.base, literal, text.len) == 0;
}

//  Length of an absolute-form target's "scheme://authority", or 0.
static size_t
s_scheme_authority (h2o_iovec_t target)
{
    size_t skip = 0;
    if (target.len >= 7 && h2o_lcstris (target.base, 7, H2O_STRLIT ("http://")))
        skip = 7;
    else
    if (target.len >= 8 && h2o_lcstris (target.base, 8, H2O_STRLIT ("https://")))
        skip = 8;
    else
        return 0;
    const char *slash = memchr (target.base + skip, '/', target.len - skip);
    return slash ? (size_t) (slash - target.base) : target.len;
}

h2o_iovec_t
api_target_path (h2o_iovec_t target)
{
    const char *query = memchr (target.base, '?', target.len);
    if (query)
        target.len = (size_t) (query - target.base);
    size_t skip = s_scheme_authority (target);
    if (skip == target.len && skip > 0)
        return h2o_iovec_init ("/", 1);
    return h2o_iovec_init (target.base + skip, target.len - skip);
}

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

msg_error_t
api_route (h2o_iovec_t method, h2o_iovec_t path, api_match_t *match)
{
    match->rest = h2o_iovec_init (NULL, 0);
    const s_route_t *route = s_route_find (path, &match->rest);
    match->route = route ? route->route : ROUTE_OTHER;
    match->allow = NULL;
    bool get = route && strcmp (route->method, "GET") == 0;
    if (!route)
        return MSG_ERR_NO_ROUTE;
    if (!s_is (method, route->method) && !(get && s_is (method, "HEAD"))) {
        match->allow = get ? "GET, HEAD" : route->method;
        return MSG_ERR_METHOD_NOT_ALLOWED;
    }
    return MSG_ERR_OK;
}

msg_error_t
api_stock_name (h2o_iovec_t name, char key[MSG_NAME_MAX + 1])
{
    //  RFC 3986 2.1: "%61pple" is "apple", and a client must send a name
    //  with a space, '?' or a byte beyond ASCII in it that way.
    size_t length = 0;
    for (size_t i = 0; i < name.len; i++) {
        char byte = name.base[i];
        if (byte == '%') {
            if (name.len - i < 3 || h2o_hex_decode (&byte, name.base + i + 1, 2) != 0)
                return MSG_ERR_STOCK_NOT_FOUND;
            i += 2;
        }
        if (byte == '\0' || length == MSG_NAME_MAX)
            return MSG_ERR_STOCK_NOT_FOUND;
        key[length++] = byte;
    }
    key[length] = '\0';
    return length ? MSG_ERR_OK : MSG_ERR_STOCK_NOT_FOUND;
}

//  ---------------------------------------------------------------------
//  GET /orders/<n>

msg_error_t
api_order_number (h2o_iovec_t text, uint64_t *number)
{
    if (text.len == 0)
        return MSG_ERR_INVALID_NUMBER;
    uint64_t value = 0;
    bool too_big = false;
    for (size_t i = 0; i < text.len; i++) {
        unsigned digit = (unsigned) (text.base[i] - '0');
        if (digit > 9)
            return MSG_ERR_INVALID_NUMBER;
        if (value > (UINT64_MAX - digit) / 10)
            too_big = true;
        else
            value = value * 10 + digit;
    }
    if (too_big)
        return MSG_ERR_TXN_NOT_FOUND;
    *number = value;
    return MSG_ERR_OK;
}

//  ---------------------------------------------------------------------
//  POST /orders

#define STR(x) #x
#define XSTR(x) STR (x)

const char *
api_idempotency_key (h2o_iovec_t value, char key[MSG_KEY_MAX + 1])
{
    while (value.len && (value.base[0] == ' ' || value.base[0] == '\t')) {
        value.base++;
        value.len--;
    }
    while (value.len && (value.base[value.len - 1] == ' ' || value.base[value.len - 1] == '\t'))
        value.len--;
    if (value.len > MSG_KEY_MAX)
        return "Idempotency-Key is longer than " XSTR (MSG_KEY_MAX) " bytes";
    if (memchr (value.base, '\0', value.len))
        return "Idempotency-Key holds a NUL byte";
    if (value.len)
        memcpy (key, value.base, value.len);
    key[value.len] = '\0';
    return NULL;
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
    for (int tries = 0; !root && tries < API_OVERFLOWS_MAX; tries++) {
        if (json_error_code (&error) != json_error_numeric_overflow
            || !s_blank_number (text, body.len, &error))
            break;
        root = json_loadb (text, body.len, 0, &error);
    }
    free (text);
    return root;
}

msg_error_t
api_parse_order (h2o_iovec_t body, msg_t *trade)
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

