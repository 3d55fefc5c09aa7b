/*  api.h - the pure half of the HTTP API (SPEC section 2): routing a
    request, and reading stock names, order numbers and order bodies.

    No h2o calls, no sockets, nothing kept between calls: routes.c passes
    in what h2o parsed and turns the verdicts into answers, and the fuzz
    harness tests/fuzz/gateway feeds these functions arbitrary bytes.

    Every verdict is a msg_error_t: MSG_ERR_OK to go on, else the error
    to answer (its status and text in msgs.h's MSG_ERROR_TABLE).
*/
#ifndef BAZAAR_GATEWAY_API_H
#define BAZAAR_GATEWAY_API_H

#include <h2o/memory.h>
#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"
#include "msgs.h"

#define API_BODY_MAX (64 * 1024)        //  larger POST /orders bodies get 413

//  Where a request goes.
typedef struct {
    route_t route;              //  ROUTE_OTHER if no route has the path
    const char *allow;          //  with METHOD_NOT_ALLOWED: the methods the path allows
    h2o_iovec_t rest;           //  what follows a prefix route's path ("apple")
} api_match_t;

//  The path a request target names: the query cut off, and an
//  absolute-form target ("http://host/stocks/apple", RFC 7230 5.3.2)
//  reduced to its path ("/stocks/apple"; "/" if it has none).
h2o_iovec_t api_target_path (h2o_iovec_t target);

//  Route a request by method and path (from api_target_path). HEAD is
//  served wherever GET is (h2o sends no body for it); the Allow of a GET
//  route says "GET, HEAD". Returns MSG_ERR_OK, MSG_ERR_NO_ROUTE, or
//  MSG_ERR_METHOD_NOT_ALLOWED (match->allow set).
msg_error_t api_route (h2o_iovec_t method, h2o_iovec_t path, api_match_t *match);

//  Copy a stock name from a path into key (NUL-terminated), its %XX
//  escapes decoded. Returns MSG_ERR_OK, or MSG_ERR_STOCK_NOT_FOUND if no
//  stock can have that name (empty, too long, a NUL or a broken escape).
msg_error_t api_stock_name (h2o_iovec_t name, char key[MSG_NAME_MAX + 1]);

//  Read an order number, a non-empty string of ASCII digits. Returns
//  MSG_ERR_OK and sets *number; MSG_ERR_TXN_NOT_FOUND if it is beyond 64
//  bits (no order has it); MSG_ERR_INVALID_NUMBER if it is not digits.
msg_error_t api_order_number (h2o_iovec_t text, uint64_t *number);

//  Copy an Idempotency-Key header's value into key (NUL-terminated)
//  without the spaces and tabs around it (RFC 9110 5.5: they are not
//  part of the value, and a client that trims them must meet the same
//  key). An empty value gives an empty key (the gateway makes one).
//  Returns NULL, or why the value cannot be a key.
const char *api_idempotency_key (h2o_iovec_t value, char key[MSG_KEY_MAX + 1]);

//  Read name, type and quantity from a JSON body into trade, in the
//  order SPEC section 2 checks them. Returns MSG_ERR_OK or the error.
msg_error_t api_parse_order (h2o_iovec_t body, msg_t *trade);

#endif
