/*  pid.h - getpid without a system call, for the whole process.

    libzmq calls getpid () on every signal it sends or waits for (its
    check for a fork), and glibc has not cached the pid since 2.25, so
    every one is a system call: in an order replica under load, a third
    of all its system calls (strace -c of a leader at 5 connections:
    11,443 getpid of 33,088 calls). pid.c defines getpid, which the
    executable exports, so it takes the place of glibc's for every caller
    in the process (libzmq, czmq, ours): the pid is read once, and read
    again in the child of a fork. Programs link it in with
    -Wl,--undefined=getpid (Makefile); nothing else refers to it.
*/
#ifndef BAZAAR_PID_H
#define BAZAAR_PID_H

#include <sys/types.h>

pid_t getpid (void);

#endif
