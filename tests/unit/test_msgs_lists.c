/*  test_msgs_lists.c - msg_decode of the STOCKS, TRADES and LEADER (peers)
    lists: every item is checked for width, element types and ranges, and
    a bad item after good ones (whose list is already allocated) leaks
    nothing.
*/
#include "fixtures.h"
#include "unit.h"

#include <string.h>

//  Packs a STOCKS, TRADES or LEADER message whose list holds good items around
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
s_pack_good_peer (msgpack_packer *pk)
{
    msgpack_pack_array (pk, 5);
    msgpack_pack_uint64 (pk, 2);
    msgpack_pack_uint8 (pk, MSG_ROLE_FOLLOWER);
    msgpack_pack_uint64 (pk, 10);
    msgpack_pack_uint64 (pk, 3);
    msgpack_pack_str_with_body (pk, "tcp://127.0.0.1:5702", 20);
}

static s_item_fn *
s_good_item (int type)
{
    return type == MSG_STOCKS   ? s_pack_good_stock
           : type == MSG_TRADES ? s_pack_good_trade
                                : s_pack_good_peer;
}

//  Packs the top-level array of type up to (not including) its list.
//  STOCKS is [v, type, req_id, list]; TRADES has the catalog's trade
//  count before its list; LEADER is [v, type, replica_id, epoch, pub,
//  rep, peers]: every list is the last field.
static void
s_pack_head (msgpack_packer *pk, int type)
{
    msgpack_pack_array (pk, type == MSG_STOCKS ? 4 : type == MSG_TRADES ? 5 : 7);
    msgpack_pack_uint8 (pk, MSG_VERSION);
    msgpack_pack_uint8 (pk, (uint8_t)type);
    msgpack_pack_uint64 (pk, 1);
    if (type == MSG_TRADES)
        msgpack_pack_uint64 (pk, 3);
    if (type == MSG_LEADER) {
        msgpack_pack_uint64 (pk, 3);
        msgpack_pack_str_with_body (pk, "tcp://127.0.0.1:5601", 20);
        msgpack_pack_str_with_body (pk, "tcp://127.0.0.1:5701", 20);
    }
}

static void
s_expect_list (int type, s_item_fn *bad_item, int expected, const char *what)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    s_item_fn *good_item = s_good_item (type);
    s_pack_head (&pk, type);
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

//  A peer item with every element good except the one named.
typedef struct {
    uint32_t width;
    uint64_t role;
    size_t rep_length;
    const char *rep; //  NULL: rep_length times 'r'
    int bad_element; //  -1 none, else the element packed with bad_value
    int bad_value;   //  0 str "1", 1 int -1, 2 float 1.0, 3 nil, 4 uint 1
} s_peer_t;

static void
s_pack_peer (msgpack_packer *pk, const s_peer_t *peer)
{
    char rep[MSG_ENDPOINT_MAX + 2];
    memset (rep, 'r', sizeof (rep));
    if (peer->rep)
        memcpy (rep, peer->rep, peer->rep_length);
    msgpack_pack_array (pk, peer->width);
    for (uint32_t i = 0; i < peer->width; i++) {
        if ((int)i == peer->bad_element) {
            switch (peer->bad_value) {
                case 0:
                    msgpack_pack_str_with_body (pk, "1", 1);
                    break;
                case 1:
                    msgpack_pack_int64 (pk, -1);
                    break;
                case 2:
                    msgpack_pack_double (pk, 1.0);
                    break;
                case 3:
                    msgpack_pack_nil (pk);
                    break;
                default:
                    msgpack_pack_uint64 (pk, 1);
                    break;
            }
            continue;
        }
        //  [replica_id, role, number, epoch, rep], then nils
        const uint64_t numbers[] = {7, peer->role, UINT64_MAX, 1};
        if (i < 4)
            msgpack_pack_uint64 (pk, numbers[i]);
        else if (i == 4)
            msgpack_pack_str_with_body (pk, rep, peer->rep_length);
        else
            msgpack_pack_nil (pk);
    }
}

//  s_item_fn takes no arguments: the case under test is passed here.
static s_peer_t s_peer;

static void
s_peer_item (msgpack_packer *pk)
{
    s_pack_peer (pk, &s_peer);
}

static void
s_expect_peer (s_peer_t peer, int expected, const char *what)
{
    s_peer = peer;
    s_expect_list (MSG_LEADER, s_peer_item, expected, what);
}

//  Good in every element: width 5, a legal role, a short rep.
static s_peer_t
s_good_peer (void)
{
    return (s_peer_t){5, MSG_ROLE_LEADER, 4, "tcp:", -1, 0};
}

