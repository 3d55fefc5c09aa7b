/*  test_msgs.c - the wire codec: round trips, encode limits, formatting,
    service routing and error tables. Decoding of bad input is in
    test_msgs_decode.c.
*/
#include "fixtures.h"
#include "unit.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const fx_variant_t s_variants[] = {FX_MAX, FX_MIN, FX_TYPICAL};
#define VARIANT_COUNT (sizeof (s_variants) / sizeof (s_variants[0]))

//  ---------------------------------------------------------------------
//  Round trips

static void
test_round_trip_every_type (void **state)
{
    (void)state;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msg_t decoded; //  reused: msg_decode must free the previous lists
    msg_init (&decoded, 0);
    for (size_t t = 0; t < fx_type_count; t++)
        for (size_t v = 0; v < VARIANT_COUNT; v++) {
            msg_t msg;
            fx_build (&msg, fx_types[t], s_variants[v]);
            fx_encode (&msg, &buffer);
            assert_int_equal (msg_decode (&decoded, buffer.data, buffer.size), MSG_DECODE_OK);
            fx_assert_same (&msg, &decoded);
            msg_reset (&msg);
        }
    msg_reset (&decoded);
    msgpack_sbuffer_destroy (&buffer);
}

static void
test_round_trip_list_at_max_length (void **state)
{
    (void)state;
    msg_t msg;
    msg_init (&msg, MSG_TRADES);
    msg.trade_count = MSG_LIST_MAX;
    msg.trades = calloc (MSG_LIST_MAX, sizeof (msg_trade_t));
    assert_non_null (msg.trades);
    for (size_t i = 0; i < MSG_LIST_MAX; i++) {
        msg.trades[i].number = i;
        strcpy (msg.trades[i].name, "amc");
        msg.trades[i].quantity = 1 + i;
    }
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    fx_encode (&msg, &buffer);
    msg_t decoded;
    msg_init (&decoded, 0);
    assert_int_equal (msg_decode (&decoded, buffer.data, buffer.size), MSG_DECODE_OK);
    fx_assert_same (&msg, &decoded);
    msg_reset (&decoded);
    msg_reset (&msg);

    msg_init (&msg, MSG_LEADER);
    msg.peer_count = MSG_PEERS_MAX;
    msg.peers = calloc (MSG_PEERS_MAX, sizeof (msg_peer_t));
    assert_non_null (msg.peers);
    for (size_t i = 0; i < MSG_PEERS_MAX; i++) {
        msg.peers[i].replica_id = 1 + i;
        msg.peers[i].role = (uint8_t)(i % (MSG_ROLE_MAX + 1));
        msg.peers[i].number = 1000 + i;
        msg.peers[i].epoch = i / 2;
        memset (msg.peers[i].rep, 'a' + (int)(i % 26), MSG_ENDPOINT_MAX);
    }
    fx_encode (&msg, &buffer);
    assert_int_equal (msg_decode (&decoded, buffer.data, buffer.size), MSG_DECODE_OK);
    assert_int_equal (decoded.peer_count, MSG_PEERS_MAX);
    fx_assert_same (&msg, &decoded);
    msg_reset (&decoded);
    msg_reset (&msg);
    msgpack_sbuffer_destroy (&buffer);
}

