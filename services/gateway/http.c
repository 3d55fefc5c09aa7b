/*  http.c - HTTP answers (see http.h). */
#include "http.h"

#include <stdio.h>

//  Prices print like 152.59 and 20.0, never 152.59000000000000.
#define HTTP_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION (15))

const char *
http_reason (int status)
{
    switch (status) {
        case 200: return "OK";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 409: return "Conflict";
        case 413: return "Payload Too Large";
        case 422: return "Unprocessable Content";
        case 500: return "Internal Server Error";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        default: return "Unknown";
    }
}

void
http_send (h2o_req_t *req, int status, const char *content_type, const char *body,
           size_t size)
{
    req->res.status = status;
    req->res.reason = http_reason (status);
    req->res.content_length = size;
    h2o_add_header (&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                    strlen (content_type));
    h2o_send_inline (req, body, size);
}

h2o_iovec_t
http_encode (h2o_req_t *req, const json_t *json)
{
    size_t size = json_dumpb (json, NULL, 0, HTTP_JSON_FLAGS);
    if (size == 0)
        return h2o_iovec_init (NULL, 0);
    char *body = h2o_mem_alloc_pool (&req->pool, size);
    if (json_dumpb (json, body, size, HTTP_JSON_FLAGS) != size)
        return h2o_iovec_init (NULL, 0);
    return h2o_iovec_init (body, size);
}

void
http_send_error (h2o_req_t *req, int status, const char *text, const char *allow)
{
    json_t *json = json_pack ("{s:{s:i,s:s}}", "error", "code", status, "message", text);
    h2o_iovec_t body = json ? http_encode (req, json) : h2o_iovec_init (NULL, 0);
    json_decref (json);
    if (allow)
        h2o_add_header (&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow,
                        strlen (allow));
    if (body.len == 0) {
        static const char fallback[] = HTTP_ERROR_JSON (500, "internal error");
        status = 500;
        body = h2o_iovec_init (fallback, sizeof (fallback) - 1);
    }
    http_send (req, status, HTTP_JSON, body.base, body.len);
}

//  ---------------------------------------------------------------------
//  h2o's own 413, as the API's JSON

typedef struct {
    h2o_ostream_t super;
    h2o_iovec_t body;
} s_json_ostream_t;

static void
s_json_send (h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t count,
             h2o_send_state_t state)
{
    (void) bufs;
    s_json_ostream_t *ostream = (s_json_ostream_t *) self;
    //  h2o's plain text is replaced whole; a HEAD sends nothing.
    h2o_ostream_send_next (self, req, count ? &ostream->body : NULL, count ? 1 : 0, state);
}

typedef struct {
    h2o_filter_t super;
    http_answered_fn *on_413;
    void *arg;
} s_json_413_t;

static void
s_json_413_setup (h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    s_json_413_t *filter = (s_json_413_t *) self;
    if (req->res.status == 413) {
        filter->on_413 (filter->arg, req);
        static const char body[] = HTTP_ERROR_JSON (413, "request too large");
        memset (&req->res.headers, 0, sizeof (req->res.headers));
        h2o_add_header (&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                        H2O_STRLIT (HTTP_JSON));
        req->res.reason = http_reason (413);
        req->res.content_length = sizeof (body) - 1;
        s_json_ostream_t *ostream =
            (s_json_ostream_t *) h2o_add_ostream (req, sizeof (s_json_ostream_t), slot);
        ostream->super.do_send = s_json_send;
        ostream->body = h2o_iovec_init (body, sizeof (body) - 1);
        slot = &ostream->super.next;
    }
    h2o_setup_next_ostream (req, slot);
}

void
http_register_json_413 (h2o_pathconf_t *pathconf, http_answered_fn *on_413, void *arg)
{
    s_json_413_t *filter = (s_json_413_t *) h2o_create_filter (pathconf, sizeof (s_json_413_t));
    filter->super.on_setup_ostream = s_json_413_setup;
    filter->on_413 = on_413;
    filter->arg = arg;
}
