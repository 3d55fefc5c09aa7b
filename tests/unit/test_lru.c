/*  test_lru.c - the gateway's LRU cache: eviction order, capacity 0 and
    1, update in place, remove, clear and the eviction counter.
*/
#include "lru.h"
#include "unit.h"

#include <stdio.h>
#include <string.h>

//  Puts a string value (without its NUL) and checks it was stored.
static void
s_put (lru_t *lru, const char *key, const char *value, uint64_t version)
{
    assert_int_equal (lru_put (lru, key, value, strlen (value), version), 0);
}

//  Checks key holds value and version (without touching the recency
//  order), or is absent if value is NULL.
static void
s_expect (lru_t *lru, const char *key, const char *value, uint64_t version)
{
    size_t size = 999;
    uint64_t found_version = 999;
    const char *found = lru_peek (lru, key, &size, &found_version);
    if (!value) {
        if (found)
            fail_msg ("'%s' should be absent", key);
        return;
    }
    if (!found)
        fail_msg ("'%s' should be present", key);
    assert_int_equal (size, strlen (value));
    assert_memory_equal (found, value, size);
    assert_int_equal (found_version, version);
}

//  Checks exactly the keys in present (NULL-terminated) are in lru, each
//  holding its own name as value and version 0.
static void
s_expect_keys (lru_t *lru, const char **present, const char **absent)
{
    size_t count = 0;
    for (; present[count]; count++)
        s_expect (lru, present[count], present[count], 0);
    for (size_t i = 0; absent[i]; i++)
        s_expect (lru, absent[i], NULL, 0);
    assert_int_equal (lru_size (lru), count);
}

static void
s_put_keys (lru_t *lru, const char **keys)
{
    for (size_t i = 0; keys[i]; i++)
        s_put (lru, keys[i], keys[i], 0);
}

static void
test_lru_eviction_order (void **state)
{
    (void)state;
    lru_t *lru = lru_new (3);
    assert_non_null (lru);
    assert_int_equal (lru_capacity (lru), 3);
    s_put_keys (lru, (const char *[]){"a", "b", "c", NULL});
    assert_int_equal (lru_evictions (lru), 0);
    assert_non_null (lru_get (lru, "a", NULL, NULL)); //  order now b, c, a
    s_put (lru, "d", "d", 0);                         //  evicts b
    s_expect_keys (lru, (const char *[]){"a", "c", "d", NULL}, (const char *[]){"b", NULL});
    s_put (lru, "e", "e", 0); //  evicts c
    s_expect_keys (lru, (const char *[]){"a", "d", "e", NULL}, (const char *[]){"c", NULL});
    s_put (lru, "f", "f", 0); //  evicts a
    s_expect_keys (lru, (const char *[]){"d", "e", "f", NULL}, (const char *[]){"a", NULL});
    assert_int_equal (lru_evictions (lru), 3);
    lru_destroy (&lru);
    assert_null (lru);
    lru_destroy (&lru);
}

static void
test_lru_peek_keeps_order (void **state)
{
    (void)state;
    lru_t *lru = lru_new (2);
    s_put_keys (lru, (const char *[]){"a", "b", NULL});
    assert_non_null (lru_peek (lru, "a", NULL, NULL));
    s_put (lru, "c", "c", 0); //  a is still the oldest
    s_expect_keys (lru, (const char *[]){"b", "c", NULL}, (const char *[]){"a", NULL});
    lru_destroy (&lru);
}

static void
test_lru_capacity_one (void **state)
{
    (void)state;
    lru_t *lru = lru_new (1);
    s_put (lru, "a", "1", 1);
    s_put (lru, "b", "2", 2);
    s_expect (lru, "a", NULL, 0);
    s_expect (lru, "b", "2", 2);
    assert_int_equal (lru_evictions (lru), 1);
    s_put (lru, "b", "22", 3); //  in place: no eviction
    s_expect (lru, "b", "22", 3);
    assert_int_equal (lru_evictions (lru), 1);
    assert_int_equal (lru_size (lru), 1);
    lru_destroy (&lru);
}

static void
test_lru_capacity_zero (void **state)
{
    (void)state;
    lru_t *lru = lru_new (0);
    assert_non_null (lru);
    assert_int_equal (lru_put (lru, "a", "1", 1, 1), 1);
    assert_int_equal (lru_put (lru, "a", "1", 1, 1), 1);
    assert_null (lru_get (lru, "a", NULL, NULL));
    assert_int_equal (lru_size (lru), 0);
    assert_int_equal (lru_evictions (lru), 0);
    assert_false (lru_remove (lru, "a"));
    lru_clear (lru);
    lru_destroy (&lru);
}

static void
test_lru_update_in_place (void **state)
{
    (void)state;
    lru_t *lru = lru_new (2);
    s_put (lru, "a", "old", 1);
    s_put (lru, "b", "b", 0);
    s_put (lru, "a", "a much longer value than before", 2); //  a is now newest
    assert_int_equal (lru_size (lru), 2);
    assert_int_equal (lru_evictions (lru), 0);
    s_expect (lru, "a", "a much longer value than before", 2);
    s_put (lru, "a", "x", 3); //  shrinks
    s_expect (lru, "a", "x", 3);
    s_put (lru, "c", "c", 0); //  evicts b, not a
    s_expect (lru, "a", "x", 3);
    s_expect (lru, "b", NULL, 0);
    assert_int_equal (lru_evictions (lru), 1);
    lru_destroy (&lru);
}

