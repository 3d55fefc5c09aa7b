/*  test_roster.c - the broker's roster: registering and finding workers,
    round robin, the departed kept for VIEW (and forgotten on return),
    the size limits, which registered worker a newcomer would duplicate,
    the election after the new roster's quiet spell, the leader it
    keeps (and the announcements it holds back) during that spell, and
    when a leader its followers report silent is expired early.
*/
#include "roster.h"
#include "unit.h"

#include <czmq.h>

//  Registers a worker under identity from a heartbeat of service, id, role.
static roster_worker_t *
s_add (roster_t *roster, const char *identity, const char *service, uint64_t replica_id,
       uint8_t role)
{
    msg_t heartbeat;
    msg_init (&heartbeat, MSG_HEARTBEAT);
    snprintf (heartbeat.service, sizeof (heartbeat.service), "%s", service);
    heartbeat.replica_id = replica_id;
    heartbeat.incarnation = replica_id + 100;
    heartbeat.role = role;
    heartbeat.epoch = 7;
    roster_worker_t *worker = roster_add (roster, identity, strlen (identity), &heartbeat);
    roster_refresh (roster, worker, &heartbeat);
    return worker;
}

static int
s_setup (void **state)
{
    *state = roster_new (1000);
    return 0;
}

//  Destroys the roster twice: the second time is a no-op.
static int
s_teardown (void **state)
{
    roster_t *roster = *state;
    roster_destroy (&roster);
    assert_null (roster);
    roster_destroy (&roster);
    return 0;
}

static void
test_roster_find_and_pick (void **state)
{
    roster_t *roster = *state;
    s_add (roster, "cat-a", "catalog", 0, MSG_ROLE_FOLLOWER);
    s_add (roster, "cat-b", "catalog", 0, MSG_ROLE_FOLLOWER);
    s_add (roster, "ord-1", "order", 1, MSG_ROLE_FOLLOWER);
    assert_int_equal (roster_size (roster), 3);
    assert_ptr_equal (roster_find (roster, "ord-1", 5), roster_at (roster, 2));
    assert_null (roster_find (roster, "ord-", 4));
    assert_null (roster_taken (roster, "catalog", 0));   //  any number may serve
    //  Catalogs take turns; no order leader is elected in the quiet spell.
    assert_ptr_equal (roster_pick (roster, "catalog"), roster_at (roster, 0));
    assert_ptr_equal (roster_pick (roster, "catalog"), roster_at (roster, 1));
    assert_ptr_equal (roster_pick (roster, "catalog"), roster_at (roster, 0));
    //  One still catching up gets nothing while another serves; a
    //  newcomer joins the rotation, it does not take every request.
    roster_at (roster, 1)->role = MSG_ROLE_CATCHING_UP;
    assert_ptr_equal (roster_pick (roster, "catalog"), roster_at (roster, 0));
    assert_ptr_equal (roster_pick (roster, "catalog"), roster_at (roster, 0));
    roster_worker_t *late = s_add (roster, "cat-c", "catalog", 0, MSG_ROLE_FOLLOWER);
    assert_true (late->dispatched >= roster_at (roster, 0)->dispatched);
    assert_false (roster_elect (roster));
    assert_null (roster_pick (roster, "order"));
}

//  One process per replica id: a newcomer duplicates the registered
//  replica with its id, and nothing else; catalogs are never taken.
static void
test_roster_taken (void **state)
{
    roster_t *roster = *state;
    assert_null (roster_taken (roster, "catalog", 0));
    assert_null (roster_taken (roster, "order", 3));
    roster_worker_t *three = s_add (roster, "ord-3", "order", 3, MSG_ROLE_LEADER);
    s_add (roster, "ord-2", "order", 2, MSG_ROLE_FOLLOWER);
    assert_ptr_equal (roster_taken (roster, "order", 3), three);
    assert_null (roster_taken (roster, "order", 1));
    assert_null (roster_taken (roster, "catalog", 0));
    roster_worker_t *catalog = s_add (roster, "cat-a", "catalog", 0, MSG_ROLE_FOLLOWER);
    assert_non_null (catalog);
    assert_null (roster_taken (roster, "catalog", 0));
    roster_remove (roster, roster_taken (roster, "order", 3));
    assert_null (roster_taken (roster, "order", 3));
}

