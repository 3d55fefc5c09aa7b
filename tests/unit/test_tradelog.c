/*  test_tradelog.c - the trade log: append, replay, keys, a torn tail,
    refusals that change nothing, and the file's exact bytes.

    Trade i is always s_make (i, ...), so a test can rebuild the bytes
    the file must hold with tradelog_record and compare.
*/
#include "journal.h"
#include "tradelog.h"
#include "unit.h"
#include "fixtures.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef fx_tmp_t s_tmp_t;

static int
s_setup (void **state)
{
    return fx_tmp_setup (state, "tradelog", "trades.log");
}

static int
s_teardown (void **state)
{
    return fx_tmp_teardown (state);
}

static tradelog_t *
s_open (s_tmp_t *tmp)
{
    tmp->error[0] = '\0';
    tradelog_t *log = tradelog_open (tmp->path, true, NULL, tmp->error, sizeof (tmp->error));
    if (!log)
        fail_msg ("tradelog_open: %s", tmp->error);
    return log;
}

//  Trade number on one of three stocks; every third has a key.
static msg_trade_t
s_make (uint64_t number)
{
    static const char *names[] = {"apple", "tesla", "ford"};
    msg_trade_t trade = {.number = number,
                         .side = (uint8_t) (number % 2),
                         .quantity = 1 + number * 7};
    snprintf (trade.name, sizeof (trade.name), "%s", names[number % 3]);
    if (number % 3 == 0)
        snprintf (trade.key, sizeof (trade.key), "key-%" PRIu64, number);
    return trade;
}

static void
s_append (tradelog_t *log, uint64_t from, uint64_t to)
{
    for (uint64_t number = from; number < to; number++) {
        msg_trade_t trade = s_make (number);
        assert_int_equal (tradelog_append (log, &trade), 0);
    }
}

static void
s_expect_trades (tradelog_t *log, uint64_t count)
{
    assert_int_equal (tradelog_count (log), count);
    for (uint64_t number = 0; number < count; number++) {
        msg_trade_t want = s_make (number), got;
        memset (&got, 0x5a, sizeof (got));
        assert_int_equal (tradelog_get (log, number, &got), 0);
        assert_int_equal (got.number, number);
        assert_string_equal (got.name, want.name);
        assert_int_equal (got.side, want.side);
        assert_int_equal (got.quantity, want.quantity);
        assert_string_equal (got.key, want.key);
    }
    msg_trade_t none;
    assert_int_equal (tradelog_get (log, count, &none), -1);
}

//  The file must hold exactly the records of trades 0 .. count.
static void
s_expect_file (s_tmp_t *tmp, uint64_t count)
{
    msgpack_sbuffer want;
    msgpack_sbuffer_init (&want);
    for (uint64_t number = 0; number < count; number++) {
        msg_trade_t trade = s_make (number);
        assert_int_equal (tradelog_record (&trade, &want), 0);
    }
    //  The log writes zeros ahead of its records (journal_preallocate).
    struct stat st;
    assert_int_equal (stat (tmp->path, &st), 0);
    FILE *file = fopen (tmp->path, "rb");
    assert_non_null (file);
    char *got = malloc ((size_t)st.st_size + 1);
    assert_non_null (got);
    size_t size = fread (got, 1, (size_t)st.st_size + 1, file);
    fclose (file);
    assert_int_equal (size, st.st_size);
    assert_int_equal (journal_extent (got, size), want.size);
    assert_memory_equal (got, want.data, want.size);
    free (got);
    msgpack_sbuffer_destroy (&want);
}

//  ---------------------------------------------------------------------

//  Syncing with fdatasync, the log writes zeros ahead of its records (a
//  whole chunk, once); without (--sync none) it writes none; a clean
//  close leaves exactly the records either way.
static void
test_tradelog_zeros_ahead_only_when_syncing (void **state)
{
    s_tmp_t *tmp = *state;
    tradelog_t *log = s_open (tmp);
    s_append (log, 0, 5);
    assert_int_equal (tradelog_sync (log), 0);
    uint64_t synced = fx_file_size (tmp->path);
    assert_true (synced >= 65536 && synced % 65536 == 0);
    tradelog_destroy (&log);
    s_expect_file (tmp, 5);
    uint64_t exact = fx_file_size (tmp->path);
    assert_true (exact < synced);

    log = tradelog_open (tmp->path, false, NULL, tmp->error, sizeof (tmp->error));
    assert_non_null (log);
    s_append (log, 5, 7);
    assert_int_equal (tradelog_sync (log), 0);
    uint64_t unsynced = fx_file_size (tmp->path);
    assert_true (unsynced > exact);
    s_expect_file (tmp, 7);
    tradelog_destroy (&log);
    assert_int_equal (fx_file_size (tmp->path), unsynced); //  no zeros to cut
}