static void
test_lru_get_returns_a_copy (void **state)
{
    (void)state;
    lru_t *lru = lru_new (4);
    char value[] = "152.59";
    assert_int_equal (lru_put (lru, "apple", value, sizeof (value), 7), 0);
    value[0] = 'X';
    size_t size = 0;
    uint64_t version = 0;
    const char *found = lru_get (lru, "apple", &size, &version);
    assert_non_null (found);
    assert_int_equal (size, sizeof (value));
    assert_string_equal (found, "152.59");
    assert_int_equal (version, 7);
    assert_int_equal (lru_put (lru, "empty", "", 0, 1), 0); //  empty value
    assert_non_null (lru_get (lru, "empty", &size, NULL));
    assert_int_equal (size, 0);
    assert_null (lru_get (lru, "appl", NULL, NULL)); //  exact keys only
    assert_null (lru_get (lru, "apples", NULL, NULL));
    lru_destroy (&lru);
}

static void
test_lru_remove (void **state)
{
    (void)state;
    lru_t *lru = lru_new (3);
    s_put_keys (lru, (const char *[]){"a", "b", "c", NULL});
    assert_true (lru_remove (lru, "b")); //  from the middle
    assert_false (lru_remove (lru, "b"));
    assert_false (lru_remove (lru, "zz"));
    s_expect_keys (lru, (const char *[]){"a", "c", NULL}, (const char *[]){"b", NULL});
    s_put (lru, "d", "d", 0); //  room: no eviction
    assert_int_equal (lru_evictions (lru), 0);
    s_put (lru, "e", "e", 0); //  evicts a
    s_expect_keys (lru, (const char *[]){"c", "d", "e", NULL}, (const char *[]){"a", NULL});
    assert_true (lru_remove (lru, "e"));                     //  the newest
    assert_true (lru_remove (lru, "c"));                     //  the oldest
    s_put_keys (lru, (const char *[]){"f", "g", "h", NULL}); //  evicts d
    s_expect_keys (lru, (const char *[]){"f", "g", "h", NULL}, (const char *[]){"d", NULL});
    assert_int_equal (lru_evictions (lru), 2);
    lru_destroy (&lru);
}

static void
test_lru_clear (void **state)
{
    (void)state;
    lru_t *lru = lru_new (2);
    s_put_keys (lru, (const char *[]){"a", "b", "c", NULL});
    assert_int_equal (lru_evictions (lru), 1);
    lru_clear (lru);
    assert_int_equal (lru_size (lru), 0);
    assert_int_equal (lru_evictions (lru), 1); //  not counted
    assert_int_equal (lru_capacity (lru), 2);
    s_expect (lru, "b", NULL, 0);
    s_expect (lru, "c", NULL, 0);
    s_put_keys (lru, (const char *[]){"x", "y", NULL});
    s_expect_keys (lru, (const char *[]){"x", "y", NULL}, (const char *[]){"b", NULL});
    assert_int_equal (lru_evictions (lru), 1);
    lru_destroy (&lru);
}

//  Many keys through a cache: the newest `capacity` keys survive and
//  every other put counts one eviction.
static void
test_lru_eviction_counter (void **state)
{
    (void)state;
    const size_t capacity = 100;
    const size_t keys = 5000;
    lru_t *lru = lru_new (capacity);
    char key[32];
    for (size_t i = 0; i < keys; i++) {
        snprintf (key, sizeof (key), "stock-%zu", i);
        s_put (lru, key, key, i);
    }
    assert_int_equal (lru_evictions (lru), keys - capacity);
    assert_int_equal (lru_size (lru), capacity);
    for (size_t i = 0; i < keys; i++) {
        snprintf (key, sizeof (key), "stock-%zu", i);
        s_expect (lru, key, i >= keys - capacity ? key : NULL, i);
    }
    lru_destroy (&lru);
}

static void
test_lru_self_test (void **state)
{
    (void)state;
    lru_test (false);
}

static void
test_lru_keys_most_recent_first (void **state)
{
    (void)state;
    lru_t *lru = lru_new (3);
    const char *keys[4];
    assert_int_equal (lru_keys (lru, keys, 4), 0);
    s_put_keys (lru, (const char *[]){"apple", "tesla", "ford", NULL});
    assert_non_null (lru_get (lru, "apple", NULL, NULL));
    s_put (lru, "meta", "meta", 0);               //  evicts tesla
    assert_int_equal (lru_keys (lru, keys, 4), 3);
    assert_string_equal (keys[0], "meta");
    assert_string_equal (keys[1], "apple");
    assert_string_equal (keys[2], "ford");
    assert_non_null (lru_peek (lru, "ford", NULL, NULL));
    assert_int_equal (lru_keys (lru, keys, 2), 2);   //  max respected, order kept
    assert_string_equal (keys[1], "apple");
    lru_destroy (&lru);
}

int
test_lru_run (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_lru_eviction_order),
        cmocka_unit_test (test_lru_peek_keeps_order),
        cmocka_unit_test (test_lru_capacity_one),
        cmocka_unit_test (test_lru_capacity_zero),
        cmocka_unit_test (test_lru_update_in_place),
        cmocka_unit_test (test_lru_get_returns_a_copy),
        cmocka_unit_test (test_lru_remove),
        cmocka_unit_test (test_lru_clear),
        cmocka_unit_test (test_lru_eviction_counter),
        cmocka_unit_test (test_lru_keys_most_recent_first),
        cmocka_unit_test (test_lru_self_test),
    };
    return cmocka_run_group_tests_name ("lru", tests, NULL, NULL);
}
