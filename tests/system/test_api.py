"""The HTTP API of SPEC section 2, on one shared system (module scope).

Every trade goes through bz.trade (or bz.record) so the model of expected
quantities and orders stays exact; every bad request is followed by a check
that no stock and no transaction number changed.
"""

import json
import os
import socket
import subprocess
import threading

import pytest

from harness import (BIN, Bazaar, INITIAL, INITIAL_QTY, SERVICES, assert_error, assert_json,
                     error_body, http_raw, metrics)

MALFORMED = (400, "malformed request")
BAD_TYPE = (400, "invalid request type")
BAD_QTY = (400, "invalid number of stocks")
NO_STOCK = (404, "stock not found")
BAD_ORDER = (400, "invalid order number")
NOT_FOUND = (404, "not found")


@pytest.fixture(scope="module")
def bz(shared_bazaar):
    return shared_bazaar


def order_body(name="apple", type_="buy", quantity=1):
    return {"name": name, "type": type_, "quantity": quantity}


def with_field(field, value):
    body = order_body()
    body[field] = value
    return json.dumps(body).encode()


def without_field(field):
    body = order_body()
    del body[field]
    return json.dumps(body).encode()


# --------------------------------------------------------------------------
#  Lookups

def test_lookup_apple_fresh_system(bz):
    #  First test of the module: the system is fresh (nothing traded yet).
    assert not bz.orders
    r = bz.get("/stocks/apple")
    assert r.status == 200, r
    assert_json(r.body, {"data": {"name": "apple", "price": 152.59, "quantity": 1000}})
    assert r.headers.get("content-type", "").split(";")[0].strip() == "application/json", r


def test_list_all_stocks_sorted(bz):
    r = bz.get("/stocks")
    assert r.status == 200, r
    names = [s.get("name") for s in r.body["data"]]
    assert names == sorted(INITIAL), names
    assert_json(r.body, {"data": bz.expected_stocks()})
    if not bz.orders:
        for stock in r.body["data"]:
            assert stock["quantity"] == INITIAL_QTY
            assert stock["price"] == INITIAL[stock["name"]]


def test_every_initial_stock_lookup(bz):
    for name in INITIAL:
        bz.assert_stock(name)


@pytest.mark.parametrize("name", ["nosuch", "APPLE", "Apple", "appl", "apple2", "x" * 300],
                         ids=["nosuch", "APPLE", "Apple", "appl", "apple2", "x-300-chars"])
def test_lookup_unknown_stock_404(bz, name):
    r = bz.get("/stocks/" + name)
    assert_error(r, *NO_STOCK, what="GET /stocks/" + name[:20])


# --------------------------------------------------------------------------
#  Trades and orders

def test_buy_lowers_sell_raises(bz):
    before = bz.qty["apple"]
    n = bz.trade("apple", "buy", 10)
    r = bz.get("/stocks/apple")
    assert_json(r.body, {"data": {"name": "apple", "price": 152.59, "quantity": before - 10}})
    bz.trade("apple", "sell", 3)
    r = bz.get("/stocks/apple")
    assert_json(r.body, {"data": {"name": "apple", "price": 152.59, "quantity": before - 7}})
    r = bz.get("/orders/%d" % n)
    assert_json(r.body, {"data": {"number": n, "name": "apple", "type": "buy", "quantity": 10}})
    bz.assert_unchanged()


def test_buy_more_than_available_409(bz):
    have = bz.qty["tesla"]
    r = bz.post("/orders", order_body("tesla", "buy", have + 1))
    assert_error(r, 409, "not enough stocks available to buy", "buy %d tesla" % (have + 1))
    bz.assert_unchanged()
    #  The largest valid quantity is valid (400 would be wrong): 409.
    r = bz.post("/orders", order_body("tesla", "buy", 1000000000))
    assert_error(r, 409, "not enough stocks available to buy", "buy 1000000000 tesla")
    bz.assert_unchanged()


def test_buy_everything_then_409_then_sell_back(bz):
    have = bz.qty["amc"]
    bz.trade("amc", "buy", have)
    bz.assert_stock("amc")
    assert bz.qty["amc"] == 0
    r = bz.post("/orders", order_body("amc", "buy", 1))
    assert_error(r, 409, "not enough stocks available to buy", "buy 1 amc at 0")
    bz.assert_unchanged()
    bz.trade("amc", "sell", have)
    bz.assert_stock("amc")


