"""The dashboard in a real browser: headless Chromium (Debian's, installed
by tools/install-deps.sh) loads GET / against a running system with three
replicas, runs its scripts, and the test reads the rendered DOM (not the
HTML the gateway sent): the leader shown, then, after a kill -9 of the
leader, the new one, in a page opened only after the failover that lists
the election (the gateway keeps the timeline). That last run also takes
a screenshot (`make screenshot` keeps one for the docs:
tests/docs/dashboard_screenshot.py)."""

import re

from harness import rendered, wait_until

DEADLINE = 60


def test_dashboard_shows_the_leader_and_its_successor(bazaar_factory, tmp_path):
    """The rendered page names order-3 as leader; after order-3's kill -9
    a page opened then (each Chromium run is a fresh page with a fresh
    profile: nothing carries over from the first) names order-2, shows
    order-3 down and lists the election: the timeline is kept by the
    gateway (GET /status "events"), not by the page. One system and
    one page per state: the test waits on GET /status before rendering,
    so Chromium (seconds of CPU a run) is not the thing it polls with."""
    bz = bazaar_factory(replicas=3)
    for name in ("apple", "tesla", "nvidia"):
        bz.trade(name, "buy", 2)
        bz.get("/stocks/" + name)
    url = "http://127.0.0.1:%d/" % bz.port

    def leader():
        r = bz.get("/status")
        return r.body["leader"] if r.status == 200 else None

    def shows(leader, *mode):
        page = rendered(url, *mode)
        return page if page["leader"] and page["leader"].strip() == leader else None
    #  The sent HTML holds a placeholder: only the scripts can put order-3 there.
    assert 'id="leader">order-3' not in bz.get("/").raw.decode()
    wait_until(lambda: leader() == 3, DEADLINE, "order-3 to lead")
    page = wait_until(lambda: shows("order-3"), DEADLINE, "the dashboard to show order-3")
    assert page["conn"].strip() == "live", page
    assert re.search(r"order-3\s+leader", page["procs"]), page["procs"]
    assert re.search(r"order-1\s+(● in sync\s+)?serving", page["procs"]), page["procs"]
    assert "watching: leader order-3" in page["events"], page["events"]
    assert "nvidia" in page["cached"], page["cached"]

    bz.kill("order-3")
    wait_until(lambda: leader() == 2, DEADLINE, "order-2 to lead after order-3's kill -9")
    #  A page opened since the failover; the same Chromium run takes the
    #  screenshot.
    shot = tmp_path / "dashboard.png"
    page = wait_until(lambda: shows("order-2", "--screenshot=%s" % shot, "--window-size=1400,900"),
                      DEADLINE, "the dashboard to show order-2")
    assert re.search(r"order-3\s+down", page["procs"]), page["procs"]
    events = page["events"] or ""
    assert re.search(r"leader changed: \S+ → order-2 \(epoch \d+\)", events), events
    assert "order-3 left" in events, events
    assert shot.exists() and shot.stat().st_size > 10000, shot
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
