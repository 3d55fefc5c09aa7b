/*  catchup.c - catch-up rounds over the peers, then the catalog.

    Invariants: journal_done <= journal_rounds; a query or reply waiting
    for round r is answered once journal_done >= r. catalog_pending is
    true only while the JOURNAL a round asked for is out.
*/
#include "catchup.h"
#include "log.h"

#include <czmq.h>

#define SOURCES_MAX 8            //  sources named in a catch-up's log line

struct _catchup_t {
    tradelog_t *log;
    peers_t *peers;
    upstream_t *upstream;
    catchup_append_fn *append;
    void *arg;
    bool running;                //  a round over peers and catalog is running
    bool catalog_next;           //  ... asks the catalog once the peers are done
    bool catalog_pending;        //  ... and its JOURNAL part is not done
    uint64_t journal_rounds;     //  JOURNAL rounds sent (one may take many chunks)
    uint64_t journal_done;       //  the last round the catalog answered in full
    bool journal_again;          //  something came while a JOURNAL was out
    int64_t round_started;
    uint64_t round_from;
    struct {
        uint64_t replica_id;     //  0: the catalog
        uint64_t orders;
    } sources[SOURCES_MAX];      //  who the round's orders came from
    size_t source_count;
};

catchup_t *
catchup_new (tradelog_t *log, peers_t *peers, upstream_t *upstream, catchup_append_fn *append,
             void *arg)
{
    catchup_t *self = calloc (1, sizeof (catchup_t));
    assert (self);
    self->log = log;
    self->peers = peers;
    self->upstream = upstream;
    self->append = append;
    self->arg = arg;
    return self;
}

void
catchup_destroy (catchup_t **self_p)
{
    if (!*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

//  Appends what fits of a TRADES reply from replica_id (0: the catalog)
//  and counts it for the round's log line; returns the new count, or -1
//  if an append failed.
static int64_t
s_append_trades (catchup_t *self, const msg_t *reply, uint64_t replica_id)
{
    uint64_t before = tradelog_count (self->log);
    int rc = 0;
    for (size_t i = 0; i < reply->trade_count && rc == 0; i++)
        if (reply->trades[i].number == tradelog_count (self->log))
            rc = self->append (self->arg, &reply->trades[i]);
    uint64_t added = tradelog_count (self->log) - before;
    size_t i = 0;
    while (i < self->source_count && self->sources[i].replica_id != replica_id)
        i++;
    if (added && i < SOURCES_MAX) {
        if (i == self->source_count)
            self->sources[self->source_count++].replica_id = replica_id;
        self->sources[i].orders += added;
    }
    return rc ? -1 : (int64_t) tradelog_count (self->log);
}

//  "replica 2: 600, the catalog: 3" for the sources counted this round.
static void
s_sources_text (catchup_t *self, char *text, size_t size)
{
    size_t used = 0;
    text[0] = '\0';
    for (size_t i = 0; i < self->source_count && used < size; i++) {
        char name[32] = "the catalog";
        if (self->sources[i].replica_id)
            snprintf (name, sizeof (name), "replica %" PRIu64, self->sources[i].replica_id);
        int len = snprintf (text + used, size - used, "%s%s: %" PRIu64, i ? ", " : "", name,
                            self->sources[i].orders);
        used += len > 0 ? (size_t) len : 0;
    }
}

uint64_t
catchup_journal (catchup_t *self)
{
    uint64_t before = self->journal_rounds;
    if (upstream_journal_busy (self->upstream))
        self->journal_again = true;
    else
    if (upstream_journal (self->upstream, tradelog_count (self->log)) == 0)
        self->journal_rounds++;
    //  One that could not be sent answers nothing: a later one decides.
    return self->journal_rounds > before ? self->journal_rounds : self->journal_rounds + 1;
}

uint64_t
catchup_journals_done (catchup_t *self)
{
    return self->journal_done;
}

void
catchup_start (catchup_t *self, uint64_t only_peer, bool with_catalog)
{
    self->running = true;
    self->round_started = zclock_mono ();
    self->round_from = tradelog_count (self->log);
    self->source_count = 0;
    peers_round_start (self->peers, self->round_from, only_peer);
    self->catalog_next = with_catalog;
    self->catalog_pending = false;
}

bool
catchup_running (catchup_t *self)
{
    return self->running;
}

static void
s_round_done (catchup_t *self)
{
    self->running = false;
    uint64_t count = tradelog_count (self->log);
    int64_t elapsed = zclock_mono () - self->round_started;
    if (count > self->round_from) {
        char sources[256];
        s_sources_text (self, sources, sizeof (sources));
        log_info ("caught up %" PRIu64 " orders [%" PRIu64 ", %" PRIu64 ") in %" PRId64
                  " ms (%.0f orders/s) from %s", count - self->round_from, self->round_from,
                  count, elapsed,
                  (double) (count - self->round_from) * 1000.0 / (elapsed ? elapsed : 1), sources);
    }
}

//  The peers have answered (or timed out): the catalog's journal is the
//  last resort, asked only now, so the commit point serves only what no
//  peer had (with the direct link it would answer first and serve all).
bool
catchup_step (catchup_t *self)
{
    if (!self->running || self->catalog_pending || !peers_round_done (self->peers))
        return false;
    if (self->catalog_next) {
        self->catalog_next = false;
        catchup_journal (self);
        self->catalog_pending = upstream_journal_busy (self->upstream);
    }
    if (self->catalog_pending)
        return false;
    s_round_done (self);
    return true;
}

int64_t
catchup_on_range (catchup_t *self, uint64_t replica_id, const msg_t *reply)
{
    return s_append_trades (self, reply, replica_id);
}

bool
catchup_on_journal (catchup_t *self, const msg_t *reply)
{
    if (!reply || reply->type != MSG_TRADES)
        return false;
    if (reply->number < tradelog_count (self->log))
        log_warn ("the catalog has %" PRIu64 " trades, this log %" PRIu64
                  ": the catalog must heal from the replicas", reply->number,
                  tradelog_count (self->log));
    s_append_trades (self, reply, 0);
    return true;
}

void
catchup_end_journal (catchup_t *self, const msg_t *reply, bool replies_wait)
{
    if (reply && reply->type == MSG_TRADES) {
        uint64_t count = tradelog_count (self->log);
        if (reply->trade_count > 0 && reply->number > count
            && upstream_journal (self->upstream, count) == 0)
            return;
        //  Only a full answer may turn a waiting query into a 404; after a
        //  timeout or a refusal the queries wait for their deadline (503).
        self->journal_done = self->journal_rounds;
    }
    self->catalog_pending = false;
    if (self->journal_again || replies_wait) {
        self->journal_again = false;
        catchup_journal (self);
    }
}
