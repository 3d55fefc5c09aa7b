/*  test_outbox.c - services/order/outbox: a turn's APPENDs to all that
    continue each other leave as one message with every entry, others
    apart and in order; a held ACK drops the last held ACK to the same
    replica in the same epoch if it is no longer, and the held messages
    leave in the order they came. A recording send function stands for
    the bus.
*/
#include "outbox.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#define SENT_MAX 16

typedef struct {
    msg_t sent[SENT_MAX];
    size_t count;
} s_wire_t;

//  outbox_send_fn: keeps a copy (entries copied too).
static int
s_record (void *arg, const msg_t *msg)
{
    s_wire_t *wire = arg;
    assert_true (wire->count < SENT_MAX);
    msg_t *copy = &wire->sent[wire->count++];
    *copy = *msg;
    copy->entries = NULL;
    if (msg->entry_count) {
        copy->entries = malloc (msg->entry_count * sizeof (msg_entry_t));
        assert_non_null (copy->entries);
        memcpy (copy->entries, msg->entries, msg->entry_count * sizeof (msg_entry_t));
    }
    return 0;
}

static void
s_wire_reset (s_wire_t *wire)
{
    for (size_t i = 0; i < wire->count; i++)
        msg_reset (&wire->sent[i]);
    wire->count = 0;
}

//  Each test's outbox, sending into its wire (cmocka setup/teardown).
typedef struct {
    s_wire_t wire;
    outbox_t *outbox;
} s_fixture_t;

static int
s_setup (void **state)
{
    s_fixture_t *fixture = calloc (1, sizeof (s_fixture_t));
    assert_non_null (fixture);
    fixture->outbox = outbox_new (s_record, &fixture->wire);
    *state = fixture;
    return 0;
}

static int
s_teardown (void **state)
{
    s_fixture_t *fixture = *state;
    s_wire_reset (&fixture->wire);
    outbox_destroy (&fixture->outbox);
    free (fixture);
    return 0;
}

//  An APPEND of epoch to `to` (0: all) with entries [start, start + count),
//  the leader's length and commit position when it was made.
static msg_t
s_append (uint64_t to, uint64_t epoch, uint64_t start, size_t count, uint64_t commit)
{
    msg_t msg;
    msg_init (&msg, MSG_CS_APPEND);
    msg.to = to;
    msg.epoch = epoch;
    msg.start = start;
    msg.prev_stamp = start ? 2 * epoch + 1 : 0;   //  the stamp of entry start - 1
    msg.length = start + count;
    msg.commit = commit;
    msg.entry_count = count;
    msg.entries = count ? calloc (count, sizeof (msg_entry_t)) : NULL;
    for (size_t k = 0; k < count; k++) {
        msg.entries[k].stamp = 2 * epoch + 1;
        msg.entries[k].trade.number = start + k;
    }
    return msg;
}

static msg_t
s_ack (uint64_t to, uint64_t epoch, uint64_t length)
{
    msg_t msg;
    msg_init (&msg, MSG_CS_ACK);
    msg.to = to;
    msg.epoch = epoch;
    msg.length = length;
    return msg;
}

static void
s_early (outbox_t *outbox, msg_t msg)
{
    outbox_early (outbox, &msg);
    assert_int_equal (msg.type, 0);   //  taken
}

static void
s_hold (outbox_t *outbox, msg_t msg)
{
    outbox_hold (outbox, &msg);
    assert_int_equal (msg.type, 0);
}

static void
s_assert_entries (const msg_t *msg, uint64_t start, size_t count)
{
    assert_int_equal (msg->type, MSG_CS_APPEND);
    assert_int_equal (msg->start, start);
    assert_int_equal (msg->entry_count, count);
    for (size_t k = 0; k < count; k++)
        assert_int_equal (msg->entries[k].trade.number, start + k);
}

static void
test_a_turns_appends_leave_as_one (void **state)
{
    s_fixture_t *fixture = *state;
    s_wire_t *wire = &fixture->wire;
    outbox_t *outbox = fixture->outbox;
    s_early (outbox, s_append (0, 4, 10, 1, 9));
    s_early (outbox, s_append (0, 4, 11, 2, 9));
    s_early (outbox, s_append (0, 4, 13, 0, 10));   //  a heartbeat: the later position
    assert_int_equal (wire->count, 0);                //  nothing before the turn says so
    outbox_send_early (outbox);
    assert_int_equal (wire->count, 1);
    s_assert_entries (&wire->sent[0], 10, 3);
    assert_int_equal (wire->sent[0].prev_stamp, 9);   //  the first's: entry 9's stamp
    assert_int_equal (wire->sent[0].length, 13);
    assert_int_equal (wire->sent[0].commit, 10);
    assert_int_equal (wire->sent[0].epoch, 4);
    outbox_send_early (outbox);                      //  nothing pending now
    assert_int_equal (wire->count, 1);
}

