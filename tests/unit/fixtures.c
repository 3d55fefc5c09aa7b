/*  fixtures.c - builds and compares messages for the msgs tests. */
#include "fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "unit.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const int fx_types[] = {
#define FX_TYPE(NAME, CODE, FIELDS, SERVICE, DOC) CODE,
    MSG_TABLE (FX_TYPE)
#undef FX_TYPE
};
const size_t fx_type_count = sizeof (fx_types) / sizeof (fx_types[0]);

typedef struct {
    int type;
    const char *fields;
} s_fields_t;

static const s_fields_t s_fields[] = {
#define FX_FIELDS(NAME, CODE, FIELDS, SERVICE, DOC) {CODE, FIELDS},
    MSG_TABLE (FX_FIELDS)
#undef FX_FIELDS
};

const char *
fx_fields (int type)
{
    for (size_t i = 0; i < fx_type_count; i++)
        if (s_fields[i].type == type)
            return s_fields[i].fields;
    return "";
}

//  Writes a string of length len (seed makes each field's text differ),
//  or "" in FX_MIN, or typical text, and the terminating NUL.
static void
s_fill (char *dest, size_t len, char seed, fx_variant_t variant, const char *typical)
{
    if (variant == FX_MIN)
        dest[0] = '\0';
    else if (variant == FX_TYPICAL)
        strcpy (dest, typical);
    else {
        for (size_t i = 0; i < len; i++)
            dest[i] = (char)('a' + (seed + i) % 26);
        dest[len] = '\0';
    }
}

static uint64_t
s_number (fx_variant_t variant, uint64_t typical)
{
    return variant == FX_MAX ? UINT64_MAX : variant == FX_MIN ? 0 : typical;
}

static size_t
s_list_length (fx_variant_t variant)
{
    return variant == FX_MAX ? 3 : variant == FX_MIN ? 0 : 2;
}

static void
s_build_stocks (msg_t *msg, fx_variant_t variant)
{
    msg->stock_count = s_list_length (variant);
    msg->stocks = msg->stock_count ? calloc (msg->stock_count, sizeof (msg_stock_t)) : NULL;
    for (size_t i = 0; i < msg->stock_count; i++) {
        msg_stock_t *stock = &msg->stocks[i];
        s_fill (stock->name, MSG_NAME_MAX, (char)i, variant, i ? "tesla" : "apple");
        stock->price = variant == FX_MAX ? DBL_MAX - (double)i * 1e300 : 152.59 + (double)i;
        stock->stock_qty = variant == FX_MAX ? UINT64_MAX - i : 1000 + i;
        stock->version = variant == FX_MAX ? UINT64_MAX - 2 * i : 7 + i;
    }
}

static void
s_build_trades (msg_t *msg, fx_variant_t variant)
{
    msg->trade_count = s_list_length (variant);
    msg->trades = msg->trade_count ? calloc (msg->trade_count, sizeof (msg_trade_t)) : NULL;
    for (size_t i = 0; i < msg->trade_count; i++) {
        msg_trade_t *trade = &msg->trades[i];
        trade->number = variant == FX_MAX ? UINT64_MAX - i : 41 + i;
        s_fill (trade->name, MSG_NAME_MAX, (char)(5 + i), variant, i ? "ford" : "nvidia");
        trade->side = (uint8_t)(i % 2 ? MSG_SIDE_BUY : MSG_SIDE_SELL);
        trade->quantity = variant == FX_MAX ? MSG_QUANTITY_MAX - i : 10 + i;
        s_fill (trade->key, MSG_KEY_MAX, (char)(9 + i), variant, i ? "" : "idem-\"key\"");
    }
}

//  Entry i is trade 41 + i (number = index, as cwire requires).
static void
s_build_entries (msg_t *msg, fx_variant_t variant)
{
    msg->entry_count = s_list_length (variant);
    msg->entries = msg->entry_count ? calloc (msg->entry_count, sizeof (msg_entry_t)) : NULL;
    for (size_t i = 0; i < msg->entry_count; i++) {
        msg_entry_t *entry = &msg->entries[i];
        entry->stamp = variant == FX_MAX ? UINT64_MAX - i : 7;
        msg_trade_t *trade = &entry->trade;
        trade->number = variant == FX_MAX ? UINT64_MAX - 2 + i : 41 + i;
        s_fill (trade->name, MSG_NAME_MAX, (char)(15 + i), variant, i ? "intel" : "amc");
        trade->side = (uint8_t)(i % 2 ? MSG_SIDE_SELL : MSG_SIDE_BUY);
        trade->quantity = variant == FX_MAX ? MSG_QUANTITY_MAX - i : 3 + i;
        s_fill (trade->key, MSG_KEY_MAX, (char)(17 + i), variant, i ? "" : "gw-7");
    }
}

