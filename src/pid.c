/*  pid.c - getpid without a system call (see pid.h). */
#include "pid.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_int s_pid;   //  0: not known, ask the kernel

//  At start, and after a fork in both processes. During one it is 0, so
//  fork handlers registered before ours see the true pid in the child.
//  A child of vfork or clone runs no handlers (posix_spawn's child calls
//  no getpid before it execs); this process makes no such child.
static void
s_read (void)
{
    atomic_store_explicit (&s_pid, (int) syscall (SYS_getpid), memory_order_relaxed);
}

static void
s_forget (void)
{
    atomic_store_explicit (&s_pid, 0, memory_order_relaxed);
}

__attribute__ ((constructor)) static void
s_init (void)
{
    s_read ();
    pthread_atfork (s_forget, s_read, s_read);
}

pid_t
getpid (void)
{
    int pid = atomic_load_explicit (&s_pid, memory_order_relaxed);
    return pid ? pid : (pid_t) syscall (SYS_getpid);
}
