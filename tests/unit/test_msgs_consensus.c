/*  test_msgs_consensus.c - the consensus messages on the wire: the CS_*
    types of msgs/ (round trips, limits, refusals) and services/order/cwire
    (consensus_msg_t <-> msg_t, both ways, and what it refuses), ending
    with a real election and commit between consensus cores that talk only
    through encoded bytes.
*/
#include "consensus.h"
#include "cwire.h"
#include "fixtures.h"
#include "unit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int s_cs_types[] = {MSG_CS_PREPARE, MSG_CS_PROMISE, MSG_CS_REFUSE, MSG_CS_APPEND,
                                 MSG_CS_ACK,     MSG_CS_FETCH,   MSG_CS_ENTRIES};
#define CS_TYPE_COUNT (sizeof (s_cs_types) / sizeof (s_cs_types[0]))

//  A trade for entry number (its index).
static msg_trade_t
s_trade (uint64_t number)
{
    msg_trade_t trade = {.number = number, .side = (uint8_t)(number % 2), .quantity = 1 + number};
    snprintf (trade.name, sizeof (trade.name), "stock%" PRIu64, number % 7);
    if (number % 3)
        snprintf (trade.key, sizeof (trade.key), "key-%" PRIu64, number);
    return trade;
}

//  The encoded TRADEREC of trade, as a replica's log holds it (malloc'd).
static void *
s_record (const msg_trade_t *trade, size_t *size)
{
    msg_t record;
    msg_set_trade (&record, MSG_TRADEREC, trade);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    fx_encode (&record, &buffer);
    *size = buffer.size;
    return buffer.data; //  msgpack_sbuffer_destroy would free it
}

//  consensus_msg_t entries [start, start + count) with their payloads.
typedef struct {
    consensus_entry_t entries[8];
    void *payloads[8];
    size_t count;
} s_entries_t;

static void
s_entries_make (s_entries_t *self, uint64_t start, size_t count)
{
    self->count = count;
    for (size_t k = 0; k < count; k++) {
        msg_trade_t trade = s_trade (start + k);
        size_t size;
        self->payloads[k] = s_record (&trade, &size);
        self->entries[k] = (consensus_entry_t) {2 * 5 + (k % 2), self->payloads[k], size};
    }
}

static void
s_entries_free (s_entries_t *self)
{
    for (size_t k = 0; k < self->count; k++)
        free (self->payloads[k]);
}

//  cmsg -> msg -> bytes -> msg -> back, through cwire and the codec.
static void
s_through_wire (cwire_t *cwire, const consensus_msg_t *cmsg, consensus_msg_t *back)
{
    msg_t msg, decoded;
    msg_init (&msg, 0);
    msg_init (&decoded, 0);
    assert_int_equal (cwire_to_msg (cmsg, &msg), 0);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    fx_encode (&msg, &buffer);
    assert_int_equal (msg_decode (&decoded, buffer.data, buffer.size), MSG_DECODE_OK);
    assert_true (cwire_is_consensus (decoded.type));
    assert_int_equal (cwire_to_consensus (cwire, &decoded, back), 0);
    msg_reset (&msg);
    msg_reset (&decoded);
    msgpack_sbuffer_destroy (&buffer);
}

static void
s_assert_same_entries (const consensus_msg_t *a, const consensus_msg_t *b)
{
    assert_int_equal (a->n_entries, b->n_entries);
    for (size_t k = 0; k < a->n_entries; k++) {
        assert_int_equal (a->entries[k].stamp, b->entries[k].stamp);
        assert_int_equal (a->entries[k].size, b->entries[k].size);
        assert_memory_equal (a->entries[k].payload, b->entries[k].payload, a->entries[k].size);
    }
}

//  ---------------------------------------------------------------------
//  msgs: the CS_* types

