/*  http_conn.h - a small blocking HTTP/1.1 client over one keep-alive TCP
    connection, for the Bazaar client and load generator.

    Requests carry Content-Length; responses must carry Content-Length
    (the gateway never sends chunked bodies). One http_conn_t is used by
    one thread.
*/
#ifndef BAZAAR_HTTP_CONN_H
#define BAZAAR_HTTP_CONN_H

#include <stddef.h>

#define HTTP_HOST_MAX 255
#define HTTP_PREFIX_MAX 255

//  Where the server is: "http://host[:port][/prefix]".
typedef struct {
    char host[HTTP_HOST_MAX + 1];
    char port[8];
    char prefix[HTTP_PREFIX_MAX + 1];   //  "" or "/something", no trailing '/'
} http_url_t;

//  Parse url into self. Returns 0, or -1 if it is not an http:// URL.
int http_url_parse (http_url_t *self, const char *url);

typedef struct _http_conn_t http_conn_t;

//  A connection to url (opened on first use). Every send and receive
//  gives up after timeout_ms.
http_conn_t *http_conn_new (const http_url_t *url, int timeout_ms);

//  Close the connection and free it. Does nothing on NULL.
void http_conn_destroy (http_conn_t **self_p);

//  Send one request (body may be NULL; a body is sent as JSON) to
//  prefix + path and read the response. Returns the HTTP status, or -1 on
//  a transport error (then http_conn_error says why and the connection is
//  closed, to be reopened by the next request). A GET that finds a reused
//  connection closed by the server is retried once on a new one; other
//  methods are never retried. *body and *body_size are set to the response
//  body, owned by self and valid until the next request.
int http_conn_request (http_conn_t *self, const char *method, const char *path,
                       const char *body, const char **response_body, size_t *response_size);

//  Why the last request failed, for messages.
const char *http_conn_error (http_conn_t *self);

#endif
