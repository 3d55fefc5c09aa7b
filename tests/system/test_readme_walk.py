"""README's first hour as a test (issue 21): `make run`, then every command
of "Watching it work" and "Running the pieces by hand", in order, from the
repository root and from another directory, each printing something true.

The commands are read from README.md itself; each must have a check here
(a README command without one fails the test).  The "repository" is a temp
directory whose build/bin is the binaries under test, so ./data is the
test's own.  README's commands use the default ports, so this is the one
test that does: it skips when any of them is busy.
"""

import os
import re
import shlex
import signal
import subprocess

import pytest

from harness import BIN, http_request, pid_running, port_busy, wait_until

DEADLINE = 30.0
README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
DEFAULT_PORTS = (5555, 5556, 5557, 5601, 5602, 5603, 5701, 5702, 5703, 8080)
SERVERS = ("bazaar-broker", "bazaar-catalog", "bazaar-order", "bazaar-gateway")


def readme_section(title):
    text = open(README).read()
    m = re.search(r"^## %s\n(.*?)(?=^## )" % re.escape(title), text, re.M | re.S)
    assert m, "README has no section %r" % title
    return m.group(1)


def watching_commands():
    """The bold `build/bin/...` commands of "Watching it work", in order."""
    return [" ".join(c.split()) for c in
            re.findall(r"\*\*`(build/bin/[^`]*)`\*\*", readme_section("Watching it work"))]


def by_hand_commands():
    block = re.search(r"```sh\n(.*?)```", readme_section("Running the pieces by hand"), re.S)
    commands = []
    for line in block.group(1).splitlines():
        command = line.split("  #")[0].strip()
        if command:
            commands.append(re.sub(r" \[[^\]]*\]", "", command))   # [--watch|--json]: optional
    return commands


class Walk:
    def __init__(self, root, elsewhere, spawn):
        self.root, self.elsewhere, self.spawn = root, elsewhere, spawn
        self.env = {k: v for k, v in os.environ.items() if k != "BAZAAR_BIN"}

    def argv(self, command, where):
        argv = shlex.split(command)
        if where == self.elsewhere:        # the same program, named by its full path
            argv[0] = os.path.join(self.root, argv[0])
        return argv

    def run(self, command, where, timeout=DEADLINE * 2):
        out = subprocess.run(self.argv(command, where), cwd=str(where), env=self.env,
                             capture_output=True, text=True, timeout=timeout)
        return out

    def start(self, command, where):
        return self.spawn(self.argv(command, where), cwd=str(where), env=self.env)


def check_tap(walk, command, where):
    """The tap shows traffic from the root; elsewhere it says it was refused
    and names --keys."""
    tap = walk.start(command, where)
    if where == walk.root:
        if "--stats" in command:
            wait_until(lambda: any(re.search(r"\b[A-Z_]+=[\d.]+/s", l) for l in tap.lines()),
                       DEADLINE, "tap --stats to count messages")
        else:
            wait_until(lambda: any(re.match(r"[\d:.]+ \S+ [A-Z_]+ ", l) for l in tap.lines()),
                       DEADLINE, "the tap to print bus traffic")
        assert "refused" not in tap.stderr(), tap.describe()
    else:
        wait_until(lambda: "is up but refused us" in tap.stderr(), DEADLINE,
                   "the tap to say it was refused")
        assert "--keys DIR" in tap.stderr(), tap.describe()
    tap.kill()


def check_status(walk, command, where, leader="order-3"):
    if where == walk.root:
        def leads():
            out = walk.run(command, where)
            return out if re.search(r"^leader: %s \(epoch \d+\)" % leader, out.stdout, re.M) \
                else None
        out = wait_until(leads, DEADLINE, "%s: status to name %s" % (command, leader))
        assert out.returncode == 0, out
    else:
        out = walk.run(command, where)
        assert out.returncode == 1, out
        assert "is up but refused us" in out.stdout and "--keys DIR" in out.stdout, out