//  The broker's LEADER announcement, with a peer in every role: each
//  value comes back in its own place.
static void
test_round_trip_leader_with_peers (void **state)
{
    (void)state;
    msg_t msg;
    msg_init (&msg, MSG_LEADER);
    msg.replica_id = 3;
    msg.epoch = 9;
    strcpy (msg.pub, "tcp://127.0.0.1:5603");
    strcpy (msg.rep, "tcp://127.0.0.1:5703");
    msg.peer_count = MSG_ROLE_MAX + 1;
    msg.peers = calloc (msg.peer_count, sizeof (msg_peer_t));
    assert_non_null (msg.peers);
    for (size_t i = 0; i < msg.peer_count; i++) {
        msg.peers[i].replica_id = 10 + i;
        msg.peers[i].role = (uint8_t)(MSG_ROLE_MAX - i);
        msg.peers[i].number = 100 * (i + 1);
        msg.peers[i].epoch = 9 - i;
        snprintf (msg.peers[i].rep, sizeof (msg.peers[i].rep), "tcp://10.0.0.%zu:57%02zu", i, i);
    }
    //  Fields of other types must not travel.
    msg.req_id = 77;
    msg.role = MSG_ROLE_LEADER;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    fx_encode (&msg, &buffer);
    msg_t decoded;
    msg_init (&decoded, 0);
    assert_int_equal (msg_decode (&decoded, buffer.data, buffer.size), MSG_DECODE_OK);
    assert_int_equal (decoded.type, MSG_LEADER);
    assert_int_equal (decoded.replica_id, 3);
    assert_int_equal (decoded.epoch, 9);
    assert_string_equal (decoded.pub, "tcp://127.0.0.1:5603");
    assert_string_equal (decoded.rep, "tcp://127.0.0.1:5703");
    assert_int_equal (decoded.req_id, 0);
    assert_int_equal (decoded.role, 0);
    assert_int_equal (decoded.peer_count, MSG_ROLE_MAX + 1);
    assert_non_null (decoded.peers);
    for (size_t i = 0; i < decoded.peer_count; i++) {
        char rep[64];
        snprintf (rep, sizeof (rep), "tcp://10.0.0.%zu:57%02zu", i, i);
        assert_int_equal (decoded.peers[i].replica_id, 10 + i);
        assert_int_equal (decoded.peers[i].role, MSG_ROLE_MAX - i);
        assert_int_equal (decoded.peers[i].number, 100 * (i + 1));
        assert_int_equal (decoded.peers[i].epoch, 9 - i);
        assert_string_equal (decoded.peers[i].rep, rep);
    }
    msg_reset (&decoded);

    //  No peers: an empty array, and no allocation.
    msg_reset (&msg);
    msg_init (&msg, MSG_LEADER);
    msg.replica_id = 0;
    fx_encode (&msg, &buffer);
    assert_int_equal (msg_decode (&decoded, buffer.data, buffer.size), MSG_DECODE_OK);
    assert_int_equal (decoded.peer_count, 0);
    assert_null (decoded.peers);
    msg_reset (&decoded);
    msg_reset (&msg);
    msgpack_sbuffer_destroy (&buffer);
}

//  The bytes on the wire are the contract with other implementations.
static void
test_encode_wire_bytes (void **state)
{
    (void)state;
    msg_t msg;
    msg_init (&msg, MSG_LOOKUP);
    msg.req_id = 7;
    strcpy (msg.name, "ab");
    msg.read_position = 300;
    msg.deadline = 1000;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    fx_encode (&msg, &buffer);
    fx_encode (&msg, &buffer); //  replaces, does not append
    //  LOOKUP "rnND": the position N (read-your-writes) before the deadline.
    const unsigned char expected[] = {0x96, 0x01, 0x0a, 0x07, 0xa2, 'a',  'b',
                                      0xcd, 0x01, 0x2c, 0xcd, 0x03, 0xe8};
    assert_int_equal (buffer.size, sizeof (expected));
    assert_memory_equal (buffer.data, expected, sizeof (expected));

    //  LEADER "ReabP": a peer is [replica_id, role, number, epoch, rep].
    msg_init (&msg, MSG_LEADER);
    msg.replica_id = 3;
    msg.epoch = 4;
    msg_peer_t peer = {3, MSG_ROLE_LEADER, 5, 4, "x"};
    msg.peers = &peer;
    msg.peer_count = 1;
    fx_encode (&msg, &buffer);
    const unsigned char leader[] = {0x97, 0x01, 0x02, 0x03, 0x04, 0xa0, 0xa0, 0x91,
                                    0x95, 0x03, 0x03, 0x05, 0x04, 0xa1, 'x'};
    assert_int_equal (buffer.size, sizeof (leader));
    assert_memory_equal (buffer.data, leader, sizeof (leader));

    //  HEARTBEAT "sRiabAeoIx": the role, the (empty) in-sync set, the
    //  silent leader.
    msg_init (&msg, MSG_HEARTBEAT);
    strcpy (msg.service, "order");
    msg.replica_id = 1;
    msg.incarnation = 2;
    msg.position = 6;
    msg.epoch = 4;
    msg.role = MSG_ROLE_CANDIDATE;
    msg.silent_leader = 3;
    fx_encode (&msg, &buffer);
    const unsigned char heartbeat[] = {0x9c, 0x01, 0x01, 0xa5, 'o',  'r',  'd',  'e',  'r',
                                       0x01, 0x02, 0xa0, 0xa0, 0x06, 0x04, 0x02, 0x90, 0x03};
    assert_int_equal (buffer.size, sizeof (heartbeat));
    assert_memory_equal (buffer.data, heartbeat, sizeof (heartbeat));
    msgpack_sbuffer_destroy (&buffer);
}

