/*  fuzz_consensus.c - libFuzzer harness for the consensus core under any
    messages (services/order/consensus.h).

    The simulator (tests/sim) drives the core with what honest peers send;
    this drives one core, member 1 of {1, 2, 3}, with anything: the input
    is a sequence of verbs, each chosen by its next byte (step a message
    whose every field comes from the input, tick, campaign, propose, fetch,
    abandon, restart). After each verb every ready is persisted into an
    in-memory disk the way node.c persists one, then advanced. What must
    hold whatever the peers send, else abort (a crash to libFuzzer):
      - the promise and the persisted commit position never go down;
      - a cut never reaches below the commit position;
      - a ready appends at the log's end (after its cut), stamps >= 2;
      - a commit position never passes the persisted log;
      - a proposal reported committed is below the commit position;
      - every message's entries can be read (ASan sees a dangling one),
        are stamped >= 2 and lie within the sender's log length;
      - a core restarted from what it had persisted accepts that state
        (consensus_new returns it): one bad message must not leave a disk
        the replica cannot start from.
    Numbers in the input are one byte (small values, so that epochs and
    positions meet) or, after a byte >= 0xf0, eight. Corpus:
    tests/fuzz/consensus/.
*/
#include "consensus.h"
#include "stamps.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define S_LOG_MAX 512 //  a longer log ends the run (not a failure)
#define S_PAYLOAD_MAX 8
#define S_ENTRIES_MAX 4
#define S_READIES_MAX 64 //  readies after one verb; more is a loop

typedef struct {
    const uint8_t *data;
    size_t size;
} s_input_t;

typedef struct {
    uint64_t stamp;
    uint8_t payload[S_PAYLOAD_MAX];
    size_t size;
} s_record_t;

typedef struct {
    s_record_t log[S_LOG_MAX];
    uint64_t length;
    uint64_t promised;
    uint64_t commit;
} s_disk_t;

static const uint32_t s_members[] = {1, 2, 3};

//  FUZZ_TRACE=1 in the environment: each verb and ready on stderr (to
//  read a crash: build/fuzz/fuzz_consensus CRASH-FILE).
static bool s_trace;

static uint8_t
s_byte (s_input_t *in)
{
    if (!in->size)
        return 0;
    in->size--;
    return *in->data++;
}

static uint64_t
s_number (s_input_t *in)
{
    uint8_t first = s_byte (in);
    if (first < 0xf0)
        return first;
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
        value = value << 8 | s_byte (in);
    return value;
}

static int
s_read (void *arg, uint64_t index, const void **payload, size_t *size)
{
    const s_disk_t *disk = arg;
    if (index >= disk->length)
        return -1;
    *payload = disk->log[index].payload;
    *size = disk->log[index].size;
    return 0;
}

static consensus_t *
s_core_new (s_disk_t *disk)
{
    consensus_config_t config = {.self = 1, .members = s_members, .n_members = 3,
                                 .heartbeat_ms = 50, .quorum_timeout_ms = 300,
                                 .campaign_timeout_ms = 300, .max_batch = 3,
                                 .read = s_read, .read_arg = disk};
    stamps_t *stamps = stamps_new ();
    for (uint64_t i = 0; i < disk->length; i++)
        stamps_append (stamps, disk->log[i].stamp, 1);
    consensus_state_t state = {.promised = disk->promised, .commit = disk->commit,
                               .length = disk->length, .stamps = stamps};
    consensus_t *core = consensus_new (&config, &state);
    stamps_destroy (&stamps);
    return core;
}

//  Reads every byte entries point to, into a sink the compiler keeps.
static volatile uint8_t s_sink;

static void
s_read_entries (const consensus_entry_t *entries, size_t count)
{
    for (size_t k = 0; k < count; k++)
        for (size_t i = 0; i < entries[k].size; i++)
            s_sink ^= ((const uint8_t *) entries[k].payload)[i];
}

