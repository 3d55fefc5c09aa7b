/*  http_conn.c - a small blocking HTTP/1.1 client over one keep-alive TCP
    connection.

    One request at a time, no pipelining: write the whole request, read
    until the header block ends, then read exactly Content-Length bytes of
    body. Everything the server sends is checked against limits; a
    response that breaks the rules is a transport error and closes the
    connection.
*/
#include "http_conn.h"
#include "mem.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define HTTP_HEADER_MAX (64 * 1024)          //  response header block
#define HTTP_BODY_MAX (16 * 1024 * 1024)     //  response body
#define HTTP_READ_CHUNK 16384

struct _http_conn_t {
    http_url_t url;
    int timeout_ms;
    int fd;                  //  -1 when closed
    bool reused;             //  a response was already read on fd
    char *buf;               //  bytes read from fd, a response at the front
    size_t size;             //  allocated
    size_t used;             //  valid bytes in buf
    char *body;              //  the last response body, NUL-terminated
    size_t body_size;        //  allocated
    char *request;           //  the request being sent
    size_t request_size;     //  allocated
    char error[HTTP_HOST_MAX + 256];
};

int
http_url_parse (http_url_t *self, const char *url)
{
    memset (self, 0, sizeof (*self));
    if (strncmp (url, "http://", 7) != 0)
        return -1;
    const char *host = url + 7;
    const char *path = strchr (host, '/');
    size_t authority = path ? (size_t) (path - host) : strlen (host);
    const char *colon = memchr (host, ':', authority);
    size_t host_len = colon ? (size_t) (colon - host) : authority;
    if (host_len == 0 || host_len > HTTP_HOST_MAX)
        return -1;
    memcpy (self->host, host, host_len);
    if (colon) {
        size_t port_len = authority - host_len - 1;
        if (port_len == 0 || port_len >= sizeof (self->port))
            return -1;
        memcpy (self->port, colon + 1, port_len);
        for (size_t i = 0; i < port_len; i++)
            if (self->port[i] < '0' || self->port[i] > '9')
                return -1;
    }
    else
        strcpy (self->port, "80");
    if (path) {
        size_t len = strlen (path);
        while (len && path[len - 1] == '/')
            len--;
        if (len > HTTP_PREFIX_MAX)
            return -1;
        memcpy (self->prefix, path, len);
    }
    return 0;
}

http_conn_t *
http_conn_new (const http_url_t *url, int timeout_ms)
{
    http_conn_t *self = mem_calloc (1, sizeof (http_conn_t));
    self->url = *url;
    self->timeout_ms = timeout_ms;
    self->fd = -1;
    return self;
}

static void
s_close (http_conn_t *self)
{
    if (self->fd >= 0)
        close (self->fd);
    self->fd = -1;
    self->reused = false;
    self->used = 0;
}

void
http_conn_destroy (http_conn_t **self_p)
{
    if (!*self_p)
        return;
    http_conn_t *self = *self_p;
    s_close (self);
    free (self->buf);
    free (self->body);
    free (self->request);
    free (self);
    *self_p = NULL;
}

const char *
http_conn_error (http_conn_t *self)
{
    return self->error;
}

static int
s_fail (http_conn_t *self, const char *what, int err)
{
    if (err)
        snprintf (self->error, sizeof (self->error), "%s: %s", what, strerror (err));
    else
        snprintf (self->error, sizeof (self->error), "%s", what);
    s_close (self);
    return -1;
}

