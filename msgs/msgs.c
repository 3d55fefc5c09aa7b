/*  msgs.c - the one msgpack codec for MSG_TABLE.

    Encoding walks the field string of the message's type; decoding walks
    it again and checks every element's msgpack type and range, so nothing
    that comes off a socket or out of a file reaches the services unchecked.
*/
#include "msgs.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    int type;
    const char *name;
    const char *fields;
    const char *service;
} s_spec_t;

static const s_spec_t s_specs[] = {
#define MSG_SPEC(NAME, CODE, FIELDS, SERVICE, DOC) {CODE, #NAME, FIELDS, SERVICE},
    MSG_TABLE (MSG_SPEC)
#undef MSG_SPEC
};

typedef struct {
    int http;
    const char *text;
} s_error_t;

static const s_error_t s_errors[] = {
#define MSG_ERR_SPEC(NAME, HTTP, TEXT) {HTTP, TEXT},
    MSG_ERROR_TABLE (MSG_ERR_SPEC)
#undef MSG_ERR_SPEC
};

static const s_spec_t *
s_spec (int type)
{
    for (size_t i = 0; i < sizeof (s_specs) / sizeof (s_specs[0]); i++)
        if (s_specs[i].type == type)
            return &s_specs[i];
    return NULL;
}

void
msg_init (msg_t *self, msg_type_t type)
{
    memset (self, 0, sizeof (*self));
    self->type = type;
}

void
msg_reset (msg_t *self)
{
    free (self->stocks);
    free (self->trades);
    free (self->peers);
    free (self->workers);
    free (self->in_sync);
    free (self->entries);
    msg_init (self, 0);
}

int
msg_set_in_sync (msg_t *self, const uint64_t *ids, size_t count)
{
    if (count > MSG_PEERS_MAX)
        return -1;
    uint64_t *copy = NULL;
    if (count) {
        copy = calloc (count, sizeof (uint64_t));
        if (!copy)
            return -1;
        memcpy (copy, ids, count * sizeof (uint64_t));
    }
    free (self->in_sync);
    self->in_sync = copy;
    self->in_sync_count = count;
    return 0;
}

void
msg_set_trade (msg_t *self, msg_type_t type, const msg_trade_t *trade)
{
    msg_init (self, type);
    self->number = trade->number;
    snprintf (self->name, sizeof (self->name), "%s", trade->name);
    self->side = trade->side;
    self->quantity = trade->quantity;
    snprintf (self->key, sizeof (self->key), "%s", trade->key);
}

void
msg_get_trade (const msg_t *self, msg_trade_t *trade)
{
    trade->number = self->number;
    snprintf (trade->name, sizeof (trade->name), "%s", self->name);
    trade->side = self->side;
    trade->quantity = self->quantity;
    snprintf (trade->key, sizeof (trade->key), "%s", self->key);
}

uint64_t
msg_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    return (uint64_t) now.tv_sec * 1000 + (uint64_t) now.tv_nsec / 1000000;
}

bool
msg_expired (const msg_t *self, uint64_t now_ms)
{
    return self->deadline != 0 && self->deadline <= now_ms;
}

const char *
msg_type_name (int type)
{
    const s_spec_t *spec = s_spec (type);
    return spec ? spec->name : "UNKNOWN";
}

const char *
msg_service (int type)
{
    const s_spec_t *spec = s_spec (type);
    return spec && *spec->service ? spec->service : NULL;
}

bool
msg_is_reply (int type)
{
    return type >= MSG_STOCK && type <= MSG_ERROR && s_spec (type) != NULL;
}

int
msg_error_http (uint64_t code)
{
    return code < MSG_ERR_COUNT ? s_errors[code].http : 500;
}

const char *
msg_error_text (uint64_t code)
{
    return code < MSG_ERR_COUNT ? s_errors[code].text : "internal error";
}

const char *
msg_decode_strerror (int rc)
{
    switch (rc) {
        case MSG_DECODE_OK: return "ok";
        case MSG_DECODE_FORMAT: return "not a msgpack array";
        case MSG_DECODE_TRAILING: return "trailing bytes after message";
        case MSG_DECODE_VERSION: return "unknown protocol version";
        case MSG_DECODE_TYPE: return "unknown message type";
        case MSG_DECODE_FIELDS: return "wrong number of fields";
        case MSG_DECODE_FIELD: return "field of wrong type or range";
        case MSG_DECODE_TOO_LONG: return "string or list too long";
        default: return "unknown error";
    }
}

//  ---------------------------------------------------------------------
//  Encoding

static int
s_pack_str (msgpack_packer *pk, const char *str, size_t max)
{
    size_t len = strnlen (str, max + 1);
    if (len > max)
        return -1;
    msgpack_pack_str (pk, len);
    msgpack_pack_str_body (pk, str, len);
    return 0;
}

