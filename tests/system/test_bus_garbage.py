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
import struct
import threading
import time

import pytest

from wire import Raw, packb, unpackb  # noqa: F401 (other tests import them from here)

from conftest import INITIAL, Bazaar, assert_json, wait_until

MSG_VERSION = 1
HEARTBEAT, LOOKUP, LIST, APPLY, JOURNAL, TRADE, QUERY = 1, 10, 11, 12, 13, 20, 21
STOCK, STOCKS, COMMITTED, ORDER, TRADES, ERROR = 40, 41, 42, 43, 44, 49
ERR_STOCK_NOT_FOUND, ERR_TXN_NOT_FOUND = 1, 2
NO_DEADLINE = 0   # requests end with a deadline field (ms since the epoch, 0: none)

#  What a log line about a dropped message looks like.
DROP_RE = r"drop|discard|ignor|reject|refus|invalid|malformed|bad|garbage|decod|unexpected"


#  msgpack, just enough: wire.py (shared with the other suites)


# --------------------------------------------------------------------------
#  ZMTP 3.0, NULL mechanism, just enough to be a DEALER or a REQ peer

class Zmtp:
    def __init__(self, port, socket_type="DEALER", identity=b"", timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.timeout = timeout
        self.socket_type = socket_type
        self._buf = bytearray()    # bytes received, not yet a whole message
        greeting = (b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00")
                    + b"\x00" + b"\x00" * 31)
        self.sock.sendall(greeting)
        peer = self._recv_exact(64)
        if peer[0] != 0xff or peer[9] != 0x7f or peer[10] < 3:
            raise ConnectionError("not a ZMTP 3 peer: %r" % peer[:12])
        props = self._prop(b"Socket-Type", socket_type.encode())
        if socket_type in ("DEALER", "REQ"):
            props += self._prop(b"Identity", identity)
        self._send_frame(b"\x05READY" + props, command=True)
        flags, body = self._recv_frame()
        if not flags & 0x04 or not body.startswith(b"\x05READY"):
            raise ConnectionError("expected READY, got %r" % body[:40])

    @staticmethod
    def _prop(name, value):
        return bytes([len(name)]) + name + struct.pack(">I", len(value)) + value

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("peer closed the connection")
            buf += chunk
        return buf

    def _send_frame(self, body, more=False, command=False):
        flags = (0x01 if more else 0) | (0x04 if command else 0)
        if len(body) > 255:
            head = bytes([flags | 0x02]) + struct.pack(">Q", len(body))
        else:
            head = bytes([flags, len(body)])
        self.sock.settimeout(self.timeout)     # recv may have left a short one
        self.sock.sendall(head + body)

    def _recv_frame(self):
        flags = self._recv_exact(1)[0]
        if flags & 0x02:
            size = struct.unpack(">Q", self._recv_exact(8))[0]
        else:
            size = self._recv_exact(1)[0]
        return flags, self._recv_exact(size)

    def send(self, frames):
        """Send one message of one or more frames (REQ adds the delimiter)."""
        if isinstance(frames, bytes):
            frames = [frames]
        if self.socket_type == "REQ":
            frames = [b""] + list(frames)
        for i, frame in enumerate(frames):
            self._send_frame(frame, more=i < len(frames) - 1)

    def _take(self):
        """One whole message from the buffer (answering PINGs), or None."""
        buf, pos, frames = self._buf, 0, []
        while True:
            if len(buf) < pos + 2:
                return None
            flags = buf[pos]
            if flags & 0x02:
                if len(buf) < pos + 9:
                    return None
                size, head = struct.unpack_from(">Q", buf, pos + 1)[0], 9
            else:
                size, head = buf[pos + 1], 2
            end = pos + head + size
            if len(buf) < end:
                return None
            body = bytes(buf[pos + head:end])
            pos = end
            if flags & 0x04:              # a command, between messages
                if body[1:5] == b"PING":
                    self._send_frame(b"\x04PONG" + body[1 + 4 + 2:], command=True)
                if not frames:
                    del buf[:pos]
                    pos = 0
                continue
            frames.append(body)
            if not flags & 0x01:
                del buf[:pos]
                return frames

    def recv(self, timeout=None):
        """Receive one message (list of frames); None on timeout. Bytes go
        to a buffer and only whole messages leave it, so a timeout between
        or inside a message's frames loses nothing."""
        #  A deadline, not a socket timeout alone: the peer's ZMTP PINGs
        #  (every 250 ms) would restart a per-read timeout forever.
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            frames = self._take()
            if frames is not None:
                break
            left = self.timeout if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                return None
            if not chunk:
                raise ConnectionError("peer closed the connection")
            self._buf += chunk
        if self.socket_type == "REQ" and b"" in frames:
            frames = frames[frames.index(b"") + 1:]
        return frames

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def lookup_frame(req_id, name):
    return packb([MSG_VERSION, LOOKUP, req_id, name, NO_DEADLINE])


def heartbeat_frame(service, replica_id, incarnation, pub="", rep="", number=0, epoch=0,
                    role=0, in_sync=()):
    """A worker's HEARTBEAT as msgs.h defines it ("sRiabNeoI")."""
    return packb([MSG_VERSION, HEARTBEAT, service, replica_id, incarnation, pub, rep, number,
                  epoch, role, list(in_sync)])


def request_reply(z, frame, req_id, timeout=10.0):
    """Send a request frame and wait for the reply carrying req_id
    (other replies are collected in the second return value)."""
    z.send(frame)
    others = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = z.recv(timeout=max(0.1, deadline - time.monotonic()))
        if msg is None:
            break
        try:
            reply = unpackb(msg[-1])
        except (ValueError, UnicodeDecodeError):
            others.append(msg)
            continue
        if isinstance(reply, list) and len(reply) > 2 and reply[2] == req_id:
            return reply, others
        others.append(reply)
    raise AssertionError("no reply with req_id %d within %.0f s (other messages: %r)"
                         % (req_id, timeout, others[:5]))


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
        reply, _ = request_reply(z, packb([MSG_VERSION, LIST, 10, NO_DEADLINE]), 10)
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
    ("wrong-field-types", [packb([MSG_VERSION, LOOKUP, "x", 5, 0])]),
    ("trailing-bytes", [lookup_frame(1, "apple") + b"\x00"]),
    ("unknown-version", [packb([99, LOOKUP, 1, "apple", 0])]),
    ("unknown-type", [packb([MSG_VERSION, 250, 1])]),
    ("too-few-fields", [packb([MSG_VERSION, LOOKUP])]),
    ("too-many-fields", [packb([MSG_VERSION, LOOKUP, 1, "apple", 0, "extra"])]),
    ("name-too-long", [packb([MSG_VERSION, LOOKUP, 1, "a" * 1000, 0])]),
    ("negative-req-id", [packb([MSG_VERSION, LOOKUP, -1, "apple", 0])]),
    ("float-req-id", [packb([MSG_VERSION, LOOKUP, 1.5, "apple", 0])]),
    ("nil-fields", [packb([MSG_VERSION, LOOKUP, None, None, None])]),
    ("bin-name", [packb([MSG_VERSION, LOOKUP, 1, b"apple", 0])]),
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
    ("apply-bad-side", [packb([MSG_VERSION, APPLY, 1, "amc", 7, 1, "", 0, 0, 0])]),
    ("apply-zero-quantity", [packb([MSG_VERSION, APPLY, 1, "amc", 0, 0, "", 0, 0, 0])]),
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
    if request.node.callspec.id.startswith(("apply-", "trade-")):
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
                 packb([MSG_VERSION, JOURNAL, "x", -1, None, 0]), b"\x91" * 50000):
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
    crash; once it is gone every lookup is exact again."""
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
    if not got:
        pytest.skip("the broker never routed a request to a second catalog worker")
    bad = [s for s in statuses if s not in (200, 500, 503)]
    assert not bad, "lookups while the fake worker answered garbage: %r" % statuses
    #  once the fake worker has expired, everything is exact again
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