static void
test_roster_refresh_reports_changes (void **state)
{
    roster_t *roster = *state;
    roster_worker_t *worker = s_add (roster, "ord-1", "order", 1, MSG_ROLE_FOLLOWER);
    msg_t heartbeat;
    msg_init (&heartbeat, MSG_HEARTBEAT);
    heartbeat.role = MSG_ROLE_FOLLOWER;
    heartbeat.epoch = 7;
    heartbeat.position = 42;
    assert_false (roster_refresh (roster, worker, &heartbeat));
    assert_int_equal (worker->number, 42);
    assert_true (worker->expiry > zclock_mono () + 500);
    heartbeat.epoch = 8;
    assert_true (roster_refresh (roster, worker, &heartbeat));
}

//  Checks entry index of view is service/replica_id, registered or not.
static void
s_expect_entry (const msg_t *view, size_t index, const char *service, uint64_t replica_id,
                bool registered)
{
    assert_true (index < view->worker_count);
    assert_string_equal (view->workers[index].service, service);
    assert_int_equal (view->workers[index].replica_id, replica_id);
    assert_int_equal (view->workers[index].registered, registered);
}

static void
test_roster_view_keeps_the_departed (void **state)
{
    roster_t *roster = *state;
    s_add (roster, "ord-1", "order", 1, MSG_ROLE_FOLLOWER);
    roster_worker_t *catalog = s_add (roster, "cat-a", "catalog", 0, MSG_ROLE_FOLLOWER);
    catalog->number = 5;
    roster_remove (roster, roster_at (roster, 0));
    assert_int_equal (roster_size (roster), 1);
    msg_t view;
    roster_view (roster, &view);
    assert_int_equal (view.type, MSG_VIEW);
    assert_int_equal (view.worker_count, 2);
    s_expect_entry (&view, 0, "catalog", 0, true);
    s_expect_entry (&view, 1, "order", 1, false);
    assert_int_equal (view.position, 5);
    assert_int_equal (view.replica_id, 0);
    msg_reset (&view);
    //  The same replica back under a new identity is no longer departed.
    s_add (roster, "ord-1b", "order", 1, MSG_ROLE_FOLLOWER);
    roster_view (roster, &view);
    assert_int_equal (view.worker_count, 2);
    s_expect_entry (&view, 1, "order", 1, true);
    msg_reset (&view);
}

static void
test_roster_departed_are_bounded (void **state)
{
    roster_t *roster = *state;
    for (uint64_t id = 1; id <= ROSTER_GONE_MAX + 2; id++) {
        char identity[16];
        snprintf (identity, sizeof (identity), "ord-%" PRIu64, id);
        roster_remove (roster, s_add (roster, identity, "order", id, MSG_ROLE_FOLLOWER));
    }
    msg_t view;
    roster_view (roster, &view);
    assert_int_equal (view.worker_count, ROSTER_GONE_MAX);
    s_expect_entry (&view, 0, "order", 3, false);   //  the oldest two went
    s_expect_entry (&view, ROSTER_GONE_MAX - 1, "order", ROSTER_GONE_MAX + 2, false);
    msg_reset (&view);
}

static void
test_roster_has_room (void **state)
{
    roster_t *roster = *state;
    assert_true (roster_has_room (roster, ROSTER_IDENTITY_MAX));
    assert_false (roster_has_room (roster, ROSTER_IDENTITY_MAX + 1));
    for (uint64_t id = 1; id <= ROSTER_WORKERS_MAX; id++) {
        char identity[16];
        snprintf (identity, sizeof (identity), "ord-%" PRIu64, id);
        assert_true (roster_has_room (roster, strlen (identity)));
        s_add (roster, identity, "order", id, MSG_ROLE_FOLLOWER);
    }
    assert_false (roster_has_room (roster, 5));
}