static void
test_decode_peer_items (void **state)
{
    (void)state;
    s_expect_list (MSG_LEADER, NULL, MSG_DECODE_OK, "good peers");
    s_peer_t peer = s_good_peer ();
    s_expect_peer (peer, MSG_DECODE_OK, "peer as built");

    //  Width: exactly 5.
    const uint32_t widths[] = {0, 1, 4, 6};
    for (size_t w = 0; w < 4; w++) {
        peer = s_good_peer ();
        peer.width = widths[w];
        char what[64];
        snprintf (what, sizeof (what), "peer of width %u", (unsigned)widths[w]);
        s_expect_peer (peer, MSG_DECODE_FIELD, what);
    }
    s_expect_list (MSG_LEADER, s_pack_good_stock, MSG_DECODE_FIELD, "peer of width 4 (stock)");
    s_expect_list (MSG_LEADER, s_not_an_array, MSG_DECODE_FIELD, "peer not an array");
    //  A trade is as wide as a peer but has a string where the role goes.
    s_expect_list (MSG_LEADER, s_pack_good_trade, MSG_DECODE_FIELD, "peer shaped like a trade");

    //  Role: 0..MSG_ROLE_MAX.
    const uint64_t roles[] = {MSG_ROLE_MAX + 1, 255, 256, UINT64_MAX};
    for (uint64_t role = 0; role <= MSG_ROLE_MAX; role++) {
        peer = s_good_peer ();
        peer.role = role;
        s_expect_peer (peer, MSG_DECODE_OK, "peer role in range");
    }
    for (size_t r = 0; r < 4; r++) {
        peer = s_good_peer ();
        peer.role = roles[r];
        s_expect_peer (peer, MSG_DECODE_FIELD, "peer role over MSG_ROLE_MAX");
    }

    //  rep: a string of at most MSG_ENDPOINT_MAX bytes, no NUL.
    peer = s_good_peer ();
    peer.rep = NULL;
    peer.rep_length = MSG_ENDPOINT_MAX;
    s_expect_peer (peer, MSG_DECODE_OK, "peer rep at max");
    peer.rep_length = 0;
    s_expect_peer (peer, MSG_DECODE_OK, "peer rep empty");
    peer.rep_length = MSG_ENDPOINT_MAX + 1;
    s_expect_peer (peer, MSG_DECODE_TOO_LONG, "peer rep too long");
    peer.rep = "a\0b";
    peer.rep_length = 3;
    s_expect_peer (peer, MSG_DECODE_FIELD, "peer rep with NUL");

    //  Each element replaced by each kind of value: a uint is right for
    //  the four numbers, a string only for rep.
    const char *elements[] = {"replica_id", "role", "number", "epoch", "rep"};
    for (int element = 0; element < 5; element++)
        for (int value = 0; value < 5; value++) {
            peer = s_good_peer ();
            peer.bad_element = element;
            peer.bad_value = value;
            bool right = element == 4 ? value == 0 : value == 4;
            char what[64];
            snprintf (what, sizeof (what), "peer %s replaced by value %d", elements[element],
                      value);
            s_expect_peer (peer, right ? MSG_DECODE_OK : MSG_DECODE_FIELD, what);
        }
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

//  Peers have a limit of their own, far below MSG_LIST_MAX.
static void
test_decode_peers_too_long (void **state)
{
    (void)state;
    const size_t counts[] = {MSG_PEERS_MAX, MSG_PEERS_MAX + 1, MSG_PEERS_MAX * 2};
    const int expected[] = {MSG_DECODE_OK, MSG_DECODE_TOO_LONG, MSG_DECODE_TOO_LONG};
    for (size_t c = 0; c < 3; c++) {
        msgpack_sbuffer buffer;
        msgpack_sbuffer_init (&buffer);
        msgpack_packer pk;
        msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
        s_pack_head (&pk, MSG_LEADER);
        msgpack_pack_array (&pk, counts[c]);
        for (size_t i = 0; i < counts[c]; i++)
            s_pack_good_peer (&pk);
        char what[64];
        snprintf (what, sizeof (what), "LEADER with %zu peers", counts[c]);
        fx_expect_decode (buffer.data, buffer.size, expected[c], what);
        msgpack_sbuffer_destroy (&buffer);
    }
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
        cmocka_unit_test (test_decode_peer_items),
        cmocka_unit_test (test_decode_peers_too_long),
    };
    return cmocka_run_group_tests_name ("msgs_lists", tests, NULL, NULL);
}
