"""Replication (SPEC §3 "Leader", "Replication", "The catalog heals", §4):
three order replicas, the leader answers a trade only once an in-sync
follower holds it durably; a new leader serves reads without the catalog;
a restarted replica catches up from its peers; the catalog heals a lost or
truncated journal from the replicas; a paused old leader commits nothing
under its old epoch; a second catalog is refused.

The data is checked in the files themselves: data/order-N.log and
data/catalog.journal are journals of records
[u32 length LE][u32 crc32 LE][msgpack [1, 71, number, name, side, quantity, key]]
(side 0 buy, 1 sell), decoded below with test_bus_garbage's msgpack decoder.

Roles: "order" is replica 1, "order-2" replica 2, "order-3" replica 3; the
broker names the highest id that is not catching up, so order-3 leads at
start.  Every wait has a deadline; processes die by SIGKILL.
"""
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from harness import (Bazaar, INITIAL, READY_TIMEOUT, assert_json, free_ports, journal_bytes,
                     journal_records, trade_body, wait_until)

NAMES = sorted(INITIAL)
LEADER = "order-3"
FOLLOWERS = ("order", "order-2")
DEADLINE = 20.0          # bound for one wait (failover, catch-up, healing)


# --------------------------------------------------------------------------
#  Journal files


def orders_in(path, strict=False):
    """The orders of a journal file, checked dense: record i is number i."""
    orders = [o for _, o in journal_records(path, strict)]
    for i, order in enumerate(orders):
        assert order["number"] == i, "%s: record %d holds number %d" % (path, i, order["number"])
    return orders


def public(order):
    """An order as GET /orders/<n> shows it."""
    return {k: order[k] for k in ("number", "name", "type", "quantity")}


def log_file(bz, name):
    return os.path.join(bz.data, "order-%d.log" % bz.replica_id(name))


def journal_file(bz):
    return os.path.join(bz.data, "catalog.journal")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def files_converged(bz, names=None):
    """Every replica log byte-identical to catalog.journal (-> its bytes)."""
    journal = journal_bytes(journal_file(bz))
    for name in names or bz.replica_names:
        if journal_bytes(log_file(bz, name)) != journal:
            return None
    return journal or True


def assert_converged(bz, what, timeout=DEADLINE):
    """Wait until quiet logs are byte-identical to the journal, then check
    the journal itself: dense, whole records, nothing after the last."""
    def sizes():
        return {n: len(journal_bytes(log_file(bz, n))) for n in bz.replica_names}
    try:
        wait_until(lambda: files_converged(bz), timeout, what)
    except AssertionError as exc:
        raise AssertionError("%s; journal %d bytes, logs %r" % (
            exc, len(journal_bytes(journal_file(bz))), sizes())) from None
    return orders_in(journal_file(bz), strict=True)


# --------------------------------------------------------------------------
#  Roles, from the logs

def wait_leading(bz, leader=LEADER, followers=FOLLOWERS, since=None):
    """The broker names leader, it holds an epoch, every follower in the
    list is in its in-sync set.  -> the epoch."""
    since = since or {}
    rid = bz.replica_id(leader)
    bz.wait_log("broker", r"order leader is now replica %d " % rid,
                since=since.get("broker", 0), timeout=READY_TIMEOUT)
    m = bz.wait_log(leader, r"candidate -> leader \(epoch granted by the catalog; epoch (\d+)",
                    since=since.get(leader, 0), timeout=READY_TIMEOUT)
    for name in followers:
        bz.wait_log(leader, r"replica %d joins the in-sync set" % bz.replica_id(name),
                    since=since.get(leader, 0), timeout=READY_TIMEOUT)
    return int(m.group(1))


def offsets(bz):
    return {name: bz.log_size(name) for name in bz.services}


def trade_i(bz, i):
    body = trade_body(i)
    return bz.trade(body["name"], body["type"], body["quantity"])


def read_through_failover(bz, order, timeout=DEADLINE):
    """GET /orders/<n> while 503; it must then be 200 with exactly order."""
    def answered():
        r = bz.get("/orders/%d" % order["number"])
        return r if r.status != 503 else None
    r = wait_until(answered, timeout, "order %d to be served" % order["number"])
    assert r.status == 200, "acknowledged order %d read as %r" % (order["number"], r)
    assert_json(r.body, {"data": public(order)}, "GET /orders/%d" % order["number"])


