"""SPEC §3-4 failure cases with three order replicas (ids 1, 2, 3).

Each test kills replicas with SIGKILL at a chosen moment, keeps trading
through the gateway (a trade that meets a leader change may get 503 and
is retried with the same Idempotency-Key, so it is placed once), restarts
them and then checks SPEC §4:

  * every acknowledged number reads back identical (GET /orders/<n>),
    the next number is dense (the model asserts every number), and
    GET /stocks equals initial - buys + sells;
  * a restarted replica logs "caught up with leader N" (or wins an election:
    "candidate -> leader") and, if it has the highest live id, the broker names it;
  * when quiet, every order-N.log holds the trades of catalog.journal
    (canonical dumps: stamps and carried commit positions may differ)
    and `bazaar-client verify` passes.

Cases: dead on arrival (3 killed before any trade), leader crash and
rejoin, follower crash and rejoin, the two highest dead (1 alone is no
majority: trades 503/504, nothing acknowledged, every earlier order
still reads), all replicas restarted, and a stale
highest replica (3 down for 20 trades: it must neither reuse nor lose a
number when it comes back and leads).
"""
import itertools
import re
import time

from harness import (READY_TIMEOUT, assert_json, assert_verify_ok, broker_leader, line,
                     wait_until)

REPLICAS = ("order", "order-2", "order-3")
STOCKS = ["apple", "tesla", "ford", "nike", "amc", "meta", "intel", "gamestop", "nvidia",
          "amazon"]
_keys = itertools.count()

#  The replica's own lines: it won an election (epoch, orders it held,
#  committed), or, following, it holds what its leader committed.
BECAME_LEADER = re.compile(r"candidate -> leader \(epoch (\d+), (\d+) orders, (\d+) committed\)")
CAUGHT_UP = re.compile(r"caught up with leader \d+|candidate -> leader")


# --------------------------------------------------------------------------
#  Helpers (test_chaos.py uses some of them too)

def offsets(bz):
    """Log sizes now, to look only at what is logged after this point."""
    return {name: bz.log_size(name) for name in bz.services}


def trade(bz, name, type_, quantity, timeout=READY_TIMEOUT):
    """A trade that may meet a leader change: 503 and 504 are retried with
    the same Idempotency-Key until it is answered (a trade routed to a
    leader just killed, before the broker saw it go, is rightly 504: the
    retry returns the truth). The number must be the next one (dense);
    the model records it."""
    key = "spec-failure-%d" % next(_keys)

    def placed():
        r = bz.post("/orders", {"name": name, "type": type_, "quantity": quantity},
                    {"Idempotency-Key": key})
        return r if r.status not in (503, 504) else None
    r = wait_until(placed, timeout, "trade %s %s %d (key %s) to be answered"
                   % (type_, name, quantity, key))
    assert r.status == 200, "trade %s %s %d: %r" % (type_, name, quantity, r)
    assert_json(r.body, {"data": {"transaction_number": len(bz.orders)}},
                "trade %s %s %d (the next number, dense)" % (type_, name, quantity))
    bz.record(r.body["data"]["transaction_number"], name, type_, quantity)
    return r.body["data"]["transaction_number"]


def trades(bz, count, start=0):
    for i in range(start, start + count):
        trade(bz, STOCKS[i % len(STOCKS)], "buy" if i % 3 else "sell", 1 + i % 4)


def read_back(bz, what=""):
    """Every order in the model reads back identical (503 is retried: a
    leader may be changing; anything else is final)."""
    for order in bz.orders:
        def answered():
            r = bz.get("/orders/%d" % order["number"])
            return r if r.status != 503 else None
        r = wait_until(answered, READY_TIMEOUT, "GET /orders/%d to be answered" % order["number"])
        assert r.status == 200, "%sacknowledged order %d read back as %r" % (
            what, order["number"], r)
        assert_json(r.body, {"data": order}, "%sGET /orders/%d" % (what, order["number"]))


def wait_caught_up(bz, name, since):
    bz.wait_log(name, CAUGHT_UP.pattern, since=since[name], timeout=READY_TIMEOUT)


def wait_leads(bz, name, since):
    """name logged "candidate -> leader" after since and the broker names
    it leader now. Returns the order count it held when it took over."""
    replica_id = bz.replica_id(name)

    def leads():
        m = BECAME_LEADER.search(bz.log_since(name, since[name]))
        return m if (m and broker_leader(bz) == replica_id) else None
    m = wait_until(leads, READY_TIMEOUT, "%s (replica %d) to lead" % (name, replica_id))
    return int(m.group(2))


def converge(bz):
    """Quiet: every log byte-identical to the journal, verify passes, the
    model's orders and quantities read back."""
    wait_until(bz.files_identical, READY_TIMEOUT,
               "every order-N.log to hold the trades of catalog.journal (canonical dumps)")
    lines = assert_verify_ok(bz.data, bz.verify_url, wait=20)
    assert line(lines, "catalog.journal:") == \
        "catalog.journal: %d trades, dense" % len(bz.orders), lines
    for name in bz.replica_names:
        log = "order-%d.log" % bz.replica_id(name)
        assert line(lines, log + ":") == "%s: identical to catalog.journal" % log, lines
    read_back(bz)
    bz.assert_stocks()
    bz.assert_next_unused()


# --------------------------------------------------------------------------

