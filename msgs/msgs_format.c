/*  msgs_format.c - one-line descriptions of messages, for logs and the tap.

    Walks the same MSG_TABLE field strings as the codec. Strings come off
    the wire, so every byte that could break a line, a terminal or JSON is
    escaped.
*/
#include "msgs.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *
s_fields (int type)
{
    switch (type) {
#define MSG_FIELDS(NAME, CODE, FIELDS, SERVICE, DOC) case CODE: return FIELDS;
        MSG_TABLE (MSG_FIELDS)
#undef MSG_FIELDS
        default: return "";
    }
}

typedef struct {
    char *buf;
    size_t size;
    size_t used;      //  what snprintf wanted, may exceed size
} s_out_t;

static void
s_out (s_out_t *out, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_out (s_out_t *out, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    size_t room = out->used < out->size ? out->size - out->used : 0;
    int len = vsnprintf (out->buf + (room ? out->used : 0), room, format, args);
    va_end (args);
    if (len > 0)
        out->used += (size_t) len;
}

//  Strings come from the wire: escape what would break a line, a terminal
//  or JSON (bytes >= 0x80 too: they need not be UTF-8).
static void
s_out_str (s_out_t *out, const char *str, bool json)
{
    s_out (out, "\"");
    for (const unsigned char *c = (const unsigned char *) str; *c; c++) {
        if (*c == '"' || *c == '\\')
            s_out (out, "\\%c", *c);
        else
        if (*c < 0x20 || *c >= 0x7f)
            s_out (out, json ? "\\u%04x" : "\\x%02x", *c);
        else
            s_out (out, "%c", *c);
    }
    s_out (out, "\"");
}

const char *
msg_role_name (int role)
{
    switch (role) {
        case MSG_ROLE_CATCHING_UP: return "catching-up";
        case MSG_ROLE_FOLLOWER: return "follower";
        case MSG_ROLE_CANDIDATE: return "candidate";
        case MSG_ROLE_LEADER: return "leader";
        default: return "unknown";
    }
}

//  Peers in full: they are few, and the tap is where people watch them.
static void
s_out_peers (s_out_t *out, const msg_t *self, bool json)
{
    s_out (out, "[");
    for (size_t i = 0; i < self->peer_count; i++) {
        const msg_peer_t *peer = &self->peers[i];
        s_out (out, i ? (json ? "," : " ") : "");
        if (json) {
            s_out (out, "{\"replica_id\":%" PRIu64 ",\"role\":\"%s\",\"number\":%" PRIu64
                   ",\"epoch\":%" PRIu64 ",\"rep\":", peer->replica_id,
                   msg_role_name (peer->role), peer->number, peer->epoch);
            s_out_str (out, peer->rep, true);
            s_out (out, "}");
        }
        else
            s_out (out, "%" PRIu64 ":%s@%" PRIu64 "/e%" PRIu64, peer->replica_id,
                   msg_role_name (peer->role), peer->number, peer->epoch);
    }
    s_out (out, "]");
}

//  Workers as the broker sees them (VIEW).
static void
s_out_workers (s_out_t *out, const msg_t *self, bool json)
{
    s_out (out, "[");
    for (size_t i = 0; i < self->worker_count; i++) {
        const msg_worker_t *worker = &self->workers[i];
        s_out (out, i ? (json ? "," : " ") : "");
        if (json) {
            s_out (out, "{\"service\":");
            s_out_str (out, worker->service, true);
            s_out (out, ",\"replica_id\":%" PRIu64 ",\"incarnation\":%" PRIu64
                   ",\"age_ms\":%" PRIu64 ",\"registered\":%s,\"role\":\"%s\""
                   ",\"number\":%" PRIu64 ",\"epoch\":%" PRIu64 "}",
                   worker->replica_id, worker->incarnation, worker->age_ms,
                   worker->registered ? "true" : "false", msg_role_name (worker->role),
                   worker->number, worker->epoch);
        }
        else {
            s_out_str (out, worker->service, false);
            s_out (out, "/%" PRIu64 ":%s@%" PRIu64 "/e%" PRIu64 "/%" PRIu64 "ms%s",
                   worker->replica_id, msg_role_name (worker->role), worker->number,
                   worker->epoch, worker->age_ms, worker->registered ? "" : "/gone");
        }
    }
    s_out (out, "]");
}

static void
s_out_in_sync (s_out_t *out, const msg_t *self, bool json)
{
    s_out (out, "[");
    for (size_t i = 0; i < self->in_sync_count; i++)
        s_out (out, "%s%" PRIu64, i ? (json ? "," : " ") : "", self->in_sync[i]);
    s_out (out, "]");
}

static const char *
s_field_name (char field)
{
    switch (field) {
        case 'r': return "req_id";
        case 'n': return "name";
        case 's': return "service";
        case 'k': return "key";
        case 't': return "text";
        case 'a': return "pub";
        case 'b': return "rep";
        case 'd': return "side";
        case 'q': return "quantity";
        case 'Q': return "stock_qty";
        case 'N': return "number";
        case 'A': return "position";
        case 'M': return "read_position";
        case 'p': return "price";
        case 'v': return "version";
        case 'e': return "epoch";
        case 'S': return "seq";
        case 'i': return "incarnation";
        case 'R': return "replica_id";
        case 'c': return "code";
        case 'L': return "stocks";
        case 'T': return "trades";
        case 'o': return "role";
        case 'P': return "peers";
        case 'D': return "deadline";
        case 'W': return "workers";
        case 'I': return "in_sync";
        case 'u': return "to";
        case 'f': return "start";
        case 'h': return "prev_stamp";
        case 'l': return "last_stamp";
        case 'g': return "length";
        case 'm': return "commit";
        case 'x': return "silent_leader";
        case 'w': return "stamp";
        case 'E': return "entries";
        default: return "?";
    }
}

static void
s_out_value (s_out_t *out, const msg_t *self, char field, bool json)
{
    switch (field) {
        case 'r': s_out (out, "%" PRIu64, self->req_id); break;
        case 'n': s_out_str (out, self->name, json); break;
        case 's': s_out_str (out, self->service, json); break;
        case 'k': s_out_str (out, self->key, json); break;
        case 't': s_out_str (out, self->text, json); break;
        case 'a': s_out_str (out, self->pub, json); break;
        case 'b': s_out_str (out, self->rep, json); break;
        case 'd': s_out (out, "\"%s\"", self->side == MSG_SIDE_BUY ? "buy" : "sell"); break;
        case 'q': s_out (out, "%" PRIu64, self->quantity); break;
        case 'Q': s_out (out, "%" PRIu64, self->stock_qty); break;
        case 'N': s_out (out, "%" PRIu64, self->number); break;
        case 'A': s_out (out, "%" PRIu64, self->position); break;
        case 'M': s_out (out, "%" PRIu64, self->read_position); break;
        case 'p': s_out (out, "%.2f", self->price); break;
        case 'v': s_out (out, "%" PRIu64, self->version); break;
        case 'e': s_out (out, "%" PRIu64, self->epoch); break;
        case 'S': s_out (out, "%" PRIu64, self->seq); break;
        case 'i': s_out (out, "%" PRIu64, self->incarnation); break;
        case 'R': s_out (out, "%" PRIu64, self->replica_id); break;
        case 'c': s_out (out, "%" PRIu64, self->code); break;
        case 'D': s_out (out, "%" PRIu64, self->deadline); break;
        case 'L': s_out (out, "%zu", self->stock_count); break;
        case 'T': s_out (out, "%zu", self->trade_count); break;
        case 'o': s_out (out, json ? "\"%s\"" : "%s", msg_role_name (self->role)); break;
        case 'P': s_out_peers (out, self, json); break;
        case 'W': s_out_workers (out, self, json); break;
        case 'I': s_out_in_sync (out, self, json); break;
        case 'u': s_out (out, "%" PRIu64, self->to); break;
        case 'f': s_out (out, "%" PRIu64, self->start); break;
        case 'h': s_out (out, "%" PRIu64, self->prev_stamp); break;
        case 'l': s_out (out, "%" PRIu64, self->last_stamp); break;
        case 'g': s_out (out, "%" PRIu64, self->length); break;
        case 'm': s_out (out, "%" PRIu64, self->commit); break;
        case 'x': s_out (out, "%" PRIu64, self->silent_leader); break;
        case 'w': s_out (out, "%" PRIu64, self->stamp); break;
        case 'E': s_out (out, "%zu", self->entry_count); break;
        default: s_out (out, "null"); break;
    }
}

int
msg_format (const msg_t *self, bool json, char *buf, size_t size)
{
    s_out_t out = {buf, size, 0};
    if (size)
        buf[0] = '\0';
    const char *fields = s_fields (self->type);
    if (json)
        s_out (&out, "{\"type\":\"%s\"", msg_type_name (self->type));
    else
        s_out (&out, "%s", msg_type_name (self->type));
    for (const char *field = fields; *field; field++) {
        s_out (&out, json ? ",\"%s\":" : " %s=", s_field_name (*field));
        s_out_value (&out, self, *field, json);
    }
    if (json)
        s_out (&out, "}");
    return (int) out.used;
}