static int
s_pack_stocks (msgpack_packer *pk, const msg_t *self)
{
    if (self->stock_count > MSG_LIST_MAX)
        return -1;
    msgpack_pack_array (pk, self->stock_count);
    for (size_t i = 0; i < self->stock_count; i++) {
        const msg_stock_t *stock = &self->stocks[i];
        msgpack_pack_array (pk, 4);
        if (s_pack_str (pk, stock->name, MSG_NAME_MAX))
            return -1;
        msgpack_pack_double (pk, stock->price);
        msgpack_pack_uint64 (pk, stock->stock_qty);
        msgpack_pack_uint64 (pk, stock->version);
    }
    return 0;
}

//  A trade's five fields, after the array header its caller wrote.
static int
s_pack_trade_fields (msgpack_packer *pk, const msg_trade_t *trade)
{
    msgpack_pack_uint64 (pk, trade->number);
    if (s_pack_str (pk, trade->name, MSG_NAME_MAX))
        return -1;
    msgpack_pack_uint8 (pk, trade->side);
    msgpack_pack_uint64 (pk, trade->quantity);
    return s_pack_str (pk, trade->key, MSG_KEY_MAX);
}

static int
s_pack_trades (msgpack_packer *pk, const msg_t *self)
{
    if (self->trade_count > MSG_LIST_MAX)
        return -1;
    msgpack_pack_array (pk, self->trade_count);
    for (size_t i = 0; i < self->trade_count; i++) {
        msgpack_pack_array (pk, 5);
        if (s_pack_trade_fields (pk, &self->trades[i]))
            return -1;
    }
    return 0;
}

//  An entry is [stamp, number, name, side, quantity, key]: the stamp,
//  then the trade as in TRADES.
static int
s_pack_entries (msgpack_packer *pk, const msg_t *self)
{
    if (self->entry_count > MSG_LIST_MAX)
        return -1;
    msgpack_pack_array (pk, self->entry_count);
    for (size_t i = 0; i < self->entry_count; i++) {
        msgpack_pack_array (pk, 6);
        msgpack_pack_uint64 (pk, self->entries[i].stamp);
        if (s_pack_trade_fields (pk, &self->entries[i].trade))
            return -1;
    }
    return 0;
}

static int
s_pack_peers (msgpack_packer *pk, const msg_t *self)
{
    if (self->peer_count > MSG_PEERS_MAX)
        return -1;
    msgpack_pack_array (pk, self->peer_count);
    for (size_t i = 0; i < self->peer_count; i++) {
        const msg_peer_t *peer = &self->peers[i];
        msgpack_pack_array (pk, 5);
        msgpack_pack_uint64 (pk, peer->replica_id);
        msgpack_pack_uint8 (pk, peer->role);
        msgpack_pack_uint64 (pk, peer->number);
        msgpack_pack_uint64 (pk, peer->epoch);
        if (s_pack_str (pk, peer->rep, MSG_ENDPOINT_MAX))
            return -1;
    }
    return 0;
}

static int
s_pack_workers (msgpack_packer *pk, const msg_t *self)
{
    if (self->worker_count > MSG_PEERS_MAX)
        return -1;
    msgpack_pack_array (pk, self->worker_count);
    for (size_t i = 0; i < self->worker_count; i++) {
        const msg_worker_t *worker = &self->workers[i];
        msgpack_pack_array (pk, 8);
        if (s_pack_str (pk, worker->service, MSG_SERVICE_MAX))
            return -1;
        msgpack_pack_uint64 (pk, worker->replica_id);
        msgpack_pack_uint64 (pk, worker->incarnation);
        msgpack_pack_uint64 (pk, worker->age_ms);
        msgpack_pack_uint8 (pk, worker->registered);
        msgpack_pack_uint8 (pk, worker->role);
        msgpack_pack_uint64 (pk, worker->number);
        msgpack_pack_uint64 (pk, worker->epoch);
    }
    return 0;
}

static int
s_pack_in_sync (msgpack_packer *pk, const msg_t *self)
{
    if (self->in_sync_count > MSG_PEERS_MAX)
        return -1;
    msgpack_pack_array (pk, self->in_sync_count);
    for (size_t i = 0; i < self->in_sync_count; i++)
        msgpack_pack_uint64 (pk, self->in_sync[i]);
    return 0;
}

