/*  fuzz_gateway.c - libFuzzer harness for the gateway's request parsing
    and routing (services/gateway/api.c), without sockets or h2o.

    Input: "METHOD TARGET\nBODY". The target goes through api_target_path
    and api_route, the rest of the path through the route's parser, and
    the body through api_parse_order whatever the route (and its first
    bytes through api_order_number and api_idempotency_key). Each verdict is
    checked against what SPEC section 2 allows; a wrong one aborts.
    Corpus: tests/fuzz/gateway/.
*/
#include "api.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static bool
s_within (h2o_iovec_t part, h2o_iovec_t whole)
{
    return part.len == 0
        || (part.base >= whole.base && part.base + part.len <= whole.base + whole.len);
}

//  The order number verdict against a reference: digits only; leading
//  zeros dropped, more than 20 digits or above 2^64 - 1 is 404.
static void
s_check_number (h2o_iovec_t text)
{
    uint64_t number = 0;
    msg_error_t code = api_order_number (text, &number);
    size_t i = 0;
    bool digits = text.len > 0;
    for (size_t j = 0; j < text.len; j++)
        digits = digits && text.base[j] >= '0' && text.base[j] <= '9';
    if (!digits) {
        if (code != MSG_ERR_INVALID_NUMBER)
            abort ();
        return;
    }
    while (i + 1 < text.len && text.base[i] == '0')
        i++;
    size_t len = text.len - i;
    bool too_big = len > 20 || (len == 20 && memcmp (text.base + i, "18446744073709551615", 20) > 0);
    if (code != (too_big ? MSG_ERR_TXN_NOT_FOUND : MSG_ERR_OK))
        abort ();
    if (code == MSG_ERR_OK) {
        char printed[24];
        size_t n = 0;
        do
            printed[n++] = (char) ('0' + number % 10);
        while ((number /= 10) > 0);
        for (size_t j = 0; j < n; j++)
            if (printed[n - 1 - j] != text.base[i + j] || n != len)
                abort ();
    }
}

static void
s_check_order (h2o_iovec_t body)
{
    msg_t trade;
    memset (&trade, 0, sizeof (trade));
    msg_error_t code = api_parse_order (body, &trade);
    switch (code) {
        case MSG_ERR_OK:
            if (strlen (trade.name) > MSG_NAME_MAX || trade.side > MSG_SIDE_SELL
                || trade.quantity < 1 || trade.quantity > MSG_QUANTITY_MAX)
                abort ();
            break;
        case MSG_ERR_MALFORMED:
        case MSG_ERR_INVALID_TYPE:
        case MSG_ERR_INVALID_QUANTITY:
        case MSG_ERR_STOCK_NOT_FOUND: break;
        default: abort ();
    }
}

//  A key is what the value holds without the spaces and tabs around it.
static void
s_check_key (h2o_iovec_t value)
{
    char key[MSG_KEY_MAX + 1];
    if (api_idempotency_key (value, key))
        return;
    size_t len = strlen (key);
    if (len > MSG_KEY_MAX || (len && (strchr (" \t", key[0]) || strchr (" \t", key[len - 1]))))
        abort ();
    size_t skipped = 0;
    while (skipped < value.len && (value.base[skipped] == ' ' || value.base[skipped] == '\t'))
        skipped++;
    if (skipped + len > value.len || memcmp (value.base + skipped, key, len))
        abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    //  Copies, so ASan sees any read past the end of each part.
    const uint8_t *newline = memchr (data, '\n', size);
    size_t line_len = newline ? (size_t) (newline - data) : size;
    const uint8_t *space = memchr (data, ' ', line_len);
    size_t method_len = space ? (size_t) (space - data) : line_len;
    size_t target_len = space ? line_len - method_len - 1 : 0;
    size_t body_len = newline ? size - line_len - 1 : 0;
    char *method = malloc (method_len + 1), *target = malloc (target_len + 1);
    char *body = malloc (body_len + 1);
    memcpy (method, data, method_len);
    memcpy (target, data + method_len + 1 - !space, target_len);
    memcpy (body, data + line_len + 1 - !newline, body_len);
    h2o_iovec_t whole = h2o_iovec_init (target, target_len);

    h2o_iovec_t path = api_target_path (whole);
    if (!(path.len == 1 && path.base[0] == '/') && !s_within (path, whole))
        abort ();
    api_match_t match;
    msg_error_t code = api_route (h2o_iovec_init (method, method_len), path, &match);
    if ((code != MSG_ERR_OK && code != MSG_ERR_NO_ROUTE && code != MSG_ERR_METHOD_NOT_ALLOWED)
        || (code == MSG_ERR_METHOD_NOT_ALLOWED) != (match.allow != NULL)
        || (code == MSG_ERR_NO_ROUTE) != (match.route == ROUTE_OTHER)
        || !s_within (match.rest, path))
        abort ();
    if (code == MSG_ERR_OK && match.route == ROUTE_STOCK) {
        char key[MSG_NAME_MAX + 1];
        //  Decoding only shortens; a name without escapes is taken as is.
        if (api_stock_name (match.rest, key) == MSG_ERR_OK
            && (strlen (key) > match.rest.len
                || (!memchr (match.rest.base, '%', match.rest.len)
                    && memcmp (key, match.rest.base, match.rest.len) != 0)))
            abort ();
    }
    if (code == MSG_ERR_OK && match.route == ROUTE_ORDER)
        s_check_number (match.rest);
    s_check_number (h2o_iovec_init (body, body_len < 64 ? body_len : 64));
    s_check_order (h2o_iovec_init (body, body_len));
    s_check_key (h2o_iovec_init (body, body_len < 80 ? body_len : 80));
    free (method);
    free (target);
    free (body);
    return 0;
}
