"""Fixtures of the system suite (the harness itself is tests/harness).

Run:  BAZAAR_BIN=$PWD/build/bin /usr/bin/python3 -m pytest -q -n 4 tests/system
(Debian's python3, pytest and pytest-xdist; stdlib only.)  BAZAAR_KEEP=1
keeps every temp dir (data + logs); a failing test always keeps its dir and
prints the path.

Fixtures: `bazaar` (fresh running system per test), `shared_bazaar` (one
running system per module; tests must keep its model in step by trading
through bz.trade), `bazaar_factory` (function: factory(**Bazaar kwargs),
every system it made is closed at teardown), `spawn` (spawn(argv, **Proc
kwargs) -> Proc, every one SIGKILLed at teardown).  After every test each
live system is health-checked; on failure the tail of every process log is
added to the report.
"""

import os

import pytest

from harness import BIN, SERVICES, Bazaar, Proc, live_systems


@pytest.fixture(scope="session")
def bazaar_bin():
    missing = [n for n in SERVICES
               if not os.access(os.path.join(BIN, "bazaar-" + n), os.X_OK)]
    if missing:
        pytest.fail("missing binaries in %s: %s (run make build)" % (BIN, ", ".join(missing)))
    return BIN


@pytest.fixture
def bazaar(bazaar_bin):
    """A fresh running system for one test."""
    with Bazaar(bin_dir=bazaar_bin) as bz:
        yield bz
        bz.check_healthy()


@pytest.fixture(scope="module")
def shared_bazaar(bazaar_bin):
    """One running system for the whole module (trade only via bz.trade)."""
    with Bazaar(bin_dir=bazaar_bin) as bz:
        yield bz


@pytest.fixture
def bazaar_factory(bazaar_bin):
    """factory(**Bazaar kwargs) -> a started system, closed at teardown."""
    made = []

    def factory(**kwargs):
        kwargs.setdefault("bin_dir", bazaar_bin)
        bz = Bazaar(**kwargs)
        made.append(bz)
        return bz
    yield factory
    try:
        for bz in made:
            if not bz.closed:
                bz.check_healthy()
    finally:
        for bz in made:
            bz.close()


@pytest.fixture(autouse=True)
def _bazaar_health():
    """After every test, every live system must still be healthy."""
    yield
    for bz in live_systems():
        bz.check_healthy()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for bz in live_systems():
            bz.keep = True
            rep.sections.append(("bazaar process logs (%s)" % bz.tmp, bz.log_tails()))


@pytest.fixture
def spawn():
    """spawn(argv, **Proc kwargs) -> Proc; every one SIGKILLed at teardown."""
    made = []

    def factory(argv, **kwargs):
        proc = Proc([str(a) for a in argv], **kwargs)
        made.append(proc)
        return proc
    yield factory
    for proc in made:
        proc.kill()


#  The modules with the longest tests (tens of seconds each under ASan:
#  chaos, the tiny eval, the held-trades bound, twenty cold starts, the
#  browser) go first, so the xdist workers do not end the run waiting on
#  one of them that happened to be collected last.
SLOW_FIRST = ("test_chaos.py", "test_eval.py", "test_queue_limits.py", "test_consensus.py",
              "test_dashboard.py", "test_learners.py", "test_first_hour_misc.py",
              "test_cache.py", "test_replication.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)
    items.sort(key=rank)
