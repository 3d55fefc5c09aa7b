/*  sockpoll.c - wait for ZeroMQ sockets in fewer system calls (sockpoll.h).

    Why each socket's ZMQ_EVENTS is read before blocking, and ZMQ_FD is not
    trusted alone: a socket's ZMQ_FD is the fd of its command mailbox, not
    of its messages. It turns readable when a command is queued for the
    socket (among them "your pipe has messages again"), and any call on the
    socket that processes commands (a send, a receive, a ZMQ_EVENTS read)
    takes that signal. A loop that sent a reply on a socket after a message
    had arrived there holds a queued message behind a quiet fd: poll() on
    the fd alone would sleep through it. Reading ZMQ_EVENTS processes the
    mailbox and reports the level (a queued message is POLLIN); once it
    found nothing, the mailbox is empty, and anything arriving later queues
    a command, which makes the fd readable: then poll() cannot miss it.
    Nothing runs on the sockets between that read and poll(), so the
    level read first and the fds watched after cover every arrival.
*/
#include "sockpoll.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>

//  Sets item's revents from its socket's level (ZMQ_EVENTS). Returns 0,
//  or -1 with errno (ETERM, ENOTSOCK).
static int
s_read_level (zmq_pollitem_t *item)
{
    int events = 0;
    size_t size = sizeof (events);
    if (zmq_getsockopt (item->socket, ZMQ_EVENTS, &events, &size))
        return -1;
    item->revents = (short) (events & item->events & (ZMQ_POLLIN | ZMQ_POLLOUT));
    return 0;
}

//  Fills fd with what poll() watches for item: a socket's mailbox fd for
//  any change (or -1, ignored by poll, if watch_sockets is false), a plain
//  fd for the events it asks. Returns 0, or -1 with errno.
static int
s_watch (const zmq_pollitem_t *item, bool watch_sockets, struct pollfd *fd)
{
    *fd = (struct pollfd) {-1, 0, 0};
    if (!item->socket) {
        fd->fd = item->fd;
        fd->events = (short) (((item->events & ZMQ_POLLIN) ? POLLIN : 0)
                              | ((item->events & ZMQ_POLLOUT) ? POLLOUT : 0)
                              | ((item->events & ZMQ_POLLPRI) ? POLLPRI : 0));
        return 0;
    }
    if (!watch_sockets)
        return 0;
    size_t size = sizeof (fd->fd);
    fd->events = POLLIN;
    return zmq_getsockopt (item->socket, ZMQ_FD, &fd->fd, &size);
}

//  A plain fd's poll() result as zmq_poll reports it.
static short
s_plain_revents (short revents)
{
    return (short) (((revents & POLLIN) ? ZMQ_POLLIN : 0) | ((revents & POLLOUT) ? ZMQ_POLLOUT : 0)
                    | ((revents & POLLPRI) ? ZMQ_POLLPRI : 0)
                    | ((revents & ~(POLLIN | POLLOUT | POLLPRI)) ? ZMQ_POLLERR : 0));
}

static int
s_count_ready (const zmq_pollitem_t *items, size_t count)
{
    int ready = 0;
    for (size_t i = 0; i < count; i++)
        if (items[i].revents)
            ready++;
    return ready;
}

int
sockpoll_wait (zmq_pollitem_t *items, size_t count, long timeout_ms)
{
    if (count > SOCKPOLL_MAX) {
        errno = EINVAL;
        return -1;
    }
    //  Each socket's level, once.
    bool ready = false, plain = false;
    for (size_t i = 0; i < count; i++) {
        items[i].revents = 0;
        if (!items[i].socket)
            plain = true;
        else
        if (s_read_level (&items[i]))
            return -1;
        else
        if (items[i].revents)
            ready = true;
    }
    if (ready && !plain)
        return s_count_ready (items, count);
    //  Block on the fds; with a socket ready already, only look at the
    //  plain fds (a busy socket must not hide them).
    struct pollfd fds[SOCKPOLL_MAX];
    for (size_t i = 0; i < count; i++)
        if (s_watch (&items[i], !ready, &fds[i]))
            return -1;
    if (timeout_ms > INT_MAX)
        timeout_ms = INT_MAX;
    if (poll (fds, (nfds_t) count, ready ? 0 : (int) timeout_ms) < 0)
        return -1;   //  EINTR, as zmq_poll
    //  The levels of the sockets whose fd fired (a fired fd may have
    //  brought nothing: a spurious wake).
    for (size_t i = 0; i < count; i++)
        if (!items[i].socket)
            items[i].revents = s_plain_revents (fds[i].revents);
        else
        if (fds[i].revents && s_read_level (&items[i]))
            return -1;
    return s_count_ready (items, count);
}

bool
sockpoll_readable (const zmq_pollitem_t *items, size_t count, const void *socket)
{
    for (size_t i = 0; i < count; i++)
        if (items[i].socket && items[i].socket == socket)
            return (items[i].revents & ZMQ_POLLIN) != 0;
    return false;
}
