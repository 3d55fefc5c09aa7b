"""ZeroMQ without pyzmq, for tests: a minimal ZMTP 3.0 peer (NULL
mechanism) over a plain TCP socket, the frames of the messages tests
forge (msgs/msgs.h: [version, type, fields...]), and a fake catalog
publisher that a gateway's SUB connects to.
"""

import socket
import struct
import threading
import time

from harness.util import free_ports, wait_until
from harness.wire import packb, unpackb

ZMTP_WAIT = 10.0    # bound for every wait here; never what a test measures

MSG_VERSION = 1
HEARTBEAT, LOOKUP, LIST, TRADE, QUERY, RANGE = 1, 10, 11, 20, 21, 22
RETIRED_APPLY = 12   # a type gone with consensus: its code names nothing now
STOCK, STOCKS, COMMITTED, ORDER, TRADES, ERROR = 40, 41, 42, 43, 44, 49
ERR_STOCK_NOT_FOUND, ERR_TXN_NOT_FOUND = 1, 2
NO_DEADLINE = 0   # requests end with a deadline field (ms since the epoch, 0: none)
INVALIDATE = 60


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
    return packb([MSG_VERSION, LOOKUP, req_id, name, 0, NO_DEADLINE])   # position 0: at once


def heartbeat_frame(service, replica_id, incarnation, pub="", rep="", number=0, epoch=0,
                    role=0, in_sync=(), silent_leader=0):
    """A worker's HEARTBEAT as msgs.h defines it ("sRiabAeoIx")."""
    return packb([MSG_VERSION, HEARTBEAT, service, replica_id, incarnation, pub, rep, number,
                  epoch, role, list(in_sync), silent_leader])


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
#  A fake catalog publisher

def invalidate_frame(incarnation, seq, name, version):
    return packb([MSG_VERSION, INVALIDATE, incarnation, seq, name, version])


def beacon_frame(incarnation, seq):
    """The catalog's beacon: an INVALIDATE with an empty name, version 0,
    and seq the last one published (not a new one)."""
    return invalidate_frame(incarnation, seq, "", 0)


BEACON_INTERVAL = 0.1   # as the catalog
SILENCE = 1.0           # the gateway's limit without a message


class FakePublisher:
    """Listens like the catalog's PUB; speaks ZMTP 3.0 (NULL) to one
    subscriber at a time and sends it whatever frames the test asks for.

    Like the catalog it beacons every 100 ms (once beating) with its
    current (incarnation, seq), which publish() advances; lose() advances
    seq without sending, as if the invalidations had been dropped. One lock
    orders beacons and the test's frames on the wire."""

    def __init__(self):
        self.port = free_ports(1)[0]
        self.relisten()
        self.peer = None
        self.accepts = 0
        self.incarnation = 5
        self.seq = 0
        self.beating = False
        self.beacons = 0
        self.lock = threading.RLock()
        self.closing = threading.Event()
        self.beater = threading.Thread(target=self._beat, daemon=True)
        self.beater.start()

    @property
    def endpoint(self):
        return "tcp://127.0.0.1:%d" % self.port

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.peer.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("subscriber closed the connection")
            buf += chunk
        return buf

    def _recv_frame(self):
        flags = self._recv_exact(1)[0]
        size = struct.unpack(">Q", self._recv_exact(8))[0] if flags & 0x02 else \
            self._recv_exact(1)[0]
        return flags, self._recv_exact(size)

    def _send_frame(self, body, command=False):
        assert len(body) < 256
        self.peer.sendall(bytes([0x04 if command else 0x00, len(body)]) + body)

    def _beat(self):
        while not self.closing.wait(BEACON_INTERVAL):
            with self.lock:
                if self.beating and self.peer:
                    try:
                        self._send_frame(beacon_frame(self.incarnation, self.seq))
                        self.beacons += 1
                    except OSError:
                        pass

    def accept(self, beat=True):
        """Accept the gateway's SUB and complete the handshake; then beacon
        unless beat is False."""
        with self.lock:
            self.peer, _ = self.listener.accept()
            self.peer.settimeout(ZMTP_WAIT)
            self.accepts += 1
            self.peer.sendall(b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00"
                              + b"NULL".ljust(20, b"\x00") + b"\x00" + b"\x00" * 31)
            greeting = self._recv_exact(64)
            assert greeting[0] == 0xff and greeting[9] == 0x7f, greeting
            props = b"\x0bSocket-Type" + struct.pack(">I", 3) + b"PUB"
            self._send_frame(b"\x05READY" + props, command=True)
            flags, body = self._recv_frame()
            assert flags & 0x04 and body.startswith(b"\x05READY"), body
            flags, body = self._recv_frame()       # the subscription to everything
            assert body[:1] == b"\x01" or b"SUBSCRIBE" in body, body
            self.beating = beat

    def send(self, frame):
        """Send any frame, the beacon state unchanged."""
        with self.lock:
            self._send_frame(frame)

    def publish(self, incarnation, seq, name, version):
        """Send an invalidation; later beacons carry its incarnation and seq."""
        with self.lock:
            self.incarnation, self.seq = incarnation, seq
            self._send_frame(invalidate_frame(incarnation, seq, name, version))

    def lose(self, count):
        """Publish count invalidations that never reach the subscriber."""
        with self.lock:
            self.seq += count

    def beat(self, on):
        """Start or stop beaconing; no beacon is sent after beat(False)."""
        with self.lock:
            self.beating = on

    def wait_beacons(self, count):
        """Wait until count more beacons have been sent."""
        with self.lock:
            target = self.beacons + count
        wait_until(lambda: self.beacons >= target, ZMTP_WAIT, "%d beacons" % count)

    def drop(self):
        """Close the subscriber's connection and stop listening, so its
        reconnection attempts are refused until relisten."""
        with self.lock:
            self.peer.close()
            self.peer = None
            self.listener.close()

    def relisten(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(4)
        self.listener.settimeout(ZMTP_WAIT)

    def close(self):
        self.closing.set()
        self.beater.join()
        if self.peer:
            self.peer.close()
        self.listener.close()
