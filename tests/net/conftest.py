"""Fixtures for the network-fault tests (tests/net/): Bazaar on simulated hosts.

Run as root:  BAZAAR_BIN=$PWD/build/bin /usr/bin/python3 -m pytest -q tests/net
(Debian's python3 and pytest, stdlib only; `make net` does it.)  Needs
`ip` (iproute2) and `nft` (nftables): tools/install-deps.sh installs them.
Where namespaces cannot be made (not root, no tools, a kernel without
them) every test FAILS saying why: it never skips.

    net_bazaar(**kwargs) -> a started NetBazaar (netbazaar.py), one Lab of
        network namespaces (netlab.py) under it; closed at teardown, and by
        atexit and on SIGTERM if pytest itself is stopped.
After each test every process must still be alive (unless the test
stopped it) and no log may hold a sanitizer report.  A failing test keeps
its temp dir (configs, data, logs) and adds every process's log tail to
the report.  BAZAAR_KEEP=1 keeps every temp dir.
"""
import signal

import pytest

from netbazaar import NetBazaar
from netlab import LabError

_MADE = []


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)   # runs the fixtures' finalizers and atexit


signal.signal(signal.SIGTERM, _on_sigterm)


@pytest.fixture
def net_bazaar():
    made = []

    def factory(**kwargs):
        try:
            bz = NetBazaar(**kwargs)
        except LabError as exc:
            pytest.fail("cannot simulate hosts: %s" % exc)
        made.append(bz)
        _MADE.append(bz)
        return bz
    yield factory
    try:
        problems = [p for bz in made if not bz.closed for p in bz.check_healthy()]
        if problems:
            for bz in made:
                bz.keep = True
            pytest.fail("; ".join(problems))
    finally:
        for bz in made:
            bz.close()
            _MADE.remove(bz)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for bz in list(_MADE):
            bz.keep = True
            rep.sections.append(("bazaar logs (%s)" % bz.tmp, bz.log_tails()))