//  ---------------------------------------------------------------------
//  Encode limits

//  Fills a string field with max + 1 bytes and no NUL (the array holds
//  exactly that many). Returns false if field is not a string.
static bool
s_make_overlong (msg_t *msg, char field)
{
    char *dest;
    size_t max;
    switch (field) {
        case 'n':
            dest = msg->name;
            max = MSG_NAME_MAX;
            break;
        case 's':
            dest = msg->service;
            max = MSG_SERVICE_MAX;
            break;
        case 'k':
            dest = msg->key;
            max = MSG_KEY_MAX;
            break;
        case 't':
            dest = msg->text;
            max = MSG_TEXT_MAX;
            break;
        case 'a':
            dest = msg->pub;
            max = MSG_ENDPOINT_MAX;
            break;
        case 'b':
            dest = msg->rep;
            max = MSG_ENDPOINT_MAX;
            break;
        default:
            return false;
    }
    memset (dest, 'x', max + 1);
    return true;
}

//  msg_topic is what every encoded message of a type starts with.
static void
test_topic_is_the_start_of_every_encoded_message (void **state)
{
    (void)state;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    for (size_t t = 0; t < fx_type_count; t++)
        for (int variant = FX_MAX; variant <= FX_TYPICAL; variant++) {
            msg_t msg;
            fx_build (&msg, fx_types[t], (fx_variant_t) variant);
            unsigned char topic[MSG_TOPIC_SIZE];
            msg_topic (fx_types[t], topic);
            fx_encode (&msg, &buffer);
            assert_true (buffer.size > MSG_TOPIC_SIZE);
            assert_memory_equal (buffer.data, topic, MSG_TOPIC_SIZE);
            msg_reset (&msg);
        }
    msgpack_sbuffer_destroy (&buffer);
}

static void
test_encode_rejects_overlong_strings (void **state)
{
    (void)state;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    size_t checked = 0;
    for (size_t t = 0; t < fx_type_count; t++)
        for (const char *field = fx_fields (fx_types[t]); *field; field++) {
            msg_t msg;
            fx_build (&msg, fx_types[t], FX_TYPICAL);
            if (s_make_overlong (&msg, *field)) {
                assert_int_equal (msg_encode (&msg, &buffer), -1);
                checked++;
            }
            msg_reset (&msg);
        }
    assert_true (checked >= 16); //  the string fields of MSG_TABLE today
    msgpack_sbuffer_destroy (&buffer);
}

static void
test_encode_rejects_overlong_list_strings (void **state)
{
    (void)state;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msg_t msg;
    fx_build (&msg, MSG_STOCKS, FX_TYPICAL);
    memset (msg.stocks[1].name, 'x', MSG_NAME_MAX + 1);
    assert_int_equal (msg_encode (&msg, &buffer), -1);
    msg_reset (&msg);

    fx_build (&msg, MSG_TRADES, FX_TYPICAL);
    memset (msg.trades[1].name, 'x', MSG_NAME_MAX + 1);
    assert_int_equal (msg_encode (&msg, &buffer), -1);
    msg_reset (&msg);

    fx_build (&msg, MSG_TRADES, FX_TYPICAL);
    memset (msg.trades[0].key, 'x', MSG_KEY_MAX + 1);
    assert_int_equal (msg_encode (&msg, &buffer), -1);
    msg_reset (&msg);

    //  A peer's rep at its limit encodes; one byte more does not, in the
    //  first peer or a later one.
    for (size_t i = 0; i < 2; i++) {
        fx_build (&msg, MSG_LEADER, FX_TYPICAL);
        assert_int_equal (msg.peer_count, 2);
        memset (msg.peers[i].rep, 'x', MSG_ENDPOINT_MAX);
        msg.peers[i].rep[MSG_ENDPOINT_MAX] = '\0';
        assert_int_equal (msg_encode (&msg, &buffer), 0);
        msg.peers[i].rep[MSG_ENDPOINT_MAX] = 'x';
        assert_int_equal (msg_encode (&msg, &buffer), -1);
        msg_reset (&msg);
    }
    msgpack_sbuffer_destroy (&buffer);
}

