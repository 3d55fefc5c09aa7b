/*  test_msgs_lists.c - msg_decode of the STOCKS and TRADES lists: every
    item is checked for width, element types and ranges, and a bad item
    after good ones (whose list is already allocated) leaks nothing.
*/
#include "fixtures.h"
#include "unit.h"

#include <string.h>

//  Packs a STOCKS or TRADES message whose list holds good items around
//  one bad item (given as a callback), so the bad one is found after an
//  allocation.
typedef void (s_item_fn) (msgpack_packer *pk);

static void
s_pack_good_stock (msgpack_packer *pk)
{
    msgpack_pack_array (pk, 4);
    msgpack_pack_str_with_body (pk, "apple", 5);
    msgpack_pack_double (pk, 152.59);
    msgpack_pack_uint64 (pk, 1000);
    msgpack_pack_uint64 (pk, 1);
}

static void
s_pack_good_trade (msgpack_packer *pk)
{
    msgpack_pack_array (pk, 5);
    msgpack_pack_uint64 (pk, 0);
    msgpack_pack_str_with_body (pk, "apple", 5);
    msgpack_pack_uint8 (pk, MSG_SIDE_BUY);
    msgpack_pack_uint64 (pk, 10);
    msgpack_pack_str_with_body (pk, "", 0);
}

static void
s_expect_list (int type, s_item_fn *bad_item, int expected, const char *what)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    s_item_fn *good_item = type == MSG_STOCKS ? s_pack_good_stock : s_pack_good_trade;
    //  STOCKS is [v, type, req_id, list]; TRADES has the catalog's trade
    //  count before its list.
    msgpack_pack_array (&pk, type == MSG_STOCKS ? 4 : 5);
    msgpack_pack_uint8 (&pk, MSG_VERSION);
    msgpack_pack_uint8 (&pk, (uint8_t)type);
    msgpack_pack_uint64 (&pk, 1);
    if (type == MSG_TRADES)
        msgpack_pack_uint64 (&pk, 3);
    msgpack_pack_array (&pk, 3);
    good_item (&pk);
    (bad_item ? bad_item : good_item) (&pk);
    good_item (&pk);
    fx_expect_decode (buffer.data, buffer.size, expected, what);
    msgpack_sbuffer_destroy (&buffer);
}

static void
s_stock_width_3 (msgpack_packer *pk)
{
    msgpack_pack_array (pk, 3);
    msgpack_pack_str_with_body (pk, "apple", 5);
    msgpack_pack_double (pk, 1.0);
    msgpack_pack_uint64 (pk, 1);
}

static void
s_not_an_array (msgpack_packer *pk)
{
    msgpack_pack_uint64 (pk, 1);
}

static void
s_stock_name_uint (msgpack_packer *pk)
{
    msgpack_pack_array (pk, 4);
    msgpack_pack_uint64 (pk, 1);
    msgpack_pack_double (pk, 1.0);
    msgpack_pack_uint64 (pk, 1);
    msgpack_pack_uint64 (pk, 1);
}

static void
s_stock_price_str (msgpack_packer *pk)
{
    msgpack_pack_array (pk, 4);
    msgpack_pack_str_with_body (pk, "apple", 5);
    msgpack_pack_str_with_body (pk, "1.0", 3);
    msgpack_pack_uint64 (pk, 1);
    msgpack_pack_uint64 (pk, 1);
}

static void
s_stock_qty_negative (msgpack_packer *pk)
{
    msgpack_pack_array (pk, 4);
    msgpack_pack_str_with_body (pk, "apple", 5);
    msgpack_pack_double (pk, 1.0);
    msgpack_pack_int64 (pk, -1);
    msgpack_pack_uint64 (pk, 1);
}

static void
s_stock_name_long (msgpack_packer *pk)
{
    char name[MSG_NAME_MAX + 1];
    memset (name, 'x', sizeof (name));
    msgpack_pack_array (pk, 4);
    msgpack_pack_str_with_body (pk, name, sizeof (name));
    msgpack_pack_double (pk, 1.0);
    msgpack_pack_uint64 (pk, 1);
    msgpack_pack_uint64 (pk, 1);
}

static void
s_stock_name_nul (msgpack_packer *pk)
{
    msgpack_pack_array (pk, 4);
    msgpack_pack_str_with_body (pk, "ap\0le", 5);
    msgpack_pack_double (pk, 1.0);
    msgpack_pack_uint64 (pk, 1);
    msgpack_pack_uint64 (pk, 1);
}

//  A trade item with every element good except the one named.
static void
s_pack_trade (msgpack_packer *pk, uint32_t width, uint64_t side, uint64_t quantity,
              size_t key_length, bool number_is_str)
{
    char key[MSG_KEY_MAX + 1];
    memset (key, 'k', sizeof (key));
    msgpack_pack_array (pk, width);
    if (number_is_str)
        msgpack_pack_str_with_body (pk, "1", 1);
    else
        msgpack_pack_uint64 (pk, 1);
    msgpack_pack_str_with_body (pk, "apple", 5);
    msgpack_pack_uint64 (pk, side);
    msgpack_pack_uint64 (pk, quantity);
    if (width > 4)
        msgpack_pack_str_with_body (pk, key, key_length);
    if (width > 5)
        msgpack_pack_nil (pk);
}