def test_sell_raises_above_initial(bz):
    bz.trade("ford", "sell", 1000000000)
    bz.assert_stock("ford")
    bz.trade("ford", "buy", 1000000000)
    bz.assert_stock("ford")


def test_transaction_numbers_dense_and_orders_readable(bz):
    start = len(bz.orders)
    numbers = [bz.trade(name, type_, q) for name, type_, q in [
        ("meta", "buy", 1), ("nike", "sell", 2), ("intel", "buy", 3),
        ("amazon", "sell", 4), ("gamestop", "buy", 5)]]
    assert numbers == list(range(start, start + 5))
    bz.assert_orders()
    bz.assert_next_unused()
    bz.assert_stocks()


def test_order_zero_is_first_trade(bz):
    if not bz.orders:
        bz.trade("apple", "buy", 1)
    r = bz.get("/orders/0")
    assert r.status == 200, r
    assert_json(r.body, {"data": bz.orders[0]})


# --------------------------------------------------------------------------
#  Bad input: exact status and message, and nothing changes

BAD_POSTS = [
    ("not-json", b"hello", MALFORMED),
    ("empty-body", b"", MALFORMED),
    ("json-array", b'[{"name":"apple","type":"buy","quantity":1}]', MALFORMED),
    ("json-string", b'"apple"', MALFORMED),
    ("json-number", b"42", MALFORMED),
    ("json-null", b"null", MALFORMED),
    ("json-true", b"true", MALFORMED),
    ("truncated-json", b'{"name":"apple","type":"buy"', MALFORMED),
    ("trailing-garbage", b'{"name":"apple","type":"buy","quantity":1} x', MALFORMED),
    ("two-objects", b'{"name":"apple","type":"buy","quantity":1}{}', MALFORMED),
    ("invalid-utf8", b'{"name":"\xff\xfe","type":"buy","quantity":1}', MALFORMED),
    ("nul-byte", b'{"name":"apple\x00","type":"buy","quantity":1}', MALFORMED),
    ("name-missing", without_field("name"), MALFORMED),
    ("name-number", with_field("name", 5), MALFORMED),
    ("name-null", with_field("name", None), MALFORMED),
    ("name-array", with_field("name", ["apple"]), MALFORMED),
    ("name-object", with_field("name", {"n": "apple"}), MALFORMED),
    ("name-bool", with_field("name", True), MALFORMED),
    ("name-unknown", with_field("name", "nosuch"), NO_STOCK),
    ("name-uppercase", with_field("name", "APPLE"), NO_STOCK),
    ("name-empty", with_field("name", ""), NO_STOCK),
    ("name-long", with_field("name", "a" * 1000), NO_STOCK),
    ("type-missing", without_field("type"), BAD_TYPE),
    ("type-BUY", with_field("type", "BUY"), BAD_TYPE),
    ("type-Sell", with_field("type", "Sell"), BAD_TYPE),
    ("type-hold", with_field("type", "hold"), BAD_TYPE),
    ("type-empty", with_field("type", ""), BAD_TYPE),
    ("type-space", with_field("type", "buy "), BAD_TYPE),
    ("type-number", with_field("type", 0), BAD_TYPE),
    ("type-null", with_field("type", None), BAD_TYPE),
    ("type-array", with_field("type", ["buy"]), BAD_TYPE),
    ("qty-missing", without_field("quantity"), BAD_QTY),
    ("qty-string", with_field("quantity", "10"), BAD_QTY),
    ("qty-float-1.5", with_field("quantity", 1.5), BAD_QTY),
    ("qty-float-10.0", with_field("quantity", 10.0), BAD_QTY),
    ("qty-exp-1e3", b'{"name":"apple","type":"buy","quantity":1e3}', BAD_QTY),
    ("qty-negative", with_field("quantity", -5), BAD_QTY),
    ("qty-zero", with_field("quantity", 0), BAD_QTY),
    ("qty-minus-zero", b'{"name":"apple","type":"buy","quantity":-0}', BAD_QTY),
    ("qty-1000000001", with_field("quantity", 1000000001), BAD_QTY),
    ("qty-2^63", with_field("quantity", 2 ** 63 - 1), BAD_QTY),
    ("qty-huge-1e30", b'{"name":"apple","type":"sell","quantity":1e30}', BAD_QTY),
    ("qty-true", with_field("quantity", True), BAD_QTY),
    ("qty-false", with_field("quantity", False), BAD_QTY),
    ("qty-null", with_field("quantity", None), BAD_QTY),
    ("qty-array", with_field("quantity", [1]), BAD_QTY),
    ("qty-object", with_field("quantity", {"q": 1}), BAD_QTY),
]