//  The highest replica that is not catching up leads once the quiet
//  spell is over; the VIEW carries its in-sync set while it leads.
static void
test_roster_elects_after_quiet_spell (void **state)
{
    roster_t *roster = *state;
    s_add (roster, "ord-1", "order", 1, MSG_ROLE_FOLLOWER);
    s_add (roster, "ord-3", "order", 3, MSG_ROLE_CATCHING_UP);
    roster_worker_t *leader = s_add (roster, "ord-2", "order", 2, MSG_ROLE_LEADER);
    leader->in_sync[0] = 1;
    leader->in_sync_count = 1;
    zclock_sleep (MSG_HEARTBEAT_MS + MSG_HEARTBEAT_MS / 4 + 10);
    assert_true (roster_elect (roster));
    assert_false (roster_elect (roster));
    assert_ptr_equal (roster_pick (roster, "order"), leader);
    msg_t msg;
    roster_view (roster, &msg);
    assert_int_equal (msg.replica_id, 2);
    assert_int_equal (msg.epoch, 7);
    assert_int_equal (msg.in_sync_count, 1);
    msg_reset (&msg);
    roster_leader_message (roster, &msg);
    assert_int_equal (msg.type, MSG_LEADER);
    assert_int_equal (msg.replica_id, 2);
    assert_int_equal (msg.peer_count, 3);
    msg_reset (&msg);
}

//  A restarted broker keeps the leader: in the quiet spell the replica
//  that reports leading is named at once (the newest epoch if two do),
//  and before any is, only those catching up and the catalog are told.
static void
test_roster_quiet_spell_keeps_the_leader (void **state)
{
    roster_t *roster = *state;
    roster_worker_t *catalog = s_add (roster, "cat-a", "catalog", 0, MSG_ROLE_CATCHING_UP);
    roster_worker_t *follower = s_add (roster, "ord-3", "order", 3, MSG_ROLE_FOLLOWER);
    roster_worker_t *starting = s_add (roster, "ord-4", "order", 4, MSG_ROLE_CATCHING_UP);
    assert_false (roster_elect (roster));
    assert_null (roster_pick (roster, "order"));
    assert_false (roster_may_announce (roster, follower));
    assert_true (roster_may_announce (roster, starting));
    assert_true (roster_may_announce (roster, catalog));
    roster_worker_t *stale = s_add (roster, "ord-2", "order", 2, MSG_ROLE_LEADER);
    roster_worker_t *leader = s_add (roster, "ord-1", "order", 1, MSG_ROLE_LEADER);
    stale->epoch = 6;
    leader->epoch = 8;
    follower->epoch = 8;
    assert_true (roster_elect (roster));
    assert_ptr_equal (roster_pick (roster, "order"), leader);
    assert_true (roster_may_announce (roster, follower));
    msg_t msg;
    roster_leader_message (roster, &msg);
    assert_int_equal (msg.replica_id, 1);
    assert_int_equal (msg.epoch, 8);
    msg_reset (&msg);
    //  After the spell the lab's rule holds again: the highest id not
    //  catching up.
    zclock_sleep (MSG_HEARTBEAT_MS + MSG_HEARTBEAT_MS / 4 + 10);
    assert_true (roster_elect (roster));
    assert_ptr_equal (roster_pick (roster, "order"), follower);
}

//  Sets what follower reports, as a heartbeat heard now.
static void
s_report (roster_t *roster, roster_worker_t *follower, uint64_t silent_leader)
{
    msg_t heartbeat;
    msg_init (&heartbeat, MSG_HEARTBEAT);
    heartbeat.role = follower->role;
    heartbeat.epoch = follower->epoch;
    heartbeat.silent_leader = silent_leader;
    roster_refresh (roster, follower, &heartbeat);
}

