/*  test_msgs_trade.c - msg_decode_trade, the replay's TRADEREC decoder,
    agrees with msg_decode: the same result for every input (another type
    that decodes is MSG_DECODE_TYPE) and, when it accepts, the same trade.

    Inputs: TRADERECs msg_encode writes with values at every msgpack
    width, the same records in the other forms msgpack allows, every
    prefix and every one-byte change of them, every other type, and the
    fuzz corpora (tests/fuzz/msgs files, tests/fuzz/journal records; the
    tests run from the repository root, as make unit runs them).
*/
#include "fixtures.h"
#include "journal.h"
#include "unit.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CORPUS_FILE_MAX (1 << 20)

//  Decodes data both ways and fails unless they agree. Returns the result.
static int
s_agree (const void *data, size_t size, const char *what)
{
    msg_t msg;
    msg_init (&msg, 0);
    int expected = msg_decode (&msg, data, size);
    if (expected == MSG_DECODE_OK && msg.type != MSG_TRADEREC)
        expected = MSG_DECODE_TYPE;
    //  A heap copy of exactly size bytes, so ASan sees any overread.
    void *copy = malloc (size ? size : 1);
    assert_non_null (copy);
    if (size)
        memcpy (copy, data, size);
    msg_trade_t trade;
    memset (&trade, 0x5a, sizeof (trade));
    int rc = msg_decode_trade (copy, size, &trade);
    free (copy);
    if (rc != expected)
        fail_msg ("%s: msg_decode_trade %d, msg_decode %d", what, rc, expected);
    if (rc == MSG_DECODE_OK) {
        msg_trade_t want;
        msg_get_trade (&msg, &want);
        assert_int_equal (trade.number, want.number);
        assert_string_equal (trade.name, want.name);
        assert_int_equal (trade.side, want.side);
        assert_int_equal (trade.quantity, want.quantity);
        assert_string_equal (trade.key, want.key);
    }
    msg_reset (&msg);
    return rc;
}

static void
s_encode_trade (const msg_trade_t *trade, msgpack_sbuffer *out)
{
    msg_t msg;
    msg_set_trade (&msg, MSG_TRADEREC, trade);
    fx_encode (&msg, out);
}

//  A trade whose name and key have the given lengths.
static msg_trade_t
s_trade (uint64_t number, size_t name_length, int side, uint64_t quantity, size_t key_length)
{
    msg_trade_t trade = {.number = number, .side = (uint8_t)side, .quantity = quantity};
    memset (trade.name, 'n', name_length);
    trade.name[name_length] = '\0';
    memset (trade.key, 'k', key_length);
    trade.key[key_length] = '\0';
    return trade;
}

//  Good records: numbers and quantities at the edges of every msgpack
//  width, names and keys from empty to their limit.
static const uint64_t s_numbers[] = {0,     1,     127,           128,           255,       256,
                                     65535, 65536, 4294967295ULL, 4294967296ULL, UINT64_MAX};
static const uint64_t s_quantities[] = {0, 1, 127, 128, 65536, MSG_QUANTITY_MAX};
static const size_t s_lengths[] = {0, 1, 5, 31, 32, 63, MSG_NAME_MAX};

static void
test_trade_good_records (void **state)
{
    (void)state;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    for (size_t n = 0; n < sizeof (s_numbers) / sizeof (s_numbers[0]); n++)
        for (size_t q = 0; q < sizeof (s_quantities) / sizeof (s_quantities[0]); q++)
            for (size_t l = 0; l < sizeof (s_lengths) / sizeof (s_lengths[0]); l++)
                for (int side = 0; side <= 1; side++) {
                    msg_trade_t trade = s_trade (s_numbers[n], s_lengths[l], side, s_quantities[q],
                                                 MSG_KEY_MAX - s_lengths[l]);
                    s_encode_trade (&trade, &buffer);
                    assert_int_equal (s_agree (buffer.data, buffer.size, "good"), MSG_DECODE_OK);
                }
    msgpack_sbuffer_destroy (&buffer);
}