static void
test_tradelog_append_get_count_durable (void **state)
{
    s_tmp_t *tmp = *state;
    tradelog_t *log = s_open (tmp);
    assert_int_equal (tradelog_count (log), 0);
    assert_int_equal (tradelog_durable (log), 0);
    assert_null (tradelog_stamps (log)); //  not stamped: no runs kept
    s_append (log, 0, 5);
    assert_int_equal (tradelog_stamp (log, 0), 0);
    s_expect_trades (log, 5);
    assert_int_equal (tradelog_durable (log), 0);
    s_expect_file (tmp, 0); //  queued, not written
    assert_int_equal (tradelog_sync (log), 0);
    assert_int_equal (tradelog_durable (log), 5);
    s_expect_file (tmp, 5);
    s_append (log, 5, 7);
    assert_int_equal (tradelog_count (log), 7);
    assert_int_equal (tradelog_durable (log), 5);
    assert_int_equal (tradelog_sync (log), 0);
    assert_int_equal (tradelog_durable (log), 7);
    s_expect_file (tmp, 7);
    tradelog_destroy (&log);
    assert_null (log);
    tradelog_destroy (&log);
}

static void
test_tradelog_reopen_replays (void **state)
{
    s_tmp_t *tmp = *state;
    tradelog_t *log = s_open (tmp);
    s_append (log, 0, 2000); //  past the first array growth
    assert_int_equal (tradelog_sync (log), 0);
    s_append (log, 2000, 2003); //  never synced: lost
    tradelog_destroy (&log);
    log = s_open (tmp);
    s_expect_trades (log, 2000);
    for (uint64_t number = 0; number < 2003; number++) {
        char key[MSG_KEY_MAX + 1];
        snprintf (key, sizeof (key), "key-%" PRIu64, number);
        int64_t want = number < 2000 && number % 3 == 0 ? (int64_t)number : -1;
        assert_int_equal (tradelog_find_key (log, key), want);
    }
    assert_int_equal (tradelog_keys_held (log), 667);
    assert_int_equal (tradelog_durable (log), 2000);
    assert_int_equal (tradelog_truncated (log), 0);
    s_append (log, 2000, 2001);
    assert_int_equal (tradelog_sync (log), 0);
    tradelog_destroy (&log);
    s_expect_file (tmp, 2001);
    log = s_open (tmp);
    s_expect_trades (log, 2001);
    tradelog_destroy (&log);
}

static void
test_tradelog_key_lookup (void **state)
{
    s_tmp_t *tmp = *state;
    tradelog_t *log = s_open (tmp);
    s_append (log, 0, 10);
    assert_int_equal (tradelog_find_key (log, "key-0"), 0);
    assert_int_equal (tradelog_find_key (log, "key-6"), 6);
    assert_int_equal (tradelog_find_key (log, "key-1"), -1);
    assert_int_equal (tradelog_find_key (log, ""), -1);
    assert_int_equal (tradelog_find_key (log, NULL), -1);
    //  A repeated key keeps its first number.
    msg_trade_t again = s_make (10);
    snprintf (again.key, sizeof (again.key), "key-3");
    assert_int_equal (tradelog_append (log, &again), 0);
    assert_int_equal (tradelog_find_key (log, "key-3"), 3);
    assert_int_equal (tradelog_sync (log), 0);
    tradelog_destroy (&log);
    log = s_open (tmp);
    assert_int_equal (tradelog_find_key (log, "key-9"), 9);
    assert_int_equal (tradelog_find_key (log, "key-3"), 3);
    assert_int_equal (tradelog_find_key (log, "key-10"), -1);
    tradelog_destroy (&log);
}

