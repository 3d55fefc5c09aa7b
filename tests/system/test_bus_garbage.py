"""Garbage on the bus: the broker, the workers and the gateway drop what they
cannot decode (with a log line) and keep serving.

Talks ZeroMQ without pyzmq: a minimal ZMTP 3.0 peer (NULL mechanism) over a
plain TCP socket, and a minimal msgpack codec, both below.  Message layout
from msgs/msgs.h: [version, type, fields...].
"""

import os
import random
import re
import socket
import threading
import time

import pytest

from harness import (Bazaar, ERROR, ERR_STOCK_NOT_FOUND, ERR_TXN_NOT_FOUND, HEARTBEAT,
                     INITIAL, LIST, LOOKUP, MSG_VERSION, NO_DEADLINE, ORDER, QUERY, RANGE,
                     RETIRED_APPLY, STOCK, STOCKS, TRADE, Zmtp, assert_json, heartbeat_frame, lookup_frame,
                     packb, request_reply, unpackb, wait_until)

#  What a log line about a dropped message looks like.
DROP_RE = r"drop|discard|ignor|reject|refus|invalid|malformed|bad|garbage|decod|unexpected"


# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bz(bazaar_bin):
    #  no gateway cache: every lookup really crosses the bus
    with Bazaar(cache_size=0, bin_dir=bazaar_bin) as system:
        yield system


def assert_api_works(bz):
    bz.assert_stock("apple")
    bz.assert_stocks()
    bz.assert_next_unused()


def test_fake_client_roundtrip(bz):
    """Sanity check of this file's ZMTP/msgpack against the real broker."""
    z = Zmtp(bz.ports["broker"])
    try:
        reply, _ = request_reply(z, lookup_frame(7, "apple"), 7)
        assert reply[:4] == [MSG_VERSION, STOCK, 7, "apple"], reply
        assert reply[4] == 152.59 and reply[5] == bz.qty["apple"], reply
        reply, _ = request_reply(z, lookup_frame(8, "nosuch"), 8)
        assert reply[:4] == [MSG_VERSION, ERROR, 8, ERR_STOCK_NOT_FOUND], reply
        reply, _ = request_reply(z, packb([MSG_VERSION, QUERY, 9, 999999999, NO_DEADLINE]), 9)
        assert reply[:4] == [MSG_VERSION, ERROR, 9, ERR_TXN_NOT_FOUND], reply
        reply, _ = request_reply(z, packb([MSG_VERSION, LIST, 10, 0, NO_DEADLINE]), 10)
        assert reply[:3] == [MSG_VERSION, STOCKS, 10], reply
        assert [s[0] for s in reply[3]] == sorted(INITIAL), reply
    finally:
        z.close()


_rng = random.Random(1234)

GARBAGE = [
    ("random-bytes", [bytes(_rng.randrange(256) for _ in range(64))]),
    ("empty-frame", [b""]),
    ("reserved-byte-c1", [b"\xc1"]),
    ("msgpack-map", [packb({"type": 10, "name": "apple"})]),
    ("msgpack-string", [packb("hello")]),
    ("msgpack-int", [packb(5)]),
    ("empty-array", [packb([])]),
    ("wrong-field-types", [packb([MSG_VERSION, LOOKUP, "x", 5, "y", 0])]),
    ("trailing-bytes", [lookup_frame(1, "apple") + b"\x00"]),
    ("unknown-version", [packb([99, LOOKUP, 1, "apple", 0, 0])]),
    ("unknown-type", [packb([MSG_VERSION, 250, 1])]),
    ("too-few-fields", [packb([MSG_VERSION, LOOKUP])]),
    ("too-many-fields", [packb([MSG_VERSION, LOOKUP, 1, "apple", 0, 0, "extra"])]),
    ("lookup-old-shape", [packb([MSG_VERSION, LOOKUP, 1, "apple", 0])]),
    ("negative-position", [packb([MSG_VERSION, LOOKUP, 1, "apple", -1, 0])]),
    ("name-too-long", [packb([MSG_VERSION, LOOKUP, 1, "a" * 1000, 0, 0])]),
    ("negative-req-id", [packb([MSG_VERSION, LOOKUP, -1, "apple", 0, 0])]),
    ("float-req-id", [packb([MSG_VERSION, LOOKUP, 1.5, "apple", 0, 0])]),
    ("nil-fields", [packb([MSG_VERSION, LOOKUP, None, None, None, None])]),
    ("bin-name", [packb([MSG_VERSION, LOOKUP, 1, b"apple", 0, 0])]),
    ("reply-from-client", [packb([MSG_VERSION, STOCK, 1, "apple", 1.5, 1, 1])]),
    ("error-from-client", [packb([MSG_VERSION, ERROR, 1, 7, "service unavailable"])]),
    ("array-len-4G", [b"\xdd\xff\xff\xff\xff\x01"]),
    ("deep-nesting", [b"\x91" * 100000 + b"\x01"]),
    ("str-len-lies", [b"\x94\x01\x0a\x01\xdb\xff\xff\xff\xffabc"]),
    ("two-frames", [b"\x01\x02", lookup_frame(1, "apple")]),
    ("three-frames", [b"", b"garbage", b"\xff\xff"]),
    ("one-mib-random", [os.urandom(1 << 20)]),
    ("heartbeat-wrong-types", [packb([MSG_VERSION, HEARTBEAT, 5, "x", "y", 1, 2])]),
    ("heartbeat-unknown-service", [packb([MSG_VERSION, HEARTBEAT, "a" * 100, 0, 1, "", ""])]),
    ("retired-apply", [packb([MSG_VERSION, RETIRED_APPLY, 1, "amc", 0, 1, "", 0, 0, 0])]),
    ("trade-bad-side", [packb([MSG_VERSION, TRADE, 1, "amc", 2, 1, "", 0])]),
    ("trade-huge-quantity", [packb([MSG_VERSION, TRADE, 1, "amc", 0, 1 << 40, "", 0])]),
]