static void
test_encode_rejects_overlong_lists (void **state)
{
    (void)state;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msg_t msg;
    msg_init (&msg, MSG_STOCKS);
    msg.stock_count = MSG_LIST_MAX + 1;
    msg.stocks = calloc (msg.stock_count, sizeof (msg_stock_t));
    assert_int_equal (msg_encode (&msg, &buffer), -1);
    msg_reset (&msg);

    msg_init (&msg, MSG_TRADES);
    msg.trade_count = MSG_LIST_MAX + 1;
    msg.trades = calloc (msg.trade_count, sizeof (msg_trade_t));
    assert_int_equal (msg_encode (&msg, &buffer), -1);
    msg_reset (&msg);

    //  Peers have their own, much smaller, limit.
    msg_init (&msg, MSG_LEADER);
    msg.peers = calloc (MSG_PEERS_MAX + 1, sizeof (msg_peer_t));
    assert_non_null (msg.peers);
    msg.peer_count = MSG_PEERS_MAX;
    assert_int_equal (msg_encode (&msg, &buffer), 0);
    msg.peer_count = MSG_PEERS_MAX + 1;
    assert_int_equal (msg_encode (&msg, &buffer), -1);
    msg_reset (&msg);
    msgpack_sbuffer_destroy (&buffer);
}

static void
test_encode_rejects_unknown_type (void **state)
{
    (void)state;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    const int unknown[] = {0, 3, 16, 23, 47, 63, 74, 99, 255, 256, MSG_LOOKUP + 256, -1};
    for (size_t i = 0; i < sizeof (unknown) / sizeof (unknown[0]); i++) {
        msg_t msg;
        msg_init (&msg, (msg_type_t)unknown[i]);
        assert_int_equal (msg_encode (&msg, &buffer), -1);
    }
    //  Every code a byte can hold: encoded exactly when it is in MSG_TABLE.
    for (int code = 0; code <= 256; code++) {
        bool known = false;
        for (size_t t = 0; t < fx_type_count; t++)
            known |= fx_types[t] == code;
        msg_t msg;
        msg_init (&msg, (msg_type_t)code);
        if (msg_encode (&msg, &buffer) != (known ? 0 : -1))
            fail_msg ("msg_encode of type code %d: expected %s", code, known ? "0" : "-1");
    }
    msgpack_sbuffer_destroy (&buffer);
}

//  ---------------------------------------------------------------------
//  Formatting

static void
test_format_human_exact (void **state)
{
    (void)state;
    msg_t msg;
    msg_init (&msg, MSG_LOOKUP);
    msg.req_id = 7;
    strcpy (msg.name, "apple");
    char line[256];
    msg.read_position = 12;
    const char *expected = "LOOKUP req_id=7 name=\"apple\" read_position=12 deadline=0";
    assert_int_equal (msg_format (&msg, false, line, sizeof (line)), strlen (expected));
    assert_string_equal (line, expected);

    fx_build (&msg, MSG_STOCKS, FX_TYPICAL);
    msg_format (&msg, false, line, sizeof (line));
    assert_string_equal (line, "STOCKS req_id=12345 stocks=2");
    msg_reset (&msg);
}

static void
test_format_json_exact (void **state)
{
    (void)state;
    msg_t msg;
    msg_init (&msg, MSG_TRADE);
    msg.req_id = 7;
    strcpy (msg.name, "apple");
    msg.side = MSG_SIDE_SELL;
    msg.quantity = 10;
    strcpy (msg.key, "k");
    char line[256];
    msg_format (&msg, true, line, sizeof (line));
    assert_string_equal (line, "{\"type\":\"TRADE\",\"req_id\":7,\"name\":\"apple\","
                               "\"side\":\"sell\",\"quantity\":10,\"key\":\"k\","
                               "\"deadline\":0}");
}

