/*  fsync.c - the cost of one durable append on a disk: the floor under
    every group commit (issue 13's "fdatasync p50").

        fsync FILE [COUNT [overwrite]]

    Creates FILE (it must not exist), then COUNT times (2000) appends 64
    bytes to it and calls fdatasync, as the journal does for a batch of
    one record: the file grows, so each sync also makes the new size
    durable. With "overwrite" the file is first filled with COUNT x 64
    zero bytes and synced, and each 64-byte write goes over them instead,
    as the trade files do over the zeros they write ahead (src/journal.c).
    Each write + fdatasync is timed alone (CLOCK_MONOTONIC). Removes FILE
    and prints one line, microseconds:

        COUNT P50 P99 MIN MAX

    Exit status 0, or 1 with a message on stderr if a call failed.
*/
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define APPEND_SIZE 64
#define COUNT_DEFAULT 2000
#define COUNT_MAX 1000000

static uint64_t
s_now_ns (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (uint64_t) now.tv_sec * 1000000000 + (uint64_t) now.tv_nsec;
}

static int
s_compare (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return (x > y) - (x < y);
}

//  The sample at fraction q of sorted[0..count) (nearest rank), in µs.
static double
s_quantile_us (const uint64_t *sorted, size_t count, double q)
{
    size_t rank = (size_t) (q * (double) count + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > count)
        rank = count;
    return (double) sorted[rank - 1] / 1000.0;
}

//  Times count appends + fdatasyncs on fd into samples. Returns 0 or -1
//  (errno set).
static int
s_measure (int fd, uint64_t *samples, size_t count)
{
    unsigned char record[APPEND_SIZE];
    for (size_t i = 0; i < count; i++) {
        memset (record, (int) (i & 0xff), sizeof (record));
        uint64_t started = s_now_ns ();
        if (pwrite (fd, record, sizeof (record), (off_t) (i * APPEND_SIZE))
            != (ssize_t) sizeof (record))
            return -1;
        if (fdatasync (fd))
            return -1;
        samples[i] = s_now_ns () - started;
    }
    return 0;
}

//  Writes size zero bytes from the start of fd and syncs them.
static int
s_zero_fill (int fd, size_t size)
{
    static const unsigned char zeros[65536];
    for (size_t done = 0; done < size;) {
        size_t step = size - done < sizeof (zeros) ? size - done : sizeof (zeros);
        ssize_t wrote = pwrite (fd, zeros, step, (off_t) done);
        if (wrote <= 0)
            return -1;
        done += (size_t) wrote;
    }
    return fdatasync (fd);
}

int
main (int argc, char **argv)
{
    bool overwrite = argc == 4 && strcmp (argv[3], "overwrite") == 0;
    if (argc < 2 || argc > 4 || (argc == 4 && !overwrite)) {
        fprintf (stderr, "usage: fsync FILE [COUNT [overwrite]]\n");
        return 2;
    }
    const char *path = argv[1];
    long count = argc >= 3 ? strtol (argv[2], NULL, 10) : COUNT_DEFAULT;
    if (count < 1 || count > COUNT_MAX) {
        fprintf (stderr, "fsync: COUNT must be 1 to %d\n", COUNT_MAX);
        return 2;
    }
    uint64_t *samples = calloc ((size_t) count, sizeof (uint64_t));
    if (!samples) {
        fprintf (stderr, "fsync: out of memory\n");
        return 1;
    }
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf (stderr, "fsync: cannot create %s: %s\n", path, strerror (errno));
        free (samples);
        return 1;
    }
    int rc = overwrite ? s_zero_fill (fd, (size_t) count * APPEND_SIZE) : 0;
    if (rc == 0)
        rc = s_measure (fd, samples, (size_t) count);
    int saved = errno;
    close (fd);
    unlink (path);
    if (rc) {
        fprintf (stderr, "fsync: write or fdatasync on %s failed: %s\n", path,
                 strerror (saved));
        free (samples);
        return 1;
    }
    qsort (samples, (size_t) count, sizeof (uint64_t), s_compare);
    printf ("%ld %.1f %.1f %.1f %.1f\n", count, s_quantile_us (samples, (size_t) count, 0.50),
            s_quantile_us (samples, (size_t) count, 0.99), (double) samples[0] / 1000.0,
            (double) samples[count - 1] / 1000.0);
    free (samples);
    return 0;
}