static int
s_pack_field (msgpack_packer *pk, const msg_t *self, char field)
{
    switch (field) {
        case 'r': return msgpack_pack_uint64 (pk, self->req_id);
        case 'n': return s_pack_str (pk, self->name, MSG_NAME_MAX);
        case 's': return s_pack_str (pk, self->service, MSG_SERVICE_MAX);
        case 'k': return s_pack_str (pk, self->key, MSG_KEY_MAX);
        case 't': return s_pack_str (pk, self->text, MSG_TEXT_MAX);
        case 'a': return s_pack_str (pk, self->pub, MSG_ENDPOINT_MAX);
        case 'b': return s_pack_str (pk, self->rep, MSG_ENDPOINT_MAX);
        case 'd': return msgpack_pack_uint8 (pk, self->side);
        case 'q': return msgpack_pack_uint64 (pk, self->quantity);
        case 'Q': return msgpack_pack_uint64 (pk, self->stock_qty);
        case 'N': return msgpack_pack_uint64 (pk, self->number);
        case 'A': return msgpack_pack_uint64 (pk, self->position);
        case 'M': return msgpack_pack_uint64 (pk, self->read_position);
        case 'p': return msgpack_pack_double (pk, self->price);
        case 'v': return msgpack_pack_uint64 (pk, self->version);
        case 'e': return msgpack_pack_uint64 (pk, self->epoch);
        case 'S': return msgpack_pack_uint64 (pk, self->seq);
        case 'i': return msgpack_pack_uint64 (pk, self->incarnation);
        case 'R': return msgpack_pack_uint64 (pk, self->replica_id);
        case 'c': return msgpack_pack_uint64 (pk, self->code);
        case 'L': return s_pack_stocks (pk, self);
        case 'o': return msgpack_pack_uint8 (pk, self->role);
        case 'T': return s_pack_trades (pk, self);
        case 'P': return s_pack_peers (pk, self);
        case 'D': return msgpack_pack_uint64 (pk, self->deadline);
        case 'W': return s_pack_workers (pk, self);
        case 'I': return s_pack_in_sync (pk, self);
        case 'u': return msgpack_pack_uint64 (pk, self->to);
        case 'f': return msgpack_pack_uint64 (pk, self->start);
        case 'h': return msgpack_pack_uint64 (pk, self->prev_stamp);
        case 'l': return msgpack_pack_uint64 (pk, self->last_stamp);
        case 'g': return msgpack_pack_uint64 (pk, self->length);
        case 'm': return msgpack_pack_uint64 (pk, self->commit);
        case 'x': return msgpack_pack_uint64 (pk, self->silent_leader);
        case 'w': return msgpack_pack_uint64 (pk, self->stamp);
        case 'E': return s_pack_entries (pk, self);
        default: return -1;
    }
}

int
msg_encode (const msg_t *self, msgpack_sbuffer *out)
{
    const s_spec_t *spec = s_spec (self->type);
    if (!spec)
        return -1;
    out->size = 0;
    msgpack_packer pk;
    msgpack_packer_init (&pk, out, msgpack_sbuffer_write);
    msgpack_pack_array (&pk, 2 + strlen (spec->fields));
    msgpack_pack_uint8 (&pk, MSG_VERSION);
    msgpack_pack_uint8 (&pk, (uint8_t) self->type);
    for (const char *field = spec->fields; *field; field++)
        if (s_pack_field (&pk, self, *field))
            return -1;
    return out->size > MSG_FRAME_MAX ? -1 : 0;
}

//  ---------------------------------------------------------------------
//  Decoding: every helper returns MSG_DECODE_OK or a negative error.

static int
s_get_uint (const msgpack_object *obj, uint64_t max, uint64_t *value)
{
    if (obj->type != MSGPACK_OBJECT_POSITIVE_INTEGER || obj->via.u64 > max)
        return MSG_DECODE_FIELD;
    *value = obj->via.u64;
    return MSG_DECODE_OK;
}

static int
s_get_str (const msgpack_object *obj, char *dest, size_t max)
{
    if (obj->type != MSGPACK_OBJECT_STR)
        return MSG_DECODE_FIELD;
    if (obj->via.str.size > max)
        return MSG_DECODE_TOO_LONG;
    //  msgpack-c gives an empty string a NULL ptr: memchr/memcpy must not see it.
    if (obj->via.str.size && memchr (obj->via.str.ptr, '\0', obj->via.str.size))
        return MSG_DECODE_FIELD;
    if (obj->via.str.size)
        memcpy (dest, obj->via.str.ptr, obj->via.str.size);
    dest[obj->via.str.size] = '\0';
    return MSG_DECODE_OK;
}

static int
s_get_double (const msgpack_object *obj, double *value)
{
    if (obj->type != MSGPACK_OBJECT_FLOAT64 && obj->type != MSGPACK_OBJECT_FLOAT32)
        return MSG_DECODE_FIELD;
    if (!isfinite (obj->via.f64))
        return MSG_DECODE_FIELD;
    *value = obj->via.f64;
    return MSG_DECODE_OK;
}

