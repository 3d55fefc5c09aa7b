/*  test_promise.c - the promise file: fresh, stored and reopened, every
    kind of damage refused with the file's name, a torn store falling back
    to the value before it, failed writes, lower values refused.
*/
#include "fixtures.h"
#include "promise.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

static int
s_setup (void **state)
{
    return fx_tmp_setup (state, "promise", "order-1.promise");
}

static promise_t *
s_open (fx_tmp_t *tmp)
{
    promise_t *promise = NULL;
    if (promise_open (tmp->path, &promise, tmp->error, sizeof (tmp->error)))
        fail_msg ("promise_open: %s", tmp->error);
    return promise;
}

//  Opens, expects a refusal whose message names the file and says what,
//  and that the refusal left the file as it was (never a reset).
static void
s_expect_refused (fx_tmp_t *tmp, const char *what)
{
    unsigned char before[PROMISE_FILE_SIZE + 16], after[sizeof (before)];
    int fd = open (tmp->path, O_RDONLY);
    assert_true (fd >= 0);
    ssize_t size = read (fd, before, sizeof (before));
    close (fd);
    promise_t *promise = NULL;
    int rc = promise_open (tmp->path, &promise, tmp->error, sizeof (tmp->error));
    if (rc != -1)
        fail_msg ("%s: opened, epoch %" PRIu64, what, promise_epoch (promise));
    assert_null (promise);
    if (!strstr (tmp->error, tmp->path) || !strstr (tmp->error, what))
        fail_msg ("error \"%s\" does not name %s and \"%s\"", tmp->error, tmp->path, what);
    fd = open (tmp->path, O_RDONLY);
    assert_int_equal (read (fd, after, sizeof (after)), size);
    close (fd);
    assert_memory_equal (before, after, (size_t)size);
}

static void
s_flip (fx_tmp_t *tmp, off_t offset)
{
    int fd = open (tmp->path, O_RDWR);
    unsigned char byte;
    assert_int_equal (pread (fd, &byte, 1, offset), 1);
    byte ^= 0x10;
    assert_int_equal (pwrite (fd, &byte, 1, offset), 1);
    close (fd);
}

//  Puts the crc32 of the slot's first 4092 bytes in its last 4.
static void
s_seal (unsigned char slot[PROMISE_SLOT_SIZE])
{
    uint32_t crc = (uint32_t)crc32 (0L, slot, PROMISE_SLOT_SIZE - 4);
    for (int i = 0; i < 4; i++)
        slot[PROMISE_SLOT_SIZE - 4 + i] = (unsigned char)(crc >> (8 * i));
}

//  Writes slot index with a correct crc: the format of docs/DESIGN.md,
//  spelled out again here so a change of it shows.
static void
s_forge (fx_tmp_t *tmp, int index, uint64_t seq, uint64_t epoch, uint64_t commit)
{
    unsigned char slot[PROMISE_SLOT_SIZE] = {0};
    memcpy (slot, "BZPROMIS", 8);
    slot[8] = 1;
    uint64_t values[3] = {seq, epoch, commit};
    for (int v = 0; v < 3; v++)
        for (int i = 0; i < 8; i++)
            slot[16 + 8 * v + i] = (unsigned char)(values[v] >> (8 * i));
    s_seal (slot);
    int fd = open (tmp->path, O_RDWR);
    assert_int_equal (pwrite (fd, slot, sizeof (slot), (off_t)index * PROMISE_SLOT_SIZE),
                      PROMISE_SLOT_SIZE);
    close (fd);
}

//  The file after stores (5, 10) then (7, 12): slot 0 holds sequence 2
//  (5, 10), slot 1 sequence 3 (7, 12), the newest.
static void
s_two_stores (fx_tmp_t *tmp)
{
    promise_t *promise = s_open (tmp);
    assert_int_equal (promise_store (promise, 5, 10), 0);
    assert_int_equal (promise_store (promise, 7, 12), 0);
    promise_destroy (&promise);
}