static void
test_format_roles_and_peers_exact (void **state)
{
    (void)state;
    msg_t msg;
    msg_init (&msg, MSG_HEARTBEAT);
    strcpy (msg.service, "order");
    msg.replica_id = 2;
    msg.incarnation = 5;
    msg.position = 8;
    msg.epoch = 1;
    msg.role = MSG_ROLE_CATCHING_UP;
    char line[512];
    msg_format (&msg, false, line, sizeof (line));
    assert_string_equal (line, "HEARTBEAT service=\"order\" replica_id=2 incarnation=5 pub=\"\" "
                               "rep=\"\" position=8 epoch=1 role=catching-up in_sync=[] "
                               "silent_leader=0");
    msg.role = MSG_ROLE_LEADER;
    msg_format (&msg, true, line, sizeof (line));
    assert_string_equal (line, "{\"type\":\"HEARTBEAT\",\"service\":\"order\",\"replica_id\":2,"
                               "\"incarnation\":5,\"pub\":\"\",\"rep\":\"\",\"position\":8,"
                               "\"epoch\":1,\"role\":\"leader\",\"in_sync\":[],"
                               "\"silent_leader\":0}");

    msg_peer_t peers[2] = {{2, MSG_ROLE_LEADER, 8, 1, "tcp://a"},
                           {1, MSG_ROLE_FOLLOWER, 7, 1, "tcp://\"b\""}};
    msg_init (&msg, MSG_LEADER);
    msg.replica_id = 2;
    msg.epoch = 1;
    msg.peers = peers;
    msg.peer_count = 2;
    msg_format (&msg, false, line, sizeof (line));
    assert_string_equal (line, "LEADER replica_id=2 epoch=1 pub=\"\" rep=\"\" "
                               "peers=[2:leader@8/e1 1:follower@7/e1]");
    msg_format (&msg, true, line, sizeof (line));
    assert_string_equal (line, "{\"type\":\"LEADER\",\"replica_id\":2,\"epoch\":1,\"pub\":\"\","
                               "\"rep\":\"\",\"peers\":["
                               "{\"replica_id\":2,\"role\":\"leader\",\"number\":8,"
                               "\"epoch\":1,\"rep\":\"tcp://a\"},"
                               "{\"replica_id\":1,\"role\":\"follower\",\"number\":7,"
                               "\"epoch\":1,\"rep\":\"tcp://\\\"b\\\"\"}]}");
    msg.peer_count = 0;
    msg_format (&msg, false, line, sizeof (line));
    assert_string_equal (line, "LEADER replica_id=2 epoch=1 pub=\"\" rep=\"\" peers=[]");
}

//  The human line starts with the type name and is one line.
static void
s_check_human (const msg_t *msg)
{
    char line[4096];
    int len = msg_format (msg, false, line, sizeof (line));
    assert_true (len > 0 && (size_t)len < sizeof (line));
    assert_int_equal (strlen (line), len);
    const char *name = msg_type_name (msg->type);
    assert_memory_equal (line, name, strlen (name));
    assert_true (line[strlen (name)] == ' ' || line[strlen (name)] == '\0');
    assert_null (strchr (line, '\n'));
}

//  The JSON line parses, names the type and has one key per field.
static void
s_check_json (const msg_t *msg)
{
    char line[4096];
    int len = msg_format (msg, true, line, sizeof (line));
    assert_true (len > 0 && (size_t)len < sizeof (line));
    //  JSON allows any integer; jansson reads those over INT64_MAX as reals.
    json_error_t error;
    json_t *root = json_loads (line, JSON_DECODE_INT_AS_REAL, &error);
    if (!root)
        fail_msg ("invalid JSON (%s): %s", error.text, line);
    assert_true (json_is_object (root));
    assert_string_equal (json_string_value (json_object_get (root, "type")),
                         msg_type_name (msg->type));
    assert_int_equal (json_object_size (root), 1 + strlen (fx_fields (msg->type)));
    json_decref (root);
}

static void
test_format_every_type (void **state)
{
    (void)state;
    for (size_t t = 0; t < fx_type_count; t++)
        for (size_t v = 0; v < VARIANT_COUNT; v++) {
            msg_t msg;
            fx_build (&msg, fx_types[t], s_variants[v]);
            s_check_human (&msg);
            s_check_json (&msg);
            msg_reset (&msg);
        }
}

static void
test_format_json_escapes_hostile_strings (void **state)
{
    (void)state;
    const char *hostile = "a\"b\\c\nd\re\tf\x01g\x1fh\x7f\",\"type\":\"x";
    msg_t msg;
    msg_init (&msg, MSG_ERROR);
    strcpy (msg.text, hostile);
    char line[1024];
    msg_format (&msg, true, line, sizeof (line));
    json_error_t error;
    json_t *root = json_loads (line, JSON_DECODE_INT_AS_REAL, &error);
    if (!root)
        fail_msg ("invalid JSON (%s): %s", error.text, line);
    assert_string_equal (json_string_value (json_object_get (root, "text")), hostile);
    assert_string_equal (json_string_value (json_object_get (root, "type")), "ERROR");
    json_decref (root);

    msg_format (&msg, false, line, sizeof (line));
    for (const char *c = line; *c; c++)
        assert_true ((unsigned char)*c >= 0x20 && *c != 0x7f);
}

