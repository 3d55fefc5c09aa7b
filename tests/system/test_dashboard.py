"""The dashboard in a real browser: headless Chromium (Debian's, installed
by tools/install-deps.sh) loads GET / against a running system with three
replicas, runs its scripts, and the test reads the rendered DOM (not the
HTML the gateway sent): the leader shown, then, after a kill -9 of the
leader, the new one; a page opened only after the failover lists it (the
gateway keeps the timeline). A screenshot is taken the same way (`make screenshot`
keeps one for the docs: tests/docs/dashboard_screenshot.py)."""

import re

from harness import chromium, rendered, wait_until

DEADLINE = 60


def test_dashboard_shows_the_leader_and_its_successor(bazaar_factory, tmp_path):
    bz = bazaar_factory(replicas=3)
    for name in ("apple", "tesla", "nvidia"):
        bz.trade(name, "buy", 2)
        bz.get("/stocks/" + name)
    url = "http://127.0.0.1:%d/" % bz.port

    def shows(leader):
        page = rendered(url)
        return page if page["leader"] and page["leader"].strip() == leader else None
    #  The sent HTML holds a placeholder: only the scripts can put order-3 there.
    assert 'id="leader">order-3' not in bz.get("/").raw.decode()
    page = wait_until(lambda: shows("order-3"), DEADLINE, "the dashboard to show order-3")
    assert page["conn"].strip() == "live", page
    assert re.search(r"order-3\s+leader", page["procs"]), page["procs"]
    assert re.search(r"order-1\s+(● in sync\s+)?serving", page["procs"]), page["procs"]
    assert "watching: leader order-3" in page["events"], page["events"]
    assert "nvidia" in page["cached"], page["cached"]

    bz.kill("order-3")
    page = wait_until(lambda: shows("order-2"), DEADLINE, "the dashboard to show order-2")
    assert re.search(r"order-3\s+down", page["procs"]), page["procs"]

    shot = tmp_path / "dashboard.png"
    chromium(url, "--screenshot=%s" % shot, "--window-size=1400,900")
    assert shot.exists() and shot.stat().st_size > 10000, shot
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_page_opened_after_a_failover_lists_the_election(bazaar_factory):
    """The timeline is kept by the gateway (GET /status "events"), not
    by the page: a page opened after a kill -9 of the leader shows it."""
    bz = bazaar_factory(replicas=3)

    def leader():
        r = bz.get("/status")
        return r.body["leader"] if r.status == 200 else None
    wait_until(lambda: leader() == 3, DEADLINE, "order-3 to lead")
    bz.kill("order-3")
    wait_until(lambda: leader() == 2, DEADLINE, "order-2 to lead after order-3's kill -9")
    #  The first page opened since the failover
    page = rendered("http://127.0.0.1:%d/" % bz.port)
    assert page["leader"] and page["leader"].strip() == "order-2", page
    events = page["events"] or ""
    assert re.search(r"leader changed: \S+ → order-2 \(epoch \d+\)", events), events
    assert "order-3 left" in events, events