static void
s_expect_values (fx_tmp_t *tmp, uint64_t epoch, uint64_t commit, bool recovered)
{
    promise_t *promise = s_open (tmp);
    assert_int_equal (promise_epoch (promise), epoch);
    assert_int_equal (promise_commit (promise), commit);
    if (recovered != (promise_recovered (promise) != NULL))
        fail_msg ("recovered: %s", promise_recovered (promise) ? promise_recovered (promise) : "NULL");
    promise_destroy (&promise);
}

static void
test_promise_fresh_file (void **state)
{
    fx_tmp_t *tmp = *state;
    assert_int_equal (access (tmp->path, F_OK), -1);
    s_expect_values (tmp, 0, 0, false);
    assert_int_equal (fx_file_size (tmp->path), PROMISE_FILE_SIZE);
    //  Reopened: the same, nothing recovered.
    s_expect_values (tmp, 0, 0, false);
    //  A missing directory is an error naming the file, not a crash.
    promise_t *promise = NULL;
    char path[256], error[512];
    snprintf (path, sizeof (path), "%s/no/such.promise", tmp->dir);
    assert_int_equal (promise_open (path, &promise, error, sizeof (error)), -1);
    assert_non_null (strstr (error, path));
    assert_null (promise);
}

static void
test_promise_store_and_reopen (void **state)
{
    fx_tmp_t *tmp = *state;
    promise_t *promise = s_open (tmp);
    for (uint64_t epoch = 1; epoch <= 5; epoch++) {
        assert_int_equal (promise_store (promise, epoch, 10 * epoch), 0);
        assert_int_equal (promise_epoch (promise), epoch);
        assert_int_equal (promise_commit (promise), 10 * epoch);
    }
    //  The same epoch again (a commit moving on) is fine.
    assert_int_equal (promise_store (promise, 5, 51), 0);
    promise_destroy (&promise);
    assert_null (promise);
    promise_destroy (&promise);
    s_expect_values (tmp, 5, 51, false);
    assert_int_equal (fx_file_size (tmp->path), PROMISE_FILE_SIZE);
    promise = s_open (tmp);
    assert_int_equal (promise_store (promise, UINT64_MAX, UINT64_MAX), 0);
    promise_destroy (&promise);
    s_expect_values (tmp, UINT64_MAX, UINT64_MAX, false);
}

static void
test_promise_lower_values_refused (void **state)
{
    fx_tmp_t *tmp = *state;
    s_two_stores (tmp);
    promise_t *promise = s_open (tmp);
    errno = 0;
    assert_int_equal (promise_store (promise, 6, 12), -1);
    assert_int_equal (errno, EINVAL);
    assert_int_equal (promise_store (promise, 7, 11), -1);
    assert_int_equal (errno, EINVAL);
    assert_int_equal (promise_epoch (promise), 7);
    assert_int_equal (promise_commit (promise), 12);
    promise_destroy (&promise);
    s_expect_values (tmp, 7, 12, false);
}

static void
test_promise_second_open_refused (void **state)
{
    fx_tmp_t *tmp = *state;
    promise_t *first = s_open (tmp);
    s_expect_refused (tmp, "in use by another process");
    promise_destroy (&first);
    s_expect_values (tmp, 0, 0, false);
}

//  Every part of a slot: a flipped byte in one slot is a store cut short
//  (the other slot's value, reported); the same in both slots refused.
static void
test_promise_flipped_bytes (void **state)
{
    fx_tmp_t *tmp = *state;
    const off_t parts[] = {0, 7, 8, 12, 16, 24, 31, 32, 39, 40, 2000, PROMISE_SLOT_SIZE - 5,
                           PROMISE_SLOT_SIZE - 4, PROMISE_SLOT_SIZE - 1};
    for (size_t p = 0; p < sizeof (parts) / sizeof (parts[0]); p++) {
        unlink (tmp->path);
        s_two_stores (tmp);
        s_flip (tmp, PROMISE_SLOT_SIZE + parts[p]); //  the newest: falls back
        s_expect_values (tmp, 5, 10, true);
        unlink (tmp->path);
        s_two_stores (tmp);
        s_flip (tmp, parts[p]); //  the older one: the newest stands
        s_expect_values (tmp, 7, 12, true);
        s_flip (tmp, PROMISE_SLOT_SIZE + parts[p]);
        s_expect_refused (tmp, "no whole slot");
    }
}