//  Checks obj is an array of at most max arrays of `width`; returns its length.
static int
s_get_list (const msgpack_object *obj, uint32_t width, size_t max, size_t *count)
{
    if (obj->type != MSGPACK_OBJECT_ARRAY)
        return MSG_DECODE_FIELD;
    if (obj->via.array.size > max)
        return MSG_DECODE_TOO_LONG;
    for (uint32_t i = 0; i < obj->via.array.size; i++) {
        const msgpack_object *item = &obj->via.array.ptr[i];
        if (item->type != MSGPACK_OBJECT_ARRAY || item->via.array.size != width)
            return MSG_DECODE_FIELD;
    }
    *count = obj->via.array.size;
    return MSG_DECODE_OK;
}

static int
s_get_stocks (const msgpack_object *obj, msg_t *self)
{
    int rc = s_get_list (obj, 4, MSG_LIST_MAX, &self->stock_count);
    if (rc || self->stock_count == 0)
        return rc;
    self->stocks = calloc (self->stock_count, sizeof (msg_stock_t));
    if (!self->stocks)
        return MSG_DECODE_TOO_LONG;
    for (size_t i = 0; i < self->stock_count && !rc; i++) {
        const msgpack_object *f = obj->via.array.ptr[i].via.array.ptr;
        msg_stock_t *stock = &self->stocks[i];
        rc = s_get_str (&f[0], stock->name, MSG_NAME_MAX);
        if (!rc)
            rc = s_get_double (&f[1], &stock->price);
        if (!rc)
            rc = s_get_uint (&f[2], UINT64_MAX, &stock->stock_qty);
        if (!rc)
            rc = s_get_uint (&f[3], UINT64_MAX, &stock->version);
    }
    return rc;
}

//  A trade's five fields from f[0..4] (s_pack_trade_fields' order).
static int
s_get_trade_fields (const msgpack_object *f, msg_trade_t *trade)
{
    uint64_t side = 0;
    int rc = s_get_uint (&f[0], UINT64_MAX, &trade->number);
    if (!rc)
        rc = s_get_str (&f[1], trade->name, MSG_NAME_MAX);
    if (!rc)
        rc = s_get_uint (&f[2], MSG_SIDE_SELL, &side);
    if (!rc)
        rc = s_get_uint (&f[3], MSG_QUANTITY_MAX, &trade->quantity);
    if (!rc)
        rc = s_get_str (&f[4], trade->key, MSG_KEY_MAX);
    trade->side = (uint8_t) side;
    return rc;
}

static int
s_get_trades (const msgpack_object *obj, msg_t *self)
{
    int rc = s_get_list (obj, 5, MSG_LIST_MAX, &self->trade_count);
    if (rc || self->trade_count == 0)
        return rc;
    self->trades = calloc (self->trade_count, sizeof (msg_trade_t));
    if (!self->trades)
        return MSG_DECODE_TOO_LONG;
    for (size_t i = 0; i < self->trade_count && !rc; i++)
        rc = s_get_trade_fields (obj->via.array.ptr[i].via.array.ptr, &self->trades[i]);
    return rc;
}

static int
s_get_entries (const msgpack_object *obj, msg_t *self)
{
    int rc = s_get_list (obj, 6, MSG_LIST_MAX, &self->entry_count);
    if (rc || self->entry_count == 0)
        return rc;
    self->entries = calloc (self->entry_count, sizeof (msg_entry_t));
    if (!self->entries)
        return MSG_DECODE_TOO_LONG;
    for (size_t i = 0; i < self->entry_count && !rc; i++) {
        const msgpack_object *f = obj->via.array.ptr[i].via.array.ptr;
        rc = s_get_uint (&f[0], UINT64_MAX, &self->entries[i].stamp);
        if (!rc)
            rc = s_get_trade_fields (&f[1], &self->entries[i].trade);
    }
    return rc;
}

static int
s_get_peers (const msgpack_object *obj, msg_t *self)
{
    int rc = s_get_list (obj, 5, MSG_PEERS_MAX, &self->peer_count);
    if (rc || self->peer_count == 0)
        return rc;
    self->peers = calloc (self->peer_count, sizeof (msg_peer_t));
    if (!self->peers)
        return MSG_DECODE_TOO_LONG;
    for (size_t i = 0; i < self->peer_count && !rc; i++) {
        const msgpack_object *f = obj->via.array.ptr[i].via.array.ptr;
        msg_peer_t *peer = &self->peers[i];
        uint64_t role = 0;
        rc = s_get_uint (&f[0], UINT64_MAX, &peer->replica_id);
        if (!rc)
            rc = s_get_uint (&f[1], MSG_ROLE_MAX, &role);
        if (!rc)
            rc = s_get_uint (&f[2], UINT64_MAX, &peer->number);
        if (!rc)
            rc = s_get_uint (&f[3], UINT64_MAX, &peer->epoch);
        if (!rc)
            rc = s_get_str (&f[4], peer->rep, MSG_ENDPOINT_MAX);
        peer->role = (uint8_t) role;
    }
    return rc;
}