//  Every CS type at each variant (FX_MAX: every number UINT64_MAX,
//  strings at their longest) comes back field for field.
static void
test_cs_round_trip_every_type_at_limits (void **state)
{
    (void)state;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    for (size_t t = 0; t < CS_TYPE_COUNT; t++)
        for (int variant = FX_MAX; variant <= FX_TYPICAL; variant++) {
            msg_t msg, decoded;
            msg_init (&decoded, 0);
            fx_build (&msg, s_cs_types[t], (fx_variant_t)variant);
            fx_encode (&msg, &buffer);
            assert_int_equal (msg_decode (&decoded, buffer.data, buffer.size), MSG_DECODE_OK);
            fx_assert_same (&msg, &decoded);
            msg_reset (&msg);
            msg_reset (&decoded);
        }
    msgpack_sbuffer_destroy (&buffer);
}

//  The bytes of a CS_APPEND: the fields in MSG_TABLE's order, an entry
//  as [stamp, number, name, side, quantity, key].
static void
test_cs_append_wire_bytes (void **state)
{
    (void)state;
    msg_t msg;
    msg_init (&msg, MSG_CS_APPEND);
    msg.replica_id = 3;
    msg.to = 0;
    msg.epoch = 2;
    msg.start = 7;
    msg.prev_stamp = 4;
    msg.length = 8;
    msg.commit = 6;
    msg_entry_t entry = {5, {7, "ab", MSG_SIDE_SELL, 9, "k"}};
    msg.entries = &entry;
    msg.entry_count = 1;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    fx_encode (&msg, &buffer);
    const unsigned char expected[] = {0x9a, 0x01, 0x53, 0x03, 0x00, 0x02, 0x07, 0x04, 0x08, 0x06,
                                      0x91, 0x96, 0x05, 0x07, 0xa2, 'a',  'b',  0x01, 0x09, 0xa1, 'k'};
    assert_int_equal (buffer.size, sizeof (expected));
    assert_memory_equal (buffer.data, expected, sizeof (expected));
    msgpack_sbuffer_destroy (&buffer);
}

//  The longest tail that must travel whole (MSG_UNCOMMITTED_MAX, with a
//  batch that starts below it) fits in a list, so in a frame (below).
_Static_assert (MSG_UNCOMMITTED_MAX + MSG_APPEND_BATCH <= MSG_LIST_MAX,
                "an uncommitted tail must fit in one CS_APPEND");

//  MSG_LIST_MAX entries with the longest names and keys fit in a frame
//  and come back; one more is refused by both ends.
static void
test_cs_entries_at_list_max (void **state)
{
    (void)state;
    msg_t msg, decoded;
    msg_init (&msg, MSG_CS_ENTRIES);
    msg_init (&decoded, 0);
    msg.entries = calloc (MSG_LIST_MAX + 1, sizeof (msg_entry_t));
    assert_non_null (msg.entries);
    msg.entry_count = MSG_LIST_MAX;
    for (size_t i = 0; i <= MSG_LIST_MAX; i++) {
        msg_entry_t *entry = &msg.entries[i];
        entry->stamp = UINT64_MAX - i;
        entry->trade.number = UINT64_MAX - i;
        memset (entry->trade.name, 'n', MSG_NAME_MAX);
        memset (entry->trade.key, 'k', MSG_KEY_MAX);
        entry->trade.side = MSG_SIDE_SELL;
        entry->trade.quantity = MSG_QUANTITY_MAX;
    }
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    fx_encode (&msg, &buffer);
    assert_true (buffer.size <= MSG_FRAME_MAX);
    assert_int_equal (msg_decode (&decoded, buffer.data, buffer.size), MSG_DECODE_OK);
    fx_assert_same (&msg, &decoded);
    msg_reset (&decoded);
    msg.entry_count = MSG_LIST_MAX + 1;
    assert_int_equal (msg_encode (&msg, &buffer), -1);
    msg_reset (&msg);
    msgpack_sbuffer_destroy (&buffer);
}

