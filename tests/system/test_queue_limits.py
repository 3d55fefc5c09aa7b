"""Bounded waiting in the order replica (issue 11, item 4, as the consensus
design has it; services/order/held.h): a trade the leader proposed waits
in held.c for its entry's fate, at most HELD_MAX (100000) at once; one more
is answered 504 "outcome unknown" at once (it was proposed: it may still
commit), not 503 and not late. Every held one is answered with its own
commit once a majority holds it. Queries no longer wait at all: a query
beyond the log is answered at once (404 by the leader), whatever the
catalog does (the old queue of queries waiting for the catalog's journal
is gone, and so is the queue of commits beyond a gap).

The followers are paused (SIGSTOP), so that what waits cannot commit
before the overflow is answered: any reply that arrives for the overflow
before a reply for a held trade shows "at once" without a clock.
"""
import os
import signal

from harness import (COMMITTED, ERROR, MSG_VERSION, NO_DEADLINE, QUERY, TRADE, Zmtp,
                     canonical_dump, packb, unpackb, wait_until)

HELD_MAX = 100000           # services/order/held.h
OVERFLOW = 100
TXN_NOT_FOUND = 2           # msg_error_t MSG_ERR_TXN_NOT_FOUND (msgs.h)
OUTCOME_UNKNOWN = 13        # msg_error_t MSG_ERR_OUTCOME_UNKNOWN (msgs.h)
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


def test_held_trades_overflow_answers_504_at_once(bazaar_factory):
    """HELD_MAX + OVERFLOW sells of 1 apple while no follower can
    acknowledge: the first HELD_MAX are proposed and held; the last
    OVERFLOW are proposed too but find the queue full, and are answered
    504 before any held one is answered. Resumed, the followers accept
    every entry: each held trade is answered COMMITTED with its own number,
    and the overflow's trades committed too (504 said they might)."""
    #  The quorum timeout and the broker's heartbeat expiry are raised: what
    #  is tested is held.c's bound, not failover (answering 100000 held
    #  replies in one burst can keep the leader from heartbeating for more
    #  than the broker's 1 s).
    bz = bazaar_factory(replicas=3, cache_size=0, order_args=["--timeout", "60000"],
                        broker_args=["--heartbeat-expiry", "20000"])
    followers = [bz.pid("order"), bz.pid("order-2")]
    for pid in followers:
        os.kill(pid, signal.SIGSTOP)
    z = None
    resumed = False
    try:
        z = Zmtp(bz.ports["broker"])
        total = HELD_MAX + OVERFLOW
        early = []
        for req_id in range(1, total + 1):
            z.send(packb([MSG_VERSION, TRADE, req_id, "apple", SELL, 1, "", NO_DEADLINE]))
            if req_id % 1000 == 0:
                #  Paced, and reading now and then: a broker that falls
                #  behind a flood stops reading the connection, so it
                #  misses the PONGs to its ZMTP PINGs and closes the link
                #  after 1.5 s (src/link.h).
                msg = z.recv(timeout=0.05)
                while msg is not None:
                    early.append(unpackb(msg[-1]))
                    msg = z.recv(timeout=0.001)
        first = early + replies(z, OVERFLOW - len(early), "the overflow")
        for reply in first:
            assert reply[:2] == [MSG_VERSION, ERROR] and reply[3] == OUTCOME_UNKNOWN, reply
        assert sorted(r[2] for r in first) == list(range(HELD_MAX + 1, total + 1)), first[:10]
        #  Nothing committed while the followers are paused.
        assert len(canonical_dump(bz.order_file("order"))) == 0
        for pid in followers:
            os.kill(pid, signal.SIGCONT)
        resumed = True
        held = replies(z, HELD_MAX, "the held trades after the followers resumed")
    finally:
        if z is not None:
            z.close()
        if not resumed:
            for pid in followers:
                os.kill(pid, signal.SIGCONT)
    for reply in held:
        assert reply[:2] == [MSG_VERSION, COMMITTED], reply
        assert reply[3] == reply[2] - 1 and reply[4:7] == ["apple", SELL, 1], reply
    assert sorted(r[2] for r in held) == list(range(1, HELD_MAX + 1)), held[:10]
    #  Every proposed trade committed: the logs agree on all of them.
    logs = [bz.order_file(name) for name in bz.replica_names]
    wait_until(lambda: all(len(canonical_dump(p)) == total for p in logs), WAIT,
               "every replica to hold the %d trades" % total)
    assert canonical_dump(logs[0]) == canonical_dump(logs[1]) == canonical_dump(logs[2])
    bz.qty["apple"] += total
    wait_until(lambda: bz.get("/stocks/apple").body == {"data": bz.expected_stock("apple")},
               WAIT, "the catalog to learn the %d trades" % total)
