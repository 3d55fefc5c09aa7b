"""Replication by consensus (SPEC §3 "Leader and consensus", "Commit",
"Catch-up", "Catalogs learn", §4; issue 20): three order replicas, the
leader answers a trade only once a majority (itself and a follower) holds
it durably; a new leader serves reads without the catalog; a restarted
replica catches up from its peers; a catalog whose journal is lost or
truncated copies the committed ranges from the replicas; a paused old
leader commits nothing under its old epoch (its followers promised a newer
one); a second catalog learns the same log and serves beside the first.

The data is checked in the files themselves: data/catalog.journal is a
journal of records [u32 length LE][u32 crc32 LE][msgpack [1, 71, number,
name, side, quantity, key]] (side 0 buy, 1 sell); data/order-N.log holds
the same fields plus the entry's stamp and the writer's commit position
(ORDEREC, 73).  Stamps may differ from replica to replica for one
committed entry (docs/CONSENSUS.md "Files"), so logs are compared by their
canonical dumps (harness.wire.canonical_dump), and the catalog's journal,
which has no stamps, byte for byte.

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

from harness import (TRADE, Bazaar, INITIAL, READY_TIMEOUT, Zmtp, assert_json, canonical_dump,
                     free_ports, journal_bytes, journal_records, trade_body, unpackb, wait_until)

NAMES = sorted(INITIAL)
LEADER = "order-3"
FOLLOWERS = ("order", "order-2")
DEADLINE = 20.0          # bound for one wait (failover, catch-up, healing)
#  The old leader left its role (test_paused_leader_commits_nothing_under_its_old_epoch).
STEPPED_DOWN = r"leader -> (?:follower|catching-up|candidate)"


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


def files_converged(bz, names=None, journal=True):
    """Every replica log canonically identical to catalog.journal (or, with
    journal=False, to the first of names) -> the dump (or True if empty)."""
    names = list(names or bz.replica_names)
    first = canonical_dump(journal_file(bz) if journal else log_file(bz, names[0]))
    for name in names:
        if canonical_dump(log_file(bz, name)) != first:
            return None
    return first or True


def assert_converged(bz, what, timeout=DEADLINE):
    """Wait until quiet logs are canonically identical to the journal, then
    check the files themselves: dense, whole records, nothing after the
    last."""
    def sizes():
        return {n: len(canonical_dump(log_file(bz, n))) for n in bz.replica_names}
    try:
        wait_until(lambda: files_converged(bz), timeout, what)
    except AssertionError as exc:
        raise AssertionError("%s; journal %d bytes, logs %r" % (
            exc, len(canonical_dump(journal_file(bz))), sizes())) from None
    for name in bz.replica_names:
        orders_in(log_file(bz, name), strict=True)
    return orders_in(journal_file(bz), strict=True)


# --------------------------------------------------------------------------
#  Roles, from the logs

LEADING_RE = r"candidate -> leader \(epoch (\d+),"


def status_processes(bz):
    """{replica id: its row in GET /status} (the broker's view)."""
    r = bz.get("/status")
    assert r.status == 200, r
    return {p["replica_id"]: p for p in r.body["processes"] if p["service"] == "order"}


def wait_leading(bz, leader=LEADER, followers=FOLLOWERS, since=None):
    """The broker names leader, a majority promised it an epoch (its log
    says candidate -> leader), and every follower in the list has joined
    that epoch as a follower (GET /status).  -> the epoch."""
    since = since or {}
    rid = bz.replica_id(leader)
    bz.wait_log("broker", r"order leader is now replica %d " % rid,
                since=since.get("broker", 0), timeout=READY_TIMEOUT)
    m = bz.wait_log(leader, LEADING_RE, since=since.get(leader, 0), timeout=READY_TIMEOUT)
    epoch = int(m.group(1))

    def joined():
        rows = status_processes(bz)
        return (rows.get(rid, {}).get("role") == "leader"
                and all(rows.get(bz.replica_id(n), {}).get("epoch") == epoch
                        and rows[bz.replica_id(n)]["role"] == "follower" for n in followers))
    wait_until(joined, READY_TIMEOUT, "%s to lead epoch %d with followers %s" % (
        leader, epoch, ", ".join(followers)))
    return epoch


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
    #  A trade is acknowledged once a majority holds it: replica 1 may
    #  still be writing the last one when the leader answers.
    wait_until(lambda: len(orders_in(log_file(bz, "order"))) == 5, DEADLINE,
               "replica 1 to hold the first 5 orders")
    bz.kill("order")
    before = len(orders_in(log_file(bz, "order"), strict=True))
    assert before == 5, before
    for i in range(5, 45):
        trade_i(bz, i)
    #  Quiet: the leader and replica 2 hold everything.
    wait_until(lambda: files_converged(bz, [LEADER, "order-2"]), DEADLINE,
               "replicas 2 and 3 to equal catalog.journal")
    bz.kill("catalog")
    bz.start("order")
    #  Nothing new is traded: what replica 1 gets, it copies from its peers.
    wait_until(lambda: files_converged(bz, ["order", LEADER], journal=False), DEADLINE,
               "replica 1 to copy the 40 orders it missed from its peers")
    assert [public(o) for o in orders_in(log_file(bz, "order"), strict=True)] == bz.orders
    assert not bz.alive("catalog"), "the catalog was meant to stay down"
    #  Replica 1 now counts in the majority: without replica 2 a trade
    #  commits only because replica 1 holds the log up to it.
    bz.kill("order-2")
    trade_i(bz, 45)
    assert [public(o) for o in orders_in(log_file(bz, "order"), strict=True)] == bz.orders

    bz.start("order-2")
    bz.start("catalog")
    bz.wait_ready()
    bz.trade("apple", "buy", 1)
    bz.assert_stocks()
    journal = assert_converged(bz, "every order log to equal catalog.journal")
    assert [public(o) for o in journal] == bz.orders


# --------------------------------------------------------------------------
#  4. A catalog whose journal is lost or cut copies the committed ranges
#     from the replicas

@pytest.mark.parametrize("damage", ["deleted", "truncated"])
def test_catalog_copies_a_lost_journal_from_replicas(bz, damage):
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
    bz.wait_log("catalog", r"copied committed trades \[%d, \d+\) from the replicas" % kept,
                since=since, timeout=DEADLINE)
    bz.wait_log("catalog", r"caught up with the replicas at 1000 trades: serving",
                since=since, timeout=DEADLINE)
    #  The turn that logs "caught up" writes its records after the line.
    wait_until(lambda: journal_bytes(journal_file(bz)) == raw, DEADLINE,
               "the copied journal to equal the lost one byte for byte")
    bz.wait_ready()
    bz.assert_stocks()
    assert bz.trade("amazon", "buy", 1) == 1000
    bz.assert_stocks()
    for n in (0, kept, 999, 1000):
        read_through_failover(bz, dict(bz.orders[n]))
    journal = assert_converged(bz, "every order log to equal the copied catalog.journal")
    assert len(journal) == 1001
    assert [public(o) for o in journal] == bz.orders


# --------------------------------------------------------------------------
#  5. A paused leader commits nothing under its old epoch

def test_paused_leader_commits_nothing_under_its_old_epoch(bz):
    """order-3 leads epoch e and is paused (SIGSTOP) under load; replica 2
    is named, two replicas promise it e' > e and trading goes on. Woken,
    order-3 still believes it leads e, and may hold trades the gateway
    sent it before the pause: whatever it proposes under e, no majority
    accepts (both peers promised e'), so nothing of e commits after the
    failover. Checked on the data: every acknowledged key has its own
    number, the logs hold exactly the acknowledged trades, and no entry
    stamped by epoch e lies past what committed before the failover."""
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
                #  503: certainly not done; 504: outcome unknown. Either
                #  way the same key again returns the truth.
                assert r is None or r.status in (503, 504), "trade %s %r: %r" % (key, body, r)
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
            with lock:
                before_pause = max(n for n, _ in acked.values()) + 1
            bz.wait_log("broker", r"order leader is now replica 2 ", since=since["broker"],
                        timeout=DEADLINE)
            m = bz.wait_log("order-2", LEADING_RE, since=since["order-2"], timeout=DEADLINE)
            new_epoch = int(m.group(1))
            assert new_epoch > old_epoch
            at_failover = len(acked)
            wait_until(lambda: len(acked) >= at_failover + 20 or errors, DEADLINE,
                       "trades to continue under replica 2")
        finally:
            os.kill(bz.pid(LEADER), signal.SIGCONT)
        #  The old leader wakes up still believing it leads epoch e; a
        #  peer's refusal or a newer epoch makes it step down: to follow,
        #  or, when the broker names it again first (the highest id, its
        #  heartbeat still saying "leader"), straight to a new campaign.
        bz.wait_log(LEADER, STEPPED_DOWN, since=since[LEADER], timeout=DEADLINE)
        at_resume = len(acked)
        wait_until(lambda: len(acked) >= at_resume + 20 or errors, DEADLINE,
                   "trades to continue after the old leader woke up")
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not errors, errors[0]
    leader_log = bz.log_since(LEADER, since[LEADER])
    woke = re.split(STEPPED_DOWN, leader_log, 1)[1]
    assert not re.search(r"-> leader \(epoch %d," % old_epoch, woke), leader_log

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
    #  Fenced: on every replica, an entry stamped by the old epoch's
    #  proposals (2e + 1) is one acknowledged before the pause or one of
    #  the trades in flight then (one per client): none proposed later.
    for name in bz.replica_names:
        for order in orders_in(log_file(bz, name), strict=True):
            if order["stamp"] == 2 * old_epoch + 1:
                assert order["number"] < before_pause + 2 * len(threads), (
                    "%s: entry %d stamped by epoch %d, after the failover (%d acknowledged "
                    "before the pause)" % (name, order["number"], old_epoch, before_pause))
    for number in sorted(numbers)[::7] + [max(numbers)]:
        key, body = numbers[number]
        read_through_failover(bz, dict(body, number=number))
    #  Quantities follow from the journal.
    for order in journal:
        bz.record(order["number"], order["name"], order["type"], order["quantity"])
    bz.assert_stocks()


# --------------------------------------------------------------------------
#  6. A second catalog with an empty disk learns the committed log from
#     the replicas and serves beside the first

def test_second_catalog_learns_and_serves_beside_the_first(bz):
    for i in range(30):
        trade_i(bz, i)
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
    second = os.path.join(other, "catalog.journal")
    try:
        wait_until(lambda: len(canonical_dump(second)) >= 30, DEADLINE,
                   "the second catalog to copy the 30 committed trades")
        assert journal_bytes(second)[:len(journal_bytes(journal_file(bz)))] \
            == journal_bytes(journal_file(bz))
        assert "refused" not in bz.log_since("broker", since), bz.log_since("broker", since)
        #  Both serve: lookups are spread among them, every answer exact,
        #  and trades go on (neither catalog is on their path).
        for i in range(30, 60):
            trade_i(bz, i)
            bz.assert_stock(trade_body(i)["name"])
        bz.assert_stocks()
        wait_until(lambda: canonical_dump(second) == canonical_dump(journal_file(bz)), DEADLINE,
                   "the second catalog's journal to equal the first's")
        assert proc.poll() is None, read(log_path).decode("utf-8", "replace")
        #  Kill either: lookups keep answering, exactly.
        proc.kill()
        proc.wait(DEADLINE)
        for _ in range(20):
            bz.assert_stock("apple")
        bz.assert_stocks()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    bz.assert_orders()
    assert [public(o) for o in assert_converged(bz, "every order log to equal catalog.journal")] \
        == bz.orders


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
        #  The broker's tap shows a request as the broker routes it: once it
        #  shows the trade, the trade is queued at order-3 (still registered).
        tap = Zmtp(bz.ports["tap"], socket_type="SUB")
        tap.send(b"\x01")
        wait_until(lambda: bz.get("/status") and tap.recv(timeout=0.2), DEADLINE,
                   "the tap subscription to take effect")
        os.kill(bz.pid("order-3"), signal.SIGSTOP)
        result = []
        body = trade_body(0)
        thread = threading.Thread(target=lambda: result.append(bz.post("/orders", body)))
        thread.start()

        def routed():
            frames = tap.recv(timeout=0.2)
            return frames and frames[0] == b"order" and unpackb(frames[-1])[1] == TRADE

        wait_until(routed, DEADLINE, "the broker to route the trade to the paused leader")
        tap.close()
        bz.kill("order-3")
        thread.join(DEADLINE)
        assert result and result[0].status == 200, result
        bz.record(result[0].body["data"]["transaction_number"], body["name"], body["type"],
                  body["quantity"])
        assert re.search(r"answered 1 requests it held",
                         bz.log_since("broker", since["broker"])), bz.log_tail("broker")
        bz.assert_orders()
        bz.assert_stocks()
