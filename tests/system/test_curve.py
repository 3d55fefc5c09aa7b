"""CURVE on the bus (issue 11, item 11; SPEC section 8): with --keys DIR
(made by `bazaar-keys DIR`) every socket uses CURVE, and the broker and
every PUB (and the replicas' REP) admit only the public keys in
DIR/allowed.  A peer without a key cannot register, publish, read or be
answered: the fake order leader of the issue (HEARTBEAT for replica 999,
the highest id) must fail.
"""

import os
import socket
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

from harness import (BIN, MSG_VERSION, Zmtp, canonical_dump, files_identical, free_ports,
                     heartbeat_frame, http_request, packb, wait_until)

ROLE_LEADER = 3


@pytest.fixture(scope="module")
def keys():
    path = tempfile.mkdtemp(prefix="bazaar-keys-")
    subprocess.run([os.path.join(BIN, "bazaar-keys"), path], check=True,
                   capture_output=True, timeout=30)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def secure_system(bazaar_factory, keys, **kwargs):
    a = ["--keys", keys]
    return bazaar_factory(replicas=3, broker_args=a, catalog_args=a, order_args=a,
                          gateway_args=a, **kwargs)


def test_keys_tool_makes_a_pair_per_role_and_an_allow_list(keys):
    for role in ("broker", "catalog", "order", "gateway", "tap"):
        assert os.path.exists(os.path.join(keys, role + ".key"))
        secret = os.path.join(keys, role + ".key_secret")
        assert os.stat(secret).st_mode & 0o077 == 0, "%s is readable by others" % secret
        assert os.path.exists(os.path.join(keys, "allowed", role + ".key"))
    before = open(os.path.join(keys, "broker.key_secret")).read()
    subprocess.run([os.path.join(BIN, "bazaar-keys"), keys], check=True, capture_output=True)
    assert open(os.path.join(keys, "broker.key_secret")).read() == before, "keys were replaced"


def refused(port, socket_type="DEALER", frames=()):
    """True if a peer without a key gets nowhere: the handshake fails, or
    whatever it sends is never answered."""
    try:
        z = Zmtp(port, socket_type=socket_type, timeout=5)
    except (ConnectionError, OSError):
        return True
    try:
        for frame in frames:
            z.send(frame)
        return z.recv(timeout=1.0) is None
    except (ConnectionError, OSError):
        return True
    finally:
        z.close()


def test_fake_leader_without_a_key_is_refused(bazaar_factory, keys):
    bz = secure_system(bazaar_factory, keys)
    bz.trade("apple", "buy", 1)
    since = bz.log_size("broker")
    fake = heartbeat_frame("order", 999, 4242, "tcp://127.0.0.1:1", "tcp://127.0.0.1:1",
                           10 ** 6, 10 ** 6, ROLE_LEADER)
    stop = threading.Event()

    def beat():
        while not stop.is_set():
            try:
                z = Zmtp(bz.ports["broker"], timeout=2)
            except (ConnectionError, OSError):
                time.sleep(0.05)
                continue
            try:
                while not stop.is_set():
                    z.send(fake)
                    time.sleep(0.1)
            except (ConnectionError, OSError):
                pass
            finally:
                z.close()
    t = threading.Thread(target=beat, daemon=True)
    t.start()
    try:
        for _ in range(10):       # trades keep their dense, real numbers
            bz.trade("amc", "buy", 1)
        assert refused(bz.ports["broker"], frames=[fake])
    finally:
        stop.set()
        t.join(10)
    assert "order/999" not in bz.log_since("broker", since), bz.log_since("broker", since)
    bz.assert_unchanged()
    bz.assert_orders()