static void
s_build_peers (msg_t *msg, fx_variant_t variant)
{
    msg->peer_count = s_list_length (variant);
    msg->peers = msg->peer_count ? calloc (msg->peer_count, sizeof (msg_peer_t)) : NULL;
    for (size_t i = 0; i < msg->peer_count; i++) {
        msg_peer_t *peer = &msg->peers[i];
        peer->replica_id = variant == FX_MAX ? UINT64_MAX - i : 1 + i;
        peer->role = (uint8_t)(i % (MSG_ROLE_MAX + 1));
        peer->number = variant == FX_MAX ? UINT64_MAX : 100 + i;
        peer->epoch = variant == FX_MAX ? UINT64_MAX : 7;
        s_fill (peer->rep, MSG_ENDPOINT_MAX, (char)(11 + i), variant, "tcp://127.0.0.1:5702");
    }
}

static void
s_build_workers (msg_t *msg, fx_variant_t variant)
{
    msg->worker_count = s_list_length (variant);
    msg->workers = msg->worker_count ? calloc (msg->worker_count, sizeof (msg_worker_t)) : NULL;
    for (size_t i = 0; i < msg->worker_count; i++) {
        msg_worker_t *worker = &msg->workers[i];
        s_fill (worker->service, MSG_SERVICE_MAX, (char)(13 + i), variant,
                i ? "order" : "catalog");
        worker->replica_id = variant == FX_MAX ? UINT64_MAX - i : i;
        worker->incarnation = variant == FX_MAX ? UINT64_MAX : 0x1234 + i;
        worker->age_ms = variant == FX_MAX ? UINT64_MAX : 120 + i;
        worker->registered = (uint8_t)(i % 2 == 0);
        worker->role = (uint8_t)((i + 1) % (MSG_ROLE_MAX + 1));
        worker->number = variant == FX_MAX ? UINT64_MAX : 500 - i;
        worker->epoch = variant == FX_MAX ? UINT64_MAX : 4;
    }
}

static void
s_build_in_sync (msg_t *msg, fx_variant_t variant)
{
    size_t count = s_list_length (variant);
    uint64_t ids[3] = {variant == FX_MAX ? UINT64_MAX : 1, 2, 0};
    if (msg_set_in_sync (msg, ids, count))
        fail_msg ("fixtures: msg_set_in_sync refused %zu ids", count);
}

static void
s_build_field (msg_t *msg, char field, fx_variant_t variant)
{
    switch (field) {
        case 'r':
            msg->req_id = s_number (variant, 12345);
            break;
        case 'n':
            s_fill (msg->name, MSG_NAME_MAX, 1, variant, "apple");
            break;
        case 's':
            s_fill (msg->service, MSG_SERVICE_MAX, 2, variant, "order");
            break;
        case 'k':
            s_fill (msg->key, MSG_KEY_MAX, 3, variant, "retry-key-7");
            break;
        case 't':
            s_fill (msg->text, MSG_TEXT_MAX, 4, variant, "stock not found");
            break;
        case 'a':
            s_fill (msg->pub, MSG_ENDPOINT_MAX, 5, variant, "tcp://127.0.0.1:5601");
            break;
        case 'b':
            s_fill (msg->rep, MSG_ENDPOINT_MAX, 6, variant, "tcp://127.0.0.1:5701");
            break;
        case 'd':
            msg->side = variant == FX_MAX ? MSG_SIDE_SELL : MSG_SIDE_BUY;
            break;
        case 'q':
            msg->quantity = variant == FX_MAX ? MSG_QUANTITY_MAX : variant == FX_MIN ? 1 : 25;
            break;
        case 'Q':
            msg->stock_qty = s_number (variant, 975);
            break;
        case 'N':
            msg->number = s_number (variant, 42);
            break;
        case 'A':
            msg->position = s_number (variant, 45);
            break;
        case 'M':
            msg->read_position = s_number (variant, 46);
            break;
        case 'p':
            msg->price = variant == FX_MAX ? DBL_MAX : variant == FX_MIN ? 0.0 : 152.59;
            break;
        case 'v':
            msg->version = s_number (variant, 43);
            break;
        case 'e':
            msg->epoch = s_number (variant, 3);
            break;
        case 'S':
            msg->seq = s_number (variant, 99);
            break;
        case 'i':
            msg->incarnation = s_number (variant, 0x5eed5eed5eedULL);
            break;
        case 'R':
            msg->replica_id = s_number (variant, 2);
            break;
        case 'c':
            msg->code = variant == FX_MAX   ? MSG_ERR_COUNT - 1
                        : variant == FX_MIN ? MSG_ERR_OK
                                            : MSG_ERR_NOT_ENOUGH;
            break;
        case 'L':
            s_build_stocks (msg, variant);
            break;
        case 'T':
            s_build_trades (msg, variant);
            break;
        case 'o':
            msg->role = variant == FX_MAX   ? MSG_ROLE_MAX
                        : variant == FX_MIN ? 0
                                            : MSG_ROLE_FOLLOWER;
            break;
        case 'P':
            s_build_peers (msg, variant);
            break;
        case 'D':
            msg->deadline = s_number (variant, 1767225600000ULL);
            break;
        case 'W':
            s_build_workers (msg, variant);
            break;
        case 'I':
            s_build_in_sync (msg, variant);
            break;
        case 'u':
            msg->to = s_number (variant, 3);
            break;
        case 'f':
            msg->start = s_number (variant, 41);
            break;
        case 'h':
            msg->prev_stamp = s_number (variant, 5);
            break;
        case 'l':
            msg->last_stamp = s_number (variant, 9);
            break;
        case 'g':
            msg->length = s_number (variant, 44);
            break;
        case 'm':
            msg->commit = s_number (variant, 40);
            break;
        case 'x':
            msg->silent_leader = s_number (variant, 3);
            break;
        case 'w':
            msg->stamp = s_number (variant, 7);
            break;
        case 'E':
            s_build_entries (msg, variant);
            break;
        default:
            fail_msg ("fixtures: unknown field letter '%c'", field);
    }
}

