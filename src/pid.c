/*  pid.c - getpid without a system call (see pid.h). */
#include "pid.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_int s_pid;   //  0 until read: ask the kernel

//  At start, and in a fork's child (one thread until fork returns).
static void
s_read (void)
{
    atomic_store_explicit (&s_pid, (int) syscall (SYS_getpid), memory_order_relaxed);
}

__attribute__ ((constructor)) static void
s_init (void)
{
    s_read ();
    pthread_atfork (NULL, NULL, s_read);
}

pid_t
getpid (void)
{
    int pid = atomic_load_explicit (&s_pid, memory_order_relaxed);
    return pid ? pid : (pid_t) syscall (SYS_getpid);
}
