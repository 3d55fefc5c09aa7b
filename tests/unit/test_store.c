/*  test_store.c - src/store.c: the stocks and the log of trades they
    follow, as a catalog keeps them (catalog.journal, store_restore) and
    as an order replica keeps them (order-N.log with stamps, held as runs:
    store_check, store_append_entry, store_truncate).
*/
#include "journal.h"
#include "store.h"
#include "unit.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char dir[64];  //  removed with everything in it by the teardown
    char data[96]; //  the store's data directory, inside dir
    char error[256];
} s_tmp_t;

static int
s_setup (void **state)
{
    s_tmp_t *tmp = calloc (1, sizeof (s_tmp_t));
    if (!tmp)
        return -1;
    strcpy (tmp->dir, "/tmp/bazaar-store-XXXXXX");
    if (!mkdtemp (tmp->dir)) {
        free (tmp);
        return -1;
    }
    snprintf (tmp->data, sizeof (tmp->data), "%s/data", tmp->dir);
    *state = tmp;
    return 0;
}

static int
s_remove (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove (path);
}

static int
s_teardown (void **state)
{
    s_tmp_t *tmp = *state;
    int rc = nftw (tmp->dir, s_remove, 8, FTW_DEPTH | FTW_PHYS);
    free (tmp);
    return rc;
}

static store_t *
s_open (s_tmp_t *tmp, const char *stocks_file)
{
    tmp->error[0] = '\0';
    store_t *store = store_open (tmp->data, stocks_file, true, NULL, tmp->error, sizeof (tmp->error));
    if (!store)
        fail_msg ("store_open: %s", tmp->error);
    return store;
}

//  Opens, expecting a refusal whose reason contains reason; what names
//  the case in a failure.
static void
s_open_fails (s_tmp_t *tmp, const char *stocks_file, const char *reason, const char *what)
{
    tmp->error[0] = '\0';
    store_t *store = store_open (tmp->data, stocks_file, true, NULL, tmp->error, sizeof (tmp->error));
    if (store)
        fail_msg ("store_open should have failed with '%s' (%s)", reason, what);
    if (!strstr (tmp->error, reason))
        fail_msg ("store_open error '%s' does not say '%s'", tmp->error, reason);
}

static void
s_expect_stock (store_t *store, const char *name, uint64_t quantity, uint64_t version)
{
    const store_stock_t *stock = store_lookup (store, name);
    if (!stock)
        fail_msg ("no stock '%s'", name);
    assert_int_equal (stock->quantity, quantity);
    assert_int_equal (stock->version, version);
}

//  A committed trade as the next number; returns what store_restore says.
static msg_error_t
s_try_keyed (store_t *store, const char *name, int side, uint64_t quantity, const char *key)
{
    msg_trade_t trade = {.number = store_trade_count (store), .side = (uint8_t) side,
                         .quantity = quantity};
    snprintf (trade.name, sizeof (trade.name), "%s", name);
    snprintf (trade.key, sizeof (trade.key), "%s", key);
    msg_error_t rc = store_restore (store, &trade);
    assert_int_equal (store_trade_count (store), trade.number + (rc == MSG_ERR_OK));
    return rc;
}

//  Applies a trade that must succeed as number.
static void
s_trade (store_t *store, const char *name, int side, uint64_t quantity, const char *key,
         uint64_t number)
{
    assert_int_equal (store_trade_count (store), number);
    assert_int_equal (s_try_keyed (store, name, side, quantity, key), MSG_ERR_OK);
    const store_stock_t *stock = store_lookup (store, name);
    assert_non_null (stock);
    assert_int_equal (stock->version, number + 1);
}

static msg_error_t
s_try (store_t *store, const char *name, int side, uint64_t quantity)
{
    return s_try_keyed (store, name, side, quantity, "");
}

static void
s_write_file (const char *path, const char *text)
{
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    fputs (text, file);
    assert_int_equal (fclose (file), 0);
}

//  ---------------------------------------------------------------------