static void
test_format_truncates_like_snprintf (void **state)
{
    (void)state;
    msg_t msg;
    msg_init (&msg, MSG_LOOKUP);
    msg.req_id = 7;
    strcpy (msg.name, "apple");
    const char *full = "LOOKUP req_id=7 name=\"apple\" read_position=0 deadline=0";
    char line[10];
    memset (line, '#', sizeof (line));
    assert_int_equal (msg_format (&msg, false, line, sizeof (line)), strlen (full));
    assert_string_equal (line, "LOOKUP re");
    assert_int_equal (msg_format (&msg, true, NULL, 0), msg_format (&msg, true, line, 1));
    assert_string_equal (line, "");
}

static void
test_format_unknown_type (void **state)
{
    (void)state;
    msg_t msg;
    msg_init (&msg, (msg_type_t)99);
    char line[64];
    msg_format (&msg, false, line, sizeof (line));
    assert_string_equal (line, "UNKNOWN");
    msg_format (&msg, true, line, sizeof (line));
    assert_string_equal (line, "{\"type\":\"UNKNOWN\"}");
}

//  ---------------------------------------------------------------------
//  Tables: names, services, replies, errors

typedef struct {
    int type;
    const char *name;
    const char *service;
    bool reply;
} s_type_case_t;

static const s_type_case_t s_type_cases[] = {
    {MSG_HEARTBEAT, "HEARTBEAT", NULL, false},
    {MSG_LOOKUP, "LOOKUP", "catalog", false},
    {MSG_LIST, "LIST", "catalog", false},
    {MSG_TRADE, "TRADE", "order", false},
    {MSG_QUERY, "QUERY", "order", false},
    {MSG_STOCK, "STOCK", NULL, true},
    {MSG_STOCKS, "STOCKS", NULL, true},
    {MSG_COMMITTED, "COMMITTED", NULL, true},
    {MSG_ORDER, "ORDER", NULL, true},
    {MSG_TRADES, "TRADES", NULL, true},
    {MSG_ERROR, "ERROR", NULL, true},
    {MSG_INVALIDATE, "INVALIDATE", NULL, false},
    {MSG_LEARN, "LEARN", NULL, false},
    {MSG_STOCKDEF, "STOCKDEF", NULL, false},
    {MSG_TRADEREC, "TRADEREC", NULL, false},
    {MSG_LEADER, "LEADER", NULL, false},
    {MSG_STATUS, "STATUS", "broker", false},
    {MSG_VIEW, "VIEW", NULL, true},
    {MSG_RANGE, "RANGE", NULL, false},
    {MSG_ORDEREC, "ORDEREC", NULL, false},
    {MSG_CS_PREPARE, "CS_PREPARE", NULL, false},
    {MSG_CS_PROMISE, "CS_PROMISE", NULL, false},
    {MSG_CS_REFUSE, "CS_REFUSE", NULL, false},
    {MSG_CS_APPEND, "CS_APPEND", NULL, false},
    {MSG_CS_ACK, "CS_ACK", NULL, false},
    {MSG_CS_FETCH, "CS_FETCH", NULL, false},
    {MSG_CS_ENTRIES, "CS_ENTRIES", NULL, false},
    {0, "UNKNOWN", NULL, false},
    {47, "UNKNOWN", NULL, false},
    //  Retired with consensus: their codes name nothing.
    {12, "UNKNOWN", NULL, false},
    {13, "UNKNOWN", NULL, false},
    {14, "UNKNOWN", NULL, false},
    {45, "UNKNOWN", NULL, false},
    {61, "UNKNOWN", NULL, false},
    {62, "UNKNOWN", NULL, false},
    {72, "UNKNOWN", NULL, false},
    {99, "UNKNOWN", NULL, false},
    {-1, "UNKNOWN", NULL, false},
};
#define TYPE_CASE_COUNT (sizeof (s_type_cases) / sizeof (s_type_cases[0]))