//  Keys leave memory with the window; a copy of an old trade still
//  carries its key (read back from the file), after a reopen too.
static void
test_tradelog_key_window (void **state)
{
    s_tmp_t *tmp = *state;
    tradelog_window_t window = {.trades = 4, .age_ms = 0, .max_keys = 4};
    for (int round = 0; round < 2; round++) {
        tradelog_t *log = tradelog_open (tmp->path, true, &window, tmp->error,
                                         sizeof (tmp->error));
        assert_non_null (log);
        if (round == 0)
            for (uint64_t number = 0; number < 30; number++) {
                msg_trade_t trade = s_make (number);
                assert_int_equal (tradelog_append (log, &trade), 0);
                assert_int_equal (tradelog_sync (log), 0);
            }
        //  Trades 26..29 are in the window: 27 is the one with a key.
        assert_true (tradelog_keys_held (log) <= 2);
        assert_int_equal (tradelog_find_key (log, "key-27"), 27);
        assert_int_equal (tradelog_find_key (log, "key-24"), -1);
        assert_int_equal (tradelog_find_key (log, "key-0"), -1);
        for (uint64_t number = 0; number < 30; number++) {
            msg_trade_t got, expected = s_make (number);
            assert_int_equal (tradelog_get (log, number, &got), 0);
            assert_string_equal (got.key, expected.key);
            assert_string_equal (got.name, expected.name);
        }
        tradelog_destroy (&log);
    }
    //  The default window holds every key of a short log.
    tradelog_t *log = s_open (tmp);
    assert_int_equal (tradelog_keys_held (log), 10);
    assert_int_equal (tradelog_find_key (log, "key-0"), 0);
    tradelog_destroy (&log);
}

//  Appends trades from .. to, each with a 60-byte key (its number),
//  synced every sync_every trades and at the end.
static void
s_append_long_keys (tradelog_t *log, uint64_t from, uint64_t to, uint64_t sync_every)
{
    for (uint64_t number = from; number < to; number++) {
        msg_trade_t trade = s_make (number);
        snprintf (trade.key, sizeof (trade.key), "%060" PRIu64, number);
        assert_int_equal (tradelog_append (log, &trade), 0);
        if (number % sync_every == sync_every - 1)
            assert_int_equal (tradelog_sync (log), 0);
    }
    assert_int_equal (tradelog_sync (log), 0);
}

//  Thousands of long keys through a small window: the held keys move to
//  the front of their buffer again and again (it compacts past 64 KB of
//  keys that left) and every key stays right, in memory or read back.
static void
test_tradelog_key_window_long_run (void **state)
{
    s_tmp_t *tmp = *state;
    tradelog_window_t window = {.trades = 100, .age_ms = 0, .max_keys = 100};
    const uint64_t count = 6000;
    for (int round = 0; round < 2; round++) {
        tradelog_t *log = tradelog_open (tmp->path, true, &window, tmp->error,
                                         sizeof (tmp->error));
        assert_non_null (log);
        if (round == 0)
            s_append_long_keys (log, 0, count, 7);
        assert_int_equal (tradelog_keys_held (log), 100);
        for (uint64_t number = 0; number < count; number++) {
            char key[MSG_KEY_MAX + 1];
            snprintf (key, sizeof (key), "%060" PRIu64, number);
            assert_int_equal (tradelog_find_key (log, key),
                              number >= count - 100 ? (int64_t)number : -1);
            msg_trade_t got;
            if (number % 37 == 0 || number >= count - 100) {
                assert_int_equal (tradelog_get (log, number, &got), 0);
                assert_string_equal (got.key, key);
            }
        }
        tradelog_destroy (&log);
    }
}

//  A log over a megabyte replays into room reserved from its size (huge
//  pages, the tail past the last trade given back), then keeps growing:
//  every trade and key is still right, across two reopens.
static void
test_tradelog_large_file_replays_into_reserved_room (void **state)
{
    s_tmp_t *tmp = *state;
    const uint64_t count = 30000, more = 3000;
    for (int round = 0; round < 3; round++) {
        tradelog_t *log = tradelog_open (tmp->path, true, NULL, tmp->error,
                                         sizeof (tmp->error));
        assert_non_null (log);
        uint64_t from = round == 0 ? 0 : round == 1 ? count : count + more;
        uint64_t to = round == 0 ? count : count + more;
        s_append_long_keys (log, from, to, 1000);
        assert_int_equal (tradelog_count (log), to);
        struct stat file;
        assert_int_equal (stat (tmp->path, &file), 0);
        assert_true (file.st_size > (1 << 20));   //  tradelog.c's RESERVE_MIN_FILE
        for (uint64_t number = 0; number < to; number++) {
            char key[MSG_KEY_MAX + 1];
            snprintf (key, sizeof (key), "%060" PRIu64, number);
            assert_int_equal (tradelog_find_key (log, key), (int64_t) number);
            msg_trade_t got, want = s_make (number);
            assert_int_equal (tradelog_get (log, number, &got), 0);
            assert_string_equal (got.name, want.name);
            assert_int_equal (got.quantity, want.quantity);
            assert_string_equal (got.key, key);
        }
        tradelog_destroy (&log);
    }
}

