/*  journal.c - append-only checksummed records with group commit.

    Invariant: self->size is the offset just past the last whole record,
    self->allocated >= self->size is the file's size, and the file holds
    nothing but zeros between them once journal_open returns and after
    each journal_sync, unless a cut is pending (self->cut): then the file
    still holds the cut records past size until the next flush.

    A cut followed by records becomes durable as one: the flush first
    makes the records and where they go durable in a side file (PATH.cut),
    then cuts and writes the file, then removes the side file durably.
    journal_open finishes a cut that a crash interrupted. Without it, a
    crash between the cut and the records' sync left neither the old
    records nor the new: a consensus re-stamp cuts entries that may have
    committed and writes the same ones back (docs/CONSENSUS.md).
*/
#include "journal.h"
#include "le.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <pthread.h>
#include <unistd.h>

#define HEADER_SIZE JOURNAL_HEADER_SIZE

//  The side file of a cut: magic, the offset to cut at, the length of
//  the records that follow the cut, their crc32, the crc32 of the header
//  before it; then the records, framed.
#define REDO_MAGIC "BZJCUT1\n"
#define REDO_HEADER_SIZE 32

struct _journal_t {
    int fd;
    char *redo_path;        //  PATH.cut
    bool sync;
    uint64_t size;          //  bytes of whole records on file
    uint64_t allocated;     //  bytes on file: size, then zeros written ahead
    size_t chunk;           //  zeros written ahead at a time (0: none)
    uint64_t truncated;     //  bytes dropped from a torn tail at open
    unsigned char *buffer;  //  queued records, framed
    size_t buffer_used;
    size_t buffer_size;
    size_t pending;         //  records in buffer
    uint64_t syncs;         //  batches written (each one fdatasync if sync)
    uint64_t synced;        //  records in them
    bool cut;               //  journal_truncate cut size, the file not yet
    bool redo_left;         //  a side file not removed: no record may follow it
    uint64_t redone;        //  bytes of records a cut finished at open rewrote
    bool unsynced;          //  journal_write wrote since the last fdatasync
};

//  CRC-32 as zlib's crc32 computes it (the file format's checksum),
//  eight bytes a step ("slicing by 8"): zlib takes 130-250 ns for a
//  50-byte record, which was a tenth of replaying a million of them;
//  this takes about 25. s_crc_table[k][b] is the CRC of byte b followed
//  by k zero bytes.
static uint32_t s_crc_table[8][256];
static pthread_once_t s_crc_once = PTHREAD_ONCE_INIT;

static void
s_crc_init (void)
{
    for (uint32_t byte = 0; byte < 256; byte++) {
        uint32_t crc = byte;
        for (int bit = 0; bit < 8; bit++)
            crc = crc & 1 ? 0xedb88320u ^ (crc >> 1) : crc >> 1;
        s_crc_table[0][byte] = crc;
    }
    for (int k = 1; k < 8; k++)
        for (int byte = 0; byte < 256; byte++) {
            uint32_t previous = s_crc_table[k - 1][byte];
            s_crc_table[k][byte] = (previous >> 8) ^ s_crc_table[0][previous & 0xff];
        }
}

static uint32_t
s_crc (const void *data, size_t size)
{
    pthread_once (&s_crc_once, s_crc_init);
    const unsigned char *next = data;
    uint32_t crc = 0xffffffffu;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint32_t (*table)[256] = s_crc_table;
    for (; size >= 8; size -= 8, next += 8) {
        uint64_t word;
        memcpy (&word, next, 8);
        word ^= crc;
        crc = table[7][word & 0xff] ^ table[6][(word >> 8) & 0xff]
            ^ table[5][(word >> 16) & 0xff] ^ table[4][(word >> 24) & 0xff]
            ^ table[3][(word >> 32) & 0xff] ^ table[2][(word >> 40) & 0xff]
            ^ table[1][(word >> 48) & 0xff] ^ table[0][word >> 56];
    }
#endif
    for (; size > 0; size--)
        crc = s_crc_table[0][(crc ^ *next++) & 0xff] ^ (crc >> 8);
    return crc ^ 0xffffffffu;
}

