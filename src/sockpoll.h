/*  sockpoll.h - wait for ZeroMQ sockets (and plain fds), in fewer system
    calls than zmq_poll.

    The same level-triggered contract as zmq_poll over zmq_pollitem_t:
    an item is reported while its socket has a message (or room), not only
    when something new arrived, so a socket a loop skipped or did not
    empty is reported again by the next wait. What differs: each socket's
    level (ZMQ_EVENTS) is read once before blocking and afterwards only for
    the sockets whose descriptor fired, and a wake that finds nothing
    returns 0 before the timeout (callers already handle a turn with
    nothing to do).

    Cost in libzmq 4.3 (poll build): each ZMQ_EVENTS read is a poll of the
    socket's mailbox, and a getpid that src/pid.c answers without the
    kernel. An idle wake over n sockets is n + 1 system calls here, against
    2n + 1 for zmq_poll (which reads every socket's level on a first pass
    with timeout 0 and again on a second).
*/
#ifndef BAZAAR_SOCKPOLL_H
#define BAZAAR_SOCKPOLL_H

#include <stdbool.h>
#include <stddef.h>
#include <zmq.h>

//  Items one wait takes at most.
#define SOCKPOLL_MAX 256

//  Waits until one of items[0..count) is ready for the events it asks
//  (ZMQ_POLLIN, ZMQ_POLLOUT; an item with socket NULL is the plain fd
//  item.fd), or timeout_ms passes (-1: no limit, 0: do not block), and
//  sets every item's revents. Returns how many items are ready, which may
//  be 0 before the timeout (a spurious wake), or -1 with errno: EINTR (a
//  signal came), ETERM (the context ended), EINVAL (count > SOCKPOLL_MAX).
int sockpoll_wait (zmq_pollitem_t *items, size_t count, long timeout_ms);

//  True if socket is one of items[0..count) and the last wait over them
//  found it readable (revents has ZMQ_POLLIN). A socket not among them
//  (opened since they were filled) is not: the next wait covers it.
bool sockpoll_readable (const zmq_pollitem_t *items, size_t count, const void *socket);

#endif
