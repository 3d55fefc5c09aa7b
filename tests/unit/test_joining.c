/*  test_joining.c - a replica with no state joins before it votes: when
    the mark is made, kept and removed, which PREPAREs it ignores, and
    when its log is enough to end the join.
*/
#include "fixtures.h"
#include "joining.h"
#include "unit.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int
s_setup (void **state)
{
    return fx_tmp_setup (state, "joining", "order-2.joining");
}

static joining_t *
s_new (fx_tmp_t *tmp, uint64_t orders, bool promised, bool new_system)
{
    joining_t *joining = joining_new (tmp->path, orders, promised, new_system, tmp->error,
                                      sizeof (tmp->error));
    if (!joining)
        fail_msg ("joining_new: %s", tmp->error);
    return joining;
}

static bool
s_marked (fx_tmp_t *tmp)
{
    return access (tmp->path, F_OK) == 0;
}

//  Which starts join, and what the mark is after each.
static void
test_joining_who_joins (void **state)
{
    fx_tmp_t *tmp = *state;
    //  A new system's first start: votes at once, no mark.
    joining_t *joining = s_new (tmp, 0, false, true);
    assert_false (joining_active (joining));
    assert_false (s_marked (tmp));
    joining_destroy (&joining);
    //  A replica with state: --new or not, it votes as before.
    joining = s_new (tmp, 5, true, false);
    assert_false (joining_active (joining));
    joining_destroy (&joining);
    joining = s_new (tmp, 0, true, false);   //  a promise file, no order yet
    assert_false (joining_active (joining));
    joining_destroy (&joining);
    //  No state and no --new: it joins, and the mark says so.
    joining = s_new (tmp, 0, false, false);
    assert_true (joining_active (joining));
    assert_true (s_marked (tmp));
    joining_destroy (&joining);
    //  Restarted halfway (orders copied, a promise file): still joining.
    joining = s_new (tmp, 40, true, false);
    assert_true (joining_active (joining));
    joining_destroy (&joining);
    joining = s_new (tmp, 40, true, true);   //  --new does not end a join with orders
    assert_true (joining_active (joining));
    assert_true (s_marked (tmp));
    joining_destroy (&joining);
    //  --new with no order yet: a new system started without it.
    joining = s_new (tmp, 0, true, true);
    assert_false (joining_active (joining));
    assert_false (s_marked (tmp));
    joining_destroy (&joining);
}

static void
test_joining_ignores_prepares_only_while_joining (void **state)
{
    fx_tmp_t *tmp = *state;
    joining_t *joining = s_new (tmp, 0, false, false);
    assert_true (joining_ignores (joining, 7, 1));
    assert_true (joining_ignores (joining, 7, 1));   //  said once, ignored again
    assert_true (joining_ignores (joining, 8, 3));
    joining_on_append (joining, 3, 8, 10, 17, &(joining_log_t) {10, 17, 0});
    assert_int_equal (joining_check (joining, 3, 8, 10), 0);
    assert_false (joining_active (joining));
    assert_false (joining_ignores (joining, 9, 1));
    joining_destroy (&joining);
}

//  The join ends only with the log of the leader it follows, whole.
static void
test_joining_ends_with_the_leaders_whole_log (void **state)
{
    fx_tmp_t *tmp = *state;
    joining_t *joining = s_new (tmp, 0, false, false);
    assert_int_equal (joining_check (joining, 3, 8, 100), 0);   //  no APPEND heard yet
    assert_true (joining_active (joining));
    joining_on_append (joining, 3, 8, 50, 17, &(joining_log_t) {50, 17, 0});
    assert_int_equal (joining_check (joining, 3, 8, 49), 0);    //  short of it
    assert_int_equal (joining_check (joining, 0, 8, 50), 0);    //  follows no one now
    assert_int_equal (joining_check (joining, 2, 8, 50), 0);    //  another leader
    assert_int_equal (joining_check (joining, 3, 9, 50), 0);    //  another epoch
    assert_true (joining_active (joining));
    assert_true (s_marked (tmp));
    joining_on_append (joining, 3, 8, 60, 17, &(joining_log_t) {60, 17, 0});   //  the leader moved on
    assert_int_equal (joining_check (joining, 3, 8, 50), 0);
    assert_true (joining_active (joining));
    assert_int_equal (joining_check (joining, 3, 8, 60), 0);
    assert_false (joining_active (joining));
    assert_false (s_marked (tmp));
    //  An empty leader's log is whole at once.
    joining_destroy (&joining);
    joining = s_new (tmp, 0, false, false);
    joining_on_append (joining, 1, 1, 0, 0, &(joining_log_t) {0, 0, 0});
    assert_int_equal (joining_check (joining, 1, 1, 0), 0);
    assert_false (joining_active (joining));
    joining_destroy (&joining);
}