@pytest.mark.parametrize("body,expected", [c[1:] for c in BAD_POSTS],
                         ids=[c[0] for c in BAD_POSTS])
def test_bad_order_request(bz, body, expected):
    r = bz.post("/orders", body)
    assert_error(r, *expected, what="POST /orders %r" % body[:80])
    bz.assert_unchanged()


def test_bad_sell_quantity_too_large(bz):
    #  sells must be validated as strictly as buys
    r = bz.post("/orders", order_body("apple", "sell", 1000000001))
    assert_error(r, *BAD_QTY, what="sell 1000000001")
    bz.assert_unchanged()


def test_quantity_integer_overflow(bz):
    #  An integer too large for any machine type: the quantity is invalid;
    #  a parser that refuses the number may call the body malformed.
    body = b'{"name":"apple","type":"sell","quantity":99999999999999999999}'
    r = bz.post("/orders", body)
    assert r.status == 400, r
    assert r.body in (error_body(*BAD_QTY), error_body(*MALFORMED)), r
    bz.assert_unchanged()


#  Digits beyond 64 bits are 404 (test_http_details.py).
@pytest.mark.parametrize("number", ["-1", "abc", "1.5", "0x1", "1e3", "1a"])
def test_bad_order_number(bz, number):
    r = bz.get("/orders/" + number)
    assert_error(r, *BAD_ORDER, what="GET /orders/" + number)
    bz.assert_unchanged()


def test_unknown_order_number_404(bz):
    n = len(bz.orders)
    for number in (n, n + 1, 1000000, 999999999999):
        r = bz.get("/orders/%d" % number)
        assert_error(r, 404, "transaction not found", "GET /orders/%d" % number)


@pytest.mark.parametrize("method,path", [
    ("GET", "/dash"), ("GET", "/nope"), ("GET", "/stock"), ("GET", "/stocksapple"),
    ("GET", "/order"), ("POST", "/nope"), ("GET", "/metricsx"), ("DELETE", "/nope"),
])
def test_unknown_path_404(bz, method, path):
    body = order_body() if method == "POST" else None
    r = bz.request(method, path, body)
    assert_error(r, *NOT_FOUND, what="%s %s" % (method, path))
    bz.assert_unchanged()


@pytest.mark.parametrize("method,path,allowed", [
    ("DELETE", "/stocks/apple", "GET"),
    ("POST", "/stocks/apple", "GET"),
    ("PUT", "/stocks/apple", "GET"),
    ("POST", "/stocks", "GET"),
    ("GET", "/orders", "POST"),
    ("PUT", "/orders", "POST"),
    ("DELETE", "/orders", "POST"),
    ("POST", "/orders/0", "GET"),
    ("DELETE", "/orders/0", "GET"),
    ("PATCH", "/orders/0", "GET"),
    ("POST", "/metrics", "GET"),
])
def test_wrong_method_405(bz, method, path, allowed):
    body = order_body() if method in ("POST", "PUT", "PATCH") else None
    r = bz.request(method, path, body)
    assert_error(r, 405, "method not allowed", "%s %s" % (method, path))
    assert "allow" in r.headers, "405 without an Allow header: %r" % (r,)
    methods = {m.strip().upper() for m in r.headers["allow"].split(",")}
    assert allowed in methods, r.headers["allow"]
    assert method not in methods, r.headers["allow"]
    bz.assert_unchanged()


def test_body_over_64k_413(bz):
    counter = 'bazaar_http_requests_total{route="/orders",status="413"}'
    before = metrics(bz.port).get(counter, 0)
    body = json.dumps(order_body("apple", "buy", 1)).encode()
    body += b" " * (64 * 1024 + 1 - len(body))
    assert len(body) == 64 * 1024 + 1
    r = bz.post("/orders", body)
    assert_error(r, 413, "request too large", "POST /orders with a 65537-byte body")
    bz.assert_unchanged()
    r = bz.post("/orders", b"x" * (1024 * 1024))
    assert_error(r, 413, "request too large", "POST /orders with a 1 MiB body")
    bz.assert_unchanged()
    #  h2o refuses these itself; they are counted all the same
    assert metrics(bz.port).get(counter, 0) == before + 2