//  An empty window (a learner's): a key leaves memory once its trade is
//  durable; a replay holds none; a copy still carries its key.
static void
test_tradelog_empty_window (void **state)
{
    s_tmp_t *tmp = *state;
    tradelog_window_t window = TRADELOG_WINDOW_NONE;
    tradelog_t *log = tradelog_open (tmp->path, true, &window, tmp->error, sizeof (tmp->error));
    assert_non_null (log);
    s_append (log, 0, 7); //  keys on 0, 3 and 6
    assert_int_equal (tradelog_keys_held (log), 3); //  not durable: held
    assert_int_equal (tradelog_sync (log), 0);
    assert_int_equal (tradelog_keys_held (log), 0);
    assert_int_equal (tradelog_find_key (log, "key-6"), -1);
    tradelog_destroy (&log);
    log = tradelog_open (tmp->path, true, &window, tmp->error, sizeof (tmp->error));
    assert_non_null (log);
    assert_int_equal (tradelog_keys_held (log), 0);
    assert_int_equal (tradelog_find_key (log, "key-6"), -1);
    assert_int_equal (tradelog_find_key (log, "key-3"), -1);
    msg_trade_t got;
    assert_int_equal (tradelog_get (log, 3, &got), 0);
    assert_string_equal (got.key, "key-3");
    assert_int_equal (tradelog_get (log, 6, &got), 0);
    assert_string_equal (got.key, "key-6");
    tradelog_destroy (&log);
}

//  A key repeated inside the window finds its first trade; once that one
//  leaves the window the key is forgotten, although the later trade still
//  carries it (and a replay builds the same).
static void
test_tradelog_repeated_key_leaves_with_the_first (void **state)
{
    s_tmp_t *tmp = *state;
    tradelog_window_t window = {.trades = 3, .age_ms = 0, .max_keys = 3};
    for (int round = 0; round < 2; round++) {
        tradelog_t *log = tradelog_open (tmp->path, true, &window, tmp->error,
                                         sizeof (tmp->error));
        assert_non_null (log);
        for (uint64_t number = 0; round == 0 && number < 4; number++) {
            msg_trade_t trade = s_make (number);
            snprintf (trade.key, sizeof (trade.key), "%s", number % 2 ? "other" : "same");
            assert_int_equal (tradelog_append (log, &trade), 0);
            assert_int_equal (tradelog_sync (log), 0);
            if (number == 2)
                assert_int_equal (tradelog_find_key (log, "same"), 0);
        }
        //  Trade 0 left with its key; 2 holds "same" but was refused it.
        assert_int_equal (tradelog_find_key (log, "same"), -1);
        assert_int_equal (tradelog_find_key (log, "other"), 1);
        msg_trade_t got;
        assert_int_equal (tradelog_get (log, 2, &got), 0);
        assert_string_equal (got.key, "same");
        assert_int_equal (tradelog_get (log, 0, &got), 0);
        assert_string_equal (got.key, "same");
        tradelog_destroy (&log);
    }
}

//  Each stock name is kept once and numbered; tradelog_peek gives what
//  the catalog's replay needs of each trade.
static void
test_tradelog_names_and_peek (void **state)
{
    s_tmp_t *tmp = *state;
    for (int round = 0; round < 2; round++) {
        tradelog_t *log = s_open (tmp);
        if (round == 0) {
            assert_int_equal (tradelog_names (log), 0);
            s_append (log, 0, 10);
            assert_int_equal (tradelog_sync (log), 0);
        }
        assert_int_equal (tradelog_names (log), 3);
        assert_string_equal (tradelog_name (log, 0), "apple");
        assert_string_equal (tradelog_name (log, 1), "tesla");
        assert_string_equal (tradelog_name (log, 2), "ford");
        assert_null (tradelog_name (log, 3));
        for (uint64_t number = 0; number < 10; number++) {
            msg_trade_t want = s_make (number);
            uint32_t name;
            int side;
            uint64_t quantity;
            assert_int_equal (tradelog_peek (log, number, &name, &side, &quantity), 0);
            assert_string_equal (tradelog_name (log, name), want.name);
            assert_int_equal (side, want.side);
            assert_int_equal (quantity, want.quantity);
        }
        uint32_t name;
        int side;
        uint64_t quantity;
        assert_int_equal (tradelog_peek (log, 10, &name, &side, &quantity), -1);
        tradelog_destroy (&log);
    }
}