def parallel(count, target):
    """Runs target(i) in count threads; re-raises the first failure."""
    errors = []

    def run(i):
        try:
            target(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
        assert not t.is_alive(), "a client thread hung"
    if errors:
        raise errors[0]


def place_fast(bz, total, threads=8):
    """total trades from `threads` keep-alive clients, recorded in the model
    (bz.trade's "number == len(orders)" check is for one client at a time)."""
    per = (total + threads - 1) // threads

    def client(t):
        conn = bz.connection()
        try:
            for k in range(per):
                i = t * per + k
                if i >= total:
                    return
                body = trade_body(i)
                r = bz.post("/orders", body, conn=conn)
                assert r.status == 200, "trade %d %r: %r" % (i, body, r)
                bz.record(r.body["data"]["transaction_number"], body["name"], body["type"],
                          body["quantity"])
        finally:
            conn.close()
    parallel(threads, client)
    assert len(bz.orders) == total and None not in bz.orders, "numbers not dense"


@pytest.fixture
def bz(bazaar_bin):
    """Three replicas; order-3 leads with both followers in sync."""
    with Bazaar(replicas=3, bin_dir=bazaar_bin) as system:
        wait_leading(system)
        yield system
        system.check_healthy()


# --------------------------------------------------------------------------
#  1. A trade is on a follower's disk before the client hears 200

def test_acknowledged_trade_is_already_in_a_follower_log(bz):
    threads, per = 4, 13
    problems = []

    def client(t):
        conn = bz.connection()
        try:
            for k in range(per):
                body = trade_body(t * per + k)
                r = bz.post("/orders", body, conn=conn)
                assert r.status == 200, "trade %r: %r" % (body, r)
                number = r.body["data"]["transaction_number"]
                #  Right now, before anything else: some follower holds it.
                held = {}
                for name in FOLLOWERS:
                    orders = orders_in(log_file(bz, name))
                    held[name] = orders[number] if number < len(orders) else None
                expected = dict(body, number=number)
                if not any(o is not None and public(o) == expected for o in held.values()):
                    problems.append("order %d %r acknowledged, followers hold %r" % (
                        number, expected, held))
                bz.record(number, body["name"], body["type"], body["quantity"])
        finally:
            conn.close()
    since = bz.log_size(LEADER)
    parallel(threads, client)
    assert not problems, "%s\nleader log meanwhile:\n%s" % (
        "\n".join(problems[:10]), bz.log_since(LEADER, since)[-3000:])
    assert len(bz.orders) == threads * per and None not in bz.orders
    bz.assert_orders()
    bz.assert_stocks()
    journal = assert_converged(bz, "every order log to equal catalog.journal")
    assert [public(o) for o in journal] == bz.orders


# --------------------------------------------------------------------------
#  2. Leader and catalog die together: the new leader still reads orders

def test_new_leader_serves_reads_without_the_catalog(bz):
    for i in range(10):
        trade_i(bz, i)
    since = offsets(bz)
    bz.kill(LEADER)
    bz.kill("catalog")
    #  The last acknowledged trade first: it is the one a follower may
    #  hold only because of the acknowledgement rule.
    read_through_failover(bz, bz.orders[-1])
    for order in bz.orders:
        read_through_failover(bz, order)
    bz.wait_log("broker", r"order leader is now replica 2 ", since=since["broker"], timeout=1)
    assert not bz.alive("catalog")


# --------------------------------------------------------------------------
#  3. A restarted follower catches up from its peers, catalog down

def test_restarted_follower_catches_up_from_peers_without_catalog(bz):
    for i in range(5):
        trade_i(bz, i)
    bz.kill("order")
    before = len(orders_in(log_file(bz, "order"), strict=True))
    for i in range(5, 45):
        trade_i(bz, i)
    total = len(bz.orders)
    #  Quiet: the leader and replica 2 hold everything.
    wait_until(lambda: files_converged(bz, [LEADER, "order-2"]), DEADLINE,
               "replicas 2 and 3 to equal catalog.journal")
    bz.kill("catalog")
    since = bz.log_size("order")
    bz.start("order")
    m = bz.wait_log("order", r"caught up (\d+) orders \[(\d+), (\d+)\)", since=since,
                    timeout=DEADLINE)
    assert (int(m.group(1)), int(m.group(2)), int(m.group(3))) == (
        total - before, before, total), m.group(0)
    bz.wait_log("order", r"catching-up -> follower", since=since, timeout=DEADLINE)
    assert journal_bytes(log_file(bz, "order")) == journal_bytes(log_file(bz, LEADER)), \
        "replica 1's log differs from the leader's after catching up"
    assert [public(o) for o in orders_in(log_file(bz, "order"), strict=True)] == bz.orders
    assert not bz.alive("catalog"), "the catalog was meant to stay down"

    bz.start("catalog")
    bz.wait_ready()
    bz.trade("apple", "buy", 1)
    bz.assert_stocks()
    journal = assert_converged(bz, "every order log to equal catalog.journal")
    assert [public(o) for o in journal] == bz.orders


# --------------------------------------------------------------------------
#  4. The catalog heals a lost or truncated journal from the replicas

@pytest.mark.parametrize("damage", ["deleted", "truncated"])
def test_catalog_heals_journal_from_replicas(bz, damage):
    place_fast(bz, 1000)
    original = assert_converged(bz, "the replicas to hold all 1000 orders")
    assert len(original) == 1000
    raw = journal_bytes(journal_file(bz))
    bz.kill("catalog")
    if damage == "deleted":
        os.unlink(journal_file(bz))
        kept = 0
    else:
        records = journal_records(journal_file(bz), strict=True)
        kept = len(records) // 2
        cut = sum(len(rec) for rec, _ in records[:kept])
        with open(journal_file(bz), "r+b") as f:
            f.truncate(cut)
        assert orders_in(journal_file(bz), strict=True) == original[:kept]
    since = bz.log_size("catalog")
    bz.start("catalog")
    bz.wait_log("catalog", r"healed: restored trades \[%d, 1000\) from the replicas" % kept,
                since=since, timeout=DEADLINE)
    assert journal_bytes(journal_file(bz)) == raw, "the healed journal differs from the lost one"
    bz.wait_ready()
    bz.assert_stocks()
    assert bz.trade("amazon", "buy", 1) == 1000
    bz.assert_stocks()
    for n in (0, kept, 999, 1000):
        read_through_failover(bz, dict(bz.orders[n]))
    journal = assert_converged(bz, "every order log to equal the healed catalog.journal")
    assert len(journal) == 1001
    assert [public(o) for o in journal] == bz.orders


# --------------------------------------------------------------------------
#  5. A paused leader commits nothing under its old epoch

def test_paused_leader_commits_nothing_under_its_old_epoch(bz):
    old_epoch = wait_leading(bz)
    stop = threading.Event()
    acked = {}                 # key -> (number, body)
    lock = threading.Lock()

    def client(t):
        conn = None
        k = 0
        while not stop.is_set():
            key = "pause-%d-%d" % (t, k)
            body = trade_body(t * 1000 + k)
            deadline = time.monotonic() + 30
            while True:
                try:
                    conn = conn or bz.connection(timeout=10)
                    r = bz.post("/orders", body, {"Idempotency-Key": key}, conn=conn)
                except OSError:
                    conn = None
                    r = None
                if r is not None and r.status == 200:
                    break
                assert r is None or r.status == 503, "trade %s %r: %r" % (key, body, r)
                assert time.monotonic() < deadline, "trade %s never succeeded" % key
                time.sleep(0.05)
            with lock:
                acked[key] = (r.body["data"]["transaction_number"], body)
            k += 1

    errors = []

    def run(t):
        try:
            client(t)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
            stop.set()
    threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in range(2)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: len(acked) >= 20 or errors, DEADLINE, "trades before the pause")
        since = offsets(bz)
        os.kill(bz.pid(LEADER), signal.SIGSTOP)
        try:
            bz.wait_log("broker", r"order leader is now replica 2 ", since=since["broker"],
                        timeout=DEADLINE)
            m = bz.wait_log("order-2", r"candidate -> leader \(epoch granted by the catalog; "
                            r"epoch (\d+)", since=since["order-2"], timeout=DEADLINE)
            new_epoch = int(m.group(1))
            assert new_epoch > old_epoch
            at_failover = len(acked)
            wait_until(lambda: len(acked) >= at_failover + 20 or errors, DEADLINE,
                       "trades to continue under replica 2")
        finally:
            os.kill(bz.pid(LEADER), signal.SIGCONT)
        #  The old leader wakes up still believing it leads.
        bz.wait_log(LEADER, r"leader -> follower", since=since[LEADER], timeout=DEADLINE)
        at_resume = len(acked)
        wait_until(lambda: len(acked) >= at_resume + 20 or errors, DEADLINE,
                   "trades to continue after the old leader woke up")
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not errors, errors[0]

    #  Woken, the old leader still leads in its own eyes, and the broker
    #  names it again (highest id). It steps down on whichever comes first:
    #  the announcement shows a peer with a newer epoch, or the catalog
    #  refuses an APPLY of its old epoch. Every APPLY of the old epoch that
    #  reaches the catalog is refused (those queued on the connection the
    #  broker closed during the pause never arrive: ZMTP heartbeats).
    catalog_log = bz.log_since("catalog", since["catalog"])
    pairs = [(int(e), int(highest)) for e, highest in
             re.findall(r"refused APPLY from epoch (\d+): epoch (\d+) was granted", catalog_log)]
    refused = [e for e, _ in pairs]
    reason = re.search(r"leader -> follower \(([^;]+);", bz.log_since(LEADER, since[LEADER]))
    assert reason, bz.log_since(LEADER, since[LEADER])
    if reason.group(1) == "the catalog granted a newer epoch":
        assert old_epoch in refused, \
            "no APPLY from the old epoch %d was refused:\n%s" % (old_epoch, catalog_log)
    else:
        assert reason.group(1) == "a peer holds a newer epoch", reason.group(0)
    granted = [int(e) for e in re.findall(r"granted epoch (\d+)", catalog_log)]
    assert granted == sorted(set(granted)) and granted[0] == new_epoch, granted
    assert all(e < highest for e, highest in pairs), pairs
    leader_log = bz.log_since(LEADER, since[LEADER])
    woke = leader_log.split("leader -> follower", 1)[1]
    assert not re.search(r"epoch granted by the catalog; epoch %d," % old_epoch, woke), leader_log

    #  Numbers: each acknowledged key has its own number, and it reads back.
    numbers = {}
    for key, (number, body) in acked.items():
        assert number not in numbers, "number %d acknowledged for %s and %s" % (
            number, numbers[number][0], key)
        numbers[number] = (key, body)
    journal = assert_converged(bz, "every order log to equal catalog.journal once quiet")
    assert len(journal) == len(numbers), "journal holds %d trades, %d acknowledged" % (
        len(journal), len(numbers))
    for order in journal:
        key, body = numbers[order["number"]]
        assert order["key"] == key, (order, key)
        assert public(order) == dict(body, number=order["number"]), (order, body)
    for number in sorted(numbers)[::7] + [max(numbers)]:
        key, body = numbers[number]
        read_through_failover(bz, dict(body, number=number))
    #  Quantities follow from the journal.
    for order in journal:
        bz.record(order["number"], order["name"], order["type"], order["quantity"])
    bz.assert_stocks()