static void
test_store_initial_catalog (void **state)
{
    s_tmp_t *tmp = *state;
    store_t *store = s_open (tmp, NULL);
    const char *names[] = {"apple", "tesla", "ford", "amazon", "nvidia",
                           "intel", "meta",  "nike", "amc",    "gamestop"};
    const double prices[] = {152.59, 183.26, 11.93,  94.88, 240.63,
                             28.01,  194.02, 126.13, 4.78,  20.00};
    for (size_t i = 0; i < 10; i++) {
        s_expect_stock (store, names[i], 1000, 0);
        assert_true (store_lookup (store, names[i])->price == prices[i]);
    }
    assert_null (store_lookup (store, "Apple"));
    assert_null (store_lookup (store, "appl"));
    assert_int_equal (store_trade_count (store), 0);

    msg_t list;
    msg_init (&list, MSG_STOCKS);
    assert_int_equal (store_list (store, &list), 0);
    assert_int_equal (list.stock_count, 10);
    assert_string_equal (list.stocks[0].name, "amazon");
    assert_string_equal (list.stocks[9].name, "tesla");
    for (size_t i = 1; i < list.stock_count; i++)
        assert_true (strcmp (list.stocks[i - 1].name, list.stocks[i].name) < 0);
    msg_reset (&list);
    store_destroy (&store);
    assert_null (store);
}

static void
test_store_trades_survive_restart (void **state)
{
    s_tmp_t *tmp = *state;
    store_t *store = s_open (tmp, NULL);
    s_trade (store, "apple", MSG_SIDE_BUY, 10, "", 0);
    s_trade (store, "tesla", MSG_SIDE_SELL, 5, "", 1);
    s_trade (store, "apple", MSG_SIDE_BUY, 990, "", 2); //  all of it
    s_expect_stock (store, "apple", 0, 3);
    s_expect_stock (store, "tesla", 1005, 2);
    assert_int_equal (store_sync (store), 0);
    store_destroy (&store);

    store = s_open (tmp, NULL);
    s_expect_stock (store, "apple", 0, 3);
    s_expect_stock (store, "tesla", 1005, 2);
    s_expect_stock (store, "ford", 1000, 0);
    assert_int_equal (store_trade_count (store), 3);
    msg_trade_t trade;
    assert_int_equal (store_trade (store, 1, &trade), 0);
    assert_int_equal (trade.number, 1);
    assert_string_equal (trade.name, "tesla");
    assert_int_equal (trade.side, MSG_SIDE_SELL);
    assert_int_equal (trade.quantity, 5);
    assert_int_equal (store_trade (store, 3, &trade), -1);
    s_trade (store, "ford", MSG_SIDE_BUY, 1, "", 3); //  numbers go on
    store_destroy (&store);
}

static void
test_store_refusals_change_nothing (void **state)
{
    s_tmp_t *tmp = *state;
    store_t *store = s_open (tmp, NULL);
    assert_int_equal (s_try (store, "apple", MSG_SIDE_BUY, 1001), MSG_ERR_NOT_ENOUGH);
    assert_int_equal (s_try (store, "pear", MSG_SIDE_BUY, 1), MSG_ERR_STOCK_NOT_FOUND);
    assert_int_equal (s_try (store, "apple", MSG_SIDE_BUY, 0), MSG_ERR_INVALID_QUANTITY);
    assert_int_equal (s_try (store, "apple", MSG_SIDE_SELL, MSG_QUANTITY_MAX + 1),
                      MSG_ERR_INVALID_QUANTITY);
    s_expect_stock (store, "apple", 1000, 0);
    assert_int_equal (store_trade_count (store), 0);
    s_trade (store, "apple", MSG_SIDE_SELL, MSG_QUANTITY_MAX, "", 0);
    s_expect_stock (store, "apple", 1000 + MSG_QUANTITY_MAX, 1);
    store_destroy (&store);
}

//  Keys stay with their trades (the leader deduplicates by them:
//  services/order/replica.c): found once appended, and after a replay.
static void
test_store_keys_are_replayed (void **state)
{
    s_tmp_t *tmp = *state;
    store_t *store = s_open (tmp, NULL);
    s_trade (store, "apple", MSG_SIDE_BUY, 10, "retry-1", 0);
    s_trade (store, "nike", MSG_SIDE_BUY, 10, "", 1);
    s_trade (store, "apple", MSG_SIDE_BUY, 10, "retry-2", 2);
    assert_int_equal (tradelog_find_key (store_log (store), "retry-1"), 0);
    assert_int_equal (tradelog_find_key (store_log (store), "retry-2"), 2);
    assert_int_equal (tradelog_find_key (store_log (store), "retry-3"), -1);
    assert_int_equal (store_sync (store), 0);
    store_destroy (&store);

    store = s_open (tmp, NULL);
    assert_int_equal (tradelog_find_key (store_log (store), "retry-1"), 0);
    assert_int_equal (tradelog_find_key (store_log (store), "retry-2"), 2);
    s_expect_stock (store, "apple", 980, 3);
    store_destroy (&store);
}