static void
test_tradelog_torn_tail_truncated (void **state)
{
    s_tmp_t *tmp = *state;
    tradelog_t *log = s_open (tmp);
    s_append (log, 0, 3);
    assert_int_equal (tradelog_sync (log), 0);
    tradelog_destroy (&log);
    struct stat st;
    assert_int_equal (stat (tmp->path, &st), 0);
    assert_int_equal (truncate (tmp->path, st.st_size - 1), 0);
    log = s_open (tmp);
    s_expect_trades (log, 2);
    assert_true (tradelog_truncated (log) > 0);
    s_expect_file (tmp, 2); //  the tail is gone from the file too
    s_append (log, 2, 4);
    assert_int_equal (tradelog_sync (log), 0);
    tradelog_destroy (&log);
    s_expect_file (tmp, 4);
}

static void
test_tradelog_refusals_change_nothing (void **state)
{
    s_tmp_t *tmp = *state;
    tradelog_t *log = s_open (tmp);
    s_append (log, 0, 2);
    msg_trade_t trade = s_make (3); //  a gap
    assert_int_equal (tradelog_append (log, &trade), -1);
    trade = s_make (1); //  a number already taken
    assert_int_equal (tradelog_append (log, &trade), -1);
    trade = s_make (2);
    trade.side = 2;
    assert_int_equal (tradelog_append (log, &trade), -1);
    trade = s_make (2);
    trade.quantity = MSG_QUANTITY_MAX + 1;
    assert_int_equal (tradelog_append (log, &trade), -1);
    trade = s_make (5); //  keyed and refused: the key stays unknown
    trade.number = 2;
    trade.quantity = 0;
    trade.side = 9;
    assert_int_equal (tradelog_append (log, &trade), -1);
    assert_int_equal (tradelog_find_key (log, "key-5"), -1);
    s_expect_trades (log, 2);
    assert_int_equal (tradelog_sync (log), 0);
    s_expect_file (tmp, 2); //  nothing refused reached the queue
    tradelog_destroy (&log);
}

//  A file whose numbers are not dense is refused, and says where.
static void
test_tradelog_refuses_records_out_of_order (void **state)
{
    s_tmp_t *tmp = *state;
    msgpack_sbuffer bytes;
    msgpack_sbuffer_init (&bytes);
    msg_trade_t trade = s_make (0);
    assert_int_equal (tradelog_record (&trade, &bytes), 0);
    trade = s_make (2);
    assert_int_equal (tradelog_record (&trade, &bytes), 0);
    FILE *file = fopen (tmp->path, "wb");
    assert_non_null (file);
    assert_int_equal (fwrite (bytes.data, 1, bytes.size, file), bytes.size);
    assert_int_equal (fclose (file), 0);
    msgpack_sbuffer_destroy (&bytes);
    assert_null (tradelog_open (tmp->path, true, NULL, tmp->error, sizeof (tmp->error)));
    if (!strstr (tmp->error, "record 1 out of order: refusing to start")
        || !strstr (tmp->error, tmp->path))
        fail_msg ("unexpected reason '%s'", tmp->error);
    //  Nothing was cut: the records are still there.
    struct stat st;
    assert_int_equal (stat (tmp->path, &st), 0);
    assert_true (st.st_size > 0);
}

//  journal_frame is what journal_append writes.
static void
test_tradelog_frame_matches_journal (void **state)
{
    s_tmp_t *tmp = *state;
    unsigned char frame[JOURNAL_HEADER_SIZE + 5];
    assert_int_equal (journal_frame ("hello", 5, frame), 0);
    assert_int_equal (journal_frame ("", 0, frame), -1);
    journal_t *journal = journal_open (tmp->path, true, NULL, NULL);
    assert_non_null (journal);
    assert_int_equal (journal_append (journal, "hello", 5), 0);
    assert_int_equal (journal_sync (journal), 0);
    journal_destroy (&journal);
    unsigned char got[sizeof (frame) + 1];
    FILE *file = fopen (tmp->path, "rb");
    assert_non_null (file);
    assert_int_equal (fread (got, 1, sizeof (got), file), sizeof (frame));
    fclose (file);
    assert_memory_equal (got, frame, sizeof (frame));
}

int
test_tradelog_run (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_tradelog_append_get_count_durable, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_tradelog_zeros_ahead_only_when_syncing, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_tradelog_reopen_replays, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_tradelog_key_lookup, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_tradelog_torn_tail_truncated, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_tradelog_refusals_change_nothing, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_tradelog_refuses_records_out_of_order, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_tradelog_key_window, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_tradelog_key_window_long_run, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_tradelog_large_file_replays_into_reserved_room,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_tradelog_repeated_key_leaves_with_the_first,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_tradelog_names_and_peek, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_tradelog_empty_window, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_tradelog_frame_matches_journal, s_setup,
                                         s_teardown),
    };
    return cmocka_run_group_tests_name ("tradelog", tests, NULL, NULL);
}