//  What is wrong with an entry s_pack_entry writes.
typedef enum {
    S_GOOD,
    S_FIVE_ITEMS,      //  a TRADES item: no stamp
    S_NEGATIVE_STAMP,
    S_STRING_STAMP,
    S_SIDE_TWO,
    S_LONG_KEY,        //  MSG_KEY_MAX + 1 bytes
    S_NOT_ARRAY
} s_fault_t;

//  [4, 4, "amc", 0, 1, ""] (stamp 4, trade 4), or that with fault.
static void
s_pack_entry (msgpack_packer *pk, s_fault_t fault)
{
    if (fault == S_NOT_ARRAY) {
        msgpack_pack_uint8 (pk, 4);
        return;
    }
    msgpack_pack_array (pk, fault == S_FIVE_ITEMS ? 5 : 6);
    if (fault == S_NEGATIVE_STAMP)
        msgpack_pack_int8 (pk, -1);
    else if (fault == S_STRING_STAMP)
        msgpack_pack_str_with_body (pk, "4", 1);
    else if (fault != S_FIVE_ITEMS)
        msgpack_pack_uint8 (pk, 4);
    msgpack_pack_uint8 (pk, 4);
    msgpack_pack_str_with_body (pk, "amc", 3);
    msgpack_pack_uint8 (pk, fault == S_SIDE_TWO ? 2 : MSG_SIDE_BUY);
    msgpack_pack_uint8 (pk, 1);
    char key[MSG_KEY_MAX + 1];
    memset (key, 'k', sizeof (key));
    msgpack_pack_str_with_body (pk, key, fault == S_LONG_KEY ? sizeof (key) : 0);
}

//  Packs [1, type, 1, 2, ..., 7, [entries]]: the seven numbers of a
//  CS_APPEND or CS_ENTRIES, then count entries with fault.
static void
s_pack_entries_msg (msgpack_sbuffer *buffer, int type, size_t count, s_fault_t fault)
{
    msgpack_packer pk;
    buffer->size = 0;
    msgpack_packer_init (&pk, buffer, msgpack_sbuffer_write);
    msgpack_pack_array (&pk, 10);
    msgpack_pack_uint8 (&pk, MSG_VERSION);
    msgpack_pack_uint8 (&pk, (uint8_t)type);
    for (int i = 0; i < 7; i++)
        msgpack_pack_uint8 (&pk, (uint8_t)(i + 1));
    msgpack_pack_array (&pk, (uint32_t)count);
    for (size_t i = 0; i < count; i++)
        s_pack_entry (&pk, fault);
}

//  An entry of the wrong shape or with a field of the wrong type or
//  range is refused, and the same bytes with a good entry are not.
static void
test_cs_decode_refuses_bad_entries (void **state)
{
    (void)state;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    s_pack_entries_msg (&buffer, MSG_CS_ENTRIES, 1, S_GOOD);
    fx_expect_decode (buffer.data, buffer.size, MSG_DECODE_OK, "good entry");
    const struct {
        s_fault_t fault;
        int expected;
        const char *what;
    } cases[] = {
        {S_FIVE_ITEMS, MSG_DECODE_FIELD, "five items"},
        {S_NEGATIVE_STAMP, MSG_DECODE_FIELD, "negative stamp"},
        {S_STRING_STAMP, MSG_DECODE_FIELD, "string stamp"},
        {S_SIDE_TWO, MSG_DECODE_FIELD, "side 2"},
        {S_LONG_KEY, MSG_DECODE_TOO_LONG, "key over MSG_KEY_MAX"},
        {S_NOT_ARRAY, MSG_DECODE_FIELD, "entry not an array"},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        s_pack_entries_msg (&buffer, MSG_CS_ENTRIES, 1, cases[i].fault);
        fx_expect_decode (buffer.data, buffer.size, cases[i].expected, cases[i].what);
    }
    msgpack_sbuffer_destroy (&buffer);
}