static void
test_appends_that_do_not_continue_leave_apart_in_order (void **state)
{
    s_fixture_t *fixture = *state;
    s_wire_t *wire = &fixture->wire;
    outbox_t *outbox = fixture->outbox;
    s_early (outbox, s_append (0, 4, 10, 2, 9));
    s_early (outbox, s_append (0, 4, 15, 1, 9));    //  a gap: not its continuation
    s_early (outbox, s_append (0, 5, 16, 1, 9));    //  another epoch
    s_early (outbox, s_append (2, 5, 17, 4, 9));    //  continues it, but to one: leaves now
    assert_int_equal (wire->count, 4);
    s_assert_entries (&wire->sent[0], 10, 2);
    s_assert_entries (&wire->sent[1], 15, 1);
    s_assert_entries (&wire->sent[2], 16, 1);
    assert_int_equal (wire->sent[2].epoch, 5);
    s_assert_entries (&wire->sent[3], 17, 4);
    assert_int_equal (wire->sent[3].to, 2);
}

static void
test_a_joined_append_holds_at_most_a_batch (void **state)
{
    s_fixture_t *fixture = *state;
    s_wire_t *wire = &fixture->wire;
    outbox_t *outbox = fixture->outbox;
    s_early (outbox, s_append (0, 1, 0, MSG_APPEND_BATCH - 1, 0));
    s_early (outbox, s_append (0, 1, MSG_APPEND_BATCH - 1, 1, 0));
    s_early (outbox, s_append (0, 1, MSG_APPEND_BATCH, 1, 0));
    outbox_send_early (outbox);
    assert_int_equal (wire->count, 2);
    s_assert_entries (&wire->sent[0], 0, MSG_APPEND_BATCH);
    s_assert_entries (&wire->sent[1], MSG_APPEND_BATCH, 1);
}

static void
test_a_held_ack_drops_only_the_acks_it_covers (void **state)
{
    s_fixture_t *fixture = *state;
    s_wire_t *wire = &fixture->wire;
    outbox_t *outbox = fixture->outbox;
    s_hold (outbox, s_ack (3, 7, 5));
    s_hold (outbox, s_ack (2, 7, 4));        //  another leader: stays
    s_hold (outbox, s_ack (3, 6, 1));        //  another epoch: stays
    msg_t fetch;
    msg_init (&fetch, MSG_CS_FETCH);
    fetch.to = 3;
    fetch.epoch = 7;
    fetch.length = 2;                        //  not an ACK: never dropped
    s_hold (outbox, fetch);
    s_hold (outbox, s_ack (3, 7, 8));        //  covers the first
    s_hold (outbox, s_ack (3, 7, 6));        //  shorter: both stay
    s_hold (outbox, s_ack (3, 7, 6));        //  as long: drops the one before
    assert_int_equal (wire->count, 0);
    outbox_send_held (outbox);
    assert_int_equal (wire->count, 5);
    const uint64_t types[] = {MSG_CS_ACK, MSG_CS_ACK, MSG_CS_FETCH, MSG_CS_ACK, MSG_CS_ACK};
    const uint64_t to[] = {2, 3, 3, 3, 3};
    const uint64_t lengths[] = {4, 1, 2, 8, 6};
    for (size_t i = 0; i < wire->count; i++) {
        assert_int_equal (wire->sent[i].type, types[i]);
        assert_int_equal (wire->sent[i].to, to[i]);
        assert_int_equal (wire->sent[i].length, lengths[i]);
    }
    assert_int_equal (wire->sent[1].epoch, 6);
    outbox_send_held (outbox);               //  emptied
    assert_int_equal (wire->count, 5);
}

static void
test_destroy_drops_what_is_queued (void **state)
{
    s_fixture_t *fixture = *state;
    s_wire_t *wire = &fixture->wire;
    outbox_t *outbox = fixture->outbox;
    s_early (outbox, s_append (0, 1, 0, 3, 0));
    s_hold (outbox, s_ack (1, 1, 3));
    outbox_destroy (&fixture->outbox);   //  the ASan build's run (make test) fails on a leak here
    assert_null (fixture->outbox);
    assert_int_equal (wire->count, 0);
}

#define S_TEST(test) cmocka_unit_test_setup_teardown (test, s_setup, s_teardown)

int
test_outbox_run (void)
{
    const struct CMUnitTest tests[] = {
        S_TEST (test_a_turns_appends_leave_as_one),
        S_TEST (test_appends_that_do_not_continue_leave_apart_in_order),
        S_TEST (test_a_joined_append_holds_at_most_a_batch),
        S_TEST (test_a_held_ack_drops_only_the_acks_it_covers),
        S_TEST (test_destroy_drops_what_is_queued),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
