"""HTTP details of SPEC section 2 (issue 11, item 12): HEAD wherever GET
works, absolute-form request lines, and order numbers beyond 64 bits.

HEAD answers with the status and headers GET would give and no body; the
check that no body was sent is a GET right after it on the same keep-alive
connection, which a stray body would garble.
"""

import json
import socket
import time

import pytest

from harness import assert_error, assert_json, error_body

NOT_FOUND = (404, "not found")
NO_ORDER = (404, "transaction not found")
BAD_ORDER = (400, "invalid order number")


@pytest.fixture(scope="module")
def bz(shared_bazaar):
    return shared_bazaar


def raw_exchange(port, request, timeout=10):
    """Send request bytes on a fresh connection; return the raw answer up to
    the end of its body (by Content-Length) or until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b"\r\n\r\n" in data:
                head, body = data.split(b"\r\n\r\n", 1)
                length = [int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if length and len(body) >= length[0]:
                    return data
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def split_answer(raw):
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


# --------------------------------------------------------------------------
#  HEAD

HEAD_PATHS = ["/stocks/apple", "/stocks", "/stocks/nosuch", "/orders/0", "/orders/abc",
              "/orders/999999999", "/nope", "/orders"]


@pytest.mark.parametrize("path", HEAD_PATHS)
def test_head_like_get_without_body(bz, path):
    if path == "/orders/0" and not bz.orders:
        bz.trade("apple", "buy", 1)
    conn = bz.connection()
    try:
        get = bz.get(path, conn=conn)
        conn.request("HEAD", path)
        resp = conn.getresponse()
        head_body = resp.read()
        head_headers = {k.lower(): v for k, v in resp.getheaders()}
        #  A body after the HEAD answer would be read as the next status line.
        again = bz.get(path, conn=conn)
    finally:
        conn.close()
    assert resp.status == get.status, (path, resp.status, get)
    assert head_body == b"", (path, head_body)
    for name in ("content-type", "content-length", "allow"):
        assert head_headers.get(name) == get.headers.get(name), (path, name, head_headers, get)
    assert (again.status, again.raw) == (get.status, get.raw), (path, again, get)
    bz.assert_unchanged()


def test_head_raw_has_no_body(bz):
    raw = raw_exchange(bz.port, b"HEAD /stocks/apple HTTP/1.1\r\nHost: x\r\n"
                                b"Connection: close\r\n\r\n")
    status, headers, body = split_answer(raw)
    assert status == 200, raw
    assert int(headers["content-length"]) > 0, raw
    assert headers["content-type"].startswith("application/json"), raw
    assert body == b"", raw


def test_head_of_metrics(bz):
    conn = bz.connection()
    try:
        conn.request("HEAD", "/metrics")
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.read() == b""
        assert resp.getheader("content-type").startswith("text/plain")
        assert bz.get("/metrics", conn=conn).status == 200
    finally:
        conn.close()


@pytest.mark.parametrize("path,allowed", [("/stocks/apple", "GET"), ("/orders/0", "GET"),
                                          ("/stocks", "GET"), ("/metrics", "GET")])
def test_allow_names_head_for_get_routes(bz, path, allowed):
    r = bz.request("DELETE", path)
    assert_error(r, 405, "method not allowed", "DELETE " + path)
    methods = {m.strip().upper() for m in r.headers["allow"].split(",")}
    assert methods == {"GET", "HEAD"}, r.headers


def test_head_of_post_route_is_405(bz):
    r = bz.request("HEAD", "/orders")
    assert r.status == 405, r
    assert r.raw == b"", r
    assert {m.strip() for m in r.headers["allow"].split(",")} == {"POST"}, r.headers


# --------------------------------------------------------------------------
#  Absolute-form request lines (RFC 7230 section 5.3.2)

def test_absolute_form_lookup(bz):
    for target in (b"http://127.0.0.1:%d/stocks/apple" % bz.port,
                   b"http://example.com/stocks/apple?x=1", b"HTTP://HOST/stocks/apple",
                   b"https://h/stocks/apple"):
        raw = raw_exchange(bz.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n"
                                    b"Connection: close\r\n\r\n")
        status, headers, body = split_answer(raw)
        assert status == 200, (target, raw)
        assert_json(json.loads(body), {"data": bz.expected_stock("apple")}, target.decode())


def test_absolute_form_without_path_is_root(bz):
    for target in (b"http://h", b"http://h?x=/stocks"):
        raw = raw_exchange(bz.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n"
                                    b"Connection: close\r\n\r\n")
        status, _, body = split_answer(raw)
        #  "/" is whatever GET / is (404 until a page is served there)
        root = bz.get("/")
        assert status == root.status, (target, raw, root)


def test_absolute_form_trade_and_query(bz):
    body = json.dumps({"name": "ford", "type": "sell", "quantity": 3}).encode()
    raw = raw_exchange(bz.port, b"POST http://h/orders HTTP/1.1\r\nHost: h\r\n"
                                b"Content-Type: application/json\r\nContent-Length: %d\r\n"
                                b"Connection: close\r\n\r\n%s" % (len(body), body))
    status, _, answer = split_answer(raw)
    assert status == 200, raw
    number = json.loads(answer)["data"]["transaction_number"]
    assert number == len(bz.orders), raw
    bz.record(number, "ford", "sell", 3)
    raw = raw_exchange(bz.port, b"GET http://h/orders/%d HTTP/1.1\r\nHost: h\r\n"
                                b"Connection: close\r\n\r\n" % number)
    status, _, answer = split_answer(raw)
    assert status == 200, raw
    assert_json(json.loads(answer), {"data": bz.orders[number]})
    bz.assert_unchanged()


def test_absolute_form_unknown_path(bz):
    raw = raw_exchange(bz.port, b"GET http://h/nope HTTP/1.1\r\nHost: h\r\n"
                                b"Connection: close\r\n\r\n")
    status, _, body = split_answer(raw)
    assert (status, json.loads(body)) == (404, error_body(*NOT_FOUND)), raw


# --------------------------------------------------------------------------
#  Order numbers beyond 64 bits: no such transaction

@pytest.mark.parametrize("number", ["18446744073709551616", "99999999999999999999",
                                    "1" + "0" * 40, "0" + "9" * 30])
def test_order_number_beyond_64_bits_is_404(bz, number):
    r = bz.get("/orders/" + number)
    assert_error(r, *NO_ORDER, what="GET /orders/" + number)


@pytest.mark.parametrize("number", ["18446744073709551615", "00000000000000000000099"])
def test_order_number_within_64_bits_is_404(bz, number):
    r = bz.get("/orders/" + number)
    assert_error(r, *NO_ORDER, what="GET /orders/" + number)


@pytest.mark.parametrize("number", ["-1", "abc", "1.5", "0x1", "1e3", "1a", "",
                                    "18446744073709551616x", "9" * 30 + "a"])
def test_order_number_not_digits_is_400(bz, number):
    r = bz.get("/orders/" + number)
    assert_error(r, *BAD_ORDER, what="GET /orders/" + number)


def test_status_lines_name_their_status(bz):
    """Each answer's status line carries the status's reason phrase
    (RFC 9110 15), not "Unknown": 422 and 504 once did."""
    key = "reason-%d" % time.monotonic_ns()
    first = json.dumps({"name": "apple", "type": "buy", "quantity": 1}).encode()
    other = json.dumps({"name": "apple", "type": "buy", "quantity": 2}).encode()
    phrases = {}
    for name, body, expected in (("first", first, 200), ("other", other, 422)):
        answer = raw_exchange(bz.port, b"POST /orders HTTP/1.1\r\nHost: x\r\n"
                              b"Idempotency-Key: " + key.encode() + b"\r\n"
                              b"Content-Type: application/json\r\nConnection: close\r\n"
                              b"Content-Length: %d\r\n\r\n" % len(body) + body)
        line = answer.split(b"\r\n", 1)[0].decode()
        assert line.startswith("HTTP/1.1 %d " % expected), (name, line)
        phrases[expected] = line.split(" ", 2)[2]
        if expected == 200:
            bz.record(json.loads(answer.split(b"\r\n\r\n", 1)[1])["data"]["transaction_number"],
                      "apple", "buy", 1)
    for path, expected in (("/stocks/dogecoin", 404), ("/orders/x", 400)):
        answer = raw_exchange(bz.port, b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                              % path.encode())
        line = answer.split(b"\r\n", 1)[0].decode()
        assert line.startswith("HTTP/1.1 %d " % expected), (path, line)
        phrases[expected] = line.split(" ", 2)[2]
    assert phrases == {200: "OK", 422: "Unprocessable Content", 404: "Not Found",
                       400: "Bad Request"}, phrases
    bz.assert_unchanged()


# --------------------------------------------------------------------------
#  Host (RFC 9112 section 3.2): an HTTP/1.1 request without one is a 400

NO_HOST = (400, "malformed request: an HTTP/1.1 request needs a Host header")


def test_http11_without_host_is_400_and_trades_nothing(bz):
    body = json.dumps({"name": "ford", "type": "sell", "quantity": 1}).encode()
    for request in (b"GET /stocks/apple HTTP/1.1\r\n",
                    b"GET http://h/stocks/apple HTTP/1.1\r\n",
                    b"GET /nope HTTP/1.1\r\n",
                    b"POST /orders HTTP/1.1\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n" % len(body)):
        has_body = request.startswith(b"POST")
        raw = raw_exchange(bz.port, request + b"Connection: close\r\n\r\n"
                                    + (body if has_body else b""))
        status, _, answer = split_answer(raw)
        assert (status, json.loads(answer)) == (400, error_body(*NO_HOST)), (request, raw)
    bz.assert_unchanged()


def test_host_is_optional_before_http11_and_any_name_serves(bz):
    #  "default" is the name h2o gives a request without Host: one that
    #  says it is still a request with a Host.
    for request in (b"GET /stocks/apple HTTP/1.0\r\n",
                    b"GET /stocks/apple HTTP/1.1\r\nHost: default\r\n"):
        raw = raw_exchange(bz.port, request + b"Connection: close\r\n\r\n")
        status, _, answer = split_answer(raw)
        assert status == 200, (request, raw)
        assert_json(json.loads(answer), {"data": bz.expected_stock("apple")}, request.decode())


# --------------------------------------------------------------------------
#  Percent-encoded names (RFC 3986 section 2.1): the name is the decoded one

def test_percent_encoded_names_are_decoded(bz):
    for path in ("/stocks/%61pple", "/stocks/appl%65",
                 "/stocks/%61%70%70%6C%65?x=%20"):
        assert_json(bz.get(path).body, {"data": bz.expected_stock("apple")}, path)
    for path in ("/stocks/%", "/stocks/appl%6", "/stocks/%zzapple", "/stocks/apple%00",
                 "/stocks/apple%20"):
        assert_error(bz.get(path), 404, "stock not found", what=path)
