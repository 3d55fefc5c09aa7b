"""Message size on the bus (issue 11, item 9): every socket that receives
from the bus refuses a frame over MSG_FRAME_MAX (ZMQ_MAXMSGSIZE: libzmq
drops the connection after reading the frame's length, before it holds
the frame), so a 4 MB frame of a huge msgpack array costs a process no
memory, and it keeps serving.
"""

import socket
import struct

import pytest

from harness import FakePublisher, Zmtp, wait_live, wait_until

FOUR_MB = 4 * 1000 * 1000
#  A process may grow a little for other reasons; a 4 MB frame that is
#  read costs at least 4 MB, unpacked about 24 times that.
GROWTH_MAX_KB = 3 * 1024


def huge_array_frame():
    """One msgpack array of four million positive fixints."""
    n = FOUR_MB - 5
    return b"\xdd" + struct.pack(">I", n) + b"\x01" * n


def peak_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for pid %d" % pid)


def closed_by_peer(z):
    """True once the peer has closed the connection (reads answer EOF)."""
    z.sock.settimeout(0.2)
    try:
        while True:
            chunk = z.sock.recv(65536)
            if not chunk:
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


TARGETS = [
    ("broker", "broker", "DEALER", b""),        # the ROUTER: a request frame
    ("order", "order_rep", "DEALER", b""),      # a replica's REP ROUTER
    ("catalog", "catalog_pub", "SUB", b"\x01"),  # a PUB: a subscription message
    ("order", "order_pub", "SUB", b"\x01"),
    ("broker", "tap", "SUB", b"\x01"),
]


@pytest.mark.parametrize("name,port_key,socket_type,prefix", TARGETS,
                         ids=["%s-%s" % (t[0], t[1]) for t in TARGETS])
def test_four_mb_frame_is_refused_before_it_is_read(shared_bazaar, name, port_key,
                                                    socket_type, prefix):
    bz = shared_bazaar
    pid = bz.pid(name)
    before = peak_kb(pid)
    z = Zmtp(bz.ports[port_key], socket_type=socket_type)
    try:
        try:
            z._send_frame(prefix + huge_array_frame())
        except (ConnectionResetError, BrokenPipeError):
            pass    # refused while it was still being sent: what we want
        wait_until(lambda: closed_by_peer(z), 20,
                   "%s to drop the connection that sent a 4 MB frame" % name)
    finally:
        z.close()
    grown = peak_kb(pid) - before
    assert grown < GROWTH_MAX_KB, "%s grew by %d kB for one refused frame" % (name, grown)
    assert bz.alive(name)
    bz.trade("apple", "buy", 1)
    bz.assert_unchanged()


def test_gateway_sub_refuses_a_four_mb_frame(bazaar_factory):
    pub = FakePublisher()
    try:
        bz = bazaar_factory(start=False, gateway_args=["--catalog-pub", pub.endpoint])
        bz.start_all()
        pub.accept()
        bz.wait_ready()
        wait_live(bz.port)
        before = peak_kb(bz.pid("gateway"))
        with pub.lock:
            frame = huge_array_frame()
            try:
                pub.peer.sendall(b"\x02" + struct.pack(">Q", len(frame)) + frame)
            except (ConnectionResetError, BrokenPipeError):
                pass

        def dropped():
            pub.peer.settimeout(0.2)
            try:
                return pub.peer.recv(65536) == b""
            except socket.timeout:
                return False
            except OSError:
                return True
        with pub.lock:
            wait_until(dropped, 20, "the gateway to drop the publisher that sent 4 MB")
        grown = peak_kb(bz.pid("gateway")) - before
        assert grown < GROWTH_MAX_KB, "the gateway grew by %d kB" % grown
        bz.trade("apple", "buy", 1)
        bz.assert_unchanged()
    finally:
        pub.close()
