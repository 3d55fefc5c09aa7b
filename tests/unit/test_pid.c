/*  test_pid.c - src/pid.c's getpid: the process's own pid, in the
    process and in a fork's child (a stale one would hide a fork from
    libzmq), and it is the one the process's libraries find (exported by
    the executable, so libzmq's calls skip the system call).
*/
#include "pid.h"
#include "unit.h"

#include <dlfcn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void
test_pid_is_the_kernels (void **state)
{
    (void) state;
    assert_int_equal (getpid (), (pid_t) syscall (SYS_getpid));
}

//  The child answers through its exit status: 0 when its getpid is its own.
static void
test_pid_in_a_forks_child (void **state)
{
    (void) state;
    pid_t parent = getpid ();
    pid_t child = fork ();
    assert_true (child >= 0);
    if (child == 0)
        _exit (getpid () == (pid_t) syscall (SYS_getpid) && getpid () != parent ? 0 : 1);
    int status = 0;
    assert_int_equal (waitpid (child, &status, 0), child);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
    assert_int_equal (getpid (), parent);
}

//  What a library's call to getpid binds to: the first definition in the
//  global scope, ours only if the executable exports it.
static void
test_pid_interposes (void **state)
{
    (void) state;
    void *found = dlsym (RTLD_DEFAULT, "getpid");
    assert_ptr_equal (found, (void *) getpid);
    Dl_info info;
    assert_true (dladdr (found, &info) != 0);
    assert_null (strstr (info.dli_fname, "libc."));
}

int
test_pid_run (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_pid_is_the_kernels),
        cmocka_unit_test (test_pid_in_a_forks_child),
        cmocka_unit_test (test_pid_interposes),
    };
    return cmocka_run_group_tests_name ("pid", tests, NULL, NULL);
}
