/*  test_strindex.c - the string index: ids found by their strings, the
    first id of a string kept, removal only by the id held, nothing lost
    when the table grows or slots shift back after a removal (checked
    against a plain array over thousands of random operations).
*/
#include "strindex.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRINGS 5000

//  The strings the tests index: strings[id - 1] is the string of id.
typedef struct {
    char strings[STRINGS][24];
} s_strings_t;

static const char *
s_string_of (void *arg, uint64_t id)
{
    s_strings_t *strings = arg;
    assert_true (id >= 1 && id <= STRINGS);
    return strings->strings[id - 1];
}

static int
s_setup (void **state)
{
    s_strings_t *strings = calloc (1, sizeof (s_strings_t));
    for (size_t i = 0; i < STRINGS; i++)
        snprintf (strings->strings[i], sizeof (strings->strings[i]), "key-%zu", i % 1000);
    *state = strings;
    return 0;
}

static int
s_teardown (void **state)
{
    free (*state);
    return 0;
}

static void
test_strindex_insert_find_remove (void **state)
{
    s_strings_t *strings = *state;
    strindex_t *index = strindex_new (s_string_of, strings);
    assert_non_null (index);
    assert_int_equal (strindex_find (index, "key-1"), 0); //  empty: no table yet
    assert_false (strindex_remove (index, "key-1", 2));
    assert_int_equal (strindex_insert (index, "key-1", 2), 0);
    assert_int_equal (strindex_find (index, "key-1"), 2);
    assert_int_equal (strindex_find (index, "key-2"), 0);
    assert_int_equal (strindex_find (index, ""), 0);
    //  The same string again (id 1002 is "key-1" too): the first id stays.
    assert_int_equal (strindex_insert (index, strings->strings[1001], 1002), 1);
    assert_int_equal (strindex_find (index, "key-1"), 2);
    assert_int_equal (strindex_size (index), 1);
    //  Removed only by the id it holds.
    assert_false (strindex_remove (index, "key-1", 1002));
    assert_int_equal (strindex_find (index, "key-1"), 2);
    assert_true (strindex_remove (index, "key-1", 2));
    assert_int_equal (strindex_find (index, "key-1"), 0);
    assert_int_equal (strindex_size (index), 0);
    assert_int_equal (strindex_insert (index, strings->strings[1001], 1002), 0);
    assert_int_equal (strindex_find (index, "key-1"), 1002);
    strindex_destroy (&index);
    assert_null (index);
    strindex_destroy (&index);
}

//  Growing from 16 slots to thousands keeps every string; reserve makes
//  room ahead, as the tradelog does before it commits a trade.
static void
test_strindex_grows (void **state)
{
    s_strings_t *strings = *state;
    strindex_t *index = strindex_new (s_string_of, strings);
    assert_int_equal (strindex_reserve (index, 10), 0);
    for (uint64_t id = 1; id <= 1000; id++) {
        assert_int_equal (strindex_reserve (index, strindex_size (index) + 1), 0);
        assert_int_equal (strindex_insert (index, strings->strings[id - 1], id), 0);
        for (uint64_t check = 1; check <= id; check += 97)
            assert_int_equal (strindex_find (index, strings->strings[check - 1]), check);
    }
    for (uint64_t id = 1; id <= 1000; id++)
        assert_int_equal (strindex_find (index, strings->strings[id - 1]), id);
    assert_int_equal (strindex_size (index), 1000);
    strindex_destroy (&index);
}

//  Random inserts and removals against a plain array: removals shift
//  the slots after them back, across the end of the table too.
static void
test_strindex_random_against_array (void **state)
{
    s_strings_t *strings = *state;
    strindex_t *index = strindex_new (s_string_of, strings);
    uint64_t held[1000] = {0}; //  string "key-n" -> the id it holds, 0 none
    srand (13);
    for (int step = 0; step < 200000; step++) {
        uint64_t id = 1 + (uint64_t)(rand () % STRINGS);
        size_t n = (size_t)(id - 1) % 1000;
        const char *string = strings->strings[id - 1];
        //  Mostly few strings held, so the table also shrinks to near empty runs.
        if (rand () % 100 < (step / 20000 % 2 ? 30 : 70)) {
            int rc = strindex_insert (index, string, id);
            assert_int_equal (rc, held[n] ? 1 : 0);
            if (!held[n])
                held[n] = id;
        } else {
            bool removed = strindex_remove (index, string, id);
            assert_int_equal (removed, held[n] == id);
            if (removed)
                held[n] = 0;
        }
        if (step % 1000 == 0) {
            size_t count = 0;
            for (size_t i = 0; i < 1000; i++) {
                assert_int_equal (strindex_find (index, strings->strings[i]), held[i]);
                count += held[i] != 0;
            }
            assert_int_equal (strindex_size (index), count);
        }
    }
    strindex_destroy (&index);
}

int
test_strindex_run (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_strindex_insert_find_remove, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_strindex_grows, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_strindex_random_against_array, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name ("strindex", tests, NULL, NULL);
}