//  Every prefix and every one-byte change of a record: most are refused,
//  some are other good records; both decoders must say the same.
static void
test_trade_truncated_and_mutated (void **state)
{
    (void)state;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    const msg_trade_t trades[] = {
        s_trade (0, 5, 0, 1, 0),
        s_trade (1000000, 5, 1, 1, 26),
        s_trade (UINT64_MAX, MSG_NAME_MAX, 1, MSG_QUANTITY_MAX, MSG_KEY_MAX),
    };
    for (size_t t = 0; t < sizeof (trades) / sizeof (trades[0]); t++) {
        s_encode_trade (&trades[t], &buffer);
        unsigned char data[256];
        assert_true (buffer.size + 1 <= sizeof (data));
        memcpy (data, buffer.data, buffer.size);
        for (size_t size = 0; size < buffer.size; size++)
            s_agree (data, size, "prefix");
        data[buffer.size] = 0;
        s_agree (data, buffer.size + 1, "a byte more");
        for (size_t at = 0; at < buffer.size; at++) {
            unsigned char saved = data[at];
            for (int value = 0; value < 256; value++) {
                data[at] = (unsigned char)value;
                s_agree (data, buffer.size, "one byte changed");
            }
            data[at] = saved;
        }
    }
    msgpack_sbuffer_destroy (&buffer);
}

//  Forms msgpack allows that msg_encode does not write: msg_decode takes
//  them, so msg_decode_trade must too (through its slow path).
static void
test_trade_other_forms (void **state)
{
    (void)state;
    // clang-format off
#define CASE(bytes, expected) {bytes, sizeof (bytes) - 1, expected}
    static const struct {
        const char *bytes;
        size_t size;
        int expected;
    } cases[] = {
        //  [1, 71, 5, "ab", 1, 3, "k"] as msg_encode writes it
        CASE ("\x97\x01\x47\x05\xa2" "ab" "\x01\x03\xa1k", MSG_DECODE_OK),
        //  array 16 and 32 headers
        CASE ("\xdc\x00\x07\x01\x47\x05\xa2" "ab" "\x01\x03\xa1k", MSG_DECODE_OK),
        CASE ("\xdd\x00\x00\x00\x07\x01\x47\x05\xa2" "ab" "\x01\x03\xa1k", MSG_DECODE_OK),
        //  wider integers than needed, signed ones holding positive values
        CASE ("\x97\xcc\x01\xcd\x00\x47\xcf\x00\x00\x00\x00\x00\x00\x00\x05\xa2" "ab"
              "\xce\x00\x00\x00\x01\xcd\x00\x03\xa1k", MSG_DECODE_OK),
        CASE ("\x97\x01\x47\xd0\x05\xa2" "ab"
              "\xd1\x00\x01\xd3\x00\x00\x00\x00\x00\x00\x00\x03\xa1k", MSG_DECODE_OK),
        //  str 8, 16 and 32 for short strings
        CASE ("\x97\x01\x47\x05\xd9\x02" "ab" "\x01\x03\xda\x00\x01k", MSG_DECODE_OK),
        CASE ("\x97\x01\x47\x05\xdb\x00\x00\x00\x02" "ab" "\x01\x03\xa1k", MSG_DECODE_OK),
        //  and what msg_decode refuses
        CASE ("\x97\x01\x47\xff\xa2" "ab" "\x01\x03\xa1k", MSG_DECODE_FIELD),
        CASE ("\x97\x01\x47\x05\xc4\x02" "ab" "\x01\x03\xa1k", MSG_DECODE_FIELD),
        CASE ("\x97\x01\x47\x05\xa2" "a\0" "\x01\x03\xa1k", MSG_DECODE_FIELD),
        CASE ("\x97\x01\x47\x05\xa2" "ab" "\x02\x03\xa1k", MSG_DECODE_FIELD),
        CASE ("\x97\x01\x47\x05\xa2" "ab" "\x01\xce\x3b\x9a\xca\x01\xa1k", MSG_DECODE_FIELD),
        CASE ("\x97\x01\x47\x05\xa2" "ab" "\x01\x03\xc0", MSG_DECODE_FIELD),
        CASE ("\x97\x02\x47\x05\xa2" "ab" "\x01\x03\xa1k", MSG_DECODE_VERSION),
        CASE ("\x96\x01\x47\x05\xa2" "ab" "\x01\x03", MSG_DECODE_FIELDS),
        CASE ("\x97\x01\x46\x05\xa2" "ab" "\x01\x03\xa1k", MSG_DECODE_FIELDS),
        CASE ("\x97\x01\x47\x05\xa2" "ab" "\x01\x03\xa1k\x00", MSG_DECODE_TRAILING),
        CASE ("\x97\x01\x47\x05\xa2" "ab" "\x01\x03\xa2k", MSG_DECODE_FORMAT),
    };
#undef CASE
    // clang-format on
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        char what[32];
        snprintf (what, sizeof (what), "case %zu", i);
        assert_int_equal (s_agree (cases[i].bytes, cases[i].size, what), cases[i].expected);
    }
}