def test_consensus_traffic_with_keys(bazaar_factory, keys):
    """With CURVE the replicas' own traffic (CS_* on the PUBs and the REP
    endpoints: appends, acks, fetches) works between keyed replicas: a
    commit needs a follower's ACK, a restarted follower copies what it
    missed; a peer without a key gets nowhere at a replica's REP."""
    bz = secure_system(bazaar_factory, keys)
    bz.trade("apple", "buy", 1)
    bz.kill("order")
    for _ in range(5):              # committed with replica 2's ACKs
        bz.trade("apple", "sell", 2)
    bz.start("order")
    wait_until(lambda: files_identical([bz.order_file("order"), bz.order_file("order-3")]), 20,
               "replica 1 to copy what it missed from its keyed peers")
    bz.kill("order-2")
    bz.trade("tesla", "buy", 3)     # committed with replica 1's ACK
    assert canonical_dump(bz.order_file("order"))[-1][1:4] == ("tesla", "buy", 3)
    #  The REP answers nobody (answers go to the asker's own REP), so a
    #  keyless peer must fail at the handshake itself.
    forged = packb([MSG_VERSION, 85, 2, 3, 10 ** 6, 0])      # CS_FETCH "from replica 2"
    with pytest.raises((ConnectionError, OSError)):
        z = Zmtp(bz.ports["order-3_rep"], timeout=5)
        try:
            z.send(forged)
            z.recv(timeout=1.0)
        finally:
            z.close()
    bz.assert_unchanged()
    bz.assert_orders()


