"""Bounded waiting in the order replica (issue 11, item 4, as the consensus
design has it; msgs/msgs.h MSG_UNCOMMITTED_MAX): the leader proposes
nothing new while MSG_UNCOMMITTED_MAX entries are past its commit position
(a failover sends such a tail whole, in one message, and a longer one
cannot be encoded); one more trade is answered 503 at once (it was not
proposed: certainly not done), not late. Every held one is answered with
its own commit once a majority holds it. Queries no longer wait at all: a
query beyond the log is answered at once (404 by the leader), whatever the
catalog does.

The followers are paused (SIGSTOP), so that what waits cannot commit
before the overflow is answered: any reply that arrives for the overflow
before a reply for a held trade shows "at once" without a clock.
"""
import os
import signal

from harness import (COMMITTED, ERROR, MSG_VERSION, NO_DEADLINE, QUERY, TRADE, Zmtp,
                     canonical_dump, packb, unpackb, wait_until)

LIST_MAX = 10000            # msgs/msgs.h MSG_LIST_MAX
UNCOMMITTED_MAX = LIST_MAX // 2   # msgs/msgs.h MSG_UNCOMMITTED_MAX
OVERFLOW = 100
TXN_NOT_FOUND = 2           # msg_error_t MSG_ERR_TXN_NOT_FOUND (msgs.h)
UNAVAILABLE = 7             # msg_error_t MSG_ERR_UNAVAILABLE (msgs.h)
SELL = 1
WAIT = 60                   # bound for one reply (ASan, 2 cores)


def replies(z, count, what):
    out = []
    while len(out) < count:
        msg = z.recv(timeout=WAIT)
        assert msg is not None, "%s: %d of %d answered" % (what, len(out), count)
        out.append(unpackb(msg[-1]))
    return out


def test_query_beyond_the_log_is_answered_at_once(bazaar_factory):
    bz = bazaar_factory(replicas=1, cache_size=0)
    bz.trade("apple", "buy", 1)
    os.kill(bz.pid("catalog"), signal.SIGSTOP)
    z = Zmtp(bz.ports["broker"])
    try:
        total = 5000
        for req_id in range(1, total + 1):
            z.send(packb([MSG_VERSION, QUERY, req_id, 10 ** 9, NO_DEADLINE]))
        got = replies(z, total, "queries beyond the log")
    finally:
        z.close()
        os.kill(bz.pid("catalog"), signal.SIGCONT)
    for reply in got:
        assert reply[:2] == [MSG_VERSION, ERROR] and reply[3] == TXN_NOT_FOUND, reply
    assert sorted(r[2] for r in got) == list(range(1, total + 1))
    bz.assert_orders()


def send_paced(z, total, first_req_id=1):
    """Sends total sells of 1 apple; returns the replies read meanwhile."""
    early = []
    for req_id in range(first_req_id, first_req_id + total):
        z.send(packb([MSG_VERSION, TRADE, req_id, "apple", SELL, 1, "", NO_DEADLINE]))
        if req_id % 100 == 0:
            #  Paced, and reading now and then: a broker that falls
            #  behind a flood stops reading the connection, so it
            #  misses the PONGs to its ZMTP PINGs and closes the link
            #  after 1.5 s (src/link.h).
            msg = z.recv(timeout=0.1)
            while msg is not None:
                early.append(unpackb(msg[-1]))
                msg = z.recv(timeout=0.001)
    return early