def test_body_of_exactly_64k_is_accepted(bz):
    body = json.dumps(order_body("intel", "sell", 7)).encode()
    body += b" " * (64 * 1024 - len(body))
    assert len(body) == 64 * 1024
    r = bz.post("/orders", body)
    assert r.status == 200, "a 65536-byte body is not over 64 KiB: %r" % (r,)
    assert_json(r.body, {"data": {"transaction_number": len(bz.orders)}})
    bz.record(r.body["data"]["transaction_number"], "intel", "sell", 7)
    bz.assert_unchanged()


# --------------------------------------------------------------------------
#  Protocol details

def test_headers_on_every_kind_of_response(bz):
    cases = [
        ("GET", "/stocks/apple", None, 200),
        ("GET", "/stocks", None, 200),
        ("GET", "/stocks/nosuch", None, 404),
        ("GET", "/orders/abc", None, 400),
        ("GET", "/orders/%d" % (len(bz.orders) + 5), None, 404),
        ("POST", "/orders", b"nope", 400),
        ("POST", "/orders", order_body("nike", "buy", 10 ** 9), 409),
        ("DELETE", "/stocks/apple", None, 405),
        ("GET", "/nope", None, 404),
    ]
    for method, path, body, status in cases:
        r = bz.request(method, path, body)
        what = "%s %s" % (method, path)
        assert r.status == status, "%s: %r" % (what, r)
        ctype = r.headers.get("content-type", "")
        assert ctype.split(";")[0].strip() == "application/json", "%s: %r" % (what, r.headers)
        assert "transfer-encoding" not in r.headers, "%s: chunked: %r" % (what, r.headers)
        assert r.headers.get("content-length") == str(len(r.raw)), "%s: %r" % (what, r.headers)
        if status == 200:
            assert set(r.body) == {"data"}, r
        else:
            assert r.body["error"]["code"] == r.status, r
    bz.assert_unchanged()


def test_trade_response_headers(bz):
    r = bz.post("/orders", order_body("nike", "sell", 1))
    assert r.status == 200, r
    bz.record(r.body["data"]["transaction_number"], "nike", "sell", 1)
    assert r.headers.get("content-type", "").split(";")[0].strip() == "application/json"
    assert r.headers.get("content-length") == str(len(r.raw))
    assert "transfer-encoding" not in r.headers


def test_keep_alive_many_requests_one_connection(bz):
    conn = bz.connection()
    try:
        conn.connect()
        local = conn.sock.getsockname()
        for i in range(60):
            kind = i % 6
            if kind == 0:
                r = bz.get("/stocks/meta", conn=conn)
                assert r.status == 200, r
                assert_json(r.body, {"data": bz.expected_stock("meta")})
            elif kind == 1:
                number = bz.trade("meta", "buy" if i % 12 == 1 else "sell", 1, conn=conn)
                assert number == len(bz.orders) - 1
            elif kind == 2:
                r = bz.get("/orders/%d" % (len(bz.orders) - 1), conn=conn)
                assert_json(r.body, {"data": bz.orders[-1]})
            elif kind == 3:
                r = bz.post("/orders", b"{bad", conn=conn)
                assert_error(r, *MALFORMED, what="bad body on keep-alive")
            elif kind == 4:
                r = bz.get("/stocks/nosuch", conn=conn)
                assert_error(r, *NO_STOCK, what="unknown stock on keep-alive")
            else:
                r = bz.request("DELETE", "/orders/0", conn=conn)
                assert_error(r, 405, "method not allowed", "405 on keep-alive")
            assert r.headers.get("connection", "").lower() != "close", r
            assert conn.sock is not None and conn.sock.getsockname() == local, \
                "connection was not kept alive (request %d)" % i
    finally:
        conn.close()
    bz.assert_unchanged()