static int
s_get_worker (const msgpack_object *f, msg_worker_t *worker)
{
    uint64_t registered = 0, role = 0;
    int rc = s_get_str (&f[0], worker->service, MSG_SERVICE_MAX);
    if (!rc)
        rc = s_get_uint (&f[1], UINT64_MAX, &worker->replica_id);
    if (!rc)
        rc = s_get_uint (&f[2], UINT64_MAX, &worker->incarnation);
    if (!rc)
        rc = s_get_uint (&f[3], UINT64_MAX, &worker->age_ms);
    if (!rc)
        rc = s_get_uint (&f[4], 1, &registered);
    if (!rc)
        rc = s_get_uint (&f[5], MSG_ROLE_MAX, &role);
    if (!rc)
        rc = s_get_uint (&f[6], UINT64_MAX, &worker->number);
    if (!rc)
        rc = s_get_uint (&f[7], UINT64_MAX, &worker->epoch);
    worker->registered = (uint8_t) registered;
    worker->role = (uint8_t) role;
    return rc;
}

static int
s_get_workers (const msgpack_object *obj, msg_t *self)
{
    int rc = s_get_list (obj, 8, MSG_PEERS_MAX, &self->worker_count);
    if (rc || self->worker_count == 0)
        return rc;
    self->workers = calloc (self->worker_count, sizeof (msg_worker_t));
    if (!self->workers)
        return MSG_DECODE_TOO_LONG;
    for (size_t i = 0; i < self->worker_count && !rc; i++)
        rc = s_get_worker (obj->via.array.ptr[i].via.array.ptr, &self->workers[i]);
    return rc;
}

//  A flat array of replica ids (not a list of arrays, so not s_get_list).
static int
s_get_in_sync (const msgpack_object *obj, msg_t *self)
{
    if (obj->type != MSGPACK_OBJECT_ARRAY)
        return MSG_DECODE_FIELD;
    if (obj->via.array.size > MSG_PEERS_MAX)
        return MSG_DECODE_TOO_LONG;
    self->in_sync_count = obj->via.array.size;
    if (self->in_sync_count == 0)
        return MSG_DECODE_OK;
    self->in_sync = calloc (self->in_sync_count, sizeof (uint64_t));
    if (!self->in_sync)
        return MSG_DECODE_TOO_LONG;
    int rc = MSG_DECODE_OK;
    for (size_t i = 0; i < self->in_sync_count && !rc; i++)
        rc = s_get_uint (&obj->via.array.ptr[i], UINT64_MAX, &self->in_sync[i]);
    return rc;
}

static int
s_get_field (const msgpack_object *obj, msg_t *self, char field)
{
    uint64_t side = 0;
    int rc;
    switch (field) {
        case 'r': return s_get_uint (obj, UINT64_MAX, &self->req_id);
        case 'n': return s_get_str (obj, self->name, MSG_NAME_MAX);
        case 's': return s_get_str (obj, self->service, MSG_SERVICE_MAX);
        case 'k': return s_get_str (obj, self->key, MSG_KEY_MAX);
        case 't': return s_get_str (obj, self->text, MSG_TEXT_MAX);
        case 'a': return s_get_str (obj, self->pub, MSG_ENDPOINT_MAX);
        case 'b': return s_get_str (obj, self->rep, MSG_ENDPOINT_MAX);
        case 'd':
            rc = s_get_uint (obj, MSG_SIDE_SELL, &side);
            self->side = (uint8_t) side;
            return rc;
        case 'q': return s_get_uint (obj, MSG_QUANTITY_MAX, &self->quantity);
        case 'Q': return s_get_uint (obj, UINT64_MAX, &self->stock_qty);
        case 'N': return s_get_uint (obj, UINT64_MAX, &self->number);
        case 'A': return s_get_uint (obj, UINT64_MAX, &self->position);
        case 'M': return s_get_uint (obj, UINT64_MAX, &self->read_position);
        case 'p': return s_get_double (obj, &self->price);
        case 'v': return s_get_uint (obj, UINT64_MAX, &self->version);
        case 'e': return s_get_uint (obj, UINT64_MAX, &self->epoch);
        case 'S': return s_get_uint (obj, UINT64_MAX, &self->seq);
        case 'i': return s_get_uint (obj, UINT64_MAX, &self->incarnation);
        case 'R': return s_get_uint (obj, UINT64_MAX, &self->replica_id);
        case 'c': return s_get_uint (obj, MSG_ERR_COUNT - 1, &self->code);
        case 'L': return s_get_stocks (obj, self);
        case 'o':
            rc = s_get_uint (obj, MSG_ROLE_MAX, &side);
            self->role = (uint8_t) side;
            return rc;
        case 'T': return s_get_trades (obj, self);
        case 'P': return s_get_peers (obj, self);
        case 'D': return s_get_uint (obj, UINT64_MAX, &self->deadline);
        case 'W': return s_get_workers (obj, self);
        case 'I': return s_get_in_sync (obj, self);
        case 'u': return s_get_uint (obj, UINT64_MAX, &self->to);
        case 'f': return s_get_uint (obj, UINT64_MAX, &self->start);
        case 'h': return s_get_uint (obj, UINT64_MAX, &self->prev_stamp);
        case 'l': return s_get_uint (obj, UINT64_MAX, &self->last_stamp);
        case 'g': return s_get_uint (obj, UINT64_MAX, &self->length);
        case 'm': return s_get_uint (obj, UINT64_MAX, &self->commit);
        case 'x': return s_get_uint (obj, UINT64_MAX, &self->silent_leader);
        case 'w': return s_get_uint (obj, UINT64_MAX, &self->stamp);
        case 'E': return s_get_entries (obj, self);
        default: return MSG_DECODE_FIELD;
    }
}

