/*  fuzz_journal.c - libFuzzer harness for journal replay.

    The input is written as a whole file, then read the ways the services
    read theirs: journal_read (verify, no lock, nothing cut) decoding each
    record, and tradelog_open (catalog and replicas: replay into memory,
    truncate a torn tail, keep zeros alone after the last record). A log
    that opens must take one more trade and hold it after being opened
    again. journal_extent (verify's byte comparisons) must drop nothing
    but trailing zeros. Corpus: tests/fuzz/journal/.
*/
#include "journal.h"
#include "msgs.h"
#include "tradelog.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char s_path[64];

static int
s_decode_record (const void *data, size_t size, void *arg)
{
    uint64_t *decoded = arg;
    msg_t msg;
    msg_init (&msg, 0);
    if (msg_decode (&msg, data, size) == MSG_DECODE_OK) {
        (*decoded)++;
        msg_reset (&msg);
    }
    return 0;
}

static void
s_write_file (const uint8_t *data, size_t size)
{
    //  tmpfs if there is one: the journal's fsyncs cost nothing there.
    if (!s_path[0])
        snprintf (s_path, sizeof (s_path), "%s/bazaar-fuzz-journal-%d",
                  access ("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int) getpid ());
    int fd = open (s_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (size && write (fd, data, size) != (ssize_t) size))
        abort ();
    close (fd);
}

static void
s_append_one (void)
{
    char error[256];
    tradelog_t *log = tradelog_open (s_path, false, NULL, error, sizeof (error));
    if (!log)
        return;
    uint64_t count = tradelog_count (log);
    msg_trade_t trade = {.number = count, .name = "apple", .side = MSG_SIDE_BUY, .quantity = 1};
    for (uint64_t i = 0; i < count; i++)
        if (tradelog_get (log, i, &trade) || trade.number != i)
            abort ();
    trade = (msg_trade_t) {.number = count, .name = "apple", .side = MSG_SIDE_BUY,
                           .quantity = 1, .key = "fuzz"};
    if (tradelog_append (log, &trade) || tradelog_sync (log))
        abort ();
    tradelog_destroy (&log);
    log = tradelog_open (s_path, false, NULL, error, sizeof (error));
    if (!log || tradelog_count (log) != count + 1 || tradelog_find_key (log, "fuzz") < 0)
        abort ();               //  the trade just made durable was lost
    tradelog_destroy (&log);
}

//  journal_extent drops zeros only, and only at the end.
static void
s_check_extent (const uint8_t *data, size_t size)
{
    size_t extent = journal_extent (data, size);
    if (extent > size)
        abort ();
    for (size_t i = extent; i < size; i++)
        if (data[i])
            abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_check_extent (data, size);
    s_write_file (data, size);
    uint64_t decoded = 0;
    journal_read (s_path, s_decode_record, &decoded);
    s_append_one ();
    unlink (s_path);
    return 0;
}