@pytest.mark.parametrize("frames", [g[1] for g in GARBAGE], ids=[g[0] for g in GARBAGE])
def test_garbage_to_broker_is_dropped(bz, frames, request):
    since = bz.log_size("broker")
    since_all = {n: bz.log_size(n) for n in ("broker", "catalog", "order")}
    z = Zmtp(bz.ports["broker"])
    try:
        z.send(frames)
        #  the broker still serves this very peer afterwards
        req_id = 4242
        reply, others = request_reply(z, lookup_frame(req_id, "apple"), req_id)
        assert reply[:4] == [MSG_VERSION, STOCK, req_id, "apple"], reply
        assert reply[5] == bz.qty["apple"], reply
    finally:
        z.close()
    #  nothing but an ERROR may ever answer garbage
    for other in others:
        assert isinstance(other, list) and other[:2] == [MSG_VERSION, ERROR], \
            "garbage got a reply that is not an ERROR: %r" % (other,)
    if request.node.callspec.id.startswith("trade-"):
        #  well-formed msgpack with out-of-range fields: the codec drops
        #  them (broker, or the worker it reaches) or the worker refuses
        #  them with an ERROR reply
        if not others:
            wait_until(lambda: any(re.search(DROP_RE, bz.log_since(n, since_all[n]), re.I)
                                   for n in since_all), 10,
                       "an ERROR reply or a log line about the dropped message")
    else:
        bz.wait_log("broker", DROP_RE, since=since, timeout=10)
    assert bz.qty["amc"] == 1000
    assert_api_works(bz)


def test_garbage_raw_tcp_to_every_port(bz):
    for key in ("broker", "tap", "catalog_pub", "order_pub", "order_rep"):
        for junk in (b"GET / HTTP/1.0\r\n\r\n", os.urandom(300),
                     b"\xff" + b"\x00" * 8 + b"\x7f\x03\x00GARBAGE" + b"\x00" * 60):
            try:
                s = socket.create_connection(("127.0.0.1", bz.ports[key]), timeout=5)
            except ConnectionRefusedError:
                assert key == "order_rep", "nothing listens on %s" % key
                continue   # the replica may not bind its REP yet (one replica)
            try:
                s.sendall(junk)
                s.settimeout(0.3)
                try:
                    s.recv(4096)
                except (socket.timeout, ConnectionError):
                    pass
            finally:
                s.close()
    z = Zmtp(bz.ports["broker"])
    try:
        reply, _ = request_reply(z, lookup_frame(5, "tesla"), 5)
        assert reply[:4] == [MSG_VERSION, STOCK, 5, "tesla"], reply
    finally:
        z.close()
    assert_api_works(bz)