static void
test_store_unsynced_trades_are_not_kept (void **state)
{
    s_tmp_t *tmp = *state;
    store_t *store = s_open (tmp, NULL);
    s_trade (store, "amc", MSG_SIDE_BUY, 1, "", 0);
    assert_int_equal (store_sync (store), 0);
    s_trade (store, "amc", MSG_SIDE_BUY, 2, "", 1); //  never synced
    store_destroy (&store);
    store = s_open (tmp, NULL);
    s_expect_stock (store, "amc", 999, 1);
    assert_int_equal (store_trade_count (store), 1);
    store_destroy (&store);
}

//  A torn last record loses that trade and no more; quantities still
//  equal the initial list replayed with the surviving trades.
static void
test_store_torn_journal (void **state)
{
    s_tmp_t *tmp = *state;
    store_t *store = s_open (tmp, NULL);
    s_trade (store, "meta", MSG_SIDE_BUY, 1, "", 0);
    s_trade (store, "meta", MSG_SIDE_BUY, 2, "", 1);
    s_trade (store, "meta", MSG_SIDE_BUY, 4, "", 2);
    assert_int_equal (store_sync (store), 0);
    store_destroy (&store);
    char path[160];
    snprintf (path, sizeof (path), "%s/catalog.journal", tmp->data);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (truncate (path, st.st_size - 1), 0);
    store = s_open (tmp, NULL);
    s_expect_stock (store, "meta", 997, 2);
    assert_int_equal (store_trade_count (store), 2);
    s_trade (store, "meta", MSG_SIDE_SELL, 3, "", 2);
    store_destroy (&store);
}

//  A stocks file cut inside its records (written whole and renamed into
//  place: damage, not a crash) is refused and left as it is; cutting it
//  lost stocks that the trade log and the other processes still hold.
static void
test_store_refuses_a_cut_stocks_file (void **state)
{
    s_tmp_t *tmp = *state;
    store_t *store = s_open (tmp, NULL);
    store_destroy (&store);
    char path[160];
    snprintf (path, sizeof (path), "%s/catalog.stocks", tmp->data);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (truncate (path, st.st_size / 2), 0);
    s_open_fails (tmp, NULL, "catalog.stocks is damaged (a cut or bad record, after ", "cut");
    struct stat after;
    assert_int_equal (stat (path, &after), 0);
    assert_int_equal (after.st_size, st.st_size / 2);
}

//  Appends one TRADEREC to the store's journal.
static void
s_journal_trade (s_tmp_t *tmp, uint64_t number, const char *name)
{
    char path[160];
    snprintf (path, sizeof (path), "%s/catalog.journal", tmp->data);
    journal_t *journal = journal_open (path, true, NULL, NULL);
    assert_non_null (journal);
    msg_t record;
    msg_init (&record, MSG_TRADEREC);
    record.number = number;
    snprintf (record.name, sizeof (record.name), "%s", name);
    record.quantity = 1;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    assert_int_equal (msg_encode (&record, &buffer), 0);
    assert_int_equal (journal_append (journal, buffer.data, buffer.size), 0);
    assert_int_equal (journal_sync (journal), 0);
    journal_destroy (&journal);
    msgpack_sbuffer_destroy (&buffer);
}

static void
test_store_refuses_a_journal_that_does_not_apply (void **state)
{
    s_tmp_t *tmp = *state;
    store_t *store = s_open (tmp, NULL);
    store_destroy (&store);
    s_journal_trade (tmp, 0, "apple");
    s_journal_trade (tmp, 5, "apple"); //  a gap
    s_open_fails (tmp, NULL, "record 1 out of order: refusing to start", "a gap");
    char path[160];
    snprintf (path, sizeof (path), "%s/catalog.journal", tmp->data);
    assert_int_equal (unlink (path), 0);
    s_journal_trade (tmp, 0, "pear"); //  unknown stock
    s_open_fails (tmp, NULL, "record 0 does not apply", "unknown stock");
    assert_int_equal (unlink (path), 0);
    s_journal_trade (tmp, 0, "apple");
    s_journal_trade (tmp, 1, "tesla");
    s_journal_trade (tmp, 2, "apple");
    s_journal_trade (tmp, 3, "pear"); //  unknown, after known ones
    s_open_fails (tmp, NULL, "record 3 does not apply", "unknown stock later");
}

