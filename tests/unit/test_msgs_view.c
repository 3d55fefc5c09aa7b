/*  test_msgs_view.c - msg_decode of the broker's VIEW (workers list and
    in-sync set) and of HEARTBEAT's in-sync set: widths, element types,
    ranges and lengths are checked, and a refused message leaks nothing.
*/
#include "fixtures.h"
#include "unit.h"

#include <string.h>

//  How one worker item of a VIEW is packed.
typedef struct {
    uint32_t width;           //  8 is right
    uint64_t registered;      //  0 or 1 is right
    uint64_t role;            //  0..MSG_ROLE_MAX is right
    size_t service_length;    //  at most MSG_SERVICE_MAX is right
    int bad_element;          //  -1, or which element is packed as a nil
} s_worker_case_t;

static s_worker_case_t
s_good_worker (void)
{
    return (s_worker_case_t){8, 1, MSG_ROLE_LEADER, 5, -1};
}

static void
s_pack_worker (msgpack_packer *pk, const s_worker_case_t *worker)
{
    char service[MSG_SERVICE_MAX + 2];
    memset (service, 's', sizeof (service));
    msgpack_pack_array (pk, worker->width);
    const uint64_t numbers[] = {3, 77, 12, worker->registered, worker->role, 100, 2};
    for (uint32_t i = 0; i < worker->width; i++) {
        if ((int)i == worker->bad_element)
            msgpack_pack_nil (pk);
        else if (i == 0)
            msgpack_pack_str_with_body (pk, service, worker->service_length);
        else if (i < 8)
            msgpack_pack_uint64 (pk, numbers[i - 1]);
        else
            msgpack_pack_uint64 (pk, 0);
    }
}

//  Packs [v, VIEW, req_id, leader, epoch, count, [workers...], in_sync]
//  with one good worker, the case under test, and in_sync_count ids
//  (or a string in place of the second id if bad_id).
static void
s_expect_view (const s_worker_case_t *worker, size_t in_sync_count, bool bad_id,
               int expected, const char *what)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    msgpack_pack_array (&pk, 8);
    msgpack_pack_uint8 (&pk, MSG_VERSION);
    msgpack_pack_uint8 (&pk, MSG_VIEW);
    msgpack_pack_uint64 (&pk, 1);
    msgpack_pack_uint64 (&pk, 3);
    msgpack_pack_uint64 (&pk, 2);
    msgpack_pack_uint64 (&pk, 100);
    msgpack_pack_array (&pk, 2);
    s_worker_case_t good = s_good_worker ();
    s_pack_worker (&pk, &good);
    s_pack_worker (&pk, worker);
    msgpack_pack_array (&pk, (uint32_t)in_sync_count);
    for (size_t i = 0; i < in_sync_count; i++)
        if (bad_id && i == 1)
            msgpack_pack_str_with_body (&pk, "2", 1);
        else
            msgpack_pack_uint64 (&pk, i + 1);
    fx_expect_decode (buffer.data, buffer.size, expected, what);
    msgpack_sbuffer_destroy (&buffer);
}

static void
test_decode_view_workers (void **state)
{
    (void)state;
    s_worker_case_t worker = s_good_worker ();
    s_expect_view (&worker, 2, false, MSG_DECODE_OK, "good view");
    const uint32_t widths[] = {0, 7, 9};
    for (size_t w = 0; w < 3; w++) {
        worker = s_good_worker ();
        worker.width = widths[w];
        s_expect_view (&worker, 0, false, MSG_DECODE_FIELD, "worker of wrong width");
    }
    worker = s_good_worker ();
    worker.registered = 2;
    s_expect_view (&worker, 0, false, MSG_DECODE_FIELD, "registered over 1");
    worker = s_good_worker ();
    worker.role = MSG_ROLE_MAX + 1;
    s_expect_view (&worker, 0, false, MSG_DECODE_FIELD, "role over MSG_ROLE_MAX");
    worker = s_good_worker ();
    worker.service_length = MSG_SERVICE_MAX;
    s_expect_view (&worker, 0, false, MSG_DECODE_OK, "service at max");
    worker.service_length = MSG_SERVICE_MAX + 1;
    s_expect_view (&worker, 0, false, MSG_DECODE_TOO_LONG, "service too long");
    for (int element = 0; element < 8; element++) {
        worker = s_good_worker ();
        worker.bad_element = element;
        s_expect_view (&worker, 0, false, MSG_DECODE_FIELD, "nil element in a worker");
    }
}

static void
test_decode_view_in_sync (void **state)
{
    (void)state;
    s_worker_case_t worker = s_good_worker ();
    s_expect_view (&worker, 0, false, MSG_DECODE_OK, "empty in-sync set");
    s_expect_view (&worker, MSG_PEERS_MAX, false, MSG_DECODE_OK, "in-sync set at max");
    s_expect_view (&worker, MSG_PEERS_MAX + 1, false, MSG_DECODE_TOO_LONG, "in-sync set too long");
    s_expect_view (&worker, 3, true, MSG_DECODE_FIELD, "in-sync id not a uint");
}

static void
test_encode_view_limits (void **state)
{
    (void)state;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msg_t msg;
    fx_build (&msg, MSG_VIEW, FX_TYPICAL);
    uint64_t ids[MSG_PEERS_MAX + 1] = {0};
    assert_int_equal (msg_set_in_sync (&msg, ids, MSG_PEERS_MAX + 1), -1);
    assert_int_equal (msg.in_sync_count, 2);
    msg.worker_count = MSG_PEERS_MAX + 1;   //  a lie: encode must refuse before reading
    assert_int_equal (msg_encode (&msg, &buffer), -1);
    msg.worker_count = 2;
    assert_int_equal (msg_encode (&msg, &buffer), 0);
    msg_reset (&msg);
    msgpack_sbuffer_destroy (&buffer);
}

static void
test_format_view (void **state)
{
    (void)state;
    msg_worker_t workers[2] = {{"catalog", 0, 9, 40, 1, 0, 12, 3},
                               {"order", 3, 8, 1500, 0, MSG_ROLE_LEADER, 11, 3}};
    uint64_t in_sync[1] = {2};
    msg_t msg;
    msg_init (&msg, MSG_VIEW);
    msg.req_id = 5;
    msg.replica_id = 3;
    msg.epoch = 3;
    msg.position = 12;
    msg.workers = workers;
    msg.worker_count = 2;
    msg.in_sync = in_sync;
    msg.in_sync_count = 1;
    char line[512];
    msg_format (&msg, false, line, sizeof (line));
    assert_string_equal (line, "VIEW req_id=5 replica_id=3 epoch=3 position=12 workers=["
                               "\"catalog\"/0:catching-up@12/e3/40ms "
                               "\"order\"/3:leader@11/e3/1500ms/gone] in_sync=[2]");
    msg_format (&msg, true, line, sizeof (line));
    assert_non_null (strstr (line, "\"workers\":[{\"service\":\"catalog\",\"replica_id\":0,"
                                   "\"incarnation\":9,\"age_ms\":40,\"registered\":true,"));
    assert_non_null (strstr (line, "\"registered\":false,\"role\":\"leader\""));
    assert_non_null (strstr (line, "\"in_sync\":[2]}"));
    assert_string_equal (msg_service (MSG_STATUS), "broker");
    assert_true (msg_is_reply (MSG_VIEW));
}

int
test_msgs_view_run (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_decode_view_workers),
        cmocka_unit_test (test_decode_view_in_sync),
        cmocka_unit_test (test_encode_view_limits),
        cmocka_unit_test (test_format_view),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