def test_half_sent_request_does_not_block_others(bz):
    slow = socket.create_connection(("127.0.0.1", bz.port), timeout=10)
    try:
        slow.sendall(b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        idle = socket.create_connection(("127.0.0.1", bz.port), timeout=10)
        try:
            for _ in range(3):
                bz.assert_stock("intel")
            bz.trade("intel", "buy", 1)
            bz.assert_unchanged()
        finally:
            idle.close()
    finally:
        slow.close()
    bz.assert_unchanged()


def test_idempotency_key(bz):
    before = bz.qty["nvidia"]
    body = order_body("nvidia", "buy", 4)
    key = "key-%d-abc" % os.getpid()
    r1 = bz.post("/orders", body, {"Idempotency-Key": key})
    assert r1.status == 200, r1
    assert_json(r1.body, {"data": {"transaction_number": len(bz.orders)}})
    n = r1.body["data"]["transaction_number"]
    bz.record(n, "nvidia", "buy", 4)
    r2 = bz.post("/orders", body, {"Idempotency-Key": key})
    assert r2.status == 200, r2
    assert_json(r2.body, {"data": {"transaction_number": n}}, "retry with the same key")
    assert bz.qty["nvidia"] == before - 4
    bz.assert_unchanged()
    #  a different key is a different trade; so is no key at all
    k2 = "K" * 64
    r3 = bz.post("/orders", body, {"Idempotency-Key": k2})
    assert r3.status == 200, r3
    assert_json(r3.body, {"data": {"transaction_number": n + 1}})
    bz.record(n + 1, "nvidia", "buy", 4)
    r4 = bz.post("/orders", body, {"Idempotency-Key": k2})
    assert_json(r4.body, {"data": {"transaction_number": n + 1}}, "retry of the 64-char key")
    #  spaces and tabs around a key are not part of it (RFC 9110 5.5): a
    #  client or proxy that trims them retries the same trade
    k3 = "spaced-%d" % os.getpid()
    r5 = bz.post("/orders", body, {"Idempotency-Key": k3 + " \t "})
    assert r5.status == 200, r5
    bz.record(n + 2, "nvidia", "buy", 4)
    assert_json(r5.body, {"data": {"transaction_number": n + 2}})
    r6 = bz.post("/orders", body, {"Idempotency-Key": k3})
    assert_json(r6.body, {"data": {"transaction_number": n + 2}}, "retry of the trimmed key")
    bz.trade("nvidia", "buy", 4)
    bz.trade("nvidia", "buy", 4)
    bz.assert_unchanged()
    bz.assert_orders()


def test_two_idempotency_keys_are_refused(bz):
    """Two Idempotency-Key headers: which one would a retry mean? 400,
    nothing trades."""
    body = json.dumps(order_body("apple", "buy", 1)).encode()
    answer = http_raw(bz.port, b"POST /orders HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      b"Idempotency-Key: one-%d\r\nIdempotency-Key: two-%d\r\n"
                      b"Content-Length: %d\r\n\r\n" % (os.getpid(), os.getpid(), len(body))
                      + body)
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer
    assert json.loads(payload) == {"error": {"code": 400, "message":
                                             "malformed request: more than one Idempotency-Key"}}
    bz.assert_unchanged()


def test_idempotency_key_reused_with_a_different_request(bz):
    """A used key with another name, type or quantity is 422 and changes
    nothing; the same request with it still returns the first number."""
    key = "reuse-%d" % os.getpid()
    r = bz.post("/orders", order_body("apple", "buy", 5), {"Idempotency-Key": key})
    assert r.status == 200, r
    n = r.body["data"]["transaction_number"]
    bz.record(n, "apple", "buy", 5)
    for other in (order_body("tesla", "sell", 700), order_body("apple", "buy", 999999),
                  order_body("apple", "sell", 5), order_body("apple", "buy", 6),
                  order_body("dogecoin", "buy", 5)):
        r = bz.post("/orders", other, {"Idempotency-Key": key})
        assert_error(r, 422, "idempotency key reused with a different request", repr(other))
        bz.assert_unchanged()
    r = bz.post("/orders", order_body("apple", "buy", 5), {"Idempotency-Key": key})
    assert r.status == 200, r
    assert_json(r.body, {"data": {"transaction_number": n}}, "the same request again")
    bz.assert_unchanged()
    bz.assert_orders()


def test_concurrent_trades_dense_numbers(bz):
    threads_n, per_thread = 16, 5
    start = len(bz.orders)
    results = []
    errors = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads_n)

    def worker(t):
        conn = bz.connection()
        try:
            barrier.wait(30)
            for i in range(per_thread):
                type_ = "buy" if (t + i) % 2 else "sell"
                q = 1 + (t * per_thread + i) % 3
                r = bz.post("/orders", order_body("gamestop", type_, q), conn=conn)
                with lock:
                    if r.status != 200:
                        errors.append(r)
                    else:
                        results.append((r.body["data"]["transaction_number"], type_, q))
        except Exception as exc:  # noqa: BLE001
            with lock:
                errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "trades hung"
    assert not errors, errors[:5]
    numbers = sorted(n for n, _, _ in results)
    assert numbers == list(range(start, start + threads_n * per_thread)), numbers
    for n, type_, q in sorted(results):
        bz.record(n, "gamestop", type_, q)
    bz.assert_stocks()
    bz.assert_orders()
    bz.assert_next_unused()


