/*  joining.c - a replica with no state joins before it votes (joining.h). */
#include "joining.h"
#include "journal.h"
#include "log.h"
#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct _joining_t {
    char *path;
    bool active;
    uint64_t leader;   //  the leader it follows, as its last APPEND said:
    uint64_t epoch;    //  its epoch
    uint64_t length;   //  and its log's length
    uint64_t ignored;  //  the last epoch whose PREPARE it said it ignores
};

static const char s_text[] = "this replica started with no state: it votes once it holds "
                             "the log of a leader the others elected\n";

//  The mark, synced with its directory. Returns 0 or -1 (errno set).
static int
s_mark (const char *path)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    ssize_t size = sizeof (s_text) - 1;
    int rc = write (fd, s_text, (size_t) size) == size && fsync (fd) == 0 ? 0 : -1;
    int saved = errno;
    close (fd);
    errno = saved;
    return rc ? -1 : journal_sync_parent (path);
}

static int
s_unmark (const char *path)
{
    return unlink (path) || journal_sync_parent (path) ? -1 : 0;
}

joining_t *
joining_new (const char *path, uint64_t orders, bool promised, bool new_system,
             char *error, size_t error_size)
{
    struct stat st;
    bool marked = path && stat (path, &st) == 0;
    bool empty = !orders && (marked || !promised);
    if (empty && new_system && marked && s_unmark (path)) {
        snprintf (error, error_size, "cannot remove %s: %s", path, strerror (errno));
        return NULL;
    }
    if (empty && !new_system && !marked) {
        if (path && s_mark (path)) {
            snprintf (error, error_size, "cannot create %s: %s", path, strerror (errno));
            return NULL;
        }
        marked = true;
    }
    joining_t *self = mem_calloc (1, sizeof (joining_t));
    self->path = path ? mem_strdup (path) : NULL;
    self->active = marked && !(empty && new_system);
#ifdef CONSENSUS_BREAK_NO_JOIN
    self->active = false;   //  broken on purpose (tests/sim): a lost disk votes at once
#endif
    if (self->active && path)
        log_warn ("%s: joining a running system (this replica has no state, or lost it): it "
                  "will not vote or lead until it holds its leader's log; start each replica "
                  "of a new system with --new", path);
    return self;
}

void
joining_destroy (joining_t **self_p)
{
    if (!*self_p)
        return;
    free ((*self_p)->path);
    free (*self_p);
    *self_p = NULL;
}

bool
joining_active (joining_t *self)
{
    return self->active;
}

bool
joining_ignores (joining_t *self, uint64_t epoch, uint64_t candidate)
{
    if (!self->active)
        return false;
    if (epoch > self->ignored && self->path) {
        self->ignored = epoch;
        log_info ("joining: not promising epoch %" PRIu64 " to replica %" PRIu64 " (it votes "
                  "once it holds a leader's log)", epoch, candidate);
    }
    return true;
}

void
joining_on_append (joining_t *self, uint64_t leader, uint64_t epoch, uint64_t length,
                   uint64_t end_stamp, const joining_log_t *held)
{
    bool holds = held->length >= length
              && (length == 0 || held->stamp == end_stamp || held->commit >= length);
    if (!self->active || !holds)
        return;
    self->leader = leader;
    self->epoch = epoch;
    self->length = length;
}

int
joining_check (joining_t *self, uint64_t leader, uint64_t epoch, uint64_t length)
{
    if (!self->active || !self->leader || leader != self->leader || epoch != self->epoch
        || length < self->length)
        return 0;
    if (self->path && s_unmark (self->path))
        return -1;
    self->active = false;
    if (self->path)
        log_info ("joined: holds leader %" PRIu64 "'s %" PRIu64 " orders (epoch %" PRIu64 "); it "
              "votes and may lead from now on", leader, length, epoch);
    return 0;
}

const char *
joining_path (joining_t *self)
{
    return self->path ? self->path : "(in memory)";
}
