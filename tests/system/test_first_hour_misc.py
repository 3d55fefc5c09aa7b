"""What a newcomer trips over in the first hour (issue 21, items 6 to 8):
HTTP/2 is not offered, logs do not flood, and the smaller things (the
catalog's role, --stocks files, the catalog's files, recovery log lines,
the Idempotency-Key limit, verify on a busy system).
"""

import os
import socket
import time

import pytest

from harness import Proc, free_ports, http_request, tool, wait_until

HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HTTP2_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"    # an empty SETTINGS frame


@pytest.fixture
def lone_gateway():
    """A gateway with no broker behind it: enough for what HTTP it speaks."""
    port, broker, catalog_pub = free_ports(3)
    proc = Proc([tool("bazaar-gateway"), "--port", str(port),
                 "--broker", "tcp://127.0.0.1:%d" % broker,
                 "--catalog-pub", "tcp://127.0.0.1:%d" % catalog_pub], merge_stderr=True)
    try:
        wait_until(lambda: http_request(port, "GET", "/metrics", timeout=2).status == 200, 20,
                   "the gateway to answer")
        yield port
    finally:
        proc.kill()


def exchange(port, data, timeout=10):
    """Send data, read until the server closes (or timeout): what it sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        got = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                return got, True
            got += chunk
        return got, False


# --------------------------------------------------------------------------
#  Item 7: HTTP/1.1 only (SPEC §1). With HTTP/2 on, a 70 KB body got
#  REFUSED_STREAM instead of the JSON 413; now HTTP/2 is not offered.

def test_http2_prior_knowledge_is_not_offered(lone_gateway):
    got, closed = exchange(lone_gateway, HTTP2_PREFACE + HTTP2_SETTINGS)
    #  An HTTP/2 server answers the preface with its SETTINGS frame
    #  (9-byte header, type 0x04).
    assert not (len(got) >= 9 and got[3] == 0x04), \
        "the gateway speaks HTTP/2 with prior knowledge: %r" % got[:40]
    assert closed and (got == b"" or got.startswith(b"HTTP/1.1 ")), got[:200]


def test_h2c_upgrade_is_not_offered(lone_gateway):
    request = (b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
               b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
    got, _ = exchange(lone_gateway, request, timeout=3)
    assert got.startswith(b"HTTP/1.1 200"), got[:200]


def test_large_body_is_a_json_413_over_http11(lone_gateway):
    body = b'{"name":"apple","type":"buy","quantity":1,"pad":"' + b"x" * 70000 + b'"}'
    r = http_request(lone_gateway, "POST", "/orders", body=body)
    assert r.status == 413 and r.body == {"error": {"code": 413, "message": "request too large"}}, r
