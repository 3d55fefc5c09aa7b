/*  test_gateway_api.c - the gateway's pure request parsing (api.c):
    request targets (origin- and absolute-form), routing with HEAD, order
    numbers (beyond 64 bits is "no such order") and order bodies. The
    fuzz harness tests/fuzz/fuzz_gateway.c checks the same rules on
    arbitrary input; what it finds lands here as a case.
*/
#include "api.h"
#include "unit.h"

#include <string.h>

static h2o_iovec_t
s_text (const char *text)
{
    return h2o_iovec_init (text, strlen (text));
}

static void
s_expect_path (const char *target, const char *path)
{
    h2o_iovec_t got = api_target_path (s_text (target));
    if (got.len != strlen (path) || memcmp (got.base, path, got.len))
        fail_msg ("target '%s': path '%.*s', expected '%s'", target, (int) got.len, got.base,
                  path);
}

static void
test_api_target_path (void **state)
{
    (void) state;
    s_expect_path ("/stocks/apple", "/stocks/apple");
    s_expect_path ("/stocks/apple?x=1", "/stocks/apple");
    s_expect_path ("http://host/stocks/apple", "/stocks/apple");
    s_expect_path ("http://127.0.0.1:8080/orders/3?x=/y", "/orders/3");
    s_expect_path ("HTTPS://HOST/stocks", "/stocks");
    s_expect_path ("http://host", "/");
    s_expect_path ("http://host?q=/stocks", "/");
    s_expect_path ("http:/stocks", "http:/stocks");         //  not absolute-form
    s_expect_path ("", "");
}

static msg_error_t
s_route (const char *method, const char *path, api_match_t *match)
{
    return api_route (s_text (method), s_text (path), match);
}

static void
test_api_route_head (void **state)
{
    (void) state;
    api_match_t match;
    assert_int_equal (s_route ("GET", "/stocks/apple", &match), MSG_ERR_OK);
    assert_int_equal (match.route, ROUTE_STOCK);
    assert_int_equal (match.rest.len, 5);
    assert_int_equal (s_route ("HEAD", "/stocks/apple", &match), MSG_ERR_OK);
    assert_int_equal (s_route ("HEAD", "/orders/1", &match), MSG_ERR_OK);
    assert_int_equal (match.route, ROUTE_ORDER);
    assert_int_equal (s_route ("HEAD", "/metrics", &match), MSG_ERR_OK);
    assert_int_equal (s_route ("DELETE", "/stocks", &match), MSG_ERR_METHOD_NOT_ALLOWED);
    assert_string_equal (match.allow, "GET, HEAD");
    assert_int_equal (s_route ("HEAD", "/orders", &match), MSG_ERR_METHOD_NOT_ALLOWED);
    assert_string_equal (match.allow, "POST");
    assert_int_equal (s_route ("POST", "/orders", &match), MSG_ERR_OK);
    assert_int_equal (s_route ("GET", "/stocksapple", &match), MSG_ERR_NO_ROUTE);
    assert_int_equal (match.route, ROUTE_OTHER);
    assert_int_equal (s_route ("HEA", "/stocks", &match), MSG_ERR_METHOD_NOT_ALLOWED);
    assert_int_equal (s_route ("HEADX", "/stocks", &match), MSG_ERR_METHOD_NOT_ALLOWED);
}

static void
test_api_order_number (void **state)
{
    (void) state;
    uint64_t number = 7;
    assert_int_equal (api_order_number (s_text ("0"), &number), MSG_ERR_OK);
    assert_int_equal (number, 0);
    assert_int_equal (api_order_number (s_text ("18446744073709551615"), &number), MSG_ERR_OK);
    assert_true (number == UINT64_MAX);
    assert_int_equal (api_order_number (s_text ("000000000000000000000042"), &number), MSG_ERR_OK);
    assert_int_equal (number, 42);
    assert_int_equal (api_order_number (s_text ("18446744073709551616"), &number),
                      MSG_ERR_TXN_NOT_FOUND);
    assert_int_equal (api_order_number (s_text ("99999999999999999999"), &number),
                      MSG_ERR_TXN_NOT_FOUND);
    assert_int_equal (api_order_number (s_text ("1000000000000000000000000000000"), &number),
                      MSG_ERR_TXN_NOT_FOUND);
    assert_int_equal (api_order_number (s_text (""), &number), MSG_ERR_INVALID_NUMBER);
    assert_int_equal (api_order_number (s_text ("-1"), &number), MSG_ERR_INVALID_NUMBER);
    assert_int_equal (api_order_number (s_text ("1e3"), &number), MSG_ERR_INVALID_NUMBER);
    //  Digits beyond 64 bits, then a non-digit: not a number at all.
    assert_int_equal (api_order_number (s_text ("99999999999999999999x"), &number),
                      MSG_ERR_INVALID_NUMBER);
}