def test_uncommitted_overflow_answers_503_at_once(bazaar_factory):
    """UNCOMMITTED_MAX + OVERFLOW sells of 1 apple while no follower can
    acknowledge: the first UNCOMMITTED_MAX are proposed and held; the last
    OVERFLOW are answered 503 (not proposed) before any held one is
    answered. Resumed, the followers accept every entry: each held trade is
    answered COMMITTED with its own number, and the overflow's did not
    happen."""
    #  The quorum timeout and the broker's heartbeat expiry are raised: what
    #  is tested is the bound, not failover.
    bz = bazaar_factory(replicas=3, cache_size=0, order_args=["--timeout", "60000"],
                        broker_args=["--heartbeat-expiry", "20000"])
    followers = [bz.pid("order"), bz.pid("order-2")]
    for pid in followers:
        os.kill(pid, signal.SIGSTOP)
    z = None
    resumed = False
    try:
        z = Zmtp(bz.ports["broker"])
        total = UNCOMMITTED_MAX + OVERFLOW
        early = send_paced(z, total)
        first = early + replies(z, OVERFLOW - len(early), "the overflow")
        for reply in first:
            assert reply[:2] == [MSG_VERSION, ERROR] and reply[3] == UNAVAILABLE, reply
        assert sorted(r[2] for r in first) == list(range(UNCOMMITTED_MAX + 1, total + 1)), \
            first[:10]
        #  Nothing committed while the followers are paused.
        assert len(canonical_dump(bz.order_file("order"))) == 0
        for pid in followers:
            os.kill(pid, signal.SIGCONT)
        resumed = True
        held = replies(z, UNCOMMITTED_MAX, "the held trades after the followers resumed")
    finally:
        if z is not None:
            z.close()
        if not resumed:
            for pid in followers:
                os.kill(pid, signal.SIGCONT)
    for reply in held:
        assert reply[:2] == [MSG_VERSION, COMMITTED], reply
        assert reply[3] == reply[2] - 1 and reply[4:7] == ["apple", SELL, 1], reply
    assert sorted(r[2] for r in held) == list(range(1, UNCOMMITTED_MAX + 1)), held[:10]
    #  Exactly the held trades committed: the logs agree on all of them.
    logs = [bz.order_file(name) for name in bz.replica_names]
    wait_until(lambda: all(len(canonical_dump(p)) == UNCOMMITTED_MAX for p in logs), WAIT,
               "every replica to hold the %d trades" % UNCOMMITTED_MAX)
    assert canonical_dump(logs[0]) == canonical_dump(logs[1]) == canonical_dump(logs[2])
    bz.qty["apple"] += UNCOMMITTED_MAX
    wait_until(lambda: bz.get("/stocks/apple").body == {"data": bz.expected_stock("apple")},
               WAIT, "the catalog to learn the %d trades" % UNCOMMITTED_MAX)
    #  Proposing again once the tail committed: the next number.
    r = bz.post("/orders", {"name": "apple", "type": "sell", "quantity": 1})
    assert r.status == 200 and r.body["data"]["transaction_number"] == UNCOMMITTED_MAX, r


def test_full_tail_travels_whole_at_failover(bazaar_factory):
    """Five replicas; 1, 2 and 3 paused, so leader 5 and follower 4 hold
    what the leader accepts and nothing commits. More than a message can
    carry is sent (LIST_MAX + OVERFLOW): the leader takes UNCOMMITTED_MAX
    and answers the rest 503. Leader 5 is killed and the others resume:
    replica 4 adopts its tail, re-stamps it and sends it whole, so every
    live replica holds the same UNCOMMITTED_MAX orders (without the bound
    the tail could not be encoded: "cannot encode a APPEND")."""
    bz = bazaar_factory(replicas=5, cache_size=0, order_args=["--timeout", "60000"],
                        broker_args=["--heartbeat-expiry", "2000"])
    paused = [bz.pid(name) for name in ("order", "order-2", "order-3")]
    for pid in paused:
        os.kill(pid, signal.SIGSTOP)
    z = None
    got = []
    resumed = False
    try:
        z = Zmtp(bz.ports["broker"])
        total = LIST_MAX + OVERFLOW
        got = send_paced(z, total)
        wait_until(lambda: len(canonical_dump(bz.order_file("order-4"))) >= UNCOMMITTED_MAX,
                   WAIT, "follower 4 to hold the leader's tail")
        refused = [r for r in got if r[1] == ERROR and r[3] == UNAVAILABLE]
        while len(refused) < total - UNCOMMITTED_MAX:
            msg = z.recv(timeout=WAIT)
            assert msg is not None, "%d of %d refused" % (len(refused), total - UNCOMMITTED_MAX)
            reply = unpackb(msg[-1])
            assert reply[1] == ERROR and reply[3] == UNAVAILABLE, reply
            refused.append(reply)
        bz.kill("order-5")
        for pid in paused:
            os.kill(pid, signal.SIGCONT)
        resumed = True
        live = [bz.order_file(name) for name in bz.replica_names if name != "order-5"]
        wait_until(lambda: all(len(canonical_dump(p)) == UNCOMMITTED_MAX for p in live), WAIT,
                   "every live replica to hold the recovered %d orders" % UNCOMMITTED_MAX)
    finally:
        if z is not None:
            z.close()
        if not resumed:
            for pid in paused:
                os.kill(pid, signal.SIGCONT)
    dumps = [canonical_dump(p) for p in live]
    assert all(d == dumps[0] for d in dumps)
    for name in bz.replica_names:
        assert "cannot encode" not in bz.log_text(name), name
    bz.qty["apple"] += UNCOMMITTED_MAX
    wait_until(lambda: bz.get("/stocks/apple").body == {"data": bz.expected_stock("apple")},
               WAIT, "the catalog to learn the %d trades" % UNCOMMITTED_MAX)