def test_garbage_to_order_replica_rep(bz):
    try:
        socket.create_connection(("127.0.0.1", bz.ports["order_rep"]), timeout=5).close()
    except ConnectionRefusedError:
        pytest.skip("the order replica does not listen on its --rep endpoint")
    since = bz.log_size("order")
    for junk in (b"", b"\xc1", os.urandom(50), packb({"a": 1}),
                 lookup_frame(1, "apple") + b"\x00", packb([MSG_VERSION, 250, 1]),
                 packb([MSG_VERSION, RANGE, "x", -1, None]), b"\x91" * 50000):
        z = Zmtp(bz.ports["order_rep"], socket_type="REQ")
        try:
            z.send(junk)
            z.recv(timeout=1.0)   # an error reply is fine; so is none
        finally:
            z.close()
    bz.wait_log("order", DROP_RE, since=since, timeout=10)
    bz.trade("apple", "buy", 1)
    bz.trade("apple", "sell", 1)
    bz.assert_orders()
    assert_api_works(bz)


def test_fake_catalog_worker_sends_garbage_replies(bz):
    """A fake worker registers for 'catalog' and answers every request it
    gets with garbage.  The gateway (and an order replica, if it asks) must
    drop those replies: requests it got answer 503 (or 500), never a
    crash; once it is gone every lookup is exact again.  The real catalog
    is stopped first, so that every lookup reaches the fake one."""
    bz.stop("catalog")
    gw_since = bz.log_size("gateway")
    z = Zmtp(bz.ports["broker"])
    incarnation = random.Random().randrange(1, 1 << 62)
    heartbeat = heartbeat_frame("catalog", 0, incarnation)
    answers = [
        lambda rid: [os.urandom(40)],
        lambda rid: [b""],
        lambda rid: [packb([MSG_VERSION, STOCK, rid, "apple", 1.0, 5, 1]) + b"\x00"],
        lambda rid: [packb([MSG_VERSION, STOCK, rid, "apple", "x", -5, 1])],
        lambda rid: [packb([MSG_VERSION, STOCK, rid ^ 0x5a5a, "apple", 1.0, 5, 1])],
        lambda rid: [packb([MSG_VERSION, ORDER, rid, 1, "apple", 0, 1])],
        lambda rid: [packb([MSG_VERSION, 250, rid])],
        lambda rid: [packb([MSG_VERSION, STOCK, rid, "a" * 500, 1.0, 5, 1])],
    ]
    got = []
    stop = threading.Event()
    errors = []

    def fake_worker():
        last_hb = 0.0
        try:
            while not stop.is_set():
                if time.monotonic() - last_hb > 0.2:
                    z.send(heartbeat)
                    last_hb = time.monotonic()
                msg = z.recv(timeout=0.1)
                if msg is None or len(msg) < 2:
                    continue
                envelope, frame = msg[0], msg[-1]
                try:
                    request = unpackb(frame)
                    rid = request[2]
                except (ValueError, IndexError, TypeError, UnicodeDecodeError):
                    continue
                answer = answers[len(got) % len(answers)](rid if isinstance(rid, int) else 0)
                got.append(request)
                z.send([envelope] + answer)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    worker = threading.Thread(target=fake_worker, daemon=True)
    worker.start()
    statuses = []
    try:
        z_hb_deadline = time.monotonic() + 30
        names = sorted(INITIAL)
        while len(got) < len(answers) and time.monotonic() < z_hb_deadline and not errors:
            batch = []

            def look(name):
                try:
                    statuses.append(bz.get("/stocks/" + name).status)
                except Exception as exc:  # noqa: BLE001
                    statuses.append(repr(exc))
            for name in names:
                t = threading.Thread(target=look, args=(name,))
                t.start()
                batch.append(t)
            for t in batch:
                t.join(30)
    finally:
        stop.set()
        worker.join(10)
        z.close()
    assert not errors, errors
    assert len(got) >= len(answers), \
        "the broker routed %d lookups to the fake catalog worker, expected %d: %r" % (
            len(got), len(answers), statuses)
    bad = [s for s in statuses if s not in (200, 500, 503)]
    assert not bad, "lookups while the fake worker answered garbage: %r" % statuses
    #  once the fake worker has expired and the real one is back, everything
    #  is exact again
    bz.start("catalog")
    wait_until(lambda: all(bz.get("/stocks/" + n).status == 200 for n in INITIAL), 20,
               "lookups to succeed after the fake worker went away")
    for _ in range(3):
        assert_api_works(bz)
    bz.trade("apple", "buy", 2)
    assert_api_works(bz)
    text = bz.log_since("gateway", gw_since)
    assert re.search(DROP_RE, text, re.I), \
        "the gateway did not log dropping %d garbage replies:\n%s" % (len(got), text[-3000:])


def test_still_consistent_at_end(bz):
    assert_api_works(bz)
    bz.assert_orders()
    r = bz.get("/stocks/amc")
    assert_json(r.body, {"data": {"name": "amc", "price": 4.78, "quantity": 1000}})