static void
test_api_stock_name (void **state)
{
    (void) state;
    char key[MSG_NAME_MAX + 1];
    assert_int_equal (api_stock_name (s_text ("apple"), key), MSG_ERR_OK);
    assert_string_equal (key, "apple");
    assert_int_equal (api_stock_name (s_text ("%61pp%6Ce"), key), MSG_ERR_OK);
    assert_string_equal (key, "apple");
    assert_int_equal (api_stock_name (s_text ("caf%C3%a9%20%3F%25"), key), MSG_ERR_OK);
    assert_string_equal (key, "caf\xc3\xa9 ?%");
    const char *broken[] = {"", "%", "a%", "a%6", "%6g", "%00a", "%%61", "%-1"};
    for (size_t i = 0; i < sizeof (broken) / sizeof (broken[0]); i++)
        assert_int_equal (api_stock_name (s_text (broken[i]), key), MSG_ERR_STOCK_NOT_FOUND);
    //  MSG_NAME_MAX bytes, however spelled; one more is no stock's name
    char longest[3 * MSG_NAME_MAX + 4] = "";
    for (int i = 0; i < MSG_NAME_MAX; i++)
        strcat (longest, i % 2 ? "a" : "%62");
    assert_int_equal (api_stock_name (s_text (longest), key), MSG_ERR_OK);
    assert_int_equal (strlen (key), MSG_NAME_MAX);
    strcat (longest, "a");
    assert_int_equal (api_stock_name (s_text (longest), key), MSG_ERR_STOCK_NOT_FOUND);
}

static void
test_api_idempotency_key (void **state)
{
    (void) state;
    char key[MSG_KEY_MAX + 1] = "old";
    assert_null (api_idempotency_key (s_text ("k-1"), key));
    assert_string_equal (key, "k-1");
    //  Spaces and tabs around it are not the key's (RFC 9110 5.5).
    assert_null (api_idempotency_key (s_text (" \t k-1\t  "), key));
    assert_string_equal (key, "k-1");
    assert_null (api_idempotency_key (s_text ("a b"), key));
    assert_string_equal (key, "a b");
    assert_null (api_idempotency_key (s_text (" \t "), key));
    assert_string_equal (key, "");
    char longest[MSG_KEY_MAX + 3];
    memset (longest, 'k', MSG_KEY_MAX);
    strcpy (longest + MSG_KEY_MAX, " ");
    assert_null (api_idempotency_key (s_text (longest), key));
    assert_int_equal (strlen (key), MSG_KEY_MAX);
    strcpy (longest + MSG_KEY_MAX, "k");
    assert_non_null (api_idempotency_key (s_text (longest), key));
    h2o_iovec_t nul = {.base = (char *) "a\0b", .len = 3};
    assert_non_null (api_idempotency_key (nul, key));
}

static void
s_expect_order (const char *body, msg_error_t expected)
{
    msg_t trade;
    msg_init (&trade, MSG_TRADE);
    msg_error_t code = api_parse_order (s_text (body), &trade);
    if (code != expected)
        fail_msg ("body %s: %s, expected %s", body, msg_error_text (code),
                  msg_error_text (expected));
}

static void
test_api_parse_order (void **state)
{
    (void) state;
    s_expect_order ("{\"name\":\"apple\",\"type\":\"buy\",\"quantity\":10}", MSG_ERR_OK);
    s_expect_order ("{\"name\":\"apple\",\"type\":\"buy\",\"quantity\":1e400}",
                    MSG_ERR_INVALID_QUANTITY);
    s_expect_order ("{\"name\":\"apple\",\"type\":\"buy\",\"quantity\":1.0}",
                    MSG_ERR_INVALID_QUANTITY);
    s_expect_order ("{\"name\":1e400,\"type\":\"buy\",\"quantity\":1}", MSG_ERR_MALFORMED);
    s_expect_order ("{\"name\":\"apple\",\"type\":\"hold\",\"quantity\":1}",
                    MSG_ERR_INVALID_TYPE);
    s_expect_order ("[1]", MSG_ERR_MALFORMED);
    s_expect_order ("", MSG_ERR_MALFORMED);
}

int
test_gateway_api_run (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_api_target_path),
        cmocka_unit_test (test_api_route_head),
        cmocka_unit_test (test_api_stock_name),
        cmocka_unit_test (test_api_order_number),
        cmocka_unit_test (test_api_idempotency_key),
        cmocka_unit_test (test_api_parse_order),
    };
    return cmocka_run_group_tests_name ("gateway_api", tests, NULL, NULL);
}
