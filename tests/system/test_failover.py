"""Three order replicas: the broker names the highest live id, which
leads once a majority promised it an epoch and it holds the best log of
that majority (docs/CONSENSUS.md), so no acknowledged order ever reads as
404 after a failover; with one replica of three left, nothing trades.

When quiet, every replica's log holds the trades of catalog.journal
(SPEC §4.4, canonical dumps: stamps and carried commit positions may
differ from replica to replica).
"""
from harness import Bazaar, READY_TIMEOUT, assert_json, broker_leader, wait_until

NAMES = ["apple", "tesla", "ford", "nike"]


def _read_order_through_failover(bz, order):
    """GET /orders/<n> until it is not 503; it must then be exactly order."""
    def answered():
        r = bz.get("/orders/%d" % order["number"])
        return r if r.status != 503 else None
    r = wait_until(answered, READY_TIMEOUT, "order %d to be served" % order["number"])
    assert r.status == 200, "acknowledged order %d read as %r" % (order["number"], r)
    assert_json(r.body, {"data": order}, "GET /orders/%d" % order["number"])


def _trade_through_failover(bz, i):
    """Trades may get 503 (not done) or 504 (outcome unknown) while the
    leader changes; retry with one key, which returns the truth."""
    key = "failover-%d" % i
    def traded():
        r = bz.post("/orders", {"name": NAMES[i % 4], "type": "buy", "quantity": 1},
                    {"Idempotency-Key": key})
        return r if r.status not in (503, 504) else None
    r = wait_until(traded, READY_TIMEOUT, "trade %d" % i)
    assert r.status == 200, r
    number = r.body["data"]["transaction_number"]
    assert number == len(bz.orders), "trade %d got number %d" % (i, number)
    bz.record(number, NAMES[i % 4], "buy", 1)


def test_leader_crash_loses_no_order_and_replicas_converge():
    with Bazaar(replicas=3) as bz:
        for i in range(20):
            _trade_through_failover(bz, i)
        assert broker_leader(bz) == 3

        #  Kill the leader (3): replica 2 leads and must not answer 404
        #  for orders that replica 3 acknowledged.
        bz.kill("order-3")
        for order in bz.orders:
            _read_order_through_failover(bz, order)
        for i in range(20, 30):
            _trade_through_failover(bz, i)
        assert broker_leader(bz) == 2

        #  Kill 2 as well: replica 1 alone is no majority. Every committed
        #  order still reads; a trade is never acknowledged.
        bz.kill("order-2")
        for order in bz.orders:
            _read_order_through_failover(bz, order)
        r = bz.post("/orders", {"name": "apple", "type": "buy", "quantity": 1},
                    {"Idempotency-Key": "failover-30"})
        assert r.status in (503, 504), "a trade with one replica of three: %r" % (r,)

        #  Bring both back: 3 leads again and numbers continue densely (the
        #  refused trade's retry included: it trades now, once).
        bz.start("order-2")
        bz.start("order-3")
        for i in range(30, 40):
            _trade_through_failover(bz, i)
        wait_until(lambda: broker_leader(bz) == 3, READY_TIMEOUT, "replica 3 to lead again")
        _trade_through_failover(bz, 40)
        bz.assert_orders()
        bz.assert_stocks()
        wait_until(bz.files_identical, READY_TIMEOUT,
                   "every order log to hold the trades of catalog.journal")