static void
test_type_names_services_replies (void **state)
{
    (void)state;
    for (size_t i = 0; i < TYPE_CASE_COUNT; i++) {
        const s_type_case_t *c = &s_type_cases[i];
        assert_string_equal (msg_type_name (c->type), c->name);
        if (c->service)
            assert_string_equal (msg_service (c->type), c->service);
        else
            assert_null (msg_service (c->type));
        assert_int_equal (msg_is_reply (c->type), c->reply);
    }
}

//  A type added to MSG_TABLE must get a row above.
static void
test_type_cases_cover_table (void **state)
{
    (void)state;
    for (size_t t = 0; t < fx_type_count; t++) {
        bool found = false;
        for (size_t i = 0; i < TYPE_CASE_COUNT; i++)
            found |= s_type_cases[i].type == fx_types[t];
        if (!found)
            fail_msg ("no test row for type %s", msg_type_name (fx_types[t]));
    }
}

static void
test_role_names (void **state)
{
    (void)state;
    assert_string_equal (msg_role_name (MSG_ROLE_CATCHING_UP), "catching-up");
    assert_string_equal (msg_role_name (MSG_ROLE_FOLLOWER), "follower");
    assert_string_equal (msg_role_name (MSG_ROLE_CANDIDATE), "candidate");
    assert_string_equal (msg_role_name (MSG_ROLE_LEADER), "leader");
    assert_string_equal (msg_role_name (MSG_ROLE_MAX + 1), "unknown");
    assert_string_equal (msg_role_name (255), "unknown");
    assert_string_equal (msg_role_name (-1), "unknown");
    //  Every legal role has its own name.
    for (int a = 0; a <= MSG_ROLE_MAX; a++)
        for (int b = a + 1; b <= MSG_ROLE_MAX; b++)
            assert_string_not_equal (msg_role_name (a), msg_role_name (b));
}

static void
test_error_http_and_text (void **state)
{
    (void)state;
    const struct {
        uint64_t code;
        int http;
        const char *text;
    } cases[] = {
        {MSG_ERR_OK, 200, "ok"},
        {MSG_ERR_STOCK_NOT_FOUND, 404, "stock not found"},
        {MSG_ERR_TXN_NOT_FOUND, 404, "transaction not found"},
        {MSG_ERR_NOT_ENOUGH, 409, "not enough stocks available to buy"},
        {MSG_ERR_INVALID_TYPE, 400, "invalid request type"},
        {MSG_ERR_INVALID_QUANTITY, 400, "invalid number of stocks"},
        {MSG_ERR_MALFORMED, 400, "malformed request"},
        {MSG_ERR_UNAVAILABLE, 503, "service unavailable"},
        {MSG_ERR_STALE_EPOCH, 503, "service unavailable"},
        {MSG_ERR_REFUSED, 503, "service unavailable"},
        {MSG_ERR_BAD_MESSAGE, 400, "malformed request"},
        {MSG_ERR_INTERNAL, 500, "internal error"},
        {MSG_ERR_KEY_REUSED, 422, "idempotency key reused with a different request"},
        {MSG_ERR_OUTCOME_UNKNOWN, 504, "outcome unknown"},
        {MSG_ERR_NO_ROUTE, 404, "not found"},
        {MSG_ERR_METHOD_NOT_ALLOWED, 405, "method not allowed"},
        {MSG_ERR_TOO_LARGE, 413, "request too large"},
        {MSG_ERR_INVALID_NUMBER, 400, "invalid order number"},
        {MSG_ERR_COUNT, 500, "internal error"},
        {UINT64_MAX, 500, "internal error"},
    };
    size_t count = sizeof (cases) / sizeof (cases[0]);
    assert_int_equal (count, MSG_ERR_COUNT + 2); //  a new code needs a row
    for (size_t i = 0; i < count; i++) {
        assert_int_equal (msg_error_http (cases[i].code), cases[i].http);
        assert_string_equal (msg_error_text (cases[i].code), cases[i].text);
    }
}

static void
test_decode_strerror (void **state)
{
    (void)state;
    assert_string_equal (msg_decode_strerror (MSG_DECODE_OK), "ok");
    for (int rc = MSG_DECODE_FORMAT; rc >= MSG_DECODE_TOO_LONG; rc--) {
        const char *text = msg_decode_strerror (rc);
        assert_string_not_equal (text, "unknown error");
        for (int other = rc + 1; other <= MSG_DECODE_OK; other++)
            assert_string_not_equal (text, msg_decode_strerror (other));
    }
    assert_string_equal (msg_decode_strerror (MSG_DECODE_TOO_LONG - 1), "unknown error");
    assert_string_equal (msg_decode_strerror (1), "unknown error");
}