static void
test_promise_wrong_size_or_garbage (void **state)
{
    fx_tmp_t *tmp = *state;
    s_two_stores (tmp);
    assert_int_equal (truncate (tmp->path, PROMISE_SLOT_SIZE), 0);
    s_expect_refused (tmp, "4096 bytes, not 8192");
    assert_int_equal (truncate (tmp->path, 0), 0);
    s_expect_refused (tmp, "0 bytes, not 8192");
    unlink (tmp->path);
    s_two_stores (tmp);
    assert_int_equal (truncate (tmp->path, PROMISE_FILE_SIZE + 1), 0);
    s_expect_refused (tmp, "8193 bytes, not 8192");
    assert_int_equal (truncate (tmp->path, PROMISE_FILE_SIZE), 0);
    s_expect_values (tmp, 7, 12, false);
    //  Garbage of the right size.
    int fd = open (tmp->path, O_RDWR);
    unsigned char garbage[PROMISE_FILE_SIZE];
    uint32_t seed = 7;
    for (size_t i = 0; i < sizeof (garbage); i++)
        garbage[i] = (unsigned char)((seed = seed * 1103515245u + 12345u) >> 16);
    assert_int_equal (pwrite (fd, garbage, sizeof (garbage), 0), sizeof (garbage));
    close (fd);
    s_expect_refused (tmp, "no whole slot (slot 0: bad checksum; slot 1: bad checksum)");
}

//  Whole slots (correct crc) whose values cannot both be true.
static void
test_promise_impossible_values (void **state)
{
    fx_tmp_t *tmp = *state;
    s_two_stores (tmp);
    s_forge (tmp, 0, 2, 5, 10); //  what is there: still fine
    s_expect_values (tmp, 7, 12, false);
    s_forge (tmp, 0, 4, 8, 13); //  slot 0 newest now: fine too
    s_expect_values (tmp, 8, 13, false);
    s_forge (tmp, 0, 4, 6, 13); //  the newer one promised less
    s_expect_refused (tmp, "slots contradict each other");
    s_forge (tmp, 0, 4, 8, 11); //  the newer commit is lower
    s_expect_refused (tmp, "slots contradict each other");
    s_forge (tmp, 0, 6, 8, 13); //  a sequence gap
    s_expect_refused (tmp, "slots contradict each other");
    s_forge (tmp, 0, 3, 8, 13); //  an odd sequence in slot 0 ...
    s_expect_refused (tmp, "impossible slot (slot 0: sequence number in the wrong slot; slot 1: whole)");
    s_forge (tmp, 1, 2, 8, 13); //  ... and an even one in slot 1
    s_expect_refused (tmp, "impossible slot (slot 0: sequence number in the wrong slot; "
                           "slot 1: sequence number in the wrong slot)");
    s_forge (tmp, 0, 2, 5, 10);
    s_forge (tmp, 1, 3, 7, 12);
    s_expect_values (tmp, 7, 12, false);
    //  Another magic or version, checksummed: refused as well.
    int fd = open (tmp->path, O_RDWR);
    for (int index = 0; index < 2; index++) {
        unsigned char slot[PROMISE_SLOT_SIZE];
        assert_int_equal (pread (fd, slot, sizeof (slot), index * PROMISE_SLOT_SIZE), sizeof (slot));
        if (index)
            slot[8] = 2;
        else
            slot[0] = 'X';
        s_seal (slot);
        assert_int_equal (pwrite (fd, slot, sizeof (slot), index * PROMISE_SLOT_SIZE), sizeof (slot));
    }
    close (fd);
    s_expect_refused (tmp, "impossible slot (slot 0: bad magic; slot 1: unknown format version)");
}