//  Every other type is MSG_DECODE_TYPE (or what msg_decode says).
static void
test_trade_other_types (void **state)
{
    (void)state;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    const fx_variant_t variants[] = {FX_MAX, FX_MIN, FX_TYPICAL};
    for (size_t t = 0; t < fx_type_count; t++)
        for (size_t v = 0; v < 3; v++) {
            msg_t msg;
            fx_build (&msg, fx_types[t], variants[v]);
            fx_encode (&msg, &buffer);
            int rc = s_agree (buffer.data, buffer.size, msg_type_name (fx_types[t]));
            assert_int_equal (rc, fx_types[t] == MSG_TRADEREC ? MSG_DECODE_OK : MSG_DECODE_TYPE);
            msg_reset (&msg);
        }
    msgpack_sbuffer_destroy (&buffer);
}

static int
s_agree_record (const void *data, size_t size, void *arg)
{
    s_agree (data, size, arg);
    return 0;
}

//  Calls check on every file of the corpus dir. Returns how many.
static size_t
s_each_corpus_file (const char *dir, void (*check) (const char *path))
{
    DIR *listing = opendir (dir);
    if (!listing)
        fail_msg ("cannot open %s: run the unit tests from the repository root", dir);
    size_t files = 0;
    struct dirent *entry;
    while ((entry = readdir (listing))) {
        if (entry->d_name[0] == '.')
            continue;
        char path[512];
        snprintf (path, sizeof (path), "%s/%s", dir, entry->d_name);
        check (path);
        files++;
    }
    closedir (listing);
    return files;
}

static void
s_check_message_file (const char *path)
{
    FILE *file = fopen (path, "rb");
    assert_non_null (file);
    unsigned char *data = malloc (CORPUS_FILE_MAX);
    assert_non_null (data);
    size_t size = fread (data, 1, CORPUS_FILE_MAX, file);
    fclose (file);
    s_agree (data, size, path);
    free (data);
}

static void
s_check_journal_file (const char *path)
{
    //  journal_read reads without locking or cutting: the corpus stays.
    journal_read (path, s_agree_record, (void *)path);
}

static void
test_trade_fuzz_corpora (void **state)
{
    (void)state;
    assert_true (s_each_corpus_file ("tests/fuzz/msgs", s_check_message_file) > 0);
    assert_true (s_each_corpus_file ("tests/fuzz/journal", s_check_journal_file) > 0);
}

int
test_msgs_trade_run (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_trade_good_records),
        cmocka_unit_test (test_trade_truncated_and_mutated),
        cmocka_unit_test (test_trade_other_forms),
        cmocka_unit_test (test_trade_other_types),
        cmocka_unit_test (test_trade_fuzz_corpora),
    };
    return cmocka_run_group_tests_name ("msgs_trade", tests, NULL, NULL);
}