//  A deadline is wall-clock ms; 0 means none; "at or before now" expired.
static void
test_deadline_expiry (void **state)
{
    (void)state;
    uint64_t now = msg_now_ms ();
    assert_true (now > 1600000000000ULL); //  after 2020: the Unix epoch, in ms
    msg_t msg;
    msg_init (&msg, MSG_TRADE);
    assert_false (msg_expired (&msg, now));
    assert_false (msg_expired (&msg, UINT64_MAX));
    msg.deadline = now;
    assert_true (msg_expired (&msg, now));
    assert_false (msg_expired (&msg, now - 1));
    msg.deadline = now + 1000;
    assert_false (msg_expired (&msg, msg_now_ms ()));
}

//  The broker reads a reply's req_id from its first bytes (msg_peek_req_id).
static void
test_peek_req_id (void **state)
{
    (void) state;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    const int types[] = {MSG_COMMITTED, MSG_ERROR, MSG_ORDER, MSG_TRADES, MSG_TRADE};
    const uint64_t ids[] = {0, 1, 127, 128, 65535, 65536, UINT64_MAX};
    for (size_t t = 0; t < sizeof (types) / sizeof (types[0]); t++)
        for (size_t i = 0; i < sizeof (ids) / sizeof (ids[0]); i++) {
            msg_t msg;
            fx_build (&msg, types[t], FX_TYPICAL);
            msg.req_id = ids[i];
            fx_encode (&msg, &buffer);
            uint64_t req_id = 42;
            assert_int_equal (msg_peek_req_id (buffer.data, buffer.size, &req_id), 0);
            assert_int_equal (req_id, ids[i]);
            msg_reset (&msg);
        }
    //  No req_id first (HEARTBEAT, INVALIDATE), not ours, or cut short.
    msg_t msg;
    fx_build (&msg, MSG_HEARTBEAT, FX_TYPICAL);
    fx_encode (&msg, &buffer);
    uint64_t req_id;
    assert_int_equal (msg_peek_req_id (buffer.data, buffer.size, &req_id), -1);
    msg_reset (&msg);
    const unsigned char garbage[] = {0x93, 0x02, 0x2a, 0x05};
    assert_int_equal (msg_peek_req_id (garbage, sizeof (garbage), &req_id), -1);
    fx_build (&msg, MSG_COMMITTED, FX_TYPICAL);
    fx_encode (&msg, &buffer);
    assert_int_equal (msg_peek_req_id (buffer.data, 3, &req_id), -1);
    msg_reset (&msg);
    msgpack_sbuffer_destroy (&buffer);
}

int
test_msgs_run (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_round_trip_every_type),
        cmocka_unit_test (test_round_trip_list_at_max_length),
        cmocka_unit_test (test_round_trip_leader_with_peers),
        cmocka_unit_test (test_topic_is_the_start_of_every_encoded_message),
        cmocka_unit_test (test_encode_wire_bytes),
        cmocka_unit_test (test_encode_rejects_overlong_strings),
        cmocka_unit_test (test_encode_rejects_overlong_list_strings),
        cmocka_unit_test (test_encode_rejects_overlong_lists),
        cmocka_unit_test (test_encode_rejects_unknown_type),
        cmocka_unit_test (test_format_human_exact),
        cmocka_unit_test (test_format_json_exact),
        cmocka_unit_test (test_format_roles_and_peers_exact),
        cmocka_unit_test (test_format_every_type),
        cmocka_unit_test (test_format_json_escapes_hostile_strings),
        cmocka_unit_test (test_format_truncates_like_snprintf),
        cmocka_unit_test (test_format_unknown_type),
        cmocka_unit_test (test_type_names_services_replies),
        cmocka_unit_test (test_type_cases_cover_table),
        cmocka_unit_test (test_role_names),
        cmocka_unit_test (test_error_http_and_text),
        cmocka_unit_test (test_decode_strerror),
        cmocka_unit_test (test_deadline_expiry),
        cmocka_unit_test (test_peek_req_id),
    };
    return cmocka_run_group_tests_name ("msgs", tests, NULL, NULL);
}