//  A list header claiming MSG_LIST_MAX + 1 entries, bytes after a whole
//  message, a small type grown past MSG_SMALL_MAX: refused.
static void
test_cs_decode_refuses_long_lists_and_trailing_bytes (void **state)
{
    (void)state;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    s_pack_entries_msg (&buffer, MSG_CS_APPEND, MSG_LIST_MAX, S_GOOD);
    fx_expect_decode (buffer.data, buffer.size, MSG_DECODE_OK, "MSG_LIST_MAX entries");
    s_pack_entries_msg (&buffer, MSG_CS_APPEND, MSG_LIST_MAX + 1, S_GOOD);
    fx_expect_decode (buffer.data, buffer.size, MSG_DECODE_TOO_LONG, "MSG_LIST_MAX + 1 entries");

    for (size_t t = 0; t < CS_TYPE_COUNT; t++) {
        msg_t msg;
        fx_build (&msg, s_cs_types[t], FX_TYPICAL);
        fx_encode (&msg, &buffer);
        size_t size = buffer.size;
        msgpack_sbuffer_write (&buffer, "\xc0", 1);
        fx_expect_decode (buffer.data, buffer.size, MSG_DECODE_TRAILING, msg_type_name (s_cs_types[t]));
        //  Padding to past MSG_SMALL_MAX: only a type with a list may be that long.
        buffer.size = size;
        char pad[MSG_SMALL_MAX] = {0};
        msgpack_sbuffer_write (&buffer, pad, sizeof (pad));
        bool listed = s_cs_types[t] == MSG_CS_APPEND || s_cs_types[t] == MSG_CS_ENTRIES;
        fx_expect_decode (buffer.data, buffer.size, listed ? MSG_DECODE_TRAILING : MSG_DECODE_TOO_LONG,
                          msg_type_name (s_cs_types[t]));
        msg_reset (&msg);
    }
    msgpack_sbuffer_destroy (&buffer);
}

//  The tap's line for a CS_APPEND, human and JSON.
static void
test_cs_format (void **state)
{
    (void)state;
    msg_t msg;
    fx_build (&msg, MSG_CS_APPEND, FX_TYPICAL);
    char line[512];
    msg_format (&msg, false, line, sizeof (line));
    assert_string_equal (line, "CS_APPEND replica_id=2 to=3 epoch=3 start=41 prev_stamp=5 "
                               "length=44 commit=40 entries=2");
    msg_format (&msg, true, line, sizeof (line));
    assert_string_equal (line, "{\"type\":\"CS_APPEND\",\"replica_id\":2,\"to\":3,\"epoch\":3,"
                               "\"start\":41,\"prev_stamp\":5,\"length\":44,\"commit\":40,"
                               "\"entries\":2}");
    msg_reset (&msg);
    fx_build (&msg, MSG_CS_PROMISE, FX_TYPICAL);
    msg_format (&msg, false, line, sizeof (line));
    assert_string_equal (line, "CS_PROMISE replica_id=2 to=3 epoch=3 last_stamp=9 length=44 commit=40");
    msg_reset (&msg);
}

//  ---------------------------------------------------------------------
//  cwire