static int
s_read_all (int fd, unsigned char **data_p, size_t *size_p)
{
    struct stat st;
    if (fstat (fd, &st))
        return -1;
    size_t size = (size_t) st.st_size;
    unsigned char *data = malloc (size ? size : 1);
    if (!data)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t got = pread (fd, data + done, size - done, (off_t) done);
        if (got <= 0) {
            if (got < 0 && errno == EINTR)
                continue;
            free (data);
            return -1;
        }
        done += (size_t) got;
    }
    *data_p = data;
    *size_p = size;
    return 0;
}

//  Payload length of the whole, valid record at offset, or 0 if none.
static uint32_t
s_record_at (const unsigned char *data, size_t size, size_t offset)
{
    if (size - offset < HEADER_SIZE)
        return 0;
    uint32_t length = le_get32 (data + offset);
    //  Length 0 with crc 0 is what a zero-filled tail looks like.
    if (length == 0 || length > JOURNAL_RECORD_MAX || length > size - offset - HEADER_SIZE)
        return 0;
    if (s_crc (data + offset + HEADER_SIZE, length) != le_get32 (data + offset + 4))
        return 0;
    return length;
}

//  Walks records, returns offset after the last good one; -1 with errno
//  EBADMSG if fn stopped the replay, EUCLEAN if a bad record is followed
//  by good ones (corruption inside the file, not a torn tail: truncating
//  there would drop acknowledged records).
static int64_t
s_replay (const unsigned char *data, size_t size, journal_record_fn *fn, void *arg)
{
    size_t offset = 0;
    uint32_t length;
    while ((length = s_record_at (data, size, offset))) {
        if (fn && fn (data + offset + HEADER_SIZE, length, arg)) {
            errno = EBADMSG;
            return -1;
        }
        offset += HEADER_SIZE + length;
    }
    for (size_t later = offset + 1; later < size; later++)
        if (s_record_at (data, size, later)) {
            errno = EUCLEAN;
            return -1;
        }
    return (int64_t) offset;
}

static bool
s_all_zero (const unsigned char *data, size_t size)
{
    for (size_t i = 0; i < size; i++)
        if (data[i])
            return false;
    return true;
}

int
journal_sync_parent (const char *path)
{
    char dir[PATH_MAX];
    snprintf (dir, sizeof (dir), "%s", path);
    char *slash = strrchr (dir, '/');
    if (!slash)
        return journal_sync_dir (".");
    if (slash == dir)
        slash++;
    *slash = '\0';
    return journal_sync_dir (dir);
}