//  A store cut short after part of its slot reached the disk: the value
//  before it; the next store writes that slot again and wins.
static void
test_promise_torn_store_falls_back (void **state)
{
    fx_tmp_t *tmp = *state;
    s_two_stores (tmp);
    //  Sequence 4 (9, 14) would go to slot 0: half of it arrives.
    s_forge (tmp, 0, 4, 9, 14);
    int fd = open (tmp->path, O_RDWR);
    unsigned char old[PROMISE_SLOT_SIZE / 2] = {0};
    assert_int_equal (pwrite (fd, old, sizeof (old), PROMISE_SLOT_SIZE / 2), sizeof (old));
    close (fd);
    promise_t *promise = s_open (tmp);
    assert_int_equal (promise_epoch (promise), 7);
    assert_int_equal (promise_commit (promise), 12);
    assert_non_null (promise_recovered (promise));
    assert_non_null (strstr (promise_recovered (promise), "slot 0: bad checksum"));
    assert_int_equal (promise_store (promise, 9, 14), 0);
    promise_destroy (&promise);
    s_expect_values (tmp, 9, 14, false);
}

//  A write that fails or lands short (a full disk, a file size limit):
//  -1, the stored value unchanged, and on disk the old value survives.
static void
test_promise_failed_write_keeps_old_value (void **state)
{
    fx_tmp_t *tmp = *state;
    s_two_stores (tmp); //  the next store goes to slot 0
    promise_t *promise = s_open (tmp);
    struct rlimit saved;
    assert_int_equal (getrlimit (RLIMIT_FSIZE, &saved), 0);
    void (*handler) (int) = signal (SIGXFSZ, SIG_IGN);
    const rlim_t limits[] = {100, PROMISE_SLOT_SIZE + 100, PROMISE_SLOT_SIZE};
    //  100: slot 0 lands short (torn); after a good store to slot 0,
    //  slot 1 lands short (4196) or is refused outright (4096, EFBIG).
    for (size_t i = 0; i < 3; i++) {
        if (i == 1)
            assert_int_equal (promise_store (promise, 8, 13), 0);
        struct rlimit limit = {limits[i], saved.rlim_max};
        assert_int_equal (setrlimit (RLIMIT_FSIZE, &limit), 0);
        errno = 0;
        int rc = promise_store (promise, 20, 30);
        int error = errno;
        assert_int_equal (setrlimit (RLIMIT_FSIZE, &saved), 0);
        assert_int_equal (rc, -1);
        assert_int_equal (error, i == 2 ? EFBIG : EIO);
        uint64_t epoch = i ? 8 : 7, commit = i ? 13 : 12;
        assert_int_equal (promise_epoch (promise), epoch);
        assert_int_equal (promise_commit (promise), commit);
        promise_destroy (&promise);
        s_expect_values (tmp, epoch, commit, true); //  the torn slot is reported
        promise = s_open (tmp);
    }
    signal (SIGXFSZ, handler);
    //  Writes work again: the failed slot is rewritten and wins.
    assert_int_equal (promise_store (promise, 20, 30), 0);
    promise_destroy (&promise);
    s_expect_values (tmp, 20, 30, false);
}

int
test_promise_run (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_promise_fresh_file, s_setup, fx_tmp_teardown),
        cmocka_unit_test_setup_teardown (test_promise_store_and_reopen, s_setup, fx_tmp_teardown),
        cmocka_unit_test_setup_teardown (test_promise_lower_values_refused, s_setup, fx_tmp_teardown),
        cmocka_unit_test_setup_teardown (test_promise_second_open_refused, s_setup, fx_tmp_teardown),
        cmocka_unit_test_setup_teardown (test_promise_flipped_bytes, s_setup, fx_tmp_teardown),
        cmocka_unit_test_setup_teardown (test_promise_wrong_size_or_garbage, s_setup, fx_tmp_teardown),
        cmocka_unit_test_setup_teardown (test_promise_impossible_values, s_setup, fx_tmp_teardown),
        cmocka_unit_test_setup_teardown (test_promise_torn_store_falls_back, s_setup, fx_tmp_teardown),
        cmocka_unit_test_setup_teardown (test_promise_failed_write_keeps_old_value, s_setup,
                                         fx_tmp_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