//  Every consensus type, every field it carries set (ids at their
//  largest), through cwire, the encoder and the decoder and back.
static void
test_cwire_round_trip_every_type (void **state)
{
    (void)state;
    cwire_t *cwire = cwire_new ();
    s_entries_t entries;
    s_entries_make (&entries, 40, 3);
    for (int type = CONSENSUS_PREPARE; type <= CONSENSUS_ENTRIES; type++) {
        bool listed = type == CONSENSUS_APPEND || type == CONSENSUS_ENTRIES;
        consensus_msg_t cmsg = {
            .type = (consensus_type_t)type,
            .from = UINT32_MAX,
            .to = type == CONSENSUS_PREPARE ? CONSENSUS_ALL : 2,
            .epoch = UINT64_MAX - 1,
            .start = 40,
            .prev_stamp = 9,
            .last_stamp = UINT64_MAX,
            .length = 43,
            .commit = 41,
            .entries = listed ? entries.entries : NULL,
            .n_entries = listed ? entries.count : 0,
        };
        consensus_msg_t back;
        s_through_wire (cwire, &cmsg, &back);
        assert_int_equal (back.type, type);
        assert_int_equal (back.from, UINT32_MAX);
        assert_int_equal (back.to, cmsg.to);
        assert_int_equal (back.epoch, cmsg.epoch);
        //  What the type carries comes back; the rest is zero.
        bool starts = listed || type == CONSENSUS_FETCH;
        assert_int_equal (back.start, starts ? 40 : 0);
        assert_int_equal (back.prev_stamp, listed ? 9 : 0);
        assert_int_equal (back.last_stamp, type == CONSENSUS_PROMISE ? UINT64_MAX : 0);
        bool lengths = listed || type == CONSENSUS_PROMISE || type == CONSENSUS_ACK;
        assert_int_equal (back.length, lengths ? 43 : 0);
        assert_int_equal (back.commit, listed || type == CONSENSUS_PROMISE ? 41 : 0);
        s_assert_same_entries (&cmsg, &back);
    }
    s_entries_free (&entries);
    cwire_destroy (&cwire);
    assert_null (cwire);
    cwire_destroy (&cwire);
}

//  A payload cwire makes is exactly the TRADEREC a log stores, and the
//  wire entry holds the trade's own fields.
static void
test_cwire_payload_is_the_traderec (void **state)
{
    (void)state;
    cwire_t *cwire = cwire_new ();
    msg_t msg;
    fx_build (&msg, MSG_CS_APPEND, FX_TYPICAL);
    consensus_msg_t cmsg;
    assert_int_equal (cwire_to_consensus (cwire, &msg, &cmsg), 0);
    assert_int_equal (cmsg.type, CONSENSUS_APPEND);
    assert_int_equal (cmsg.from, 2);
    assert_int_equal (cmsg.to, 3);
    assert_int_equal (cmsg.n_entries, 2);
    for (size_t k = 0; k < 2; k++) {
        size_t size;
        void *record = s_record (&msg.entries[k].trade, &size);
        assert_int_equal (cmsg.entries[k].stamp, msg.entries[k].stamp);
        assert_int_equal (cmsg.entries[k].size, size);
        assert_memory_equal (cmsg.entries[k].payload, record, size);
        free (record);
    }
    //  And back: msg's entries again.
    msg_t again;
    msg_init (&again, 0);
    assert_int_equal (cwire_to_msg (&cmsg, &again), 0);
    fx_assert_same (&msg, &again);
    msg_reset (&again);
    msg_reset (&msg);
    cwire_destroy (&cwire);
}

//  The payload store is reused: a long message then a short one, each
//  one's payloads intact (ASan sees a dangling pointer after growth).
static void
test_cwire_reuses_its_payloads (void **state)
{
    (void)state;
    cwire_t *cwire = cwire_new ();
    msg_t msg;
    msg_init (&msg, MSG_CS_ENTRIES);
    msg.start = 100;
    msg.entry_count = 500;
    msg.entries = calloc (msg.entry_count, sizeof (msg_entry_t));
    for (size_t k = 0; k < msg.entry_count; k++)
        msg.entries[k] = (msg_entry_t) {2 + k, s_trade (100 + k)};
    consensus_msg_t cmsg;
    for (size_t round = 0; round < 2; round++) {
        msg.entry_count = round ? 3 : 500;
        assert_int_equal (cwire_to_consensus (cwire, &msg, &cmsg), 0);
        assert_int_equal (cmsg.n_entries, msg.entry_count);
        for (size_t k = 0; k < cmsg.n_entries; k++) {
            msg_trade_t trade;
            assert_int_equal (msg_decode_trade (cmsg.entries[k].payload, cmsg.entries[k].size, &trade),
                              MSG_DECODE_OK);
            assert_int_equal (trade.number, 100 + k);
            assert_string_equal (trade.name, msg.entries[k].trade.name);
            assert_string_equal (trade.key, msg.entries[k].trade.key);
        }
    }
    msg.entry_count = 500;
    msg_reset (&msg);
    cwire_destroy (&cwire);
}