static int
s_decode_object (msg_t *self, const msgpack_object *root)
{
    if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size < 2)
        return MSG_DECODE_FORMAT;
    const msgpack_object *items = root->via.array.ptr;
    uint64_t version, type;
    if (s_get_uint (&items[0], UINT8_MAX, &version) || version != MSG_VERSION)
        return MSG_DECODE_VERSION;
    if (s_get_uint (&items[1], UINT8_MAX, &type))
        return MSG_DECODE_TYPE;
    const s_spec_t *spec = s_spec ((int) type);
    if (!spec)
        return MSG_DECODE_TYPE;
    if (root->via.array.size != 2 + strlen (spec->fields))
        return MSG_DECODE_FIELDS;
    self->type = (msg_type_t) type;
    for (size_t i = 0; spec->fields[i]; i++) {
        int rc = s_get_field (&items[2 + i], self, spec->fields[i]);
        if (rc)
            return rc;
    }
    return MSG_DECODE_OK;
}

//  Reads a big-endian length of width bytes at *offset. Returns 0 or -1.
static int
s_read_length (const unsigned char *data, size_t size, size_t *offset, int width,
               uint64_t *length)
{
    if (size - *offset < (size_t) width)
        return -1;
    *length = 0;
    for (int i = 0; i < width; i++)
        *length = *length << 8 | data[(*offset)++];
    return 0;
}

//  msgpack-c allocates room for every element an array or map header
//  claims before reading them, so the five bytes dd ff ff ff ff would ask
//  for 96 GB. Walk the headers first: every element takes at least one
//  byte, so a claim larger than the bytes left is refused, and no array
//  of ours holds more than MSG_LIST_MAX elements (nor any map one: maps
//  are never ours). Returns MSG_DECODE_OK, MSG_DECODE_FORMAT or
//  MSG_DECODE_TOO_LONG.
static int
s_check_claims (const unsigned char *data, size_t size)
{
    size_t offset = 0;
    uint64_t pending = 1;           //  elements still to walk
    while (pending > 0) {
        if (offset >= size)
            return -1;
        pending--;
        unsigned char byte = data[offset++];
        uint64_t length = 0;        //  payload bytes to skip
        uint64_t elements = 0;      //  elements the header adds
        int width = 0;              //  bytes of the length that follows
        int kind = 0;               //  what that length counts: 's'kip, 'a'rray, 'm'ap
        if (byte <= 0x7f || byte >= 0xe0 || byte == 0xc0 || byte == 0xc2 || byte == 0xc3)
            ;
        else
        if (byte <= 0x8f)
            elements = 2 * (uint64_t) (byte & 0x0f);
        else
        if (byte <= 0x9f)
            elements = byte & 0x0f;
        else
        if (byte <= 0xbf)
            length = byte & 0x1f;
        else
        switch (byte) {
            case 0xc4: case 0xd9: width = 1; kind = 's'; break;
            case 0xc5: case 0xda: width = 2; kind = 's'; break;
            case 0xc6: case 0xdb: width = 4; kind = 's'; break;
            case 0xc7: width = 1; kind = 's'; length = 1; break;
            case 0xc8: width = 2; kind = 's'; length = 1; break;
            case 0xc9: width = 4; kind = 's'; length = 1; break;
            case 0xca: case 0xce: case 0xd2: length = 4; break;
            case 0xcb: case 0xcf: case 0xd3: length = 8; break;
            case 0xcc: case 0xd0: length = 1; break;
            case 0xcd: case 0xd1: length = 2; break;
            case 0xd4: length = 2; break;
            case 0xd5: length = 3; break;
            case 0xd6: length = 5; break;
            case 0xd7: length = 9; break;
            case 0xd8: length = 17; break;
            case 0xdc: width = 2; kind = 'a'; break;
            case 0xdd: width = 4; kind = 'a'; break;
            case 0xde: width = 2; kind = 'm'; break;
            case 0xdf: width = 4; kind = 'm'; break;
            default: return -1;     //  0xc1 is never used
        }
        uint64_t claimed = 0;
        if (width && s_read_length (data, size, &offset, width, &claimed))
            return -1;
        if (kind == 's')
            length += claimed;
        else
        if (kind)
            elements = kind == 'm' ? 2 * claimed : claimed;
        if (elements > MSG_LIST_MAX)
            return elements > size - offset ? MSG_DECODE_FORMAT : MSG_DECODE_TOO_LONG;
        if (length > size - offset)
            return -1;
        offset += (size_t) length;
        pending += elements;
        if (pending > size - offset)
            return -1;
    }
    return 0;
}

