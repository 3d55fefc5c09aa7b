"""Deadlines on the bus (SPEC section 3): a request carries its deadline, a
worker drops work whose deadline passed, so a 503 the client got because
of a timeout means the trade did not happen.

The broker's heartbeat expiry is raised in these tests so that it keeps
routing to the paused process: what is tested is the paused worker
itself, not failover.  One replica, so no second leader fences the first
with a new epoch (that is another protection, tested elsewhere).
"""

import os
import re
import signal
import threading

from conftest import assert_error, wait_until

EXPIRED_RE = r"dropped \d+ requests? whose deadline had passed"


def post_trades(bz, count, name="amc"):
    """Posts count buys of 1 concurrently; returns their responses."""
    results = [None] * count

    def one(i):
        try:
            results[i] = bz.post("/orders", {"name": name, "type": "buy", "quantity": 1})
        except Exception as exc:  # noqa: BLE001
            results[i] = exc
    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def paused_while_trading(bz, victim, count=8):
    """SIGSTOPs victim, posts count trades (each must get 503: nobody
    answers), SIGCONTs it, and returns its log offset from before."""
    since = bz.log_size(victim)
    pid = bz.pid(victim)
    os.kill(pid, signal.SIGSTOP)
    try:
        results = post_trades(bz, count)
    finally:
        os.kill(pid, signal.SIGCONT)
    for r in results:
        assert not isinstance(r, Exception), results
        assert_error(r, 503, "service unavailable", "a trade while %s is paused" % victim)
    return since


def amc_quantity(bz):
    r = bz.get("/stocks/amc")
    return r.body["data"]["quantity"] if r.status == 200 else None


def assert_dropped_not_done(bz, victim, since):
    """Waits until victim either logs the drop of its expired work or
    commits it anyway (the bug), then checks nothing was traded."""
    wait_until(lambda: re.search(EXPIRED_RE, bz.log_since(victim, since))
               or amc_quantity(bz) not in (None, 1000),
               30, "%s to drop its expired requests (or trade them)" % victim)
    #  Whatever was queued is handled by now; trading again proves it.
    bz.trade("apple", "buy", 1)
    bz.assert_unchanged()
    bz.assert_orders()
    assert re.search(EXPIRED_RE, bz.log_since(victim, since)), bz.log_tail(victim)


def test_paused_leader_drops_trades_whose_deadline_passed(bazaar_factory):
    bz = bazaar_factory(replicas=1, cache_size=0,
                        broker_args=["--heartbeat-expiry", "20000"])
    bz.trade("ford", "buy", 1)
    since = paused_while_trading(bz, "order")
    assert_dropped_not_done(bz, "order", since)


def test_paused_catalog_drops_applies_whose_deadline_passed(bazaar_factory):
    bz = bazaar_factory(replicas=1, cache_size=0,
                        broker_args=["--heartbeat-expiry", "20000"])
    bz.trade("ford", "buy", 1)
    since = paused_while_trading(bz, "catalog")
    assert_dropped_not_done(bz, "catalog", since)
