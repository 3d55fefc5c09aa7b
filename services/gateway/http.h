/*  http.h - writing HTTP answers: JSON bodies, errors, plain text.

    Every answer has Content-Type and Content-Length (never chunked); the
    body is copied into the request's pool, so callers may pass memory
    that dies before the bytes are written.
*/
#ifndef BAZAAR_GATEWAY_HTTP_H
#define BAZAAR_GATEWAY_HTTP_H

#include <h2o.h>
#include <jansson.h>

#define HTTP_JSON "application/json"
#define HTTP_PROMETHEUS "text/plain; version=0.0.4"
#define HTTP_HTML "text/html; charset=utf-8"

//  The body of every error answer, {"error":{"code":status,"message":
//  text}}, as a string literal for the answers written whole ahead of
//  time (a fallback, h2o's own 413, the refusal of a connection). status
//  and text are MSG_ERROR_TABLE's; http_send_error builds the same shape.
#define HTTP_ERROR_JSON(status, text) \
    "{\"error\":{\"code\":" #status ",\"message\":\"" text "\"}}"

//  Send status with body of the given content type.
void http_send (h2o_req_t *req, int status, const char *content_type, const char *body,
                size_t size);

//  Send {"error":{"code":status,"message":text}} with that status; if
//  allow is not NULL add an Allow header with it.
void http_send_error (h2o_req_t *req, int status, const char *text, const char *allow);

//  Encode json compactly into the request's pool; returns the bytes, or
//  a zero-length iovec if encoding failed.
h2o_iovec_t http_encode (h2o_req_t *req, const json_t *json);

//  h2o answers a body over max_request_entity_size itself, with a plain
//  text 413, on the host's fallback path (the request never reaches a
//  handler). Registered on that path, this filter turns such an answer
//  into the API's {"error":{"code":413,"message":"request too large"}},
//  and calls on_413 (arg, req) so the answer is counted.
typedef void (http_answered_fn) (void *arg, h2o_req_t *req);
void http_register_json_413 (h2o_pathconf_t *pathconf, http_answered_fn *on_413, void *arg);

//  The standard reason phrase for status.
const char *http_reason (int status);

#endif
