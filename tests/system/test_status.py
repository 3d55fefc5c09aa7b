"""Introspection: the broker answers STATUS itself (bazaar-client status,
bazaar status) and the gateway shows it on GET /status, through a leader's
kill -9 and return, and says so when the broker is down."""

import json
import os
import subprocess

from harness import BIN, assert_error, wait_until

DEADLINE = 20


def client_status(bz, *extra):
    return subprocess.run([os.path.join(BIN, "bazaar-client"), "status", "--broker",
                           bz.endpoints["broker"], *extra],
                          capture_output=True, text=True, timeout=DEADLINE)


def status_json(bz):
    r = client_status(bz, "--json")
    assert r.returncode == 0, r
    return json.loads(r.stdout)


def states(view):
    return {p["process"]: p["state"] for p in view["processes"]}


def settled(bz, leader, in_sync):
    """The view once `leader` leads, the catalog has learned every trade
    of the model, every live replica has caught up with it, none reports
    catching up and the in-sync set is `in_sync`
    (heartbeats lag 250 ms). A replica that stepped down or lost a
    campaign in a start's elections reports catching-up for a second (so
    the broker names another) while it already follows and is in sync."""
    def check():
        view = status_json(bz)
        orders = [p for p in view["processes"] if p["service"] == "order" and p["registered"]]
        ok = (view["leader"] == leader and sorted(view["in_sync"]) == in_sync
              and view["catalog_number"] == len(bz.orders)
              and all(p["position"] == view["catalog_number"] for p in orders)
              and all(p["state"] in ("serving", "leader") for p in orders))
        return view if ok else None
    return wait_until(check, DEADLINE, "leader %d with in-sync set %s" % (leader, in_sync))


def test_status_names_leader_positions_and_in_sync_set(bazaar_factory):
    bz = bazaar_factory(replicas=3)
    for _ in range(7):
        bz.trade("apple", "buy", 1)
    view = settled(bz, 3, [1, 2])
    assert view["broker"] == "up" and view["catalog_number"] == 7, view
    assert states(view) == {"catalog": "serving", "order-1": "serving", "order-2": "serving",
                            "order-3": "leader"}, view
    assert [p["process"] for p in view["processes"]] == \
        ["catalog", "order-1", "order-2", "order-3"], view
    for p in view["processes"]:
        assert p["lag"] == 0 and p["registered"] is True, p
        assert 0 <= p["heartbeat_age_ms"] < 60000, p
    leader = [p for p in view["processes"] if p["process"] == "order-3"][0]
    assert leader["epoch"] == view["epoch"] >= 1, view

    table = client_status(bz)
    assert table.returncode == 0, table
    assert "leader: order-3 (epoch %d)" % view["epoch"] in table.stdout, table.stdout
    assert "in sync with it: order-1 order-2" in table.stdout, table.stdout


def test_status_follows_a_leader_kill_and_return(bazaar_factory):
    bz = bazaar_factory(replicas=3)
    bz.trade("tesla", "sell", 3)
    before = settled(bz, 3, [1, 2])
    bz.kill("order-3")
    #  The broker names order-2 at once; it is a candidate until a
    #  majority (itself and order-1) promised it the next epoch.
    view = wait_until(lambda: (lambda v: v if v["leader"] == 2
                               and states(v)["order-2"] == "leader" else None)(status_json(bz)),
                      DEADLINE, "order-2 to lead after order-3's kill -9")
    assert view["epoch"] > before["epoch"], (before, view)
    assert states(view)["order-3"] == "down", view
    gone = [p for p in view["processes"] if p["process"] == "order-3"][0]
    assert gone["registered"] is False, gone
    #  The gateway shows the same thing.
    r = bz.get("/status")
    assert r.status == 200, r
    assert r.body["leader"] == 2 and r.body["broker"] == "up", r.body
    bz.trade("tesla", "buy", 1)
    bz.restart("order-3")
    view = settled(bz, 3, [1, 2])
    assert states(view)["order-3"] == "leader" and view["catalog_number"] == 2, view


def test_status_when_the_broker_is_down(bazaar_factory):
    bz = bazaar_factory(replicas=1)
    bz.stop("broker")
    r = client_status(bz, "--timeout", "500")
    assert r.returncode == 1 and "broker down" in r.stdout, r
    r = client_status(bz, "--json", "--timeout", "500")
    assert r.returncode == 1, r
    view = json.loads(r.stdout)
    assert set(view) == {"broker", "error"} and view["broker"] == "down", r
    assert view["error"].startswith("broker down: nothing listens at %s " % bz.endpoints["broker"]), r
    assert_error(bz.get("/status"), 503, "service unavailable")


def test_gateway_status_shows_the_cache(bazaar_factory):
    bz = bazaar_factory(replicas=1, cache_size=2)
    for name in ("apple", "tesla", "ford", "tesla"):
        assert bz.get("/stocks/" + name).status == 200
    body = bz.get("/status").body
    cache = body["gateway"]["cache"]
    assert cache["capacity"] == 2 and cache["entries"] == 2, cache
    #  The last two distinct names, most recently used first; apple evicted.
    wait_until(lambda: bz.get("/status").body["gateway"]["cache"]["names"] == ["tesla", "ford"],
               DEADLINE, "names tesla, ford cached")
    assert cache["evictions"] >= 1 and cache["hits"] >= 1, cache
    assert 0 < cache["hit_ratio"] < 1, cache
    reasons = [f["reason"] for f in cache["recent_flushes"]]
    assert "subscriber connected" in reasons, cache
    #  Restarting the catalog flushes the cache, and /status says why.
    bz.restart("catalog")
    wait_until(lambda: "new catalog incarnation" in
               [f["reason"] for f in bz.get("/status").body["gateway"]["cache"]["recent_flushes"]]
               if bz.get("/status").status == 200 else False,
               DEADLINE, "a flush for the catalog's restart")
    gw = bz.get("/status").body["gateway"]
    for key in ("in_flight", "connections", "requests_per_s", "lookups_per_s", "trades_per_s"):
        assert isinstance(gw[key], (int, float)) and gw[key] >= 0, gw


def test_dashboard_is_one_self_contained_page(bazaar_factory):
    bz = bazaar_factory(replicas=1)
    for path in ("/", "/dashboard"):
        r = bz.get(path)
        assert r.status == 200, r
        assert r.headers["content-type"].startswith("text/html"), r.headers
        page = r.raw.decode()
        assert "<html" in page.lower() and "/status" in page, page[:200]
        #  Nothing loaded from elsewhere: no http(s) URLs in src/href.
        for marker in ('src="http', "src='http", 'href="http', "href='http", "@import"):
            assert marker not in page, marker
    assert bz.post("/", {}).status == 405