//  msg -> consensus refuses what the core could not check itself.
static void
test_cwire_to_consensus_refuses (void **state)
{
    (void)state;
    cwire_t *cwire = cwire_new ();
    consensus_msg_t cmsg;
    msg_t msg;
    //  Not a consensus message.
    fx_build (&msg, MSG_RANGE, FX_TYPICAL);
    assert_false (cwire_is_consensus (MSG_RANGE));
    assert_int_equal (cwire_to_consensus (cwire, &msg, &cmsg), -1);
    msg_reset (&msg);
    //  Ids that do not fit a consensus id.
    fx_build (&msg, MSG_CS_PREPARE, FX_TYPICAL);
    msg.replica_id = (uint64_t)UINT32_MAX + 1;
    assert_int_equal (cwire_to_consensus (cwire, &msg, &cmsg), -1);
    msg.replica_id = 1;
    msg.to = (uint64_t)UINT32_MAX + 1;
    assert_int_equal (cwire_to_consensus (cwire, &msg, &cmsg), -1);
    msg.to = UINT32_MAX;
    assert_int_equal (cwire_to_consensus (cwire, &msg, &cmsg), 0);
    msg_reset (&msg);
    //  Entries numbered other than start, start + 1, ...
    fx_build (&msg, MSG_CS_APPEND, FX_TYPICAL);
    assert_int_equal (cwire_to_consensus (cwire, &msg, &cmsg), 0);
    msg.start = 40;
    assert_int_equal (cwire_to_consensus (cwire, &msg, &cmsg), -1);
    msg.start = 41;
    msg.entries[1].trade.number = 41;
    assert_int_equal (cwire_to_consensus (cwire, &msg, &cmsg), -1);
    //  Past the last index: start UINT64_MAX holds one entry at most.
    msg.start = UINT64_MAX;
    msg.entries[0].trade.number = UINT64_MAX;
    msg.entries[1].trade.number = 0;
    assert_int_equal (cwire_to_consensus (cwire, &msg, &cmsg), -1);
    msg.entry_count = 1;
    assert_int_equal (cwire_to_consensus (cwire, &msg, &cmsg), 0);
    msg.entry_count = 2;
    msg_reset (&msg);
    cwire_destroy (&cwire);
}

