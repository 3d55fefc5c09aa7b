/*  catchup.h - a replica copies what others hold beyond its log.

    A round asks every peer (or one) by RANGE (peers.h), and then, if
    asked to, the catalog by JOURNAL for what no peer had: the catalog is
    the last resort. The orders go into the log through the caller's
    append function, in number order, and are counted by source for the
    round's "caught up N orders ... from ..." line.

    JOURNAL rounds are numbered: a JOURNAL also goes out outside a round
    (a gap behind a committed trade, a query beyond the log, a new
    leader), and whoever waits for one asks catchup_journals_done which
    rounds the catalog answered in full.
*/
#ifndef BAZAAR_CATCHUP_H
#define BAZAAR_CATCHUP_H

#include "peers.h"
#include "tradelog.h"
#include "upstream.h"

typedef struct _catchup_t catchup_t;

//  Append trade, the next number in the log. Returns 0, or -1 to stop
//  (the log cannot be written).
typedef int (catchup_append_fn) (void *arg, const msg_trade_t *trade);

//  Catch up log (not owned) from peers and upstream (not owned) through
//  append.
catchup_t *catchup_new (tradelog_t *log, peers_t *peers, upstream_t *upstream,
                        catchup_append_fn *append, void *arg);

void catchup_destroy (catchup_t **self_p);

//  Start a round from the log's count: only_peer by RANGE, or every peer
//  if 0; then, with_catalog, the catalog by JOURNAL.
void catchup_start (catchup_t *self, uint64_t only_peer, bool with_catalog);

//  True while a round runs.
bool catchup_running (catchup_t *self);

//  The loop calls this every turn: asks the catalog once the peers are
//  done, and ends the round when the catalog is done too (logging what
//  it copied). Returns true when a round has just ended.
bool catchup_step (catchup_t *self);

//  Ask the catalog for what it holds beyond the log. A JOURNAL already
//  out may predate what the caller needs: then another follows it.
//  Returns the round whose end answers the caller (catchup_journals_done).
uint64_t catchup_journal (catchup_t *self);

//  The last JOURNAL round the catalog answered in full.
uint64_t catchup_journals_done (catchup_t *self);

//  A RANGE reply from replica_id: appends what fits. Returns the log's
//  count, or -1 if an append failed (peers_trades_fn).
int64_t catchup_on_range (catchup_t *self, uint64_t replica_id, const msg_t *reply);

//  A JOURNAL reply (NULL: it timed out): appends what fits. Returns true
//  if it carried trades (the caller may release what waited for them
//  before catchup_end_journal).
bool catchup_on_journal (catchup_t *self, const msg_t *reply);

//  After catchup_on_journal: asks for the next chunk, or ends the JOURNAL
//  round; another follows if one was wanted meanwhile or if replies_wait
//  (replies held for numbers beyond the log).
void catchup_end_journal (catchup_t *self, const msg_t *reply, bool replies_wait);

#endif
