"""The direct link (issue 13): the order leader sends its catalog requests
to the catalog's own ROUTER (--rep, by default the --pub host and a free
port, announced by the broker), so a trade crosses the broker twice
instead of four times.

What is checked, with taps on the broker and on the catalog's PUB (where
the catalog shows its direct traffic):
  - with the link, every APPLY of our trades goes direct: the catalog
    shows APPLY and COMMITTED for each, the broker routes none of them;
  - with --rep "" the catalog has no direct endpoint and the APPLYs go
    through the broker, as before the link existed;
  - after the catalog is killed (-9) and restarted, the leader's link
    follows it and trades go direct again (through the broker meanwhile);
  - two catalogs on one host with the default --rep do not collide: the
    second is refused by the broker (the one-catalog rule), not by a port.
"""
import json
import os
import subprocess

from harness import free_ports, tool, wait_until

DEADLINE = 30
STOCK = "ford"


def tap_argv(bz, broker=False, catalog=False):
    return [tool("bazaar-tap"), "--json", "--no-heartbeats",
            "--type", "TRADE,APPLY,COMMITTED,INVALIDATE,LOOKUP",
            "--tap", bz.endpoints["tap"] if broker else "",
            "--catalog-pub", bz.endpoints["catalog_pub"] if catalog else ""]


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
    """The catalog's tap shows an invalidation of STOCK from trade number on:
    it has shown everything the catalog published before."""
    return any(m.get("type") == "INVALIDATE" and m.get("name") == STOCK
               and m.get("version", 0) > number for m in messages(tap))


#  What shows a tap has joined, whichever way APPLY goes: every trade
#  crosses the broker as a TRADE; the catalog beacons every 100 ms.
def joined(name, tap, keys):
    if name == "broker":
        return bool(shown(tap, "TRADE", keys))
    return any(m.get("type") == "INVALIDATE" for m in messages(tap))


def trade(bz, key):
    return bz.trade(STOCK, "buy" if len(bz.orders) % 2 else "sell", 1, key=key)


def warm_up(bz, taps, via, prefix="warm"):
    """Trades until every tap has joined (a SUB joins late) and the last
    APPLY went by via: "catalog" (the direct link is up) or "broker"."""
    keys = set()

    def ready():
        key = "%s-%d" % (prefix, len(keys))
        keys.add(key)
        trade(bz, key)
        return (all(joined(name, tap, keys) for name, tap in taps.items())
                and shown(taps[via], "APPLY", {key}))
    wait_until(ready, DEADLINE, "taps joined and APPLYs going by the " + via, interval=0.1)


def settle(bz, broker_tap):
    """A lookup through the broker after the trades: once the broker's tap
    shows it, it has shown everything the broker routed before."""
    r = bz.get("/stocks/amc")
    assert r.status == 200, r
    wait_until(lambda: any(m.get("type") == "LOOKUP" and m.get("name") == "amc"
                           for m in messages(broker_tap)),
               DEADLINE, "the broker's tap to show the LOOKUP")


def run_trades(bz, prefix, count=20):
    keys = ["%s-%d" % (prefix, i) for i in range(count)]
    last = max(trade(bz, key) for key in keys)
    return set(keys), last


def test_trades_go_to_the_catalog_directly(bazaar_factory, spawn):  # noqa: F811
    bz = bazaar_factory(replicas=1, cache_size=0)
    taps = {"broker": spawn(tap_argv(bz, broker=True)),
            "catalog": spawn(tap_argv(bz, catalog=True))}
    warm_up(bz, taps, "catalog")
    keys, _ = run_trades(bz, "direct")
    wait_until(lambda: shown(taps["catalog"], "COMMITTED", keys) == keys, DEADLINE,
               "the catalog to show a COMMITTED for each trade")
    assert shown(taps["catalog"], "APPLY", keys) == keys
    settle(bz, taps["broker"])
    assert shown(taps["broker"], "TRADE", keys) == keys, taps["broker"].describe()
    assert not shown(taps["broker"], "APPLY", keys), \
        "the broker routed APPLYs the direct link should carry:\n" + taps["broker"].describe()
    bz.assert_stocks()
    bz.assert_orders()


def test_without_a_direct_endpoint_trades_go_through_the_broker(bazaar_factory,
                                                                 spawn):  # noqa: F811
    bz = bazaar_factory(replicas=1, cache_size=0, catalog_args=["--rep", ""])
    bz.wait_log("catalog", r"direct requests from the order leader on \(none")
    taps = {"broker": spawn(tap_argv(bz, broker=True)),
            "catalog": spawn(tap_argv(bz, catalog=True))}
    warm_up(bz, taps, "broker")
    keys, last = run_trades(bz, "brokered")
    settle(bz, taps["broker"])
    assert shown(taps["broker"], "APPLY", keys) == keys, taps["broker"].describe()
    wait_until(lambda: invalidated(taps["catalog"], last), DEADLINE,
               "the catalog's tap to show the last trade's invalidation")
    assert not shown(taps["catalog"], "APPLY", keys), taps["catalog"].describe()
    bz.assert_stocks()
    bz.assert_orders()


def test_the_link_follows_a_restarted_catalog(bazaar_factory, spawn):  # noqa: F811
    bz = bazaar_factory(replicas=1, cache_size=0)
    taps = {"catalog": spawn(tap_argv(bz, catalog=True))}
    warm_up(bz, taps, "catalog")
    since = bz.log_size("catalog")
    bz.kill("catalog")
    bz.start("catalog")
    bz.wait_ready()
    #  Most likely a new free port: the broker announces it and the
    #  leader connects there.
    bz.wait_log("catalog", r"direct requests from the order leader on tcp://", since=since)
    warm_up(bz, taps, "catalog", prefix="after-restart")
    bz.assert_stocks()
    bz.assert_orders()


def test_two_catalogs_on_one_host_do_not_collide_on_the_direct_port(bazaar_factory):
    """The second is refused by the broker's one-catalog rule, and says so,
    rather than failing to bind a fixed port."""
    bz = bazaar_factory(replicas=1)
    other = os.path.join(bz.tmp, "data-second")
    os.makedirs(other)
    (pub,) = free_ports(1)
    proc = subprocess.run([os.path.join(bz.bin, "bazaar-catalog"), "--broker",
                           bz.endpoints["broker"], "--pub", "tcp://127.0.0.1:%d" % pub,
                           "--data", other], stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=DEADLINE)
    out = (proc.stdout + proc.stderr).decode(errors="replace")
    assert proc.returncode == 1, out
    assert "refused" in out and "cannot bind" not in out, out
    bz.trade("apple", "buy", 1)