//  store_restore appends a trade the replicas committed: the next number,
//  a stock that exists, a quantity that applies, whatever its key (the
//  leader may have forgotten it); a refusal changes nothing. A restored
//  trade is replayed like any other.
static void
test_store_restore (void **state)
{
    s_tmp_t *tmp = *state;
    store_t *store = s_open (tmp, NULL);
    s_trade (store, "amc", MSG_SIDE_BUY, 5, "first", 0);
    msg_trade_t trade = {.number = 1, .side = MSG_SIDE_BUY, .quantity = 7};
    snprintf (trade.name, sizeof (trade.name), "amc");
    snprintf (trade.key, sizeof (trade.key), "healed");

    msg_trade_t bad = trade;
    bad.number = 2;
    assert_int_equal (store_restore (store, &bad), MSG_ERR_MALFORMED);
    bad.number = 0;
    assert_int_equal (store_restore (store, &bad), MSG_ERR_MALFORMED);
    bad = trade;
    snprintf (bad.name, sizeof (bad.name), "pear");
    assert_int_equal (store_restore (store, &bad), MSG_ERR_STOCK_NOT_FOUND);
    bad = trade;
    bad.quantity = 996;
    assert_int_equal (store_restore (store, &bad), MSG_ERR_NOT_ENOUGH);
    bad.quantity = 0;
    assert_int_equal (store_restore (store, &bad), MSG_ERR_INVALID_QUANTITY);
    assert_int_equal (store_trade_count (store), 1);
    s_expect_stock (store, "amc", 995, 1);

    assert_int_equal (store_restore (store, &trade), MSG_ERR_OK);
    s_expect_stock (store, "amc", 988, 2);
    assert_int_equal (store_trade_count (store), 2);
    assert_int_equal (tradelog_find_key (store_log (store), "healed"), 1);
    msg_trade_t again = trade;                          //  a key the leader forgot
    again.number = 2;
    snprintf (again.key, sizeof (again.key), "first");
    assert_int_equal (store_restore (store, &again), MSG_ERR_OK);
    s_expect_stock (store, "amc", 981, 3);
    assert_int_equal (store_sync (store), 0);
    store_destroy (&store);

    store = s_open (tmp, NULL);
    s_expect_stock (store, "amc", 981, 3);
    msg_trade_t got;
    assert_int_equal (store_trade (store, 1, &got), 0);
    assert_string_equal (got.key, "healed");
    assert_int_equal (got.quantity, 7);
    store_destroy (&store);
}

static void
test_store_trades_range (void **state)
{
    s_tmp_t *tmp = *state;
    store_t *store = s_open (tmp, NULL);
    for (uint64_t i = 0; i < 5; i++)
        s_trade (store, "intel", MSG_SIDE_BUY, 1 + i, i == 3 ? "k3" : "", i);
    msg_t msg;
    msg_init (&msg, MSG_TRADES);
    tradelog_range (store_log (store), 1, store_trade_count (store), 3, &msg);
    assert_int_equal (msg.trade_count, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal (msg.trades[i].number, 1 + i);
        assert_int_equal (msg.trades[i].quantity, 2 + i);
        assert_string_equal (msg.trades[i].name, "intel");
    }
    assert_string_equal (msg.trades[2].key, "k3");
    msg_reset (&msg);
    msg_init (&msg, MSG_TRADES);
    tradelog_range (store_log (store), 4, store_trade_count (store), 100, &msg);
    assert_int_equal (msg.trade_count, 1);
    msg_reset (&msg);
    msg_init (&msg, MSG_TRADES);
    //  A replica answers below its commit position, not its log's end.
    tradelog_range (store_log (store), 1, 3, 100, &msg);
    assert_int_equal (msg.trade_count, 2);
    assert_int_equal (msg.trades[1].number, 2);
    msg_reset (&msg);
    msg_init (&msg, MSG_TRADES);
    tradelog_range (store_log (store), 5, store_trade_count (store), 100, &msg);
    assert_int_equal (msg.trade_count, 0);
    tradelog_range (store_log (store), UINT64_MAX, store_trade_count (store), 100, &msg);
    assert_int_equal (msg.trade_count, 0);
    msg_reset (&msg);
    store_destroy (&store);
}