# --------------------------------------------------------------------------
#  6. A second catalog is refused; the first keeps serving

def test_second_catalog_is_refused(bz):
    bz.trade("apple", "buy", 2)
    other = os.path.join(bz.tmp, "data-second")
    os.makedirs(other)
    (pub,) = free_ports(1)
    argv = [os.path.join(bz.bin, "bazaar-catalog"), "--broker", bz.endpoints["broker"],
            "--pub", "tcp://127.0.0.1:%d" % pub, "--data", other]
    since = bz.log_size("broker")
    log_path = os.path.join(bz.logdir, "catalog-second.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, cwd=bz.tmp, start_new_session=True)
    try:
        rc = proc.wait(DEADLINE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("the second catalog is still running after %.0fs:\n%s" % (
            DEADLINE, read(log_path).decode("utf-8", "replace")))
    text = read(log_path).decode("utf-8", "replace")
    assert rc == 1, "the second catalog exited %d (expected status 1):\n%s" % (rc, text)
    assert "the broker refused this catalog" in text, text
    bz.wait_log("broker", r"refused a second catalog worker", since=since, timeout=1)
    assert bz.alive("catalog")
    assert bz.trade("tesla", "sell", 3) == 1
    bz.assert_orders()
    bz.assert_stocks()
    assert_converged(bz, "every order log to equal catalog.journal")


# --------------------------------------------------------------------------
#  7. A request held by a leader that dies is answered at once, not at the
#     gateway's timeout (broker/inflight.c)

def test_request_held_by_a_dead_leader_is_retried_at_once(bazaar_bin):
    """order-3 is paused with a trade queued at it, then killed. The broker
    answers that trade UNAVAILABLE when it learns order-3 is gone, and the
    gateway retries it on order-2 within its retry window (a quarter of an
    8 s timeout). Without that the client waits the whole 8 s for a 503."""
    with Bazaar(replicas=3, bin_dir=bazaar_bin, timeout_ms=8000) as bz:
        wait_leading(bz)
        since = offsets(bz)
        os.kill(bz.pid("order-3"), signal.SIGSTOP)
        result = []
        body = trade_body(0)
        thread = threading.Thread(target=lambda: result.append(bz.post("/orders", body)))
        thread.start()
        #  The gateway's calls in flight: the trade.
        wait_until(lambda: bz.get("/status").body["gateway"]["in_flight"] >= 1, DEADLINE,
                   "the trade to be in flight at the paused leader")
        bz.kill("order-3")
        thread.join(DEADLINE)
        assert result and result[0].status == 200, result
        bz.record(result[0].body["data"]["transaction_number"], body["name"], body["type"],
                  body["quantity"])
        assert re.search(r"answered 1 requests it held",
                         bz.log_since("broker", since["broker"])), bz.log_tail("broker")
        bz.assert_orders()
        bz.assert_stocks()