//  Early expiry needs both a majority of the known replicas reporting the
//  leader silent (the leader not voting, a stale report or one about
//  another leader not counting, a departed replica counting against) and
//  a leader the broker has not heard (no heartbeat, no reply) for
//  ROSTER_SILENT_MS.
static void
test_roster_silent_leader (void **state)
{
    roster_t *roster = *state;
    roster_worker_t *one = s_add (roster, "ord-1", "order", 1, MSG_ROLE_FOLLOWER);
    s_add (roster, "ord-2", "order", 2, MSG_ROLE_FOLLOWER);
    s_add (roster, "ord-3", "order", 3, MSG_ROLE_FOLLOWER);
    zclock_sleep (MSG_HEARTBEAT_MS + MSG_HEARTBEAT_MS / 4 + 10);
    assert_true (roster_elect (roster));
    roster_worker_t *leader = roster_find (roster, "ord-3", 5);
    roster_worker_t *two = roster_find (roster, "ord-2", 5);
    char reporters[64];
    int64_t check_at;
    //  One of three reports it: no majority, nothing to look at later.
    s_report (roster, one, 3);
    s_report (roster, two, 1);
    leader->heard_at -= 2 * ROSTER_SILENT_MS;
    assert_null (roster_silent_leader (roster, &check_at, reporters, sizeof (reporters)));
    assert_int_equal (check_at, 0);
    //  Two of three, but the leader just answered a request.
    s_report (roster, two, 3);
    roster_touch (roster, leader);
    assert_null (roster_silent_leader (roster, &check_at, reporters, sizeof (reporters)));
    assert_int_equal (check_at, leader->heard_at + ROSTER_SILENT_MS + 1);
    //  Two of three, and the broker has not heard it either.
    leader->heard_at -= 2 * ROSTER_SILENT_MS;
    assert_ptr_equal (roster_silent_leader (roster, &check_at, reporters, sizeof (reporters)),
                      leader);
    assert_string_equal (reporters, "1, 2");
    //  A report whose heartbeat is old no longer counts.
    one->heard_at -= 2 * ROSTER_SILENT_MS;
    assert_null (roster_silent_leader (roster, &check_at, reporters, sizeof (reporters)));
    //  Replica 1 departed: one report of three known replicas is no majority.
    roster_remove (roster, one);
    s_report (roster, roster_find (roster, "ord-2", 5), 3);
    assert_null (roster_silent_leader (roster, &check_at, reporters, sizeof (reporters)));
    assert_int_equal (check_at, 0);
}

//  With the heartbeat expiry raised (--heartbeat-expiry 20000, as tests
//  that pause replicas on purpose do), the broker's own silence bound
//  grows with it: a leader busy for a second is not expired early.
static void
test_roster_silent_bound_follows_the_expiry (void **state)
{
    (void)state;
    roster_t *roster = roster_new (20000);
    roster_worker_t *one = s_add (roster, "ord-1", "order", 1, MSG_ROLE_FOLLOWER);
    roster_worker_t *two = s_add (roster, "ord-2", "order", 2, MSG_ROLE_FOLLOWER);
    s_add (roster, "ord-3", "order", 3, MSG_ROLE_FOLLOWER);
    zclock_sleep (MSG_HEARTBEAT_MS + MSG_HEARTBEAT_MS / 4 + 10);
    assert_true (roster_elect (roster));
    roster_worker_t *leader = roster_find (roster, "ord-3", 5);
    char reporters[64];
    int64_t check_at;
    s_report (roster, one, 3);
    s_report (roster, two, 3);
    leader->heard_at -= 1000;
    assert_null (roster_silent_leader (roster, &check_at, reporters, sizeof (reporters)));
    assert_int_equal (check_at, leader->heard_at + 20000 * ROSTER_SILENT_PERCENT / 100 + 1);
    leader->heard_at -= 20000 * ROSTER_SILENT_PERCENT / 100;
    assert_ptr_equal (roster_silent_leader (roster, &check_at, reporters, sizeof (reporters)),
                      leader);
    roster_destroy (&roster);
}

int
test_roster_run (void)
{
#define ROSTER_TEST(name) cmocka_unit_test_setup_teardown (name, s_setup, s_teardown)
    const struct CMUnitTest tests[] = {
        ROSTER_TEST (test_roster_find_and_pick),
        ROSTER_TEST (test_roster_taken),
        ROSTER_TEST (test_roster_refresh_reports_changes),
        ROSTER_TEST (test_roster_view_keeps_the_departed),
        ROSTER_TEST (test_roster_departed_are_bounded),
        ROSTER_TEST (test_roster_has_room),
        ROSTER_TEST (test_roster_elects_after_quiet_spell),
        ROSTER_TEST (test_roster_quiet_spell_keeps_the_leader),
        ROSTER_TEST (test_roster_silent_leader),
        cmocka_unit_test (test_roster_silent_bound_follows_the_expiry),
    };
    return cmocka_run_group_tests_name ("roster", tests, NULL, NULL);
}