static void
test_store_stocks_file (void **state)
{
    s_tmp_t *tmp = *state;
    char path[160];
    snprintf (path, sizeof (path), "%s/stocks.txt", tmp->dir);
    s_write_file (path, "# name price [quantity]\n"
                        "zeta 1.50 10\n"
                        "\n"
                        "alpha 2   # default quantity\n");
    store_t *store = s_open (tmp, path);
    s_expect_stock (store, "zeta", 10, 0);
    s_expect_stock (store, "alpha", 1000, 0);
    assert_null (store_lookup (store, "apple"));
    store_destroy (&store);
    unlink (path); //  written once: not needed again
    store = s_open (tmp, NULL);
    s_expect_stock (store, "zeta", 10, 0);
    assert_null (store_lookup (store, "apple"));
    store_destroy (&store);
}

static void
test_store_bad_stocks_files (void **state)
{
    s_tmp_t *tmp = *state;
    char path[160];
    snprintf (path, sizeof (path), "%s/stocks.txt", tmp->dir);
    const struct {
        const char *text;
        const char *reason;
    } cases[] = {
        {"apple 1.0\napple 2.0\n", "stocks.txt: duplicate stock name apple at line 2"},
        {"apple\n", "stocks.txt:1"},                //  no price
        {"apple -1\n", "stocks.txt:1"},
        {"apple 1 -5\n", "stocks.txt:1"},
        {"# only a comment\n", "lists no stocks"},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        //  A fresh data directory each time: a store that wrongly opened
        //  has written catalog.stocks and would not read the file again.
        snprintf (tmp->data, sizeof (tmp->data), "%s/data-%zu", tmp->dir, i);
        s_write_file (path, cases[i].text);
        s_open_fails (tmp, path, cases[i].reason, cases[i].text);
    }
    s_open_fails (tmp, "/nonexistent/stocks.txt", "cannot read /nonexistent/stocks.txt",
                  "missing file");
}

//  BUG (reported): sscanf reads "nan" and "inf" as prices and "nan < 0"
//  is false, so the stock is stored; its price then breaks JSON output,
//  and once msg_decode refuses non-finite prices, catalog.stocks too.
static void
test_store_refuses_non_finite_price (void **state)
{
    s_tmp_t *tmp = *state;
    char path[160];
    snprintf (path, sizeof (path), "%s/stocks.txt", tmp->dir);
    const char *texts[] = {"apple nan\n", "apple inf\n", "apple -inf\n"};
    for (size_t i = 0; i < 3; i++) {
        snprintf (tmp->data, sizeof (tmp->data), "%s/data-%zu", tmp->dir, i);
        s_write_file (path, texts[i]);
        s_open_fails (tmp, path, "stocks.txt:1", texts[i]);
    }
}

static store_t *
s_open_replica (s_tmp_t *tmp)
{
    store_config_t config = {.dir = tmp->data, .name = "order-1", .log_suffix = "log",
                             .stamped = true, .sync = true};
    tmp->error[0] = '\0';
    store_t *store = store_open_config (&config, tmp->error, sizeof (tmp->error));
    if (!store)
        fail_msg ("store_open_config: %s", tmp->error);
    return store;
}

static void
s_entry (store_t *store, const char *name, int side, uint64_t quantity, const char *key,
         uint64_t stamp, uint64_t commit)
{
    msg_trade_t trade = {.number = store_trade_count (store), .side = side,
                         .quantity = quantity};
    snprintf (trade.name, sizeof (trade.name), "%s", name);
    snprintf (trade.key, sizeof (trade.key), "%s", key);
    assert_int_equal (store_append_entry (store, &trade, stamp, commit), 0);
}