//  consensus -> msg refuses what could not travel, and leaves msg empty.
static void
test_cwire_to_msg_refuses (void **state)
{
    (void)state;
    s_entries_t entries;
    s_entries_make (&entries, 10, 2);
    consensus_msg_t good = {.type = CONSENSUS_APPEND, .from = 1, .epoch = 5, .start = 10,
                            .entries = entries.entries, .n_entries = 2};
    msg_t msg;
    msg_init (&msg, 0);
    assert_int_equal (cwire_to_msg (&good, &msg), 0);
    assert_int_equal (msg.entry_count, 2);

    consensus_msg_t bad = good;
    bad.type = 0;
    assert_int_equal (cwire_to_msg (&bad, &msg), -1);
    bad.type = CONSENSUS_ENTRIES + 1;
    assert_int_equal (cwire_to_msg (&bad, &msg), -1);
    bad = good;
    bad.type = CONSENSUS_PREPARE; //  entries on a type that carries none
    assert_int_equal (cwire_to_msg (&bad, &msg), -1);
    bad = good;
    bad.start = 11; //  entry 0 is trade 10
    assert_int_equal (cwire_to_msg (&bad, &msg), -1);
    bad = good;
    bad.entries = NULL;
    assert_int_equal (cwire_to_msg (&bad, &msg), -1);
    bad = good;
    bad.n_entries = MSG_LIST_MAX + 1;
    assert_int_equal (cwire_to_msg (&bad, &msg), -1);

    //  Payloads that are not one TRADEREC.
    consensus_entry_t odd[2] = {entries.entries[0], entries.entries[1]};
    bad = good;
    bad.entries = odd;
    odd[1].size--; //  truncated
    assert_int_equal (cwire_to_msg (&bad, &msg), -1);
    odd[1].size = 0;
    assert_int_equal (cwire_to_msg (&bad, &msg), -1);
    odd[1].payload = NULL;
    assert_int_equal (cwire_to_msg (&bad, &msg), -1);
    msg_t stockdef;
    msg_init (&stockdef, MSG_STOCKDEF);
    strcpy (stockdef.name, "apple");
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    fx_encode (&stockdef, &buffer);
    odd[1] = (consensus_entry_t) {11, buffer.data, buffer.size};
    assert_int_equal (cwire_to_msg (&bad, &msg), -1);
    odd[1] = (consensus_entry_t) {11, "\x97\x01\x47", 3};
    assert_int_equal (cwire_to_msg (&bad, &msg), -1);
    //  msg holds nothing after a refusal.
    assert_int_equal (msg.type, 0);
    assert_null (msg.entries);
    assert_int_equal (msg.entry_count, 0);
    odd[1] = entries.entries[1];
    assert_int_equal (cwire_to_msg (&bad, &msg), 0);
    msg_reset (&msg);
    msgpack_sbuffer_destroy (&buffer);
    s_entries_free (&entries);
}

//  ---------------------------------------------------------------------
//  Three cores that talk only through encoded bytes: an election, a
//  proposal, its commit on every replica.

#define NET_SIZE 3

typedef struct {
    consensus_t *core;
    msg_trade_t log[16]; //  the "disk": what each ready appended
    uint64_t length;
    void *read_record;   //  consensus_read_fn's last answer
} s_replica_t;

static int
s_read (void *arg, uint64_t index, const void **payload, size_t *size)
{
    s_replica_t *replica = arg;
    if (index >= replica->length)
        return -1;
    free (replica->read_record);
    replica->read_record = s_record (&replica->log[index], size);
    *payload = replica->read_record;
    return 0;
}

typedef struct {
    s_replica_t replicas[NET_SIZE];
    msgpack_sbuffer frames[64]; //  in flight, encoded
    uint32_t to[64];
    size_t count;
    cwire_t *cwire;
} s_net_t;

//  Persist a ready (append to the fake disk), encode its messages.
static void
s_drain (s_net_t *net, size_t r)
{
    s_replica_t *replica = &net->replicas[r];
    const consensus_ready_t *ready;
    while ((ready = consensus_ready (replica->core))) {
        if (ready->truncate)
            replica->length = ready->truncate_to;
        for (size_t k = 0; k < ready->n_entries; k++) {
            msg_trade_t trade;
            const consensus_entry_t *entry = &ready->entries[k];
            assert_int_equal (msg_decode_trade (entry->payload, entry->size, &trade), MSG_DECODE_OK);
            assert_int_equal (trade.number, ready->first_index + k);
            replica->log[ready->first_index + k] = trade;
            replica->length = ready->first_index + k + 1;
        }
        for (size_t m = 0; m < ready->n_msgs; m++)
            for (uint32_t id = 1; id <= NET_SIZE; id++) {
                const consensus_msg_t *cmsg = &ready->msgs[m];
                if (id == r + 1 || (cmsg->to != CONSENSUS_ALL && cmsg->to != id))
                    continue;
                msg_t msg;
                msg_init (&msg, 0);
                assert_int_equal (cwire_to_msg (cmsg, &msg), 0);
                assert_true (net->count < 64);
                msgpack_sbuffer_init (&net->frames[net->count]);
                fx_encode (&msg, &net->frames[net->count]);
                net->to[net->count++] = id;
                msg_reset (&msg);
            }
        consensus_advance (replica->core);
    }
}