def test_no_key_no_reading(bazaar_factory, keys):
    bz = secure_system(bazaar_factory, keys)
    bz.trade("apple", "buy", 1)
    for key in ("tap", "catalog_pub", "order_pub", "order-3_pub"):
        assert refused(bz.ports[key], socket_type="SUB", frames=[b"\x01"]), key
    assert refused(bz.ports["order-3_rep"], socket_type="DEALER",
                   frames=[packb([MSG_VERSION, 22, 1, 0, 100])])
    #  The tap with the key reads the bus; without it, nothing.
    tap = subprocess.Popen([os.path.join(BIN, "bazaar-tap"), "--keys", keys,
                            "--tap", bz.endpoints["tap"], "--catalog-pub", "",
                            "--type", "TRADE", "--count", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        def traded():
            bz.trade("ford", "buy", 1)
            return tap.poll() is not None
        wait_until(traded, 20, "the keyed tap to see a TRADE")
        assert tap.returncode == 0 and b"TRADE" in tap.stdout.read()
    finally:
        if tap.poll() is None:
            tap.kill()
        tap.wait()
    bz.assert_unchanged()


def remade(keys, role, copy=None):
    """keys (or a copy of them at copy) with role's key pair made anew by
    bazaar-keys, and its old public key dropped from the allow-list."""
    if copy:
        shutil.copytree(keys, copy)
        keys = copy
    for name in (role + ".key", role + ".key_secret", os.path.join("allowed", role + ".key")):
        os.unlink(os.path.join(keys, name))
    subprocess.run([os.path.join(BIN, "bazaar-keys"), keys], check=True, capture_output=True)
    return keys


class Outsider:
    """bz's `program` started again with its key pair made anew (known to
    nobody) and its own endpoints (flag -> value), its output in log; the
    system must trade on unchanged after it is gone."""

    def __init__(self, bz, keys, tmp_path, program, flags):
        self.bz = bz
        argv = bz.argv(program)
        argv[argv.index("--keys") + 1] = remade(keys, program, str(tmp_path / "other"))
        for flag, value in flags.items():
            argv[argv.index(flag) + 1] = value
        self.log = tmp_path / "outsider.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)
        if exc[0] is None:
            self.bz.trade("apple", "buy", 1)
            self.bz.assert_unchanged()


def test_a_key_not_on_the_allow_list_is_refused(bazaar_factory, keys, tmp_path):
    bz = secure_system(bazaar_factory, keys)
    #  A gateway with a new gateway key, known to nobody: every request 503.
    port = free_ports(1)[0]
    with Outsider(bz, keys, tmp_path, "gateway", {"--port": str(port)}):
        r = wait_until(lambda: http_request(port, "GET", "/stocks/apple"), 20,
                       "the outsider gateway to answer at all")
        assert r.status == 503, r
        r = http_request(port, "POST", "/orders",
                         {"name": "apple", "type": "buy", "quantity": 1})
        assert r.status == 503, r


def test_a_worker_refused_by_the_broker_says_so(bazaar_factory, keys, tmp_path):
    """ZAP refuses without a word at the broker: a catalog whose key is
    not on the allow-list used to wait forever, saying only that it waits
    for the broker. It logs that the broker refused its handshake."""
    bz = secure_system(bazaar_factory, keys)
    flags = {"--pub": "tcp://127.0.0.1:%d" % free_ports(1)[0], "--data": str(tmp_path / "data")}
    with Outsider(bz, keys, tmp_path, "catalog", flags) as outsider:
        wait_until(lambda: "is up but refused our handshake" in outsider.log.read_text(), 20,
                   "the outsider catalog to say the broker refused it")
        assert bz.endpoints["broker"] in outsider.log.read_text(), outsider.log.read_text()


def test_a_replica_refused_by_its_leader_says_so(bazaar_factory, keys, tmp_path):
    """The order key pair remade under a running system (a damaged secret
    key, then bazaar keys DIR): the broker takes the restarted replica (its
    allow-list is read again), but the leader's PUB, started with the old
    pair, does not match the order key the replica now holds. It used to
    sit at 'serving', behind, saying nothing."""
    copy = str(tmp_path / "keys")
    shutil.copytree(keys, copy)
    #  czmq reads the allow-list again when its files' mtimes (seconds)
    #  change: made an hour old, the remade key is always a change.
    hour_ago = time.time() - 3600
    for name in os.listdir(os.path.join(copy, "allowed")):
        os.utime(os.path.join(copy, "allowed", name), (hour_ago, hour_ago))
    bz = secure_system(bazaar_factory, copy)
    bz.trade("apple", "buy", 1)
    bz.kill("order")                                # replica 1, a follower
    remade(copy, "order")
    since = bz.log_size("order")
    bz.start("order")
    bz.wait_log("order", r"the PUB of replica 3 at %s refused our handshake"
                % bz.endpoints["order-3_pub"], since=since)
    #  Its messages to its peers' REPs wait too, and say so.
    for peer in ("order-2", "order-3"):
        bz.wait_log("order", r"the REP of replica %d at %s refused our handshake"
                    % (bz.replica_id(peer), bz.endpoints[peer + "_rep"]), since=since)
    #  A catalog started now learns from that PUB with the new key too, and
    #  its copies from the replicas' REPs are refused.
    bz.kill("catalog")
    since = bz.log_size("catalog")
    bz.start("catalog")
    bz.wait_log("catalog", r"the PUB of replica 3 at %s refused our handshake"
                % bz.endpoints["order-3_pub"], since=since)
    bz.wait_log("catalog", r"the REP of replica 2 at %s refused our handshake"
                % bz.endpoints["order-2_rep"], since=since)


#  A process with keys whose port is taken says so and exits 1: it once
#  aborted after the message (czmq's exit-time cleanup of a live ZAP
#  handler), and `bazaar up` showed a shell's "Aborted" instead.
@pytest.mark.parametrize("program", ["broker", "catalog", "order"])
def test_a_taken_port_with_keys_exits_with_the_message(program, keys, tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    endpoint = "tcp://127.0.0.1:%d" % taken.getsockname()[1]
    args = {"broker": ["--bind", endpoint, "--tap", ""],
            "catalog": ["--pub", endpoint, "--data", str(tmp_path)],
            "order": ["--pub", endpoint, "--data", str(tmp_path)]}[program]
    try:
        r = subprocess.run([os.path.join(BIN, "bazaar-" + program), "--keys", keys] + args,
                           capture_output=True, text=True, timeout=30)
    finally:
        taken.close()
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "Address already in use" in r.stderr and endpoint in r.stderr, r.stderr
    assert "Assertion" not in r.stderr, r.stderr
