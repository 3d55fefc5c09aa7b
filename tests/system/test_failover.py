"""Three order replicas: the broker routes to the highest live id, and a
replica that takes over (or restarts) catches up from the catalog's
journal before it answers, so no acknowledged order ever reads as 404.

When quiet, every replica's log is byte-identical to catalog.journal
(SPEC §4.4): they are the same records, copied from the commit point.
"""
import os

from harness import Bazaar, READY_TIMEOUT, Replica, assert_json, journal_bytes, wait_until

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
    """Trades may get 503 while the leader changes; retry with one key."""
    key = "failover-%d" % i
    def traded():
        r = bz.post("/orders", {"name": NAMES[i % 4], "type": "buy", "quantity": 1},
                    {"Idempotency-Key": key})
        return r if r.status != 503 else None
    r = wait_until(traded, READY_TIMEOUT, "trade %d" % i)
    assert r.status == 200, r
    number = r.body["data"]["transaction_number"]
    assert number == len(bz.orders), "trade %d got number %d" % (i, number)
    bz.orders.append({"number": number, "name": NAMES[i % 4], "type": "buy", "quantity": 1})
    bz.qty[NAMES[i % 4]] -= 1


def _files_identical(bz):
    journal = journal_bytes(os.path.join(bz.data, "catalog.journal"))
    logs = [journal_bytes(os.path.join(bz.data, "order-%d.log" % replica_id))
            for replica_id in (1, 2, 3)]
    return all(log == journal for log in logs)


def test_leader_crash_loses_no_order_and_replicas_converge():
    with Bazaar() as bz:
        extra = [Replica(bz, 2), Replica(bz, 3)]
        try:
            for replica in extra:
                replica.start()
            wait_until(lambda: all(r.serving() for r in extra), READY_TIMEOUT,
                       "replicas 2 and 3 to serve")
            for i in range(20):
                _trade_through_failover(bz, i)

            #  Kill the leader (3): replica 2 leads and must not answer
            #  404 for orders that replica 3 acknowledged.
            extra[1].kill()
            for order in bz.orders:
                _read_order_through_failover(bz, order)
            for i in range(20, 30):
                _trade_through_failover(bz, i)

            #  Kill 2 as well: replica 1 is behind by the trades 2 placed.
            extra[0].kill()
            for order in bz.orders:
                _read_order_through_failover(bz, order)
            for i in range(30, 35):
                _trade_through_failover(bz, i)

            #  Bring both back: they catch up, 3 leads again.
            for replica in extra:
                replica.start()
            wait_until(lambda: all(r.serving() >= 2 for r in extra), READY_TIMEOUT,
                       "replicas 2 and 3 to serve again")
            for i in range(35, 40):
                _trade_through_failover(bz, i)
            bz.assert_orders()
            bz.assert_stocks()
            wait_until(lambda: _files_identical(bz), READY_TIMEOUT,
                       "every order log to equal catalog.journal")
        finally:
            for replica in extra:
                replica.kill()
