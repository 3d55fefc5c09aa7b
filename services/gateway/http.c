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
        case 500: return "Internal Server Error";
        case 503: return "Service Unavailable";
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
        static const char fallback[] =
            "{\"error\":{\"code\":500,\"message\":\"internal error\"}}";
        status = 500;
        body = h2o_iovec_init (fallback, sizeof (fallback) - 1);
    }
    http_send (req, status, HTTP_JSON, body.base, body.len);
}