static void
s_trade_width_4 (msgpack_packer *pk)
{
    s_pack_trade (pk, 4, 0, 1, 0, false);
}
static void
s_trade_width_6 (msgpack_packer *pk)
{
    s_pack_trade (pk, 6, 0, 1, 0, false);
}
static void
s_trade_side_2 (msgpack_packer *pk)
{
    s_pack_trade (pk, 5, 2, 1, 0, false);
}
static void
s_trade_quantity_over (msgpack_packer *pk)
{
    s_pack_trade (pk, 5, 0, MSG_QUANTITY_MAX + 1, 0, false);
}
static void
s_trade_key_long (msgpack_packer *pk)
{
    s_pack_trade (pk, 5, 0, 1, MSG_KEY_MAX + 1, false);
}
static void
s_trade_key_max (msgpack_packer *pk)
{
    s_pack_trade (pk, 5, 1, 1, MSG_KEY_MAX, false);
}
static void
s_trade_number_str (msgpack_packer *pk)
{
    s_pack_trade (pk, 5, 0, 1, 0, true);
}

static void
test_decode_list_items (void **state)
{
    (void)state;
    s_expect_list (MSG_STOCKS, NULL, MSG_DECODE_OK, "good stocks");
    s_expect_list (MSG_STOCKS, s_stock_width_3, MSG_DECODE_FIELD, "stock of width 3");
    s_expect_list (MSG_STOCKS, s_trade_width_4, MSG_DECODE_FIELD, "stock of width 4, bad items");
    s_expect_list (MSG_STOCKS, s_pack_good_trade, MSG_DECODE_FIELD, "stock of width 5");
    s_expect_list (MSG_STOCKS, s_not_an_array, MSG_DECODE_FIELD, "stock not an array");
    s_expect_list (MSG_STOCKS, s_stock_name_uint, MSG_DECODE_FIELD, "stock name uint");
    s_expect_list (MSG_STOCKS, s_stock_price_str, MSG_DECODE_FIELD, "stock price string");
    s_expect_list (MSG_STOCKS, s_stock_qty_negative, MSG_DECODE_FIELD, "stock qty negative");
    s_expect_list (MSG_STOCKS, s_stock_name_long, MSG_DECODE_TOO_LONG, "stock name too long");
    s_expect_list (MSG_STOCKS, s_stock_name_nul, MSG_DECODE_FIELD, "stock name with NUL");

    s_expect_list (MSG_TRADES, NULL, MSG_DECODE_OK, "good trades");
    s_expect_list (MSG_TRADES, s_trade_width_4, MSG_DECODE_FIELD, "trade of width 4");
    s_expect_list (MSG_TRADES, s_trade_width_6, MSG_DECODE_FIELD, "trade of width 6");
    s_expect_list (MSG_TRADES, s_pack_good_stock, MSG_DECODE_FIELD, "trade of width 4 (stock)");
    s_expect_list (MSG_TRADES, s_not_an_array, MSG_DECODE_FIELD, "trade not an array");
    s_expect_list (MSG_TRADES, s_trade_side_2, MSG_DECODE_FIELD, "trade side 2");
    s_expect_list (MSG_TRADES, s_trade_quantity_over, MSG_DECODE_FIELD, "trade quantity");
    s_expect_list (MSG_TRADES, s_trade_key_long, MSG_DECODE_TOO_LONG, "trade key too long");
    s_expect_list (MSG_TRADES, s_trade_key_max, MSG_DECODE_OK, "trade key at max");
    s_expect_list (MSG_TRADES, s_trade_number_str, MSG_DECODE_FIELD, "trade number string");
}

static void
test_decode_list_too_long (void **state)
{
    (void)state;
    const int types[] = {MSG_STOCKS, MSG_TRADES};
    for (size_t t = 0; t < 2; t++) {
        msgpack_sbuffer buffer;
        msgpack_sbuffer_init (&buffer);
        msgpack_packer pk;
        msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
        msgpack_pack_array (&pk, types[t] == MSG_STOCKS ? 4 : 5);
        msgpack_pack_uint8 (&pk, MSG_VERSION);
        msgpack_pack_uint8 (&pk, (uint8_t)types[t]);
        msgpack_pack_uint64 (&pk, 1);
        if (types[t] == MSG_TRADES)
            msgpack_pack_uint64 (&pk, MSG_LIST_MAX + 1);
        msgpack_pack_array (&pk, MSG_LIST_MAX + 1);
        for (size_t i = 0; i < MSG_LIST_MAX + 1; i++)
            (types[t] == MSG_STOCKS ? s_pack_good_stock : s_pack_good_trade) (&pk);
        fx_expect_decode (buffer.data, buffer.size, MSG_DECODE_TOO_LONG, msg_type_name (types[t]));
        msgpack_sbuffer_destroy (&buffer);
    }
}

int
test_msgs_lists_run (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_decode_list_items),
        cmocka_unit_test (test_decode_list_too_long),
    };
    return cmocka_run_group_tests_name ("msgs_lists", tests, NULL, NULL);
}