//  Reads a positive integer of any msgpack width at *offset. Returns 0 or -1.
static int
s_peek_uint (const unsigned char *data, size_t size, size_t *offset, uint64_t *value)
{
    if (*offset >= size)
        return -1;
    unsigned char byte = data[(*offset)++];
    if (byte <= 0x7f) {
        *value = byte;
        return 0;
    }
    int width = byte == 0xcc ? 1 : byte == 0xcd ? 2 : byte == 0xce ? 4 : byte == 0xcf ? 8 : 0;
    return width ? s_read_length (data, size, offset, width, value) : -1;
}

//  Reads the array header, version, type and field count from the first bytes, so a
//  buffer that is not one of ours is refused before anything is unpacked.
//  Returns MSG_DECODE_OK or the error msg_decode would give.
static int
s_check_header (const unsigned char *data, size_t size)
{
    if (size == 0 || size > MSG_FRAME_MAX)
        return size ? MSG_DECODE_TOO_LONG : MSG_DECODE_FORMAT;
    size_t offset = 1;
    uint64_t count, version, type;
    if (data[0] >= 0x90 && data[0] <= 0x9f)
        count = data[0] & 0x0f;
    else
    if (data[0] == 0xdc || data[0] == 0xdd) {
        if (s_read_length (data, size, &offset, data[0] == 0xdc ? 2 : 4, &count))
            return MSG_DECODE_FORMAT;
    }
    else
        return MSG_DECODE_FORMAT;
    //  Every element takes a byte at least: a longer claim is not msgpack.
    if (count < 2 || count > size - offset)
        return MSG_DECODE_FORMAT;
    if (s_peek_uint (data, size, &offset, &version))
        return offset >= size ? MSG_DECODE_FORMAT : MSG_DECODE_VERSION;
    if (version != MSG_VERSION)
        return MSG_DECODE_VERSION;
    if (s_peek_uint (data, size, &offset, &type))
        return offset >= size ? MSG_DECODE_FORMAT : MSG_DECODE_TYPE;
    if (type > UINT8_MAX)
        return MSG_DECODE_TYPE;
    const s_spec_t *spec = s_spec ((int) type);
    if (!spec)
        return MSG_DECODE_TYPE;
    if (count != 2 + strlen (spec->fields))
        return MSG_DECODE_FIELDS;
    if (size > MSG_SMALL_MAX && !strpbrk (spec->fields, "LTPE"))
        return MSG_DECODE_TOO_LONG;
    return MSG_DECODE_OK;
}

int
msg_peek_req_id (const void *data, size_t size, uint64_t *req_id)
{
    if (s_check_header (data, size) != MSG_DECODE_OK)
        return -1;
    const unsigned char *bytes = data;
    size_t offset = bytes[0] == 0xdc ? 3 : bytes[0] == 0xdd ? 5 : 1;
    uint64_t version, type;
    if (s_peek_uint (bytes, size, &offset, &version) || s_peek_uint (bytes, size, &offset, &type))
        return -1;
    const s_spec_t *spec = s_spec ((int) type);
    if (!spec || spec->fields[0] != 'r')
        return -1;
    return s_peek_uint (bytes, size, &offset, req_id);
}

void
msg_topic (msg_type_t type, unsigned char topic[MSG_TOPIC_SIZE])
{
    //  Every type's field count and code are below 16 and 128: a fixarray
    //  byte and two positive fixints (msg_encode writes the same).
    const s_spec_t *spec = s_spec ((int) type);
    topic[0] = (unsigned char) (0x90 + 2 + (spec ? strlen (spec->fields) : 0));
    topic[1] = MSG_VERSION;
    topic[2] = (unsigned char) type;
}

void
msg_topics_any_shape (msg_type_t type, unsigned char topics[][MSG_TOPIC_SIZE])
{
    for (int fields = 0; fields < MSG_TOPIC_SHAPES; fields++) {
        msg_topic (type, topics[fields]);
        topics[fields][0] = (unsigned char) (0x90 + fields);
    }
}

