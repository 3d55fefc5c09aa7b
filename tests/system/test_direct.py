"""The catalog is off the trade's path (SPEC §3 "Catalogs learn"; issue 20
item 5).  The direct link of issue 13 (the order leader sending APPLYs to
the catalog's own ROUTER) is gone with APPLY itself: a trade goes
gateway -> broker -> leader, commits on a majority of the replicas, and the
catalog learns it from the leader's PUB.

What is checked, with taps on the broker, on the leader's PUB and on the
catalog's PUB:
  - every trade crosses the broker as a TRADE and its reply, and the
    broker routes no catalog request for it; the leader's PUB carries the
    entries (CS_APPEND) and the catalog's PUB the invalidations;
  - a paused catalog (SIGSTOP) holds up no trade, and once resumed it
    learns every trade it missed and answers the exact quantities;
  - two catalogs on one host share a data directory under distinct
    --name and --pub: both run; a second one on the same files stops
    with a message naming them, rather than corrupting the journal.
"""
import json
import os
import signal
import subprocess

from harness import free_ports, journal_bytes, read_journal, tool, wait_until

DEADLINE = 30
STOCK = "ford"
CATALOG_REQUESTS = {"LOOKUP", "LIST"}


def tap_argv(bz, broker=False, catalog=False, order=False):
    return [tool("bazaar-tap"), "--json", "--no-heartbeats",
            "--tap", bz.endpoints["tap"] if broker else "",
            "--catalog-pub", bz.endpoints["catalog_pub"] if catalog else "",
            "--order-pub", bz.endpoints["order_pub"] if order else ""]


def messages(tap):
    for line in tap.lines():
        try:
            yield json.loads(line)
        except ValueError:
            continue


def shown(tap, type_, keys):
    """Keys among keys that tap printed a message of type_ for."""
    return {m["key"] for m in messages(tap) if m.get("type") == type_ and m.get("key") in keys}


def invalidated(tap, number):
    """The catalog's tap shows an invalidation of STOCK from trade number on."""
    return any(m.get("type") == "INVALIDATE" and m.get("name") == STOCK
               and m.get("version", 0) > number for m in messages(tap))


def trade(bz, key):
    return bz.trade(STOCK, "buy" if len(bz.orders) % 2 else "sell", 1, key=key)


def warm_up(bz, taps, prefix="warm"):
    """Trades until every tap has joined (a SUB joins late): the broker's
    shows a TRADE, the leader's an entry, the catalog's an invalidation."""
    keys = set()

    def ready():
        key = "%s-%d" % (prefix, len(keys))
        keys.add(key)
        number = trade(bz, key)
        return (shown(taps["broker"], "TRADE", keys)
                and any(m.get("type") == "CS_APPEND" for m in messages(taps["order"]))
                and invalidated(taps["catalog"], number))
    wait_until(ready, DEADLINE, "the taps to join", interval=0.1)


def test_trades_never_cross_the_catalog(bazaar_factory, spawn):
    bz = bazaar_factory(replicas=1, cache_size=0)
    taps = {"broker": spawn(tap_argv(bz, broker=True)),
            "order": spawn(tap_argv(bz, order=True)),
            "catalog": spawn(tap_argv(bz, catalog=True))}
    warm_up(bz, taps)
    start = len(list(messages(taps["broker"])))
    keys = ["path-%d" % i for i in range(20)]
    last = max(trade(bz, key) for key in keys)
    wait_until(lambda: shown(taps["broker"], "COMMITTED", set(keys)) == set(keys), DEADLINE,
               "the broker's tap to show a COMMITTED for each trade")
    assert shown(taps["broker"], "TRADE", set(keys)) == set(keys), taps["broker"].describe()
    wait_until(lambda: invalidated(taps["catalog"], last), DEADLINE,
               "the catalog's tap to show the last trade's invalidation")
    routed = [m for m in list(messages(taps["broker"]))[start:]
              if m.get("type") in CATALOG_REQUESTS]
    assert not routed, "the broker routed catalog requests during trades: %r" % routed[:5]
    bz.assert_stocks()
    bz.assert_orders()


def test_a_paused_catalog_holds_up_no_trade(bazaar_factory):
    bz = bazaar_factory(replicas=1, cache_size=0)
    bz.trade(STOCK, "buy", 1)
    os.kill(bz.pid("catalog"), signal.SIGSTOP)
    try:
        for i in range(20):
            r = bz.post("/orders", {"name": STOCK, "type": "sell", "quantity": 2},
                        timeout=DEADLINE)
            assert r.status == 200, "trade %d while the catalog is paused: %r" % (i, r)
            bz.record(r.body["data"]["transaction_number"], STOCK, "sell", 2)
            assert r.elapsed < 2.0, "trade %d took %.2fs" % (i, r.elapsed)
    finally:
        os.kill(bz.pid("catalog"), signal.SIGCONT)
    bz.assert_orders()
    #  Resumed, it learns what it missed; lookups answer exactly.
    wait_until(lambda: bz.get("/stocks/" + STOCK).body == {"data": bz.expected_stock(STOCK)},
               DEADLINE, "the resumed catalog to learn the trades it missed")
    bz.assert_stocks()


def test_two_catalogs_on_one_host_share_a_data_directory(bazaar_factory):
    bz = bazaar_factory(replicas=1)
    bz.trade("apple", "buy", 1)
    pub, pub2 = free_ports(2)
    base = [os.path.join(bz.bin, "bazaar-catalog"), "--broker", bz.endpoints["broker"],
            "--data", bz.data]
    #  The same files as the running catalog: refused, with a message.
    proc = subprocess.run(base + ["--pub", "tcp://127.0.0.1:%d" % pub],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=DEADLINE)
    out = (proc.stdout + proc.stderr).decode(errors="replace")
    assert proc.returncode == 1, out
    assert "catalog.journal" in out and "cannot bind" not in out, out
    #  Another name: it runs beside the first and learns the same trades.
    second = subprocess.Popen(base + ["--pub", "tcp://127.0.0.1:%d" % pub2, "--name", "second"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        journal = os.path.join(bz.data, "second.journal")
        bz.trade("apple", "buy", 2)
        wait_until(lambda: len(read_journal(journal)) == 2, DEADLINE,
                   "the second catalog to learn the 2 trades")
        first = bz.data_file("catalog.journal")
        wait_until(lambda: journal_bytes(journal) == journal_bytes(first), DEADLINE,
                   "second.journal to equal catalog.journal")
        assert second.poll() is None, "the second catalog exited %s" % second.returncode
        for _ in range(10):
            bz.assert_stock("apple")
    finally:
        second.kill()
        second.wait(DEADLINE)
    bz.assert_orders()
