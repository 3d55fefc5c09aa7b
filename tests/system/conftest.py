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
    for bz in made:
        bz.assert_clean_exit()


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


#  Scheduling (pytest-xdist). The longest tests (tens of seconds each
#  under ASan) are collected first, longest first, and dealt one at a
#  time to whichever worker is free (SlowFirstScheduling below), so no
#  worker ends the run on one of them. xdist's own "load" scheduling
#  hands each worker a run of consecutive tests at the start (a quarter
#  of its share): with the slow tests first, one worker got every one
#  of them. Each entry is a path under tests/system, a prefix of a test's
#  node id; the order is the order of their durations under ASan, but for
#  chaos: the cold starts start first, and chaos (five clients and a
#  nemesis: the busiest test) only when about 20 s of other slow tests
#  have run on some worker, so the two seldom overlap.
SLOW_FIRST = (
    "test_consensus.py::test_cold_start_highest_id_leads",             # 9 s
    "test_readme_walk.py::",                                           # 33 s
    "test_eval.py::",                                                  # 30 s
    "test_dashboard.py::",                                             # 20 s
    "test_cache.py::test_writer_always_sees_own_trades",               # 5 s
    "test_spec_failures.py::test_two_highest_dead_nothing_is_acknowledged",  # 16 s
    "test_chaos.py::",                                                 # 30 s
    "test_first_hour_tools.py::test_launcher_kill_and_restart",        # 20 s
    "test_tools.py::test_launcher_up_status_and_sigint",               # 12 s
    "test_replication.py::test_catalog_copies_a_lost_journal_from_replicas",
    "test_crash.py::test_simultaneous_start_creates_missing_data_dir",
    "test_verify.py::test_verify_reports_a_replica_log_cut_short",
    "test_first_hour_tools.py::test_from_elsewhere",
    "test_append_failure.py::",
    "test_verify.py::test_verify_names_the_order_a_changed_byte_is_in",
    "test_queue_limits.py::test_full_tail_travels_whole_at_failover",
    "test_first_hour_misc.py::test_verify_on_a_busy_system",
    "test_spec_failures.py::test_leader_crash_and_rejoin",
    "test_spec_failures.py::test_dead_on_arrival_highest_replica",
    "test_replication.py::test_acknowledged_trade_is_already_in_a_follower_log",
    "test_spec_failures.py::test_follower_crash_and_rejoin",
    "test_tools.py::test_launcher_up_with_two_catalogs",
    "test_learners.py::test_two_catalogs_kill_either_under_load_no_lookup_fails",
)


#  At most this many of them run (or wait their turn on a worker) at
#  once: four at the start of a run on 2 cores starved one another (a
#  cold start's campaign past its 400 ms, Chromium past its 60 s, the
#  README's client into 504s) when the machine had other load too.
SLOW_AT_ONCE = 2


def slow_rank(nodeid):
    """Position in SLOW_FIRST of a node id (tests/system/test_x.py::...),
    or None for the others."""
    name = nodeid.rsplit("/", 1)[-1]
    for rank, prefix in enumerate(SLOW_FIRST):
        if name.startswith(prefix):
            return rank
    return None


def pytest_collection_modifyitems(items):
    def rank(item):
        found = slow_rank(item.nodeid)
        return len(SLOW_FIRST) if found is None else found
    items.sort(key=rank)     # stable: the others keep their module order


try:
    from xdist.scheduler import LoadScheduling
except ImportError:          # no pytest-xdist: one process, the order above
    LoadScheduling = None

if LoadScheduling is not None:
    class SlowFirstScheduling(LoadScheduling):
        """Each worker holds two tests (the one it runs and the next: an
        xdist worker needs to know its next test before it runs one).
        A worker that finishes one gets one more: the first still to run
        of SLOW_FIRST while fewer than SLOW_AT_ONCE of them are held by
        the other workers; otherwise, and after those, the next test of
        the module it ran
        last, so a module's shared system is started on as few workers
        as possible, or else the first test of a module no other worker
        is on, or else the first still to run."""

        def _module(self, index):
            return self.collection[index].split("::", 1)[0]

        def _next_for(self, node):
            first = self.pending[0]
            if slow_rank(self.collection[first]) is not None:
                held = sum(1 for n, p in self.node2pending.items() if n is not node
                           for index in p if slow_rank(self.collection[index]) is not None)
                if held < SLOW_AT_ONCE:
                    return 0
                for at, index in enumerate(self.pending):
                    if slow_rank(self.collection[index]) is None:
                        return at
                return 0
            mine = self.node2pending[node]
            if mine:
                module = self._module(mine[-1])
                for at, index in enumerate(self.pending):
                    if self._module(index) == module:
                        return at
            busy = {self._module(p[-1]) for n, p in self.node2pending.items()
                    if p and n is not node}
            for at, index in enumerate(self.pending):
                if self._module(index) not in busy:
                    return at
            return 0

        def _send_one(self, node):
            index = self.pending.pop(self._next_for(node))
            self.node2pending[node].append(index)
            node.send_runtest_some([index])

        def schedule(self):
            assert self.collection_is_completed
            if self.collection is not None:     # rescheduling after a crash
                for node in self.nodes:
                    self.check_schedule(node)
                return
            if not self._check_nodes_have_same_collection():
                self.log("**Different tests collected, aborting run**")
                return
            self.collection = list(self.node2collection.values())[0]
            self.pending[:] = range(len(self.collection))
            for _ in range(2):
                for node in self.nodes:
                    if self.pending:
                        self._send_one(node)
            if not self.pending:
                for node in self.nodes:
                    node.shutdown()

        def check_schedule(self, node, duration=0):
            if node.shutting_down:
                return
            if not self.pending:
                node.shutdown()
                return
            while self.pending and len(self.node2pending[node]) < 2:
                self._send_one(node)

    def pytest_xdist_make_scheduler(config, log):
        if config.getoption("dist") == "load":
            return SlowFirstScheduling(config, log)
        return None
