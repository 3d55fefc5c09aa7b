"""The direct link (issue 13): the order leader sends its catalog requests
to the catalog's own ROUTER (--rep, announced by the broker), so a trade
crosses the broker twice instead of four times.

What is checked, with taps on the broker and on the leader's PUB (where
the leader shows its direct traffic):
  - with the link, every APPLY of our trades goes direct: the leader shows
    APPLY and COMMITTED for each, the broker routes none of them;
  - with --rep "" the catalog has no direct endpoint and the APPLYs go
    through the broker, as before the link existed;
  - after the catalog is killed (-9) and restarted on the same endpoint,
    the leader's link reconnects and trades go direct again (through the
    broker meanwhile).
"""
import json

from conftest import wait_until
from test_tools import spawn, tool  # noqa: F401  (spawn is a fixture)

DEADLINE = 30


def tap_argv(bz, broker=False, leader=False):
    return [tool("bazaar-tap"), "--json", "--no-heartbeats",
            "--type", "TRADE,APPLY,COMMITTED,REPLICATE,LOOKUP",
            "--tap", bz.endpoints["tap"] if broker else "",
            "--catalog-pub", "",
            "--order-pub", bz.endpoints["order_pub"] if leader else ""]


def shown(tap, type_, keys):
    """Keys among keys that tap printed a message of type_ for."""
    found = set()
    for line in tap.lines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("type") == type_ and msg.get("key") in keys:
            found.add(msg["key"])
    return found


#  What shows a tap has joined: every trade crosses the broker as a TRADE
#  and leaves the leader's PUB as a REPLICATE, whichever way APPLY goes.
JOINED = {"broker": "TRADE", "leader": "REPLICATE"}


def trade(bz, key):
    bz.trade("ford", "buy" if len(bz.orders) % 2 else "sell", 1, key=key)


def warm_up(bz, taps, via, prefix="warm"):
    """Trades until every tap shows them (a SUB joins late) and the last
    APPLY went by via: "leader" (the direct link is up) or "broker"."""
    keys = set()

    def ready():
        key = "%s-%d" % (prefix, len(keys))
        keys.add(key)
        trade(bz, key)
        return (all(shown(tap, JOINED[name], keys) for name, tap in taps.items())
                and shown(taps[via], "APPLY", {key}))
    wait_until(ready, DEADLINE, "taps joined and APPLYs going by the " + via, interval=0.1)


def settle(bz, broker_tap):
    """A lookup through the broker after the trades: once the broker's tap
    shows it, it has shown everything the broker routed before."""
    name = "amc"
    r = bz.get("/stocks/" + name)
    assert r.status == 200, r
    wait_until(lambda: any('"LOOKUP"' in line and '"%s"' % name in line
                           for line in broker_tap.lines()),
               DEADLINE, "the broker's tap to show the LOOKUP")


def run_trades(bz, prefix, count=20):
    keys = {"%s-%d" % (prefix, i) for i in range(count)}
    for key in sorted(keys):
        trade(bz, key)
    return keys


def test_trades_go_to_the_catalog_directly(bazaar_factory, spawn):  # noqa: F811
    bz = bazaar_factory(replicas=1, cache_size=0)
    taps = {"broker": spawn(tap_argv(bz, broker=True)), "leader": spawn(tap_argv(bz, leader=True))}
    warm_up(bz, taps, "leader")
    keys = run_trades(bz, "direct")
    wait_until(lambda: shown(taps["leader"], "COMMITTED", keys) == keys, DEADLINE,
               "the leader to show a COMMITTED for each trade")
    assert shown(taps["leader"], "APPLY", keys) == keys
    settle(bz, taps["broker"])
    assert shown(taps["broker"], "TRADE", keys) == keys, taps["broker"].describe()
    assert not shown(taps["broker"], "APPLY", keys), \
        "the broker routed APPLYs the direct link should carry:\n" + taps["broker"].describe()
    bz.assert_stocks()
    bz.assert_orders()


def test_without_a_direct_endpoint_trades_go_through_the_broker(bazaar_factory,
                                                                 spawn):  # noqa: F811
    bz = bazaar_factory(replicas=1, cache_size=0, catalog_args=["--rep", ""])
    bz.wait_log("catalog", r"directly on \(none\)")
    taps = {"broker": spawn(tap_argv(bz, broker=True)), "leader": spawn(tap_argv(bz, leader=True))}
    warm_up(bz, taps, "broker")
    keys = run_trades(bz, "brokered")
    settle(bz, taps["broker"])
    wait_until(lambda: shown(taps["leader"], "REPLICATE", keys) == keys, DEADLINE,
               "the leader to publish each trade")
    assert shown(taps["broker"], "APPLY", keys) == keys, taps["broker"].describe()
    assert not shown(taps["leader"], "APPLY", keys), taps["leader"].describe()
    bz.assert_stocks()
    bz.assert_orders()


def test_the_link_reconnects_to_a_restarted_catalog(bazaar_factory, spawn):  # noqa: F811
    bz = bazaar_factory(replicas=1, cache_size=0)
    leader = spawn(tap_argv(bz, leader=True))
    warm_up(bz, {"leader": leader}, "leader")
    bz.kill("catalog")
    bz.start("catalog")
    bz.wait_ready()
    #  Until the link has reconnected, trades go through the broker.
    warm_up(bz, {"leader": leader}, "leader", prefix="after-restart")
    bz.assert_stocks()
    bz.assert_orders()