//  An order replica's store: entries carry their stamps, a cut replays
//  the stocks from what is left, and both survive a restart.
static void
test_store_replica_entries_and_cut (void **state)
{
    s_tmp_t *tmp = *state;
    store_t *store = s_open_replica (tmp);
    const store_stock_t *stock = NULL;
    assert_int_equal (store_check (store, "apple", MSG_SIDE_BUY, 1001, &stock),
                      MSG_ERR_NOT_ENOUGH);
    assert_non_null (stock);
    assert_int_equal (store_check (store, "pear", MSG_SIDE_BUY, 1, &stock),
                      MSG_ERR_STOCK_NOT_FOUND);
    assert_int_equal (store_check (store, "apple", MSG_SIDE_BUY, 0, &stock),
                      MSG_ERR_INVALID_QUANTITY);
    assert_int_equal (store_check (store, "apple", MSG_SIDE_BUY, 1000, &stock), MSG_ERR_OK);
    assert_int_equal (store_trade_count (store), 0);  //  checks change nothing
    s_entry (store, "apple", MSG_SIDE_BUY, 10, "k0", 3, 0);
    s_entry (store, "tesla", MSG_SIDE_SELL, 5, "k1", 3, 1);
    s_entry (store, "apple", MSG_SIDE_BUY, 7, "k2", 5, 2);
    s_expect_stock (store, "apple", 983, 3);
    s_expect_stock (store, "tesla", 1005, 2);
    tradelog_t *log = store_log (store);
    assert_int_equal (tradelog_stamp (log, 1), 3);
    assert_int_equal (tradelog_stamp (log, 2), 5);
    assert_int_equal (tradelog_find_key (log, "k2"), 2);
    //  A trade that does not apply is not appended.
    msg_trade_t too_big = {.number = 3, .side = MSG_SIDE_BUY, .quantity = 984};
    strcpy (too_big.name, "apple");
    assert_int_equal (store_append_entry (store, &too_big, 5, 2), -1);
    assert_int_equal (store_trade_count (store), 3);
    assert_int_equal (store_sync (store), 0);

    //  Cut the uncommitted tail: entry 2 goes, apple is replayed.
    assert_int_equal (store_truncate (store, 2), 0);
    assert_int_equal (store_trade_count (store), 2);
    s_expect_stock (store, "apple", 990, 1);
    s_expect_stock (store, "tesla", 1005, 2);
    assert_int_equal (tradelog_find_key (log, "k2"), -1);
    s_entry (store, "ford", MSG_SIDE_BUY, 1, "k3", 7, 2);   //  its replacement
    assert_int_equal (store_sync (store), 0);
    store_destroy (&store);

    store = s_open_replica (tmp);
    log = store_log (store);
    assert_int_equal (store_trade_count (store), 3);
    s_expect_stock (store, "apple", 990, 1);
    s_expect_stock (store, "ford", 999, 3);
    assert_int_equal (tradelog_stamp (log, 0), 3);
    assert_int_equal (tradelog_stamp (log, 2), 7);
    assert_int_equal (tradelog_carried_commit (log), 2);
    msg_trade_t trade;
    assert_int_equal (store_trade (store, 2, &trade), 0);
    assert_string_equal (trade.name, "ford");
    assert_string_equal (trade.key, "k3");
    store_destroy (&store);
}

//  The replica's log holds stamps as runs (stamps.h): expected[0 ..
//  count) are its stamps, in runs runs, whichever way they are read.
static void
s_expect_stamps (tradelog_t *log, const uint64_t *expected, uint64_t count, size_t runs)
{
    const stamps_t *stamps = tradelog_stamps (log);
    assert_non_null (stamps);
    assert_int_equal (tradelog_count (log), count);
    assert_int_equal (stamps_length (stamps), count);
    assert_int_equal (stamps_runs (stamps), runs);
    for (uint64_t i = 0; i < count; i++) {
        if (tradelog_stamp (log, i) != expected[i] || stamps_get (stamps, i) != expected[i])
            fail_msg ("entry %llu: stamp %llu, expected %llu", (unsigned long long) i,
                      (unsigned long long) tradelog_stamp (log, i),
                      (unsigned long long) expected[i]);
    }
    assert_int_equal (tradelog_stamp (log, count), 0); //  past the end: none
}

//  Appends count entries (1 apple each, no key) stamped stamp, then syncs.
static void
s_entries (store_t *store, uint64_t stamp, uint64_t count)
{
    for (uint64_t i = 0; i < count; i++)
        s_entry (store, "apple", MSG_SIDE_BUY, 1, "", stamp, store_trade_count (store));
    assert_int_equal (store_sync (store), 0);
}

