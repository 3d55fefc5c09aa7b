/*  promise.c - the promise file (see promise.h and docs/DESIGN.md "The
    promise file").

    Layout: two slots of PROMISE_SLOT_SIZE bytes, slot i at offset
    i * PROMISE_SLOT_SIZE, each a whole record, little endian:
        0   8  magic "BZPROMIS"
        8   4  format version (1)
        12  4  zero
        16  8  sequence number: slot i holds the even (i = 0) or odd ones
        24  8  epoch promised
        32  8  commit position
        40     zeros up to the crc
        4092 4 crc32 of bytes [0, 4092)
    A new file holds sequence 0 in slot 0 and 1 in slot 1, both (0, 0).
    A store writes sequence n + 1 into the slot that holds n - 1, so the
    slot holding the current value is never written; the newest whole
    slot wins.

    Invariants: self->seq is the newest sequence on disk and its slot
    holds (self->epoch, self->commit); the other slot is whole too unless
    a store failed or was cut short, and the next store rewrites it.
*/
#include "promise.h"
#include "journal.h"
#include "le.h"
#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define S_MAGIC "BZPROMIS"
#define S_VERSION 1
#define S_CRC_AT (PROMISE_SLOT_SIZE - 4)

struct _promise_t {
    int fd;
    uint64_t seq;
    uint64_t epoch;
    uint64_t commit;
    char recovered[256];   //  "" if the file was whole
};

//  One slot's values, decoded.
typedef struct {
    uint64_t seq, epoch, commit;
} s_slot_t;

static uint32_t
s_crc (const unsigned char *slot)
{
    return (uint32_t) crc32 (0L, slot, S_CRC_AT);
}

static void
s_slot_encode (const s_slot_t *slot, unsigned char bytes[PROMISE_SLOT_SIZE])
{
    memset (bytes, 0, PROMISE_SLOT_SIZE);
    memcpy (bytes, S_MAGIC, 8);
    bytes[8] = S_VERSION;
    le_put64 (bytes + 16, slot->seq);
    le_put64 (bytes + 24, slot->epoch);
    le_put64 (bytes + 32, slot->commit);
    le_put32 (bytes + S_CRC_AT, s_crc (bytes));
}

//  What a store cut short leaves: a slot whose crc does not match.
static const char s_torn[] = "bad checksum";

//  Decode slot index from bytes. Returns NULL, or what is wrong with it:
//  s_torn, or a fault a crash cannot explain (the slot was written whole
//  with it).
static const char *
s_slot_decode (const unsigned char bytes[PROMISE_SLOT_SIZE], int index, s_slot_t *slot)
{
    if (le_get32 (bytes + S_CRC_AT) != s_crc (bytes))
        return s_torn;
    if (memcmp (bytes, S_MAGIC, 8))
        return "bad magic";
    if (bytes[8] != S_VERSION || bytes[9] || bytes[10] || bytes[11])
        return "unknown format version";
    slot->seq = le_get64 (bytes + 16);
    slot->epoch = le_get64 (bytes + 24);
    slot->commit = le_get64 (bytes + 32);
    if (slot->seq % 2 != (uint64_t) index)
        return "sequence number in the wrong slot";
    return NULL;
}