static int
s_connect (http_conn_t *self)
{
    struct addrinfo hints = {0}, *found = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo (self->url.host, self->url.port, &hints, &found);
    if (rc != 0) {
        snprintf (self->error, sizeof (self->error), "cannot resolve %s: %s", self->url.host,
                  gai_strerror (rc));
        return -1;
    }
    int err = 0;
    for (struct addrinfo *ai = found; ai && self->fd < 0; ai = ai->ai_next) {
        int fd = socket (ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        struct timeval timeout = {self->timeout_ms / 1000, (self->timeout_ms % 1000) * 1000};
        int one = 1;
        setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof (timeout));
        setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof (timeout));
        setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof (one));
        if (connect (fd, ai->ai_addr, ai->ai_addrlen) == 0)
            self->fd = fd;
        else {
            err = errno;
            close (fd);
        }
    }
    freeaddrinfo (found);
    if (self->fd < 0) {
        snprintf (self->error, sizeof (self->error), "cannot connect to %s:%s: %s",
                  self->url.host, self->url.port, strerror (err));
        return -1;
    }
    self->reused = false;
    self->used = 0;
    return 0;
}

//  Formats the request into self->request. Returns its length or -1.
static int
s_format (http_conn_t *self, const char *method, const char *path, const char *body)
{
    size_t body_len = body ? strlen (body) : 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        int len;
        if (body)
            len = snprintf (self->request, self->request_size,
                            "%s %s%s HTTP/1.1\r\nHost: %s:%s\r\n"
                            "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                            method, self->url.prefix, path, self->url.host, self->url.port,
                            body_len, body);
        else
            len = snprintf (self->request, self->request_size,
                            "%s %s%s HTTP/1.1\r\nHost: %s:%s\r\n\r\n", method,
                            self->url.prefix, path, self->url.host, self->url.port);
        if (len < 0)
            return -1;
        if ((size_t) len < self->request_size)
            return len;
        self->request = mem_realloc (self->request, (size_t) len + 1);
        self->request_size = (size_t) len + 1;
    }
    return -1;
}

static int
s_send_all (http_conn_t *self, const char *data, size_t size)
{
    while (size) {
        ssize_t sent = send (self->fd, data, size, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent <= 0)
            return -1;
        data += sent;
        size -= (size_t) sent;
    }
    return 0;
}

//  Reads more bytes into buf. Returns the count, 0 at EOF, -1 on error.
static ssize_t
s_read_more (http_conn_t *self)
{
    if (self->size - self->used < HTTP_READ_CHUNK) {
        size_t size = self->size ? self->size * 2 : 2 * HTTP_READ_CHUNK;
        self->buf = mem_realloc (self->buf, size);
        self->size = size;
    }
    ssize_t got;
    do
        got = recv (self->fd, self->buf + self->used, self->size - self->used - 1, 0);
    while (got < 0 && errno == EINTR);
    if (got > 0)
        self->used += (size_t) got;
    return got;
}

//  Parses the header block buf[0..header_len). Returns 0 and sets
//  *status, *content_length and *close_after, or -1.
static int
s_parse_head (http_conn_t *self, size_t header_len, int *status, size_t *content_length,
              bool *close_after)
{
    char *head = self->buf;
    if (header_len < 12 || strncmp (head, "HTTP/1.", 7) != 0 || head[8] != ' ')
        return s_fail (self, "bad status line", 0);
    int code = 0;
    for (int i = 9; i < 12; i++) {
        if (head[i] < '0' || head[i] > '9')
            return s_fail (self, "bad status code", 0);
        code = code * 10 + (head[i] - '0');
    }
    *status = code;
    *close_after = head[7] == '0';   //  HTTP/1.0 closes unless told otherwise
    bool have_length = false;
    char *line = memchr (head, '\n', header_len);
    char *end = head + header_len;
    while (line && ++line < end) {
        char *eol = memchr (line, '\n', (size_t) (end - line));
        if (!eol)
            break;
        size_t len = (size_t) (eol - line);
        if (len >= 15 && strncasecmp (line, "content-length:", 15) == 0) {
            char *value = line + 15;
            while (*value == ' ' || *value == '\t')
                value++;
            char *stop = NULL;
            errno = 0;
            unsigned long long parsed = strtoull (value, &stop, 10);
            if (stop == value || errno || parsed > HTTP_BODY_MAX)
                return s_fail (self, "bad Content-Length", 0);
            *content_length = (size_t) parsed;
            have_length = true;
        }
        else
        if (len >= 18 && strncasecmp (line, "transfer-encoding:", 18) == 0)
            return s_fail (self, "chunked response (Content-Length expected)", 0);
        else
        if (len >= 11 && strncasecmp (line, "connection:", 11) == 0) {
            char value[32] = "";
            snprintf (value, sizeof (value), "%.*s", (int) (len - 11), line + 11);
            if (strcasestr (value, "close"))
                *close_after = true;
            else
            if (strcasestr (value, "keep-alive"))
                *close_after = false;
        }
        line = eol;
    }
    if (!have_length && code != 204 && code != 304 && !(code >= 100 && code < 200))
        return s_fail (self, "response without Content-Length", 0);
    if (!have_length)
        *content_length = 0;
    return 0;
}

