/*  journal.h - an append-only file of checksummed records.

    Each record is framed as [u32 length][u32 crc32][payload], little
    endian. A kill -9 can leave a torn last record; journal_open finds the
    last good record and truncates what follows, so every record a reader
    ever sees was whole on disk.

    A writer may keep zeros after its last record (journal_preallocate),
    so that its syncs overwrite blocks instead of growing the file. A
    zero length ends the records; at open, zeros alone after the last
    good record are kept for the next appends, not cut. A reader of a
    file being written can see a batch land over those zeros out of
    order, so a file that looks damaged must be read again before it is
    called damaged (bazaar-client verify does).

    Appends are buffered in memory; journal_sync writes the whole batch
    with one write and (unless the journal was opened without sync) one
    fdatasync. That is the group commit: callers append every record of a
    batch and acknowledge them all after one sync.
*/
#ifndef BAZAAR_JOURNAL_H
#define BAZAAR_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOURNAL_RECORD_MAX (1 << 20)
#define JOURNAL_HEADER_SIZE 8      //  [u32 length][u32 crc32] before each payload

typedef struct _journal_t journal_t;

//  Called for each good record in file order; return non-zero to stop.
typedef int (journal_record_fn) (const void *data, size_t size, void *arg);

//  Open or create the journal at path. Each record already in the file
//  is passed to fn (may be NULL); a torn or corrupt tail is truncated.
//  If sync is false, journal_sync only writes (no fdatasync).
//  A new (empty) file is made durable in its directory. The file is
//  locked (flock) for as long as the journal is open.
//  Returns NULL with errno set on failure: EWOULDBLOCK if another process
//  has it open, EBADMSG if fn stopped the replay, EUCLEAN if a bad record
//  sits before good ones (corruption, not a torn tail: nothing is cut).
journal_t *journal_open (const char *path, bool sync, journal_record_fn *fn, void *arg);

//  Read the records of the journal at path without opening it for
//  writing: no lock, nothing truncated, safe while a service has it open.
//  Each whole record is passed to fn (a torn tail is skipped), as
//  journal_open would find them: a cut that a crash interrupted, whose
//  side file PATH.cut is whole, is read as finished (nothing is written:
//  for tools reading another process's files). Returns
//  the number of records read, or -1 with errno set (EBADMSG if fn
//  stopped, EUCLEAN for a bad record followed by good ones).
int64_t journal_read (const char *path, journal_record_fn *fn, void *arg);

//  The length of a journal file's bytes without the zeros its writer
//  wrote ahead of its appends (journal_preallocate): size, unless the
//  framing walked from the start stops (at a zero length, or at a length
//  past the end) where only zeros follow; then where the walk stopped.
//  Checks no checksum: for tools that compare files byte for byte.
size_t journal_extent (const void *data, size_t size);

//  Close the journal (without syncing pending appends).
void journal_destroy (journal_t **self_p);

//  Frame one record exactly as the file holds it: [u32 length][u32 crc32]
//  then the payload, little endian. frame must hold JOURNAL_HEADER_SIZE +
//  size bytes. Returns 0, or -1 (nothing written) if size is 0 or over
//  JOURNAL_RECORD_MAX. journal_append frames with it; tools that rebuild
//  a file from its records use it too.
int journal_frame (const void *data, size_t size, unsigned char *frame);

//  Queue one record. Returns 0, or -1 if it is too large or memory ran out.
int journal_append (journal_t *self, const void *data, size_t size);

//  Whenever a batch reaches the end of the file, write zeros up to the
//  next multiple of chunk bytes past it, in that batch's sync (0, the
//  default: never).
void journal_preallocate (journal_t *self, size_t chunk);

//  Write queued records and make them durable. Returns 0, or -1 with
//  errno set; on failure the queued records are dropped and the file is
//  truncated back to its last durable size.
int journal_sync (journal_t *self);

//  Write queued records to the file without fdatasync: they survive the
//  process (kill -9), not the machine, until the next journal_sync,
//  which syncs them even with nothing queued. Returns as journal_sync.
int journal_write (journal_t *self);

//  Read back the payload of the whole record that starts at offset (the
//  sum of JOURNAL_HEADER_SIZE + payload size of every record before it),
//  which must be on file (synced or written). Copies at most max bytes
//  into data and sets *size. Returns 0, or -1 with errno set (EINVAL: no
//  whole record there; EBADMSG: bad checksum; EMSGSIZE: over max).
int journal_read_at (journal_t *self, uint64_t offset, void *data, size_t max, size_t *size);

//  Batches written by journal_sync or journal_write since open (with
//  journal_sync, one fdatasync each when syncing) and the records in
//  them: group commit at work.
void journal_counts (journal_t *self, uint64_t *syncs, uint64_t *records);

//  Cut the file to size bytes (the start of a record), dropping every
//  record from there on; nothing may be queued (sync first). The file is
//  cut by the next journal_sync (which syncs even with nothing queued),
//  as one with the records appended after the cut: a crash leaves the
//  old records or the new, never neither (see PATH.cut in journal.c).
//  Not without fdatasync (opened with sync false, or journal_write):
//  then a crash between the cut and the write loses both (unsafe mode).
//  Returns 0, or -1 with errno set (EINVAL: records queued, or size past
//  the end).
int journal_truncate (journal_t *self, uint64_t size);

//  Number of records queued but not yet synced.
size_t journal_pending (journal_t *self);

//  Bytes of whole records in the file (synced or written).
uint64_t journal_size (journal_t *self);

//  Bytes cut off a torn tail when the journal was opened.
uint64_t journal_truncated (journal_t *self);

//  Bytes of records rewritten when the journal was opened, finishing a
//  cut that a crash interrupted (0: none).
uint64_t journal_redone (journal_t *self);

//  For a file journal_open refused with EUCLEAN: the offset of the first
//  bad record (*bad) and of the good record after it (*good). Reads the
//  file again; returns 0, or -1 if it cannot read it or finds no such pair.
int journal_find_corruption (const char *path, uint64_t *bad, uint64_t *good);

//  Text for an errno from journal_open (explains the journal's own cases).
const char *journal_strerror (int error);

//  Create directory dir and its parents if missing; another process
//  creating it at the same moment is fine. Returns 0 or -1 (errno set).
int journal_make_dir (const char *dir);

//  Make a rename or create in directory dir durable. Returns 0 or -1.
int journal_sync_dir (const char *dir);

//  fsync the directory holding path, so a file just created or removed
//  there stays so. Returns 0 or -1 (errno set).
int journal_sync_parent (const char *path);

#endif