def test_readme_walk(spawn, tmp_path):
    busy = [p for p in DEFAULT_PORTS if port_busy(p)]
    if busy:
        pytest.skip("README's commands use the default ports; busy here: %s" % busy)
    root, elsewhere = tmp_path / "repo", tmp_path / "elsewhere"
    (root / "build").mkdir(parents=True)
    elsewhere.mkdir()
    os.symlink(BIN, str(root / "build" / "bin"))
    walk = Walk(root, elsewhere, spawn)

    #  make run = build, then build/bin/bazaar up.
    up = walk.start("build/bin/bazaar up", root)
    wait_until(lambda: "press Ctrl-C" in up.stdout() or up.popen.poll() is not None,
               DEADLINE, "make run's banner")
    assert up.popen.poll() is None, up.describe()
    assert "http://127.0.0.1:8080" in up.stdout(), up.describe()

    #  Watching it work.
    r = http_request(8080, "GET", "/")
    assert r.status == 200 and "text/html" in r.headers.get("content-type", ""), r
    seen = []
    for command in watching_commands():
        seen.append(command)
        for where in (root, elsewhere):
            if command.startswith("build/bin/bazaar status"):
                check_status(walk, command, where)
            elif command.startswith("build/bin/bazaar-tap"):
                check_tap(walk, command, where)
            elif command.startswith("build/bin/bazaar kill "):
                name = command.split()[-1]
                out = walk.run(command, where)
                if where == root:
                    assert out.returncode == 0 and "killed %s" % name in out.stdout, out
                    check_status(walk, "build/bin/bazaar status", root, leader="order-2")
                else:
                    assert out.returncode == 1 and "no system running from ./data" in out.stderr \
                        and "--data DIR" in out.stderr, out
            elif command.startswith("build/bin/bazaar restart "):
                name = command.split()[-1]
                out = walk.run(command, where)
                if where == root:
                    assert out.returncode == 0 and "restarted %s" % name in out.stdout, out
                    check_status(walk, "build/bin/bazaar status", root, leader=name)
                else:
                    assert out.returncode == 1 and "no system running from" in out.stderr, out
            else:
                raise AssertionError("README command without a check here: %r" % command)
    assert any("kill" in c for c in seen) and any("restart" in c for c in seen), seen

    #  "Stop make run first (Ctrl-C)".
    os.kill(up.pid, signal.SIGINT)
    assert up.wait(DEADLINE) == 0, up.describe()
    wait_until(lambda: not [p for p in DEFAULT_PORTS if port_busy(p)], DEADLINE,
               "make run's ports to be free")

    #  Running the pieces by hand.
    servers = []
    for command in by_hand_commands():
        program = command.split()[0].split("/")[-1]
        if program in SERVERS:
            servers.append(walk.start(command, root))
            if program == "bazaar-gateway":
                wait_until(lambda: http_request(8080, "GET", "/stocks/apple").status == 200,
                           DEADLINE, "the hand-started gateway to answer")
            continue
        for where in (root, elsewhere):
            if command.startswith("build/bin/bazaar keys "):
                out = walk.run(command, where)
                assert out.returncode == 0, out
                assert (where / command.split()[-1] / "allowed").is_dir(), out
            elif command.startswith("build/bin/bazaar-tap"):
                check_tap(walk, command, where)
            elif command.startswith("build/bin/bazaar status"):
                check_status(walk, command, where)
            elif command.startswith("build/bin/bazaar-client verify"):
                out = walk.run(command, where)
                if where == root:
                    assert out.returncode == 0, out
                else:          # no ./data there: it says so
                    assert out.returncode != 0 and "data" in (out.stdout + out.stderr), out
            elif command.startswith("build/bin/bazaar-client "):
                out = walk.run(command, where)
                assert out.returncode == 0, out
                assert re.search(r"^orders: \d+ placed, .* 0 problems", out.stdout, re.M), out
            else:
                raise AssertionError("README command without a check here: %r" % command)
    for proc in servers:
        assert proc.popen.poll() is None, proc.describe()
        os.kill(proc.pid, signal.SIGTERM)
    for proc in servers:
        proc.wait(DEADLINE)
        assert not pid_running(proc.pid), proc.describe()