//  One attempt: send, read the response. Returns the status, -1 on error,
//  or -2 if a reused connection turned out closed before any response byte.
static int
s_attempt (http_conn_t *self, int request_len, const char **response_body,
           size_t *response_size)
{
    if (self->fd < 0 && s_connect (self))
        return -1;
    bool reused = self->reused;
    if (s_send_all (self, self->request, (size_t) request_len)) {
        if (!reused)
            return s_fail (self, "send failed", errno);
        s_close (self);
        return -2;
    }

    //  Read the header block.
    char *blank = NULL;
    while (!(blank = self->used ? memmem (self->buf, self->used, "\r\n\r\n", 4) : NULL)) {
        if (self->used > HTTP_HEADER_MAX)
            return s_fail (self, "response header too large", 0);
        ssize_t got = s_read_more (self);
        bool stale = got == 0 || (got < 0 && (errno == ECONNRESET || errno == EPIPE));
        if (stale && reused && self->used == 0) {
            s_close (self);
            return -2;
        }
        if (got == 0)
            return s_fail (self, "connection closed by the server", 0);
        if (got < 0)
            return s_fail (self, errno == EAGAIN ? "timed out waiting for the response"
                                                 : "receive failed", errno == EAGAIN ? 0 : errno);
    }
    size_t header_len = (size_t) (blank - self->buf) + 4;
    int status = 0;
    size_t content_length = 0;
    bool close_after = false;
    if (s_parse_head (self, header_len, &status, &content_length, &close_after))
        return -1;
    if (status >= 100 && status < 200)   //  we never send Expect: skip it
        return s_fail (self, "unexpected 1xx response", 0);

    //  Read the body.
    while (self->used < header_len + content_length) {
        ssize_t got = s_read_more (self);
        if (got == 0)
            return s_fail (self, "connection closed in the middle of a body", 0);
        if (got < 0)
            return s_fail (self, errno == EAGAIN ? "timed out reading the body"
                                                 : "receive failed", errno == EAGAIN ? 0 : errno);
    }
    //  Copy the body out (NUL-terminated) and keep what follows it.
    if (self->body_size < content_length + 1) {
        self->body = mem_realloc (self->body, content_length + 1);
        self->body_size = content_length + 1;
    }
    memcpy (self->body, self->buf + header_len, content_length);
    self->body[content_length] = '\0';
    size_t consumed = header_len + content_length;
    memmove (self->buf, self->buf + consumed, self->used - consumed);
    self->used -= consumed;
    *response_body = self->body;
    *response_size = content_length;
    self->reused = true;
    if (close_after)
        s_close (self);
    return status;
}

int
http_conn_request (http_conn_t *self, const char *method, const char *path, const char *body,
                   const char **response_body, size_t *response_size)
{
    self->error[0] = '\0';
    *response_body = "";
    *response_size = 0;
    int len = s_format (self, method, path, body);
    if (len < 0)
        return s_fail (self, "cannot format the request", 0);
    int status = s_attempt (self, len, response_body, response_size);
    if (status == -2 && strcmp (method, "GET") == 0)
        status = s_attempt (self, len, response_body, response_size);
    if (status == -2)
        return s_fail (self, "connection closed by the server before the response", 0);
    return status;
}
