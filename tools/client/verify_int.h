/*  verify_int.h - what the two halves of bazaar-client verify share.

    Private to verify.c, verify_files.c and verify_live.c; the public
    interface is verify.h. verify.c runs the rounds and keeps the report;
    verify_files.c fills a verify_t with what the files say (the stocks
    from catalog.stocks with their quantities after catalog.journal, the
    journal's trades, the order logs) and checks them against each other;
    verify_live.c then compares the live system with that over HTTP.
    Both report through verify_say, so a round's report, its problem
    count and its verdict (lag or hard) live in one place.

    Invariants during a round: stocks is sorted by name (verify_find_stock
    searches it); trades holds one entry per catalog.journal record, in
    order; a trade's stock is VERIFY_NO_STOCK when its record was already
    reported as a problem, and the live checks skip those.
*/
#ifndef BAZAAR_VERIFY_INT_H
#define BAZAAR_VERIFY_INT_H

#include "http_conn.h"
#include "msgs.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VERIFY_NO_STOCK UINT32_MAX

//  What a line of the report says: fine, lag (--wait may heal it), or a
//  hard problem (the round is final).
typedef enum { V_OK, V_LAG, V_HARD } v_kind_t;

typedef struct {
    char name[MSG_NAME_MAX + 1];
    double price;
    uint64_t initial;
    uint64_t quantity;       //  initial - buys + sells over the journal
} v_stock_t;

typedef struct {
    uint64_t number;
    uint64_t quantity;
    uint64_t end;            //  offset just past its record in catalog.journal
    uint32_t stock;          //  index into stocks, VERIFY_NO_STOCK if none
    uint8_t side;
} v_trade_t;

//  One order-N.log as read; defined in verify_files.c, which alone reads them.
typedef struct _v_log_t v_log_t;

typedef struct {
    //  Options
    char dir[PATH_MAX];
    bool live;
    http_url_t url;
    int64_t timeout_ms;
    double wait_s;
    //  One round: everything from here on is zeroed by each new round
    v_stock_t *stocks;
    size_t stock_count;
    v_trade_t *trades;
    size_t trade_count, trade_size;
    unsigned char *journal;  //  catalog.journal's whole records
    size_t journal_used, journal_size;
    v_log_t *logs;
    size_t log_count;
    char *out;               //  the round's report
    size_t out_used, out_size;
    uint64_t problems;
    uint64_t hard;
    bool limited;            //  in a check that prints at most VERIFY_SHOWN_MAX
    uint64_t shown;          //  problems that check counted
    bool unreachable;        //  a request failed: no more requests this round
} verify_t;

//  ---------------------------------------------------------------------
//  verify.c


//  Adds one line (format, no newline) to the round's report. A problem
//  (kind V_LAG or V_HARD) is counted, and printed unless a limited check
//  printed VERIFY_SHOWN_MAX already.
void verify_say (verify_t *self, v_kind_t kind, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

//  Starts a check that prints at most VERIFY_SHOWN_MAX problems.
void verify_check_start (verify_t *self);

//  Ends it: says how many problems check counted but did not print.
void verify_check_done (verify_t *self, const char *check);

//  ---------------------------------------------------------------------
//  verify_files.c

//  Read the data directory's files into self (stocks, trades, journal,
//  logs) and report on each and on how the logs agree with the journal.
void verify_read_files (verify_t *self);

//  Free what verify_read_files kept (the caller zeroes the round after).
void verify_files_free (verify_t *self);

//  Returns the index in self->stocks of the stock called name, or
//  VERIFY_NO_STOCK.
uint32_t verify_find_stock (verify_t *self, const char *name);

//  ---------------------------------------------------------------------
//  verify_live.c: each check adds its lines with verify_say. After a
//  request fails, self->unreachable is set and later requests of the
//  round are not made. conn stays the caller's.

//  GET /stocks: every stock of catalog.stocks once, its quantity the
//  journal's, its price catalog.stocks'.
void verify_check_stocks_live (verify_t *self, http_conn_t *conn);

//  GET /orders/<n> for a sample of the journal's trades (at most
//  VERIFY_SAMPLES_MAX, the last one included) equal to their records, and
//  GET /orders/<trade_count> a 404.
void verify_check_orders_live (verify_t *self, http_conn_t *conn);

#endif