//  Persists ready as node.c does, checking it. Returns false if the disk
//  is full (the run ends there).
static bool
s_persist (s_disk_t *disk, const consensus_ready_t *ready)
{
    if (s_trace)
        fprintf (stderr, "  ready: promise %d %" PRIu64 ", cut %d %" PRIu64 ", %zu entries at %"
                 PRIu64 ", %zu msgs, commit %d %" PRIu64 ", role %d epoch %" PRIu64 "\n",
                 ready->promise_changed, ready->promised, ready->truncate, ready->truncate_to,
                 ready->n_entries, ready->first_index, ready->n_msgs, ready->commit_changed,
                 ready->commit, (int) ready->role, ready->epoch);
    if (ready->promise_changed) {
        if (ready->promised < disk->promised)
            abort ();
        disk->promised = ready->promised;
    }
    if (ready->truncate) {
        if (ready->truncate_to < disk->commit)
            abort ();
        if (ready->truncate_to < disk->length)
            disk->length = ready->truncate_to;
    }
    if (ready->n_entries) {
        if (ready->first_index != disk->length)
            abort ();
        if (ready->n_entries > S_LOG_MAX - disk->length)
            return false;
    }
    s_read_entries (ready->entries, ready->n_entries);
    for (size_t k = 0; k < ready->n_entries; k++) {
        const consensus_entry_t *entry = &ready->entries[k];
        if (entry->stamp < 2 || entry->size > S_PAYLOAD_MAX)
            abort ();
        s_record_t *record = &disk->log[disk->length++];
        record->stamp = entry->stamp;
        record->size = entry->size;
        memcpy (record->payload, entry->payload, entry->size);
    }
    //  node.c: every record carries the ready's position; a leader's
    //  commit-only ready is not stored.
    if ((ready->commit_changed || ready->n_entries)
        && !(ready->role == CONSENSUS_LEADER && ready->n_entries == 0)
        && ready->commit > disk->commit)
        disk->commit = ready->commit;
    if (ready->commit_changed && ready->commit > disk->length)
        abort ();
    for (size_t k = 0; k < ready->n_outcomes; k++)
        if (ready->outcomes[k].result == CONSENSUS_COMMITTED
            && ready->outcomes[k].index >= ready->commit)
            abort ();
    for (size_t k = 0; k < ready->n_msgs; k++) {
        const consensus_msg_t *msg = &ready->msgs[k];
        s_read_entries (msg->entries, msg->n_entries);
        for (size_t e = 0; e < msg->n_entries; e++)
            if (msg->entries[e].stamp < 2)
                abort ();
        if (msg->n_entries && msg->start + msg->n_entries > msg->length)
            abort ();
    }
    return true;
}

static bool
s_drain (consensus_t *core, s_disk_t *disk)
{
    const consensus_ready_t *ready;
    for (int count = 0; (ready = consensus_ready (core)); count++) {
        if (count == S_READIES_MAX)
            abort (); //  readies without end
        if (!s_persist (disk, ready))
            return false;
        consensus_advance (core);
    }
    return true;
}

//  A message from the input, entries into entries and payloads.
static void
s_message (s_input_t *in, consensus_msg_t *msg, consensus_entry_t *entries,
           uint8_t payloads[][S_PAYLOAD_MAX])
{
    *msg = (consensus_msg_t) {
        .type = (consensus_type_t) (s_byte (in) % 9),
        .from = s_byte (in) % 5, .to = s_byte (in) % 4,
        .epoch = s_number (in), .start = s_number (in), .prev_stamp = s_number (in),
        .last_stamp = s_number (in), .length = s_number (in), .commit = s_number (in),
        .entries = entries, .n_entries = s_byte (in) % (S_ENTRIES_MAX + 1)};
    for (size_t k = 0; k < msg->n_entries; k++) {
        entries[k].stamp = s_number (in);
        entries[k].size = s_byte (in) % (S_PAYLOAD_MAX + 1);
        for (size_t i = 0; i < entries[k].size; i++)
            payloads[k][i] = s_byte (in);
        entries[k].payload = payloads[k];
    }
}

//  One verb from the input. Returns false when the run should end.
static bool
s_verb (s_input_t *in, consensus_t **core, s_disk_t *disk, uint64_t *now)
{
    consensus_msg_t msg;
    consensus_entry_t entries[S_ENTRIES_MAX];
    uint8_t payloads[S_ENTRIES_MAX][S_PAYLOAD_MAX];
    uint8_t proposal[S_PAYLOAD_MAX];
    switch (s_byte (in) % 7) {
    case 0:
        s_message (in, &msg, entries, payloads);
        int rc = consensus_step (*core, &msg, *now);
        if (s_trace)
            fprintf (stderr, "step %s from %u to %u epoch %" PRIu64 " start %" PRIu64
                     " prev %" PRIu64 " last %" PRIu64 " length %" PRIu64 " commit %" PRIu64
                     " entries %zu: %d\n", consensus_type_name (msg.type), msg.from, msg.to,
                     msg.epoch, msg.start, msg.prev_stamp, msg.last_stamp, msg.length,
                     msg.commit, msg.n_entries, rc);
        break;
    case 1:
        *now += s_number (in);
        consensus_tick (*core, *now);
        break;
    case 2:
        consensus_campaign (*core, *now);
        break;
    case 3:
        for (size_t i = 0; i < sizeof (proposal); i++)
            proposal[i] = s_byte (in);
        consensus_propose (*core, proposal, sizeof (proposal));
        break;
    case 4:
        consensus_fetch (*core, s_byte (in) % 5);
        break;
    case 5:
        consensus_abandon (*core);
        break;
    default:
        //  kill -9 after the last ready was persisted, then a start from the disk
        consensus_destroy (core);
        *core = s_core_new (disk);
        if (!*core)
            abort ();
        break;
    }
    return s_drain (*core, disk);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static s_disk_t disk;
    memset (&disk, 0, sizeof (disk));
    s_trace = getenv ("FUZZ_TRACE") != NULL;
    s_input_t in = {data, size};
    uint64_t now = 0;
    consensus_t *core = s_core_new (&disk);
    if (!core)
        abort ();
    while (in.size && s_verb (&in, &core, &disk, &now))
        ;
    consensus_destroy (&core);
    return 0;
}