def test_concurrent_lookups_see_consistent_data(bz):
    errors = []

    def reader():
        conn = bz.connection()
        try:
            for _ in range(20):
                r = bz.get("/stocks", conn=conn)
                if r.status != 200 or len(r.body["data"]) != len(INITIAL):
                    errors.append(r)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            conn.close()
    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    bz.assert_unchanged()


def test_metrics(bz):
    bz.get("/stocks/apple")
    r = bz.get("/metrics")
    assert r.status == 200, r
    ctype = r.headers.get("content-type", "")
    assert ctype.startswith("text/plain") and "version=0.0.4" in ctype, ctype
    text = r.raw.decode()
    for metric in ("bazaar_cache_hits_total", "bazaar_cache_misses_total",
                   "bazaar_cache_evictions_total", "bazaar_cache_invalidations_total",
                   "bazaar_cache_entries"):
        assert any(line.startswith(metric) for line in text.splitlines()), \
            "%s missing from /metrics:\n%s" % (metric, text[:2000])


def test_model_matches_at_end(bz):
    bz.assert_stocks()
    bz.assert_orders()
    bz.assert_next_unused()


# --------------------------------------------------------------------------
#  Command lines (no system needed)

ALL_BINARIES = SERVICES + ("tap", "client")


def _binary(name):
    path = os.path.join(BIN, "bazaar-" + name)
    if not os.path.exists(path):
        if name not in SERVICES:
            pytest.skip("bazaar-%s is not built" % name)
        pytest.fail("%s is missing (run make build)" % path)
    return path


def _run(argv):
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("%s did not exit within 20 s" % " ".join(argv))


@pytest.mark.parametrize("name", ALL_BINARIES)
def test_cli_help_and_version(name):
    exe = _binary(name)
    r = _run([exe, "--help"])
    out = (r.stdout + r.stderr).decode()
    assert r.returncode == 0, "--help exited %d: %s" % (r.returncode, out)
    assert "--help" in out and "--version" in out, out
    r = _run([exe, "--version"])
    out = (r.stdout + r.stderr).decode()
    assert r.returncode == 0, "--version exited %d: %s" % (r.returncode, out)
    assert any(ch.isdigit() for ch in out), "no version number: %r" % out


@pytest.mark.parametrize("name", ALL_BINARIES)
def test_cli_bad_flag(name):
    exe = _binary(name)
    r = _run([exe, "--no-such-flag"])
    err = (r.stdout + r.stderr).decode()
    assert r.returncode != 0, "a bad flag exited 0: %s" % err
    assert "no-such-flag" in err, "the message does not name the bad flag: %r" % err


@pytest.mark.parametrize("argv", [
    ["gateway", "--port", "notaport"],
    ["gateway", "--port", "70000"],
    ["gateway", "--cache-size", "-1"],
    ["order", "--id", "0"],
    ["order", "--id", "abc"],
    ["broker", "--heartbeat-expiry", "soon"],
    ["catalog", "-c", "/nonexistent/bazaar.cfg"],
])
def test_cli_bad_value(argv):
    exe = _binary(argv[0])
    r = _run([exe] + argv[1:])
    err = (r.stdout + r.stderr).decode()
    assert r.returncode != 0, "%s exited 0: %s" % (" ".join(argv), err)
    assert err.strip(), "no message for %s" % " ".join(argv)


def test_sigterm_exits_cleanly(bazaar_bin):
    with Bazaar(bin_dir=bazaar_bin) as sys_:
        sys_.trade("apple", "buy", 1)
        for name in ("gateway", "order", "catalog", "broker"):
            rc = sys_.stop(name)
            assert rc == 0, "%s exited with %s on SIGTERM:\n%s" % (
                name, rc, sys_.log_tail(name, 60))
        sys_.check_healthy()