//  The whole file at fd for the replay: mapped read-only, the page
//  cache's own pages, where reading it would zero and copy 50 MB for a
//  million trades; a heap copy where it cannot be mapped (*mapped says
//  which). Only for a file this process has locked: a writer cutting it
//  under the mapping would make reading it fault. Returns 0 or -1 (errno
//  set); *data_p is NULL for an empty file.
static int
s_load (int fd, unsigned char **data_p, size_t *size_p, bool *mapped)
{
    struct stat st;
    if (fstat (fd, &st))
        return -1;
    *size_p = (size_t) st.st_size;
    *data_p = NULL;
    *mapped = false;
    if (*size_p == 0)
        return 0;
    void *data = mmap (NULL, *size_p, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (data == MAP_FAILED)
        return s_read_all (fd, data_p, size_p);
    //  Read once, front to back.
    madvise (data, *size_p, MADV_SEQUENTIAL);
    *data_p = data;
    *mapped = true;
    return 0;
}

static void
s_unload (unsigned char *data, size_t size, bool mapped)
{
    int saved = errno;
    if (mapped)
        munmap (data, size);
    else
        free (data);
    errno = saved;
}

//  pwrite exactly size bytes at offset. Returns 0, or -1 (errno set).
static int
s_pwrite_all (int fd, const void *data, size_t size, uint64_t offset)
{
    size_t done = 0;
    while (done < size) {
        ssize_t wrote = pwrite (fd, (const unsigned char *) data + done, size - done,
                                (off_t) (offset + done));
        if (wrote < 0 && errno == EINTR)
            continue;
        if (wrote < 0)
            return -1;
        done += (size_t) wrote;
    }
    return 0;
}

//  PATH.cut, the side file of a cut of the journal at path (malloc'd),
//  or NULL if out of memory.
static char *
s_redo_path (const char *path)
{
    char *redo_path = NULL;
    return asprintf (&redo_path, "%s.cut", path) < 0 ? NULL : redo_path;
}

//  Removes the side file of a cut, durably. Returns 0 or -1.
static int
s_redo_remove (const char *redo_path)
{
    if (unlink (redo_path) && errno != ENOENT)
        return -1;
    return journal_sync_parent (redo_path);
}

//  The records that follow a cut at offset, in a side file
//  (REDO_HEADER_SIZE bytes of header, then the records): durable,
//  with its directory entry, before the file is cut.
static int
s_redo_write (const char *redo_path, uint64_t offset, const unsigned char *records,
              size_t length)
{
    unsigned char header[REDO_HEADER_SIZE];
    memcpy (header, REDO_MAGIC, 8);
    le_put32 (header + 8, (uint32_t) offset);
    le_put32 (header + 12, (uint32_t) (offset >> 32));
    le_put32 (header + 16, (uint32_t) length);
    le_put32 (header + 20, (uint32_t) ((uint64_t) length >> 32));
    le_put32 (header + 24, s_crc (records, length));
    le_put32 (header + 28, s_crc (header, 28));
    int fd = open (redo_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int rc = s_pwrite_all (fd, header, sizeof (header), 0);
    if (rc == 0)
        rc = s_pwrite_all (fd, records, length, sizeof (header));
    if (rc == 0)
        rc = fdatasync (fd);
    int saved = errno;
    close (fd);
    errno = saved;
    return rc ? -1 : journal_sync_parent (redo_path);
}

//  A side file's records and where they go, if it is whole (*data NULL
//  if there is none or it is torn: the cut had not touched the file).
//  *data is the whole side file, the records at REDO_HEADER_SIZE; the
//  caller frees it. Returns 0 or -1 (errno set).
static int
s_redo_load (const char *redo_path, unsigned char **data, uint64_t *offset, uint64_t *length)
{
    *data = NULL;
    int redo = open (redo_path, O_RDONLY | O_CLOEXEC);
    if (redo < 0)
        return errno == ENOENT ? 0 : -1;
    unsigned char *bytes = NULL;
    size_t size = 0;
    int rc = s_read_all (redo, &bytes, &size);
    close (redo);
    if (rc)
        return -1;
    bool whole = size >= REDO_HEADER_SIZE && memcmp (bytes, REDO_MAGIC, 8) == 0
              && le_get32 (bytes + 28) == s_crc (bytes, 28);
    if (whole) {
        *offset = le_get32 (bytes + 8) | (uint64_t) le_get32 (bytes + 12) << 32;
        *length = le_get32 (bytes + 16) | (uint64_t) le_get32 (bytes + 20) << 32;
        whole = *length == size - REDO_HEADER_SIZE
             && le_get32 (bytes + 24) == s_crc (bytes + REDO_HEADER_SIZE, *length);
    }
    if (whole)
        *data = bytes;
    else
        free (bytes);
    return 0;
}

//  At open: finishes a cut whose side file is whole (the crash came after
//  it was durable: the file may be cut or written in part), or drops a
//  torn one (the file was not touched yet). Sets *redone to the bytes of
//  records rewritten. Returns 0 or -1 (errno set).
static int
s_redo_finish (int fd, const char *redo_path, uint64_t *redone)
{
    *redone = 0;
    unsigned char *data;
    uint64_t offset = 0, length = 0;
    if (s_redo_load (redo_path, &data, &offset, &length))
        return -1;
    int rc = 0;
    if (data && (s_pwrite_all (fd, data + REDO_HEADER_SIZE, length, offset)
                 || ftruncate (fd, (off_t) (offset + length)) || fdatasync (fd)))
        rc = -1;
    if (data && rc == 0)
        *redone = length;
    int saved = errno;
    free (data);
    errno = saved;
    return rc ? -1 : s_redo_remove (redo_path);
}

journal_t *
journal_open (const char *path, bool sync, journal_record_fn *fn, void *arg)
{
    int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return NULL;
    //  One writer per file: a second process would interleave records.
    //  The lock lives as long as fd.
    unsigned char *data = NULL;
    size_t size = 0;
    bool mapped = false;
    int64_t good = -1;
    bool zeros = false;     //  all after the last record is zeros written ahead
    char *redo_path = s_redo_path (path);
    uint64_t redone = 0;
    if (redo_path && flock (fd, LOCK_EX | LOCK_NB) == 0
        && s_redo_finish (fd, redo_path, &redone) == 0
        && s_load (fd, &data, &size, &mapped) == 0) {
        good = s_replay (data, size, fn, arg);
        zeros = good >= 0 && (size_t) good < size
             && s_all_zero (data + good, size - (size_t) good);
        s_unload (data, size, mapped);
    }
    if (good >= 0 && size == 0 && journal_sync_parent (path))
        good = -1;
    if (good >= 0 && (size_t) good < size && !zeros && (ftruncate (fd, good) || fdatasync (fd)))
        good = -1;
    if (good < 0) {
        int saved = errno;
        close (fd);
        free (redo_path);
        errno = saved;
        return NULL;
    }
    journal_t *self = calloc (1, sizeof (journal_t));
    if (!self) {
        close (fd);
        free (redo_path);
        return NULL;
    }
    self->fd = fd;
    self->redo_path = redo_path;
    self->redone = redone;
    self->sync = sync;
    self->size = (uint64_t) good;
    self->allocated = zeros ? size : (uint64_t) good;
    self->truncated = zeros ? 0 : size - (size_t) good;
    return self;
}

size_t
journal_extent (const void *data, size_t size)
{
    const unsigned char *bytes = data;
    size_t offset = 0;
    while (size - offset >= HEADER_SIZE) {
        uint32_t length = le_get32 (bytes + offset);
        if (length == 0 || length > size - offset - HEADER_SIZE)
            break;
        offset += HEADER_SIZE + length;
    }
    return offset == size || s_all_zero (bytes + offset, size - offset) ? offset : size;
}

typedef struct {
    journal_record_fn *fn;
    void *arg;
    int64_t count;
} s_counter_t;

static int
s_count_record (const void *data, size_t size, void *arg)
{
    s_counter_t *counter = arg;
    counter->count++;
    return counter->fn ? counter->fn (data, size, counter->arg) : 0;
}

//  The file's bytes as journal_open would leave them: a cut whose side
//  file is whole applied (in *data, heap, resized). Returns 0 or -1.
static int
s_redo_view (const char *path, unsigned char **data, size_t *size)
{
    char *redo_path = s_redo_path (path);
    if (!redo_path)
        return -1;
    unsigned char *redo;
    uint64_t offset = 0, length = 0;
    int rc = s_redo_load (redo_path, &redo, &offset, &length);
    free (redo_path);
    if (rc || !redo)
        return rc;
    unsigned char *view = realloc (*data, offset + length ? offset + length : 1);
    if (!view) {
        free (redo);
        errno = ENOMEM;
        return -1;
    }
    if (*size < offset)
        memset (view + *size, 0, offset - *size);   //  as pwrite past the end leaves it
    memcpy (view + offset, redo + REDO_HEADER_SIZE, length);
    free (redo);
    *data = view;
    *size = offset + length;
    return 0;
}

int64_t
journal_read (const char *path, journal_record_fn *fn, void *arg)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    unsigned char *data = NULL;
    size_t size;
    s_counter_t counter = {fn, arg, 0};
    int64_t good = -1;
    if (s_read_all (fd, &data, &size) == 0 && s_redo_view (path, &data, &size) == 0)
        good = s_replay (data, size, s_count_record, &counter);
    int saved = errno;
    free (data);
    close (fd);
    errno = saved;
    return good < 0 ? -1 : counter.count;
}

void
journal_destroy (journal_t **self_p)
{
    if (!*self_p)
        return;
    journal_t *self = *self_p;
    //  A clean close leaves the file exact; after a crash the zeros stay
    //  and the next open keeps them for its appends. A pending cut is
    //  not made here: its records were never written.
    if (!self->cut && self->allocated > self->size
        && ftruncate (self->fd, (off_t) self->size)) {
        //  Harmless: zeros after the last record are read as its end.
    }
    close (self->fd);
    free (self->redo_path);
    free (self->buffer);
    free (self);
    *self_p = NULL;
}

int
journal_frame (const void *data, size_t size, unsigned char *frame)
{
    if (size == 0 || size > JOURNAL_RECORD_MAX)
        return -1;
    le_put32 (frame, (uint32_t) size);
    le_put32 (frame + 4, s_crc (data, size));
    memcpy (frame + HEADER_SIZE, data, size);
    return 0;
}

int
journal_append (journal_t *self, const void *data, size_t size)
{
    if (size == 0 || size > JOURNAL_RECORD_MAX)
        return -1;
    size_t need = self->buffer_used + HEADER_SIZE + size;
    if (need > self->buffer_size) {
        size_t new_size = self->buffer_size ? self->buffer_size : 4096;
        while (new_size < need)
            new_size *= 2;
        unsigned char *buffer = realloc (self->buffer, new_size);
        if (!buffer)
            return -1;
        self->buffer = buffer;
        self->buffer_size = new_size;
    }
    journal_frame (data, size, self->buffer + self->buffer_used);
    self->buffer_used = need;
    self->pending++;
    return 0;
}


//  pread exactly size bytes at offset. Returns 0, or -1 (errno set).
static int
s_pread_all (int fd, void *data, size_t size, uint64_t offset)
{
    size_t done = 0;
    while (done < size) {
        ssize_t got = pread (fd, (unsigned char *) data + done, size - done,
                             (off_t) (offset + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            if (got == 0)
                errno = EINVAL;
            return -1;
        }
        done += (size_t) got;
    }
    return 0;
}

int
journal_read_at (journal_t *self, uint64_t offset, void *data, size_t max, size_t *size)
{
    unsigned char header[HEADER_SIZE];
    if (offset + HEADER_SIZE > self->size) {
        errno = EINVAL;
        return -1;
    }
    if (s_pread_all (self->fd, header, HEADER_SIZE, offset))
        return -1;
    uint32_t length = le_get32 (header);
    if (length == 0 || offset + HEADER_SIZE + length > self->size) {
        errno = EINVAL;
        return -1;
    }
    if (length > max) {
        errno = EMSGSIZE;
        return -1;
    }
    if (s_pread_all (self->fd, data, length, offset + HEADER_SIZE))
        return -1;
    if (s_crc (data, length) != le_get32 (header + 4)) {
        errno = EBADMSG;
        return -1;
    }
    *size = length;
    return 0;
}

void
journal_counts (journal_t *self, uint64_t *syncs, uint64_t *records)
{
    *syncs = self->syncs;
    *records = self->synced;
}

//  Writes zeros ahead of the appends, up to the chunk boundary past the
//  batch, so that most syncs overwrite blocks already on disk: fdatasync
//  then has no file size or block allocation to commit (about 40% less
//  time and CPU per sync here). Best effort: where it fails the batch
//  just grows the file, and journal_sync moves allocated up to it, so the
//  next zeros start after the records, never over them.
static void
s_write_zeros_ahead (journal_t *self)
{
    uint64_t need = self->size + self->buffer_used;
    if (!self->chunk || need <= self->allocated)
        return;
    uint64_t target = (need / self->chunk + 1) * self->chunk;
    static const unsigned char zeros[65536];
    uint64_t at = self->allocated;
    while (at < target) {
        size_t step = target - at < sizeof (zeros) ? (size_t) (target - at) : sizeof (zeros);
        ssize_t wrote = pwrite (self->fd, zeros, step, (off_t) at);
        if (wrote <= 0)
            break;
        at += (uint64_t) wrote;
    }
    //  A full disk: give back what was written, for the records (ours
    //  and other processes'), and write no more zeros ahead. A replica's
    //  megabyte of zeros once took a small disk's last bytes and no one
    //  traded again.
    if (at < target && ftruncate (self->fd, (off_t) self->allocated) == 0)
        at = self->allocated;
    if (at < target)
        self->chunk = 0;
    if (at > self->allocated)
        self->allocated = at;
}

int
journal_truncate (journal_t *self, uint64_t size)
{
    if (self->pending || size > self->size) {
        errno = EINVAL;
        return -1;
    }
    //  The file is cut by the next flush, with the records that follow.
    self->size = size;
    self->cut = true;
    return 0;
}

void
journal_preallocate (journal_t *self, size_t chunk)
{
    self->chunk = chunk;
}

//  Write the queued batch; fdatasync it (and whatever journal_write or a
//  cut left unsynced) if durable and the journal syncs.
static int
s_flush (journal_t *self, bool durable)
{
    bool sync_now = durable && self->sync;
    if (self->redo_left && s_redo_remove (self->redo_path))
        return -1;
    self->redo_left = false;
    bool redo = self->cut && self->pending && sync_now;
    if (redo && s_redo_write (self->redo_path, self->size, self->buffer, self->buffer_used))
        return -1;
    if (self->cut) {
        if (ftruncate (self->fd, (off_t) self->size))
            return -1;
        self->allocated = self->size;
        self->cut = false;
        self->unsynced = true;
    }
    if (self->pending == 0) {
        if (!sync_now || !self->unsynced)
            return 0;
        self->unsynced = false;
        return fdatasync (self->fd);
    }
    s_write_zeros_ahead (self);
    int rc = s_pwrite_all (self->fd, self->buffer, self->buffer_used, self->size);
    if (rc == 0 && sync_now)
        rc = fdatasync (self->fd);
    if (rc == 0 && sync_now)
        self->unsynced = false;
    else
    if (rc == 0)
        self->unsynced = true;
    if (rc == 0) {
        self->size += self->buffer_used;
        if (self->allocated < self->size)
            self->allocated = self->size;
        self->syncs++;
        self->synced += self->pending;
    }
    else {
        int saved = errno;
        //  Leave no half-written batch for a later append to follow.
        if (ftruncate (self->fd, (off_t) self->size)) {
            //  The torn tail is cut at the next open anyway.
        }
        self->allocated = self->size;
        errno = saved;
    }
    self->buffer_used = 0;
    self->pending = 0;
    //  Gone before any later record (a side file found at open is redone
    //  over whatever follows). If it cannot go, the records it holds are
    //  durable all the same: nothing is cut back, and no record follows.
    if (rc == 0 && redo && s_redo_remove (self->redo_path)) {
        self->redo_left = true;
        return -1;
    }
    return rc;
}

int
journal_sync (journal_t *self)
{
    return s_flush (self, true);
}

int
journal_write (journal_t *self)
{
    return s_flush (self, false);
}

size_t
journal_pending (journal_t *self)
{
    return self->pending;
}

uint64_t
journal_size (journal_t *self)
{
    return self->size;
}

uint64_t
journal_truncated (journal_t *self)
{
    return self->truncated;
}

uint64_t
journal_redone (journal_t *self)
{
    return self->redone;
}

int
journal_find_corruption (const char *path, uint64_t *bad, uint64_t *good)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    unsigned char *data = NULL;
    size_t size = 0;
    bool mapped = false;
    if (fd < 0 || s_load (fd, &data, &size, &mapped)) {
        if (fd >= 0)
            close (fd);
        return -1;
    }
    close (fd);
    size_t offset = 0, later = 0;
    uint32_t length;
    while ((length = s_record_at (data, size, offset)))
        offset += HEADER_SIZE + length;
    for (later = offset + 1; later < size && !s_record_at (data, size, later); later++)
        ;
    s_unload (data, size, mapped);
    *bad = offset;
    *good = later;
    return later < size ? 0 : -1;
}

const char *
journal_strerror (int error)
{
    if (error == EWOULDBLOCK)
        return "in use by another process";
    if (error == EUCLEAN)
        return "a corrupt record is followed by good ones: refusing to truncate";
    if (error == EBADMSG)
        return "a record does not apply";
    return strerror (error);
}

int
journal_make_dir (const char *dir)
{
    char path[PATH_MAX];
    if (snprintf (path, sizeof (path), "%s", dir) >= (int) sizeof (path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    //  mkdir each prefix; EEXIST is fine as long as it is a directory.
    for (char *slash = path + 1;; slash++) {
        if (*slash != '/' && *slash != '\0')
            continue;
        char saved = *slash;
        *slash = '\0';
        struct stat st;
        if (mkdir (path, 0755) == 0) {
            if (journal_sync_parent (path))
                return -1;
        }
        else
        if (errno != EEXIST || stat (path, &st) || !S_ISDIR (st.st_mode)) {
            if (errno == EEXIST)
                errno = ENOTDIR;
            return -1;
        }
        *slash = saved;
        if (saved == '\0')
            return 0;
    }
}

int
journal_sync_dir (const char *dir)
{
    int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    int saved = errno;
    close (fd);
    errno = saved;
    return rc;
}