def test_dead_on_arrival_highest_replica(bazaar_factory):
    """Replica 3 killed at once: replica 2 serves; 3 comes back, catches
    up and leads."""
    bz = bazaar_factory(replicas=3, start=False)
    bz.start_all()
    bz.kill("order-3")
    bz.wait_ready()
    trades(bz, 10)
    wait_until(lambda: broker_leader(bz) == 2, READY_TIMEOUT, "the broker to name replica 2")
    assert BECAME_LEADER.search(bz.log_text("order-2")), bz.log_tail("order-2")
    read_back(bz, "with 3 dead: ")
    bz.assert_stocks()

    since = offsets(bz)
    bz.start("order-3")
    wait_caught_up(bz, "order-3", since)
    held = wait_leads(bz, "order-3", since)
    assert held >= 10, "replica 3 took over holding %d orders, 10 were acknowledged" % held
    trades(bz, 5, 10)
    converge(bz)


def test_leader_crash_and_rejoin(bazaar_factory):
    bz = bazaar_factory(replicas=3)
    trades(bz, 10)
    assert broker_leader(bz) == 3
    since = offsets(bz)
    bz.kill("order-3")
    trades(bz, 10, 10)
    wait_leads(bz, "order-2", since)
    read_back(bz, "after the leader crashed: ")

    since = offsets(bz)
    bz.start("order-3")
    wait_caught_up(bz, "order-3", since)
    held = wait_leads(bz, "order-3", since)
    assert held >= 20, "replica 3 took over holding %d orders, 20 were acknowledged" % held
    trades(bz, 5, 20)
    converge(bz)


def test_follower_crash_and_rejoin(bazaar_factory):
    bz = bazaar_factory(replicas=3)
    trades(bz, 10)
    bz.kill("order")
    trades(bz, 10, 10)
    assert broker_leader(bz) == 3, "a follower's crash changed the leader"
    since = offsets(bz)
    bz.start("order")
    wait_caught_up(bz, "order", since)
    trades(bz, 5, 20)
    assert broker_leader(bz) == 3
    assert not BECAME_LEADER.search(bz.log_since("order", since["order"])), \
        bz.log_tail("order")
    converge(bz)


def refused_without_majority(bz, count):
    """count trades with replica 1 alone: each answers 503 (or 504: the
    outcome unknown) within the gateway's 2 s deadline, never 200.
    Returns their keys, to retry once a majority is back."""
    keys = []
    for i in range(count):
        key = "spec-failure-%d" % next(_keys)
        started = time.monotonic()
        r = bz.post("/orders", {"name": "apple", "type": "buy", "quantity": 1},
                    {"Idempotency-Key": key})
        elapsed = time.monotonic() - started
        assert r.status in (503, 504), "trade %d with one replica of three: %r" % (i, r)
        assert elapsed < 3.0, "trade %d answered %d after %.1f s" % (i, r.status, elapsed)
        keys.append(key)
    return keys


def test_two_highest_dead_nothing_is_acknowledged(bazaar_factory):
    """Two of three replicas dead (SIGKILL): replica 1 alone is no
    majority, so trades answer 503/504 within their deadline and nothing
    is acknowledged; committed orders still read back. Restarted, trading
    continues with the next number. (The old design let replica 1 trade
    alone: SPEC §4.5 now forbids it.)"""
    bz = bazaar_factory(replicas=3)
    trades(bz, 12)
    bz.kill("order-3")
    bz.kill("order-2")
    read_back(bz, "with 2 and 3 dead: ")
    keys = refused_without_majority(bz, 5)
    bz.assert_stocks()
    #  Without a leader nobody may say 404 (a follower may lack orders a
    #  majority committed without it): the next number is 503, never 200.
    r = bz.get("/orders/12")
    assert r.status == 503, "GET /orders/12 with no majority: %r" % (r,)

    since = offsets(bz)
    bz.start("order-2")
    #  A retry with a refused key trades now, once, with the next number.
    r = wait_until(lambda: (lambda r: r if r.status not in (503, 504) else None)(
        bz.post("/orders", {"name": "apple", "type": "buy", "quantity": 1},
                {"Idempotency-Key": keys[0]})), READY_TIMEOUT, "a majority to trade again")
    assert r.status == 200, r
    assert_json(r.body, {"data": {"transaction_number": 12}}, "the first trade after 2 came back")
    bz.record(12, "apple", "buy", 1)
    trades(bz, 3, 13)
    read_back(bz, "with 3 dead: ")
    bz.start("order-3")
    wait_caught_up(bz, "order-3", since)
    held = wait_leads(bz, "order-3", since)
    assert held >= 16, "replica 3 took over holding %d orders, 16 were acknowledged" % held
    trades(bz, 5, 16)
    converge(bz)


def test_all_replicas_restart(bazaar_factory):
    bz = bazaar_factory(replicas=3)
    trades(bz, 15)
    for name in REPLICAS:
        bz.kill(name)
    since = offsets(bz)
    for name in REPLICAS:
        bz.start(name)
    for name in REPLICAS:
        wait_caught_up(bz, name, since)
    held = wait_leads(bz, "order-3", since)
    assert held >= 15, "replica 3 took over holding %d orders, 15 were acknowledged" % held
    read_back(bz, "after every replica restarted: ")
    bz.assert_stocks()
    bz.assert_next_unused()
    trades(bz, 5, 15)    # numbers continue at 15, densely
    converge(bz)


def test_stale_highest_replica_neither_reuses_nor_loses_a_number(bazaar_factory):
    bz = bazaar_factory(replicas=3)
    trades(bz, 3)
    bz.kill("order-3")
    trades(bz, 20, 3)     # via replica 2; replica 3's log stays at 3
    count = len(bz.orders)
    since = offsets(bz)
    bz.start("order-3")
    #  The very next trade (whoever serves it) gets the next number.
    trades(bz, 1, count)
    wait_caught_up(bz, "order-3", since)
    held = wait_leads(bz, "order-3", since)
    assert held >= count + 1, \
        "replica 3 took over holding %d orders, %d were acknowledged" % (held, count + 1)
    trades(bz, 5, count + 1)
    read_back(bz, "after the stale replica 3 took over: ")
    converge(bz)