int
msg_decode (msg_t *self, const void *data, size_t size)
{
    msg_reset (self);
    int rc = s_check_header (data, size);
    if (rc == MSG_DECODE_OK)
        rc = s_check_claims (data, size);
    if (rc)
        return rc;
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    msgpack_unpack_return ret = msgpack_unpack_next (&unpacked, data, size, &offset);
    if (ret != MSGPACK_UNPACK_SUCCESS)
        rc = MSG_DECODE_FORMAT;
    else
    if (offset != size)
        rc = MSG_DECODE_TRAILING;
    else
        rc = s_decode_object (self, &unpacked.data);
    msgpack_unpacked_destroy (&unpacked);
    if (rc)
        msg_reset (self);
    return rc;
}

//  ---------------------------------------------------------------------
//  TRADEREC without a msg_t

//  Reads a string at *offset as msgpack-c would give an accepted one
//  (fixstr, str 8/16/32; at most max bytes, no NUL) into dest. Returns 0,
//  or -1 for anything else, which is left to msg_decode.
static int
s_read_str (const unsigned char *data, size_t size, size_t *offset, size_t max, char *dest)
{
    if (*offset >= size)
        return -1;
    unsigned char byte = data[(*offset)++];
    uint64_t length = byte & 0x1f;
    if (byte == 0xd9 || byte == 0xda || byte == 0xdb) {
        if (s_read_length (data, size, offset, byte == 0xd9 ? 1 : byte == 0xda ? 2 : 4, &length))
            return -1;
    }
    else
    if (byte < 0xa0 || byte > 0xbf)
        return -1;
    if (length > max || length > size - *offset
        || (length && memchr (data + *offset, '\0', length)))
        return -1;
    memcpy (dest, data + *offset, length);
    dest[length] = '\0';
    *offset += length;
    return 0;
}

//  Reads a positive integer (fixint, uint 8..64) of at most max. Returns
//  0, or -1 for anything else, which is left to msg_decode.
static int
s_read_uint (const unsigned char *data, size_t size, size_t *offset, uint64_t max,
             uint64_t *value)
{
    return s_peek_uint (data, size, offset, value) || *value > max ? -1 : 0;
}

//  The TRADEREC (or ORDEREC) fields as msg_encode writes them: [fixarray]
//  [version][type] then each field in a form msg_decode accepts, and
//  nothing after. Returns 0, or -1 if data is anything else (not
//  necessarily wrong: a form msgpack allows that msg_encode does not
//  write). stamp and commit are read for an ORDEREC only.
static int
s_read_traderec (const unsigned char *data, size_t size, msg_type_t type, msg_trade_t *trade,
                 uint64_t *stamp, uint64_t *commit)
{
    unsigned char header[MSG_TOPIC_SIZE];
    msg_topic (type, header);
    if (size < sizeof (header) || memcmp (data, header, sizeof (header)))
        return -1;
    size_t offset = sizeof (header);
    uint64_t side;
    if (s_read_uint (data, size, &offset, UINT64_MAX, &trade->number)
        || s_read_str (data, size, &offset, MSG_NAME_MAX, trade->name)
        || s_read_uint (data, size, &offset, MSG_SIDE_SELL, &side)
        || s_read_uint (data, size, &offset, MSG_QUANTITY_MAX, &trade->quantity)
        || s_read_str (data, size, &offset, MSG_KEY_MAX, trade->key))
        return -1;
    if (type == MSG_ORDEREC
        && (s_read_uint (data, size, &offset, UINT64_MAX, stamp)
            || s_read_uint (data, size, &offset, UINT64_MAX, commit)))
        return -1;
    if (offset != size)
        return -1;
    trade->side = (uint8_t) side;
    return 0;
}

static int
s_decode_record (const void *data, size_t size, msg_type_t type, msg_trade_t *trade,
                 uint64_t *stamp, uint64_t *commit)
{
    if (s_read_traderec (data, size, type, trade, stamp, commit) == 0)
        return MSG_DECODE_OK;
    //  Not the usual form: msg_decode says what it is, so both agree.
    msg_t msg;
    msg_init (&msg, 0);
    int rc = msg_decode (&msg, data, size);
    if (rc == MSG_DECODE_OK && msg.type != type)
        rc = MSG_DECODE_TYPE;
    if (rc == MSG_DECODE_OK) {
        msg_get_trade (&msg, trade);
        *stamp = msg.stamp;
        *commit = msg.commit;
    }
    msg_reset (&msg);
    return rc;
}

int
msg_decode_trade (const void *data, size_t size, msg_trade_t *trade)
{
    uint64_t stamp, commit;
    return s_decode_record (data, size, MSG_TRADEREC, trade, &stamp, &commit);
}

int
msg_decode_order (const void *data, size_t size, msg_trade_t *trade, uint64_t *stamp,
                  uint64_t *commit)
{
    return s_decode_record (data, size, MSG_ORDEREC, trade, stamp, commit);
}