void
fx_build (msg_t *msg, int type, fx_variant_t variant)
{
    msg_init (msg, (msg_type_t)type);
    for (const char *field = fx_fields (type); *field; field++)
        s_build_field (msg, *field, variant);
}

static void
s_assert_same_price (double a, double b)
{
    assert_memory_equal (&a, &b, sizeof (double));
}

static void
s_assert_same_stocks (const msg_t *a, const msg_t *b)
{
    assert_int_equal (a->stock_count, b->stock_count);
    for (size_t i = 0; i < a->stock_count; i++) {
        assert_string_equal (a->stocks[i].name, b->stocks[i].name);
        s_assert_same_price (a->stocks[i].price, b->stocks[i].price);
        assert_int_equal (a->stocks[i].stock_qty, b->stocks[i].stock_qty);
        assert_int_equal (a->stocks[i].version, b->stocks[i].version);
    }
}

static void
s_assert_same_trades (const msg_t *a, const msg_t *b)
{
    assert_int_equal (a->trade_count, b->trade_count);
    for (size_t i = 0; i < a->trade_count; i++) {
        assert_int_equal (a->trades[i].number, b->trades[i].number);
        assert_string_equal (a->trades[i].name, b->trades[i].name);
        assert_int_equal (a->trades[i].side, b->trades[i].side);
        assert_int_equal (a->trades[i].quantity, b->trades[i].quantity);
        assert_string_equal (a->trades[i].key, b->trades[i].key);
    }
}

static void
s_assert_same_workers (const msg_t *a, const msg_t *b)
{
    assert_int_equal (a->worker_count, b->worker_count);
    for (size_t i = 0; i < a->worker_count; i++) {
        assert_string_equal (a->workers[i].service, b->workers[i].service);
        assert_int_equal (a->workers[i].replica_id, b->workers[i].replica_id);
        assert_int_equal (a->workers[i].incarnation, b->workers[i].incarnation);
        assert_int_equal (a->workers[i].age_ms, b->workers[i].age_ms);
        assert_int_equal (a->workers[i].registered, b->workers[i].registered);
        assert_int_equal (a->workers[i].role, b->workers[i].role);
        assert_int_equal (a->workers[i].number, b->workers[i].number);
        assert_int_equal (a->workers[i].epoch, b->workers[i].epoch);
    }
    assert_int_equal (a->in_sync_count, b->in_sync_count);
    for (size_t i = 0; i < a->in_sync_count; i++)
        assert_int_equal (a->in_sync[i], b->in_sync[i]);
}