//  Deliver every frame in flight (and what they cause) until quiet.
static void
s_deliver_all (s_net_t *net, uint64_t now)
{
    for (size_t i = 0; i < net->count; i++) {
        msg_t msg;
        msg_init (&msg, 0);
        assert_int_equal (msg_decode (&msg, net->frames[i].data, net->frames[i].size), MSG_DECODE_OK);
        consensus_msg_t cmsg;
        assert_int_equal (cwire_to_consensus (net->cwire, &msg, &cmsg), 0);
        size_t r = net->to[i] - 1;
        assert_int_equal (consensus_step (net->replicas[r].core, &cmsg, now), 0);
        msg_reset (&msg);
        msgpack_sbuffer_destroy (&net->frames[i]);
        s_drain (net, r);
    }
    net->count = 0;
}

static void
test_cwire_cores_elect_and_commit_over_the_wire (void **state)
{
    (void)state;
    static const uint32_t members[NET_SIZE] = {1, 2, 3};
    s_net_t net = {.count = 0};
    net.cwire = cwire_new ();
    for (size_t r = 0; r < NET_SIZE; r++) {
        consensus_config_t config = {
            .self = members[r], .members = members, .n_members = NET_SIZE,
            .heartbeat_ms = 50, .quorum_timeout_ms = 1000, .campaign_timeout_ms = 1000,
            .max_batch = 4, .read = s_read, .read_arg = &net.replicas[r]};
        net.replicas[r].core = consensus_new (&config, NULL);
        assert_non_null (net.replicas[r].core);
    }
    s_replica_t *leader = &net.replicas[2];
    assert_int_equal (consensus_campaign (leader->core, 1), 0);
    s_drain (&net, 2);
    s_deliver_all (&net, 2);
    assert_int_equal (consensus_role (leader->core), CONSENSUS_LEADER);
    for (uint64_t n = 0; n < 6; n++) {
        msg_trade_t trade = s_trade (n);
        size_t size;
        void *record = s_record (&trade, &size);
        assert_int_equal (consensus_propose (leader->core, record, size), (int64_t)n);
        free (record);
    }
    s_drain (&net, 2);
    s_deliver_all (&net, 3);
    //  A heartbeat carries the commit position to the followers.
    assert_int_equal (consensus_tick (leader->core, 100), 0);
    s_drain (&net, 2);
    s_deliver_all (&net, 100);
    for (size_t r = 0; r < NET_SIZE; r++) {
        s_replica_t *replica = &net.replicas[r];
        assert_int_equal (consensus_commit (replica->core), 6);
        assert_int_equal (replica->length, 6);
        for (uint64_t n = 0; n < 6; n++) {
            msg_trade_t want = s_trade (n);
            assert_int_equal (replica->log[n].number, n);
            assert_string_equal (replica->log[n].name, want.name);
            assert_string_equal (replica->log[n].key, want.key);
            assert_int_equal (replica->log[n].quantity, want.quantity);
        }
        consensus_destroy (&replica->core);
        free (replica->read_record);
    }
    cwire_destroy (&net.cwire);
}

int
test_msgs_consensus_run (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_cs_round_trip_every_type_at_limits),
        cmocka_unit_test (test_cs_append_wire_bytes),
        cmocka_unit_test (test_cs_entries_at_list_max),
        cmocka_unit_test (test_cs_decode_refuses_bad_entries),
        cmocka_unit_test (test_cs_decode_refuses_long_lists_and_trailing_bytes),
        cmocka_unit_test (test_cs_format),
        cmocka_unit_test (test_cwire_round_trip_every_type),
        cmocka_unit_test (test_cwire_payload_is_the_traderec),
        cmocka_unit_test (test_cwire_reuses_its_payloads),
        cmocka_unit_test (test_cwire_to_consensus_refuses),
        cmocka_unit_test (test_cwire_to_msg_refuses),
        cmocka_unit_test (test_cwire_cores_elect_and_commit_over_the_wire),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