//  Three epochs' stamps, a cut inside a run and one at its boundary, a
//  re-stamped tail, then a restart: the runs are exactly the stamps,
//  and appends after the replay extend its last run.
static void
test_store_replica_stamps_as_runs (void **state)
{
    s_tmp_t *tmp = *state;
    store_t *store = s_open_replica (tmp);
    tradelog_t *log = store_log (store);
    s_expect_stamps (log, NULL, 0, 0);
    s_entries (store, 3, 4); //  0..3: proposed under epoch 1
    s_entries (store, 4, 2); //  4..5: recovered by epoch 2
    s_entries (store, 5, 3); //  6..8: proposed under epoch 2
    uint64_t three_epochs[] = {3, 3, 3, 3, 4, 4, 5, 5, 5};
    s_expect_stamps (log, three_epochs, 9, 3);

    assert_int_equal (store_truncate (store, 5), 0); //  inside epoch 2's recovered run
    s_expect_stamps (log, three_epochs, 5, 2);
    assert_int_equal (store_sync (store), 0);
    assert_int_equal (store_truncate (store, 4), 0); //  at its first entry: the run goes
    s_expect_stamps (log, three_epochs, 4, 1);
    assert_int_equal (store_sync (store), 0);
    s_entries (store, 3, 1); //  the same stamp again extends the run
    s_entries (store, 6, 2); //  5..6: re-stamped by epoch 3
    s_entries (store, 7, 2); //  7..8: proposed under epoch 3
    uint64_t restamped[] = {3, 3, 3, 3, 3, 6, 6, 7, 7, 7, 7};
    s_expect_stamps (log, restamped, 9, 3);
    store_destroy (&store);

    store = s_open_replica (tmp); //  the replay rebuilds the same runs
    log = store_log (store);
    s_expect_stamps (log, restamped, 9, 3);
    assert_int_equal (tradelog_carried_commit (log), 8);
    s_entries (store, 7, 2);
    s_expect_stamps (log, restamped, 11, 3);
    assert_int_equal (store_truncate (store, 0), 0);
    s_expect_stamps (log, NULL, 0, 0);
    assert_int_equal (store_sync (store), 0);
    store_destroy (&store);
}

//  A new leader re-stamps its tail: it cuts entries that may have
//  committed and writes the same ones again with its stamp. A crash
//  before the sync (here: the store closed without one) must leave the
//  old entries, not a log without them (journal.h: a cut is durable
//  with the records after it).
static void
test_store_replica_restamp_interrupted_keeps_the_entries (void **state)
{
    s_tmp_t *tmp = *state;
    store_t *store = s_open_replica (tmp);
    s_entries (store, 3, 10);
    assert_int_equal (store_truncate (store, 7), 0);
    for (int i = 0; i < 3; i++)
        s_entry (store, "apple", MSG_SIDE_BUY, 1, "", 4, 7);
    store_destroy (&store);

    store = s_open_replica (tmp);
    uint64_t old[10] = {3, 3, 3, 3, 3, 3, 3, 3, 3, 3};
    s_expect_stamps (store_log (store), old, 10, 1);
    s_expect_stock (store, "apple", 990, 10);
    assert_int_equal (store_truncate (store, 7), 0);
    for (int i = 0; i < 3; i++)
        s_entry (store, "apple", MSG_SIDE_BUY, 1, "", 4, 7);
    assert_int_equal (store_sync (store), 0);
    store_destroy (&store);

    store = s_open_replica (tmp);
    uint64_t restamped[10] = {3, 3, 3, 3, 3, 3, 3, 4, 4, 4};
    s_expect_stamps (store_log (store), restamped, 10, 2);
    store_destroy (&store);
}

int
test_store_run (void)
{
#define STORE_TEST(name) cmocka_unit_test_setup_teardown (name, s_setup, s_teardown)
    const struct CMUnitTest tests[] = {
        STORE_TEST (test_store_initial_catalog),
        STORE_TEST (test_store_trades_survive_restart),
        STORE_TEST (test_store_refusals_change_nothing),
        STORE_TEST (test_store_keys_are_replayed),
        STORE_TEST (test_store_unsynced_trades_are_not_kept),
        STORE_TEST (test_store_torn_journal),
        STORE_TEST (test_store_refuses_a_cut_stocks_file),
        STORE_TEST (test_store_refuses_a_journal_that_does_not_apply),
        STORE_TEST (test_store_restore),
        STORE_TEST (test_store_trades_range),
        STORE_TEST (test_store_stocks_file),
        STORE_TEST (test_store_bad_stocks_files),
        STORE_TEST (test_store_refuses_non_finite_price),
        STORE_TEST (test_store_replica_entries_and_cut),
        STORE_TEST (test_store_replica_stamps_as_runs),
        STORE_TEST (test_store_replica_restamp_interrupted_keeps_the_entries),
    };
#undef STORE_TEST
    return cmocka_run_group_tests_name ("store", tests, NULL, NULL);
}