//  As many entries of another history are not the leader's log: an
//  APPEND this replica did not match (it holds an old leader's entries,
//  stamp 3, where the leader's end with 5) does not end the join (a
//  review found it did, on lengths alone).
static void
test_joining_needs_the_leaders_entries_not_their_count (void **state)
{
    fx_tmp_t *tmp = *state;
    joining_t *joining = s_new (tmp, 0, false, false);
    joining_on_append (joining, 2, 2, 5, 5, &(joining_log_t) {5, 3, 2});     //  other stamp, uncommitted
    assert_int_equal (joining_check (joining, 2, 2, 5), 0);
    assert_true (joining_active (joining));
    joining_on_append (joining, 2, 2, 6, 5, &(joining_log_t) {5, 0, 5});     //  longer than ours
    assert_int_equal (joining_check (joining, 2, 2, 5), 0);
    assert_true (joining_active (joining));
    joining_on_append (joining, 2, 2, 5, 5, &(joining_log_t) {5, 5, 2});     //  cut and copied
    assert_int_equal (joining_check (joining, 2, 2, 5), 0);
    assert_false (joining_active (joining));
    joining_destroy (&joining);
}

//  A committed prefix is the same everywhere whatever its stamps: a
//  later leader re-stamped the entries this replica took from an
//  earlier one. It holds the leader's log (the simulator found the join
//  stuck on stamps alone, seed 29408 with 5 replicas).
static void
test_joining_takes_a_restamped_committed_prefix (void **state)
{
    fx_tmp_t *tmp = *state;
    joining_t *joining = s_new (tmp, 0, false, false);
    joining_on_append (joining, 5, 191, 58, 382, &(joining_log_t) {58, 380, 57});
    assert_int_equal (joining_check (joining, 5, 191, 58), 0);
    assert_true (joining_active (joining));                   //  index 57 not committed here
    joining_on_append (joining, 5, 191, 58, 382, &(joining_log_t) {58, 380, 58});
    assert_int_equal (joining_check (joining, 5, 191, 58), 0);
    assert_false (joining_active (joining));
    joining_destroy (&joining);
}

//  The simulator's replicas have no files: path NULL keeps the join in
//  memory, with the same rule.
static void
test_joining_in_memory (void **state)
{
    (void) state;
    char error[256] = "";
    joining_t *joining = joining_new (NULL, 0, false, false, error, sizeof (error));
    assert_non_null (joining);
    assert_true (joining_active (joining));
    assert_true (joining_ignores (joining, 4, 1));
    joining_on_append (joining, 1, 4, 3, 9, &(joining_log_t) {3, 9, 0});
    assert_int_equal (joining_check (joining, 1, 4, 3), 0);
    assert_false (joining_active (joining));
    joining_destroy (&joining);
    joining = joining_new (NULL, 0, false, true, error, sizeof (error));
    assert_false (joining_active (joining));
    joining_destroy (&joining);
}

//  A mark that cannot be made is an error naming it, not a replica that votes.
static void
test_joining_mark_errors_name_the_file (void **state)
{
    fx_tmp_t *tmp = *state;
    char path[256], error[512] = "";
    snprintf (path, sizeof (path), "%s/no/such/order-2.joining", tmp->dir);
    joining_t *joining = joining_new (path, 0, false, false, error, sizeof (error));
    assert_null (joining);
    assert_non_null (strstr (error, path));
    assert_non_null (strstr (error, "cannot create"));
}

int
test_joining_run (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_joining_who_joins, s_setup, fx_tmp_teardown),
        cmocka_unit_test_setup_teardown (test_joining_ignores_prepares_only_while_joining,
                                         s_setup, fx_tmp_teardown),
        cmocka_unit_test_setup_teardown (test_joining_ends_with_the_leaders_whole_log, s_setup,
                                         fx_tmp_teardown),
        cmocka_unit_test_setup_teardown (test_joining_needs_the_leaders_entries_not_their_count,
                                         s_setup, fx_tmp_teardown),
        cmocka_unit_test_setup_teardown (test_joining_takes_a_restamped_committed_prefix,
                                         s_setup, fx_tmp_teardown),
        cmocka_unit_test (test_joining_in_memory),
        cmocka_unit_test_setup_teardown (test_joining_mark_errors_name_the_file, s_setup,
                                         fx_tmp_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
