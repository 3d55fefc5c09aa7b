/*  test_view.c - src/view.c: the broker's VIEW as `bazaar status` and GET
    /status show it: states, lag, order, the leader line and the JSON.
*/
#include "unit.h"
#include "view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  A VIEW of the catalog at 12 trades and replicas 3, 1 and 2 (out of
//  order), 3 named as leader at epoch 4 with the given role.
static void
s_view (msg_t *view, uint8_t leader_role)
{
    msg_init (view, MSG_VIEW);
    view->replica_id = 3;
    view->epoch = 4;
    view->position = 12;
    view->worker_count = 4;
    view->workers = calloc (4, sizeof (msg_worker_t)); //  msg_reset frees it
    assert_non_null (view->workers);
    const struct {
        const char *service;
        uint64_t id;
        uint8_t registered, role;
        uint64_t number;
    } rows[] = {
        {"order", 3, 1, leader_role, 12},
        {"order", 1, 1, MSG_ROLE_FOLLOWER, 9},
        {"catalog", 0, 1, MSG_ROLE_FOLLOWER, 12},
        {"order", 2, 0, MSG_ROLE_FOLLOWER, 15},
    };
    for (size_t i = 0; i < 4; i++) {
        msg_worker_t *worker = &view->workers[i];
        snprintf (worker->service, sizeof (worker->service), "%s", rows[i].service);
        worker->replica_id = rows[i].id;
        worker->registered = rows[i].registered;
        worker->role = rows[i].role;
        worker->number = rows[i].number;
        worker->epoch = 4;
    }
}

static void
test_view_states_lag_and_order (void **state)
{
    (void)state;
    msg_t view;
    s_view (&view, MSG_ROLE_LEADER);
    view_sort (&view);
    const char *names[] = {"catalog", "order-1", "order-2", "order-3"};
    const char *states[] = {"serving", "serving", "down", "leader"};
    const uint64_t lags[] = {0, 3, 0, 0}; //  order-2 is ahead: no lag
    for (size_t i = 0; i < 4; i++) {
        char name[64];
        view_process_name (&view.workers[i], name, sizeof (name));
        assert_string_equal (name, names[i]);
        assert_string_equal (view_state (&view.workers[i]), states[i]);
        assert_int_equal (view_lag (&view, &view.workers[i]), lags[i]);
    }
    //  Behind the leader's log, not the catalog: a catalog learning late
    //  lags too. Without a registered leader, the catalog is the mark.
    view.workers[3].number = 20;
    const uint64_t behind_leader[] = {8, 11, 5, 0};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal (view_lag (&view, &view.workers[i]), behind_leader[i]);
    //  Heartbeats of different moments: a catalog past the leader puts
    //  nobody behind it, the leader least of all.
    view.workers[3].number = 10;
    const uint64_t leader_behind[] = {0, 1, 0, 0};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal (view_lag (&view, &view.workers[i]), leader_behind[i]);
    view.workers[3].registered = false;
    const uint64_t behind_catalog[] = {0, 3, 0, 2};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal (view_lag (&view, &view.workers[i]), behind_catalog[i]);
    view.workers[3].registered = true;
    view.workers[3].role = MSG_ROLE_CATCHING_UP;
    assert_string_equal (view_state (&view.workers[3]), "catching up");
    msg_reset (&view);
}

//  The broker names the leader at once; until a majority promised it its
//  epoch, its row says candidate and the leader line says campaigning.
static void
test_view_leader_line (void **state)
{
    (void)state;
    msg_t view;
    char line[VIEW_LEADER_MAX];
    s_view (&view, MSG_ROLE_LEADER);
    view_leader (&view, line, sizeof (line));
    assert_string_equal (line, "order-3 (epoch 4)");
    view.workers[0].role = MSG_ROLE_CANDIDATE;
    view_leader (&view, line, sizeof (line));
    assert_string_equal (line, "order-3 (epoch 4, campaigning)");
    view.workers[0].registered = 0; //  gone: its last role says nothing now
    view_leader (&view, line, sizeof (line));
    assert_string_equal (line, "order-3 (epoch 4)");
    view.replica_id = view.epoch = UINT64_MAX; //  the longest line fits
    view.workers[0].replica_id = UINT64_MAX;
    view.workers[0].registered = 1;
    view_leader (&view, line, sizeof (line));
    assert_string_equal (line,
                         "order-18446744073709551615 (epoch 18446744073709551615, campaigning)");
    view.replica_id = 0;
    view_leader (&view, line, sizeof (line));
    assert_string_equal (line, "none");
    msg_reset (&view);
}

static void
test_view_json (void **state)
{
    (void)state;
    msg_t view;
    s_view (&view, MSG_ROLE_CANDIDATE);
    json_t *json = view_json (&view);
    assert_non_null (json);
    assert_int_equal (json_integer_value (json_object_get (json, "leader")), 3);
    assert_int_equal (json_integer_value (json_object_get (json, "catalog_number")), 12);
    json_t *processes = json_object_get (json, "processes");
    assert_int_equal (json_array_size (processes), 4);
    json_t *last = json_array_get (processes, 3);
    assert_string_equal (json_string_value (json_object_get (last, "process")), "order-3");
    assert_string_equal (json_string_value (json_object_get (last, "state")), "candidate");
    json_decref (json);
    view.replica_id = 0;
    json = view_json (&view);
    assert_true (json_is_null (json_object_get (json, "leader")));
    json_decref (json);
    msg_reset (&view);
}

int
test_view_run (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_view_states_lag_and_order),
        cmocka_unit_test (test_view_leader_line),
        cmocka_unit_test (test_view_json),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