//  Write a fresh file at path: aside, synced, renamed, directory synced,
//  so the name never shows a partial file. Returns 0 or -1 (errno).
static int
s_create (const char *path)
{
    char aside[4096];
    if ((size_t) snprintf (aside, sizeof (aside), "%s.new", path) >= sizeof (aside)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    unsigned char bytes[PROMISE_FILE_SIZE];
    for (int i = 0; i < 2; i++)
        s_slot_encode (&(s_slot_t) {(uint64_t) i, 0, 0}, bytes + i * PROMISE_SLOT_SIZE);
    int fd = open (aside, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    errno = 0;
    bool written = pwrite (fd, bytes, sizeof (bytes), 0) == (ssize_t) sizeof (bytes)
                   && fsync (fd) == 0;
    int saved = errno;
    close (fd);
    if (!written) {
        unlink (aside);
        errno = saved ? saved : EIO; //  a short write sets none
        return -1;
    }
    if (rename (aside, path))
        return -1;
    return journal_sync_parent (path);
}

//  Choose the stored value from the two slots read from the file.
//  Returns 0, or -1 with what is wrong in error.
static int
s_choose (promise_t *self, const unsigned char *bytes, char *error, size_t size)
{
    s_slot_t slots[2];
    const char *faults[2];
    for (int i = 0; i < 2; i++)
        faults[i] = s_slot_decode (bytes + i * PROMISE_SLOT_SIZE, i, &slots[i]);
    //  Only one torn slot is what a crash leaves; a checksummed slot with
    //  a wrong magic, version or sequence was written so: damage.
    bool whole_but_wrong = (faults[0] && faults[0] != s_torn) || (faults[1] && faults[1] != s_torn);
    if (whole_but_wrong || (faults[0] && faults[1])) {
        snprintf (error, size, "%s (slot 0: %s; slot 1: %s)",
                  whole_but_wrong ? "impossible slot" : "no whole slot",
                  faults[0] ? faults[0] : "whole", faults[1] ? faults[1] : "whole");
        return -1;
    }
    if (faults[0] || faults[1]) {
        int good = faults[0] ? 1 : 0;
        snprintf (self->recovered, sizeof (self->recovered),
                  "slot %d: %s (a store a crash cut short, or damage); slot %d kept: epoch %" PRIu64
                  ", commit %" PRIu64, 1 - good, faults[1 - good], good, slots[good].epoch,
                  slots[good].commit);
        self->seq = slots[good].seq;
        self->epoch = slots[good].epoch;
        self->commit = slots[good].commit;
        return 0;
    }
    const s_slot_t *newer = &slots[slots[1].seq > slots[0].seq];
    const s_slot_t *older = &slots[slots[1].seq <= slots[0].seq];
    if (newer->seq != older->seq + 1 || newer->epoch < older->epoch
        || newer->commit < older->commit) {
        snprintf (error, size,
                  "slots contradict each other (sequence %" PRIu64 ": epoch %" PRIu64
                  ", commit %" PRIu64 "; sequence %" PRIu64 ": epoch %" PRIu64 ", commit %" PRIu64
                  ")", older->seq, older->epoch, older->commit, newer->seq, newer->epoch,
                  newer->commit);
        return -1;
    }
    self->seq = newer->seq;
    self->epoch = newer->epoch;
    self->commit = newer->commit;
    return 0;
}

//  Lock, check and read the open file. Returns 0, or -1 with error.
static int
s_load (promise_t *self, char *error, size_t size)
{
    if (flock (self->fd, LOCK_EX | LOCK_NB)) {
        snprintf (error, size, "%s", errno == EWOULDBLOCK ? "in use by another process"
                                                           : strerror (errno));
        return -1;
    }
    struct stat st;
    if (fstat (self->fd, &st)) {
        snprintf (error, size, "%s", strerror (errno));
        return -1;
    }
    if (st.st_size != PROMISE_FILE_SIZE) {
        snprintf (error, size, "%jd bytes, not %d", (intmax_t) st.st_size, PROMISE_FILE_SIZE);
        return -1;
    }
    unsigned char bytes[PROMISE_FILE_SIZE];
    ssize_t got = pread (self->fd, bytes, sizeof (bytes), 0);
    if (got != (ssize_t) sizeof (bytes)) {
        snprintf (error, size, "%s", got < 0 ? strerror (errno) : "short read");
        return -1;
    }
    return s_choose (self, bytes, error, size);
}

int
promise_open (const char *path, promise_t **self_p, char *error, size_t size)
{
    *self_p = NULL;
    int fd = open (path, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (s_create (path)) {
            snprintf (error, size, "%s: cannot create: %s", path, strerror (errno));
            return -1;
        }
        fd = open (path, O_RDWR | O_CLOEXEC);
    }
    if (fd < 0) {
        snprintf (error, size, "%s: %s", path, strerror (errno));
        return -1;
    }
    promise_t *self = mem_calloc (1, sizeof (promise_t));
    self->fd = fd;
    char reason[512];
    if (s_load (self, reason, sizeof (reason))) {
        snprintf (error, size, "%s: damaged or unreadable promise file: %s", path, reason);
        promise_destroy (&self);
        return -1;
    }
    *self_p = self;
    return 0;
}

void
promise_destroy (promise_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    promise_t *self = *self_p;
    close (self->fd);
    free (self);
    *self_p = NULL;
}

int
promise_store (promise_t *self, uint64_t epoch, uint64_t commit)
{
    if (epoch < self->epoch || commit < self->commit) {
        errno = EINVAL;
        return -1;
    }
    s_slot_t slot = {self->seq + 1, epoch, commit};
    unsigned char bytes[PROMISE_SLOT_SIZE];
    s_slot_encode (&slot, bytes);
    off_t offset = (off_t) (slot.seq % 2) * PROMISE_SLOT_SIZE;
    ssize_t written = pwrite (self->fd, bytes, sizeof (bytes), offset);
    if (written != (ssize_t) sizeof (bytes)) {
        if (written >= 0)
            errno = EIO; //  short: a full disk or a size limit
        return -1;
    }
    if (fdatasync (self->fd))
        return -1;
    self->seq = slot.seq;
    self->epoch = epoch;
    self->commit = commit;
    return 0;
}

uint64_t
promise_epoch (promise_t *self)
{
    return self->epoch;
}

uint64_t
promise_commit (promise_t *self)
{
    return self->commit;
}

const char *
promise_recovered (promise_t *self)
{
    return self->recovered[0] ? self->recovered : NULL;
}
