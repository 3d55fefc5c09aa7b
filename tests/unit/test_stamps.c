/*  test_stamps.c - an order log's stamps as runs (src/stamps.c):
    append, lookup, cuts inside a run and at a boundary, and
    the re-stamp an election does (cut the tail, append it again under
    the new leader's even stamp).
*/
#include "stamps.h"
#include "unit.h"

//  Checks every index of self against expected (count of them).
static void
s_expect (stamps_t *self, const uint64_t *expected, uint64_t count)
{
    assert_int_equal (stamps_length (self), count);
    for (uint64_t i = 0; i < count; i++)
        if (stamps_get (self, i) != expected[i])
            fail_msg ("index %llu: stamp %llu, expected %llu", (unsigned long long) i,
                      (unsigned long long) stamps_get (self, i),
                      (unsigned long long) expected[i]);
}

static void
test_stamps_empty (void **state)
{
    (void) state;
    stamps_t *stamps = stamps_new ();
    assert_int_equal (stamps_length (stamps), 0);
    assert_int_equal (stamps_runs (stamps), 0);
    stamps_cut (stamps, 0);
    stamps_append (stamps, 3, 0); //  nothing
    assert_int_equal (stamps_runs (stamps), 0);
    stamps_destroy (&stamps);
    assert_null (stamps);
    stamps_destroy (&stamps); //  nothing on NULL
}

static void
test_stamps_append_merges_equal_stamps (void **state)
{
    (void) state;
    stamps_t *stamps = stamps_new ();
    for (int i = 0; i < 1000; i++)
        stamps_append (stamps, 3, 1);
    assert_int_equal (stamps_runs (stamps), 1);
    stamps_append (stamps, 4, 2);
    stamps_append (stamps, 5, 1);
    stamps_append (stamps, 5, 1);
    stamps_append (stamps, 9, 1);
    assert_int_equal (stamps_runs (stamps), 4);
    assert_int_equal (stamps_length (stamps), 1005);
    assert_int_equal (stamps_get (stamps, 0), 3);
    assert_int_equal (stamps_get (stamps, 999), 3);
    assert_int_equal (stamps_get (stamps, 1000), 4);
    assert_int_equal (stamps_get (stamps, 1001), 4);
    assert_int_equal (stamps_get (stamps, 1002), 5);
    assert_int_equal (stamps_get (stamps, 1003), 5);
    assert_int_equal (stamps_get (stamps, 1004), 9);
    assert_int_equal (stamps_run_end (stamps, 0), 1000);
    assert_int_equal (stamps_run_end (stamps, 999), 1000);
    assert_int_equal (stamps_run_end (stamps, 1001), 1002);
    assert_int_equal (stamps_run_end (stamps, 1004), 1005);
    stamps_destroy (&stamps);
}

//  Many runs (more than the first allocation), every index looked up.
static void
test_stamps_lookup_many_runs (void **state)
{
    (void) state;
    stamps_t *stamps = stamps_new ();
    uint64_t expected[600];
    uint64_t count = 0;
    for (uint64_t run = 0; run < 100; run++)
        for (uint64_t k = 0; k <= run % 7 && count < 600; k++) {
            expected[count++] = 2 + run;
            stamps_append (stamps, 2 + run, 1);
        }
    assert_int_equal (stamps_runs (stamps), 100);
    s_expect (stamps, expected, count);
    stamps_destroy (&stamps);
}

static void
test_stamps_cut_in_the_middle_of_a_run (void **state)
{
    (void) state;
    stamps_t *stamps = stamps_new ();
    stamps_append (stamps, 3, 4);  //  0..3
    stamps_append (stamps, 5, 4);  //  4..7
    stamps_cut (stamps, 6);
    uint64_t expected[] = {3, 3, 3, 3, 5, 5};
    s_expect (stamps, expected, 6);
    assert_int_equal (stamps_runs (stamps), 2);
    assert_int_equal (stamps_run_end (stamps, 4), 6);
    stamps_cut (stamps, 2); //  inside the first run: the second goes
    assert_int_equal (stamps_runs (stamps), 1);
    s_expect (stamps, expected, 2);
    stamps_append (stamps, 3, 1); //  the same stamp again: still one run
    assert_int_equal (stamps_runs (stamps), 1);
    stamps_cut (stamps, 9); //  past the length: nothing
    assert_int_equal (stamps_length (stamps), 3);
    stamps_destroy (&stamps);
}

static void
test_stamps_cut_at_a_boundary (void **state)
{
    (void) state;
    stamps_t *stamps = stamps_new ();
    stamps_append (stamps, 3, 4);  //  0..3
    stamps_append (stamps, 5, 4);  //  4..7
    stamps_append (stamps, 7, 2);  //  8..9
    stamps_cut (stamps, 8);
    assert_int_equal (stamps_runs (stamps), 2);
    assert_int_equal (stamps_run_end (stamps, 7), 8);
    stamps_cut (stamps, 4);
    assert_int_equal (stamps_runs (stamps), 1);
    uint64_t expected[] = {3, 3, 3, 3, 9};
    stamps_append (stamps, 9, 1);
    s_expect (stamps, expected, 5);
    assert_int_equal (stamps_runs (stamps), 2);
    stamps_cut (stamps, 0);
    assert_int_equal (stamps_runs (stamps), 0);
    assert_int_equal (stamps_length (stamps), 0);
    stamps_append (stamps, 4, 2);
    assert_int_equal (stamps_get (stamps, 1), 4);
    stamps_destroy (&stamps);
}

//  An election: leader of epoch 3 re-stamps [commit, length) with 6
//  (cut, then append under the even stamp), then proposes under 7.
static void
test_stamps_restamp_the_tail (void **state)
{
    (void) state;
    stamps_t *stamps = stamps_new ();
    stamps_append (stamps, 3, 5);  //  0..4, epoch 1's proposals
    stamps_append (stamps, 4, 2);  //  5..6, recovered by epoch 2
    stamps_append (stamps, 5, 3);  //  7..9, proposed under epoch 2
    uint64_t commit = 6, length = 10;
    stamps_cut (stamps, commit);
    stamps_append (stamps, 6, length - commit);
    stamps_append (stamps, 7, 2);
    uint64_t expected[] = {3, 3, 3, 3, 3, 4, 6, 6, 6, 6, 7, 7};
    s_expect (stamps, expected, 12);
    assert_int_equal (stamps_runs (stamps), 4);
    assert_int_equal (stamps_run_end (stamps, 6), 10); //  the recovered tail travels whole
    stamps_destroy (&stamps);
}

int
test_stamps_run (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_stamps_empty),
        cmocka_unit_test (test_stamps_append_merges_equal_stamps),
        cmocka_unit_test (test_stamps_lookup_many_runs),
        cmocka_unit_test (test_stamps_cut_in_the_middle_of_a_run),
        cmocka_unit_test (test_stamps_cut_at_a_boundary),
        cmocka_unit_test (test_stamps_restamp_the_tail),
    };
    return cmocka_run_group_tests_name ("stamps", tests, NULL, NULL);
}