static void
s_assert_same_consensus (const msg_t *a, const msg_t *b)
{
    assert_int_equal (a->to, b->to);
    assert_int_equal (a->start, b->start);
    assert_int_equal (a->prev_stamp, b->prev_stamp);
    assert_int_equal (a->last_stamp, b->last_stamp);
    assert_int_equal (a->length, b->length);
    assert_int_equal (a->commit, b->commit);
    assert_int_equal (a->entry_count, b->entry_count);
    for (size_t i = 0; i < a->entry_count; i++) {
        const msg_trade_t *x = &a->entries[i].trade, *y = &b->entries[i].trade;
        assert_int_equal (a->entries[i].stamp, b->entries[i].stamp);
        assert_int_equal (x->number, y->number);
        assert_string_equal (x->name, y->name);
        assert_int_equal (x->side, y->side);
        assert_int_equal (x->quantity, y->quantity);
        assert_string_equal (x->key, y->key);
    }
}

void
fx_assert_same (const msg_t *a, const msg_t *b)
{
    assert_int_equal (a->type, b->type);
    assert_int_equal (a->req_id, b->req_id);
    assert_string_equal (a->name, b->name);
    assert_string_equal (a->service, b->service);
    assert_string_equal (a->key, b->key);
    assert_string_equal (a->text, b->text);
    assert_string_equal (a->pub, b->pub);
    assert_string_equal (a->rep, b->rep);
    assert_int_equal (a->side, b->side);
    assert_int_equal (a->quantity, b->quantity);
    assert_int_equal (a->stock_qty, b->stock_qty);
    assert_int_equal (a->number, b->number);
    assert_int_equal (a->position, b->position);
    assert_int_equal (a->read_position, b->read_position);
    s_assert_same_price (a->price, b->price);
    assert_int_equal (a->version, b->version);
    assert_int_equal (a->epoch, b->epoch);
    assert_int_equal (a->seq, b->seq);
    assert_int_equal (a->incarnation, b->incarnation);
    assert_int_equal (a->replica_id, b->replica_id);
    assert_int_equal (a->code, b->code);
    s_assert_same_stocks (a, b);
    s_assert_same_trades (a, b);
    assert_int_equal (a->role, b->role);
    assert_int_equal (a->peer_count, b->peer_count);
    for (size_t i = 0; i < a->peer_count; i++) {
        assert_int_equal (a->peers[i].replica_id, b->peers[i].replica_id);
        assert_int_equal (a->peers[i].role, b->peers[i].role);
        assert_int_equal (a->peers[i].number, b->peers[i].number);
        assert_int_equal (a->peers[i].epoch, b->peers[i].epoch);
        assert_string_equal (a->peers[i].rep, b->peers[i].rep);
    }
    s_assert_same_workers (a, b);
    s_assert_same_consensus (a, b);
}

void
fx_encode (const msg_t *msg, msgpack_sbuffer *out)
{
    int rc = msg_encode (msg, out);
    if (rc != 0)
        fail_msg ("msg_encode refused a %s: %d", msg_type_name (msg->type), rc);
}

void
fx_expect_decode (const void *data, size_t size, int expected, const char *what)
{
    msg_t msg;
    msg_init (&msg, 0);
    int rc = msg_decode (&msg, data, size);
    if (rc != expected)
        fail_msg ("%s: msg_decode returned %d (%s), expected %d (%s)", what, rc,
                  msg_decode_strerror (rc), expected, msg_decode_strerror (expected));
    if (rc != MSG_DECODE_OK) {
        assert_null (msg.stocks);
        assert_null (msg.trades);
        assert_null (msg.peers);
        assert_null (msg.workers);
        assert_null (msg.in_sync);
        assert_null (msg.entries);
        assert_int_equal (msg.entry_count, 0);
        assert_int_equal (msg.stock_count, 0);
        assert_int_equal (msg.trade_count, 0);
        assert_int_equal (msg.peer_count, 0);
        assert_int_equal (msg.worker_count, 0);
        assert_int_equal (msg.in_sync_count, 0);
    }
    msg_reset (&msg);
}

int
fx_tmp_setup (void **state, const char *prefix, const char *file)
{
    fx_tmp_t *tmp = calloc (1, sizeof (fx_tmp_t));
    if (!tmp)
        return -1;
    snprintf (tmp->dir, sizeof (tmp->dir), "/tmp/bazaar-%s-XXXXXX", prefix);
    if (!mkdtemp (tmp->dir)) {
        free (tmp);
        return -1;
    }
    snprintf (tmp->path, sizeof (tmp->path), "%s/%s", tmp->dir, file);
    *state = tmp;
    return 0;
}

int
fx_tmp_teardown (void **state)
{
    fx_tmp_t *tmp = *state;
    unlink (tmp->path);
    int rc = rmdir (tmp->dir);
    free (tmp);
    return rc;
}

uint64_t
fx_file_size (const char *path)
{
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    return (uint64_t)st.st_size;
}
