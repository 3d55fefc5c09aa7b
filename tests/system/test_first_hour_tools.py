"""The first hour with the tools (issue 21, items 1, 2 and 4; SPEC section 8):
the tap and status find the keys of a system started from their directory
(./data/keys) without a flag, say so when a CURVE peer refuses them and
name the flag to pass, never sit silent; the catalog's beacon shows as a
BEACON and hides with --no-heartbeats; `bazaar kill NAME` and `bazaar
restart NAME` take one process of a launched system down and bring it back
as `bazaar up` started it.
"""

import json
import os
import re
import subprocess
import time

import pytest

from harness import BIN, free_ports, http_request, pid_running, port_busy, tool, wait_until

DEADLINE = 20.0


def secure_system(bazaar_factory, tmp_path):
    """A CURVE system whose keys sit where `bazaar up` keeps them, under
    tmp_path/data/keys; returns (system, key directory)."""
    keys = tmp_path / "data" / "keys"
    subprocess.run([tool("bazaar-keys"), str(keys)], check=True, capture_output=True)
    a = ["--keys", str(keys)]
    bz = bazaar_factory(broker_args=a, catalog_args=a, order_args=a, gateway_args=a)
    return bz, keys


def tap_argv(bz, *extra):
    return [tool("bazaar-tap"), "--tap", bz.endpoints["tap"],
            "--catalog-pub", bz.endpoints["catalog_pub"], *extra]


def status(bz, cwd, *extra):
    return subprocess.run([tool("bazaar-client"), "status", "--broker", bz.endpoints["broker"],
                           *extra], cwd=str(cwd), capture_output=True, text=True,
                          timeout=DEADLINE)


# --------------------------------------------------------------------------
#  1. keys found from the system's directory; refusals said, with the flag

def test_tap_and_status_find_the_keys_of_a_system_started_here(bazaar_factory, spawn, tmp_path):
    bz, _ = secure_system(bazaar_factory, tmp_path)
    tap = spawn(tap_argv(bz, "--json", "--count", 5), cwd=str(tmp_path))
    assert tap.wait(DEADLINE) == 0, tap.describe()
    lines = [json.loads(line) for line in tap.lines()]
    assert len(lines) == 5 and all(m.get("type") for m in lines), tap.describe()
    assert "refused" not in tap.stderr(), tap.describe()

    out = status(bz, tmp_path)
    assert out.returncode == 0, out
    assert re.search(r"^catalog\s+serving\b", out.stdout, re.M), out
    assert re.search(r"^leader: order-1 \(epoch \d+\)", out.stdout, re.M), out


def test_tap_and_status_find_the_endpoints_of_a_system_started_here(bazaar_factory, spawn,
                                                                    tmp_path):
    """Without --broker, --tap or --catalog-pub, the tools use the
    endpoints `bazaar up` (here: its file, for a system on the harness's
    ports, none of them the defaults) lists in ./data/run/endpoints."""
    bz, _ = secure_system(bazaar_factory, tmp_path)
    run = tmp_path / "data" / "run"
    run.mkdir()
    (run / "endpoints").write_text("broker=%s\ntap=%s\ncatalog-pub=%s\n" % (
        bz.endpoints["broker"], bz.endpoints["tap"], bz.endpoints["catalog_pub"]))
    out = subprocess.run([tool("bazaar-client"), "status"], cwd=str(tmp_path),
                         capture_output=True, text=True, timeout=DEADLINE)
    assert out.returncode == 0, out
    assert re.search(r"^leader: order-1 \(epoch \d+\)", out.stdout, re.M), out
    tap = spawn([tool("bazaar-tap"), "--json", "--count", 5], cwd=str(tmp_path))
    assert tap.wait(DEADLINE) == 0, tap.describe()
    assert len(tap.lines()) == 5, tap.describe()
    #  A flag still wins over the file.
    out = subprocess.run([tool("bazaar-client"), "status", "--broker", "tcp://127.0.0.1:9",
                          "--timeout", "300"], cwd=str(tmp_path), capture_output=True,
                         text=True, timeout=DEADLINE)
    assert out.returncode == 1 and "tcp://127.0.0.1:9" in out.stdout + out.stderr, out


def test_a_stale_endpoints_file_is_named(tmp_path):
    """A system stopped by kill -9 leaves ./data/run/endpoints behind: a
    tool that read its endpoint there says so when nothing answers."""
    run = tmp_path / "data" / "run"
    run.mkdir(parents=True)
    (run / "endpoints").write_text("broker=tcp://127.0.0.1:9\n")
    out = subprocess.run([tool("bazaar-client"), "status", "--timeout", "300"],
                         cwd=str(tmp_path), capture_output=True, text=True, timeout=DEADLINE)
    assert out.returncode == 1, out
    assert "nothing listens at tcp://127.0.0.1:9 (from data/run/endpoints)" in out.stdout, out
    (run / "endpoints").write_text("broker=tcp://127.0.0.0\n")
    out = subprocess.run([tool("bazaar-client"), "status", "--timeout", "300"],
                         cwd=str(tmp_path), capture_output=True, text=True, timeout=DEADLINE)
    assert out.returncode == 2, out
    assert "cannot connect to tcp://127.0.0.0 (from data/run/endpoints)" in out.stderr, out


def test_from_elsewhere_the_tools_say_the_broker_refused_them_and_name_the_flag(
        bazaar_factory, spawn, tmp_path):
    bz, keys = secure_system(bazaar_factory, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    out = status(bz, elsewhere)
    assert out.returncode == 1, out
    assert "broker down" not in out.stdout, out
    assert "the broker at %s is up but refused us" % bz.endpoints["broker"] in out.stdout, out
    assert "--keys DIR" in out.stdout, out
    as_json = json.loads(status(bz, elsewhere, "--json").stdout)
    assert as_json["broker"] == "refused" and "--keys DIR" in as_json["error"], as_json
    #  The flag it names works.
    out = status(bz, elsewhere, "--keys", str(keys))
    assert out.returncode == 0 and re.search(r"^catalog\s+serving\b", out.stdout, re.M), out

    tap = spawn(tap_argv(bz), cwd=str(elsewhere))
    for peer, endpoint in (("the broker tap", bz.endpoints["tap"]),
                           ("the catalog PUB", bz.endpoints["catalog_pub"])):
        wait_until(lambda: "%s at %s is up but refused us" % (peer, endpoint) in tap.stderr(),
                   DEADLINE, "the tap to say %s refused it" % peer)
    assert "--keys DIR" in tap.stderr(), tap.describe()
    assert tap.lines() == [], tap.describe()

    #  "broker down" only when it is.
    bz.stop("broker")
    out = status(bz, elsewhere)
    assert out.returncode == 1 and out.stdout.startswith("broker down"), out


def test_keys_of_another_system_are_named_as_such(bazaar_factory, spawn, tmp_path):
    bz, _ = secure_system(bazaar_factory, tmp_path)
    other = tmp_path / "other"
    subprocess.run([tool("bazaar-keys"), str(other)], check=True, capture_output=True)
    out = status(bz, tmp_path, "--keys", str(other))
    assert out.returncode == 1, out
    assert "refused us: it does not take the keys in %s" % other in out.stdout, out
    #  --keys "" beside the system's keys: the hint names them, not "none"
    out = status(bz, tmp_path, "--keys", "")
    assert out.returncode == 1, out
    assert "./data/keys holds keys: --keys data/keys" in out.stdout, out
    assert "none in" not in out.stdout, out


def test_tap_that_hears_nothing_says_what_each_source_is(spawn, tmp_path):
    tap_port, pub_port = free_ports(2)
    tap = spawn([tool("bazaar-tap"), "--tap", "tcp://127.0.0.1:%d" % tap_port,
                 "--catalog-pub", "tcp://127.0.0.1:%d" % pub_port], cwd=str(tmp_path))
    wait_until(lambda: tap.stderr().count("nothing heard") >= 2, DEADLINE,
               "the tap to say it hears nothing")
    assert "the broker tap at tcp://127.0.0.1:%d: nothing listens" % tap_port in tap.stderr(), \
        tap.describe()
    assert "--catalog-pub ENDPOINT" in tap.stderr(), tap.describe()


def trade_until_exit(bz, tap, pause):
    """PUB/SUB slow joiner: trade amc, waiting up to pause after each,
    until the tap has printed its --count lines and exited 0."""
    side = "buy"
    deadline = time.monotonic() + DEADLINE
    while tap.popen.poll() is None:
        assert time.monotonic() < deadline, "the tap never exited:\n%s" % tap.describe()
        bz.trade("amc", side, 1)
        side = "sell" if side == "buy" else "buy"
        try:
            wait_until(lambda: tap.popen.poll() is not None, pause, "the tap to print")
        except AssertionError:
            pass
    assert tap.wait(DEADLINE) == 0, tap.describe()


# --------------------------------------------------------------------------
#  2. the catalog's beacon is a BEACON, hidden with the heartbeats

def test_beacons_show_as_beacons_and_hide_with_no_heartbeats(bazaar, spawn):
    only_catalog = ("--tap", "", "--catalog-pub", bazaar.endpoints["catalog_pub"])
    tap = spawn([tool("bazaar-tap"), *only_catalog, "--count", 3])
    assert tap.wait(DEADLINE) == 0, tap.describe()
    for line in tap.lines():
        assert re.fullmatch(r"[\d:.]+ catalog BEACON seq=\d+ incarnation=\d+\n", line), line

    tap = spawn([tool("bazaar-tap"), *only_catalog, "--count", 3, "--json"])
    assert tap.wait(DEADLINE) == 0, tap.describe()
    for line in tap.lines():
        msg = json.loads(line)
        assert msg["beacon"] is True and msg["type"] == "INVALIDATE" and msg["name"] == "", msg

    #  --no-heartbeats: the first line is the invalidation of our trade,
    #  although beacons come every 100 ms.
    tap = spawn([tool("bazaar-tap"), *only_catalog, "--count", 1, "--json", "--no-heartbeats",
                 "--type", "INVALIDATE"])
    trade_until_exit(bazaar, tap, 0.5)
    msg = json.loads(tap.lines()[0])
    assert msg["type"] == "INVALIDATE" and msg["name"] == "amc" and "beacon" not in msg, msg


def test_stats_count_beacons_apart_from_invalidations(bazaar, spawn):
    tap = spawn([tool("bazaar-tap"), "--tap", "", "--catalog-pub",
                 bazaar.endpoints["catalog_pub"], "--stats", "--json", "--count", 2])
    assert tap.wait(DEADLINE) == 0, tap.describe()
    last = json.loads(tap.lines()[-1])
    assert last["total"].get("BEACON", 0) > 0 and "INVALIDATE" not in last["total"], last


def test_no_heartbeats_hides_a_leaders_idle_traffic(bazaar_factory, spawn):
    """On a leader's PUB, an idle system shows an empty LEARN, an empty
    APPEND and the copies of the followers' ACKs of it every 50 ms;
    --no-heartbeats hides them, and still shows a trade's APPEND, the ACKs
    that acknowledge it, the empty APPEND that announces its commit, and
    its LEARN."""
    bz = bazaar_factory(replicas=3)
    leader = ("--tap", "", "--catalog-pub", "", "--order-pub", bz.endpoints["order-3_pub"])
    tap = spawn([tool("bazaar-tap"), *leader, "--count", 12, "--json"])
    assert tap.wait(DEADLINE) == 0, tap.describe()
    idle = [json.loads(line) for line in tap.lines()]
    assert any(m["type"] == "LEARN" and not m.get("trades") for m in idle), idle
    assert any(m["type"] == "CS_APPEND" and not m.get("entries") for m in idle), idle
    assert any(m["type"] == "CS_ACK" for m in idle), idle

    tap = spawn([tool("bazaar-tap"), *leader, "--count", 16, "--json", "--no-heartbeats"])
    trade_until_exit(bz, tap, 0.2)
    shown = [json.loads(line) for line in tap.lines()]
    commit, acked = -1, {}
    for m in shown:
        assert m["type"] != "LEARN" or m.get("trades"), "an idle LEARN shown: %r" % (shown,)
        if m["type"] == "CS_APPEND":
            assert m.get("entries") or m["commit"] > commit, \
                "an empty APPEND that moves nothing shown: %r" % (shown,)
            commit = max(commit, m["commit"])
        if m["type"] == "CS_ACK":
            follower = (m["replica_id"], m["epoch"])
            assert m["length"] > acked.get(follower, -1), "an idle ACK shown: %r" % (shown,)
            acked[follower] = m["length"]
    for kind in ("LEARN", "CS_APPEND", "CS_ACK"):
        assert any(m["type"] == kind for m in shown), (kind, shown)


# --------------------------------------------------------------------------
#  4. bazaar kill NAME / bazaar restart NAME

def launcher_base():
    """A base for `bazaar up --ports` whose ZeroMQ ports are free, below
    the harness's blocks and the ephemeral range, one range per worker
    (test_tools.py's launcher test takes BASE+150 and up)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    base = 30000 + (index % 8) * 300
    ports = [base, base + 1, base + 2] + [base + 45 + n for n in (1, 2, 3)] \
        + [base + 145 + n for n in (1, 2, 3)]
    busy = [p for p in ports if port_busy(p)]
    if busy:
        pytest.skip("launcher ports busy: %s" % busy)
    return base


def test_launcher_kill_and_restart_bring_a_replica_back(spawn, tmp_path):
    data = tmp_path / "data"
    port = free_ports(1)[0]
    env = dict(os.environ, BAZAAR_BIN=BIN)
    common = ["--data", str(data)]

    def launcher(*args):
        return subprocess.run([tool("bazaar"), *args, *common], env=env, capture_output=True,
                              text=True, timeout=DEADLINE + 10)

    #  No system yet: clear errors.
    out = launcher("kill", "order-3")
    assert out.returncode == 1 and "no system running from" in out.stderr, out
    out = launcher("restart", "order-3")
    assert out.returncode == 1 and "no system running from" in out.stderr, out

    up = spawn([tool("bazaar"), "up", *common, "--port", port, "--ports", launcher_base()],
               merge_stderr=True, env=env)
    wait_until(lambda: "press Ctrl-C" in up.stdout() or up.popen.poll() is not None,
               DEADLINE + 10, "the launcher's banner")
    assert up.popen.poll() is None, up.describe()

    def status_shows(pattern):
        def check():
            out = launcher("status").stdout
            return out if re.search(pattern, out, re.M) else None
        return check
    wait_until(status_shows(r"^order-3\s+leader\b"), DEADLINE, "order-3 to lead")
    old_pid = int((data / "run" / "order-3.pid").read_text())
    cmdline = open("/proc/%d/cmdline" % old_pid, "rb").read()

    out = launcher("kill", "order-9")
    assert out.returncode == 2 and "no process named 'order-9'" in out.stderr, out
    assert "order-3" in out.stderr, out

    out = launcher("kill", "order-3")
    assert out.returncode == 0, out
    assert "killed order-3 (pid %d, SIGKILL)" % old_pid in out.stdout, out
    assert "bazaar restart order-3" in out.stdout, out
    assert not pid_running(old_pid), "order-3 (pid %d) still runs" % old_pid
    wait_until(lambda: "order-3 (pid %d) exited with status 137" % old_pid in up.stdout(),
               DEADLINE, "the launcher to report the kill")
    #  The row's state, not the "leader:" line: that names whom the broker
    #  names, which may still be campaigning (and refuses trades until it won).
    wait_until(status_shows(r"^order-2\s+leader\b"), DEADLINE, "order-2 to lead")
    r = http_request(port, "POST", "/orders", {"name": "apple", "type": "buy", "quantity": 3})
    assert r.status == 200, r
    missed = r.body["data"]["transaction_number"]

    out = launcher("restart", "order-3")
    assert out.returncode == 0, out
    m = re.search(r"restarted order-3 at [\d:]+: pid (\d+) \(old pid %d had exited\)" % old_pid,
                  out.stdout)
    assert m, out
    new_pid = int(m.group(1))
    assert (data / "run" / "order-3.pid").read_text().strip() == str(new_pid)
    #  As up started it, but for --new: a restart is never a new system's
    #  first start (a replica whose files are gone joins instead).
    assert cmdline.endswith(b"\0--new\0"), cmdline
    assert open("/proc/%d/cmdline" % new_pid, "rb").read() == cmdline[:-len(b"--new\0")], \
        "not started as up did"
    #  It catches up (the trade it missed) and leads again; status shows it.
    wait_until(status_shows(r"^order-3\s+leader\s+%d\b" % (missed + 1)), DEADLINE,
               "order-3 to catch up and lead")
    out = launcher("status")
    assert "restarted order-3 at" in out.stdout, out
    log = (data / "logs" / "order-3.log").read_text()
    assert "bazaar restart: " in log, log[-2000:]

    #  restart of a live process stops it first; up never reports it as an exit.
    out = launcher("restart", "order-1")
    assert out.returncode == 0 and "was running; stopped it" in out.stdout, out
    wait_until(status_shows(r"^order-1\s+serving\b"), DEADLINE, "order-1 to serve again")
    exits = re.findall(r"^bazaar: (\S+) \(pid \d+\) exited", up.stdout(), re.M)
    assert exits == ["order-3"], up.describe()     # the kill only
    assert up.popen.poll() is None, up.describe()

    #  A process that refuses to start is not reported restarted.
    assert launcher("kill", "order-2").returncode == 0
    stocks = data / "order-2.stocks"
    os.truncate(stocks, os.path.getsize(stocks) - 3)
    out = launcher("restart", "order-2")
    assert out.returncode == 1, out
    assert re.search(r"order-2 exited at once with status 1: .*order-2\.stocks is damaged",
                     out.stderr), out
    assert up.popen.poll() is None, up.describe()

    up.popen.send_signal(2)
    assert up.wait(DEADLINE) == 0, up.describe()
    assert not pid_running(new_pid), "the restarted order-3 outlived the launcher"
    usage = subprocess.run([tool("bazaar"), "--help"], capture_output=True, text=True).stdout
    assert re.search(r"^  kill NAME ", usage, re.M) and re.search(r"^  restart NAME ", usage, re.M), \
        usage


def test_launcher_up_again_with_a_replicas_files_gone_joins_it(spawn, tmp_path):
    """`bazaar up` says --new only when no replica ever ran from --data: a
    replica whose files are gone when the system comes up again joins (it
    votes once it holds its leader's log) instead of voting as a new one."""
    data = tmp_path / "data"
    port = free_ports(1)[0]
    env = dict(os.environ, BAZAAR_BIN=BIN)
    base = launcher_base()

    def up():
        proc = spawn([tool("bazaar"), "up", "--data", str(data), "--port", port, "--ports", base],
                     merge_stderr=True, env=env)
        wait_until(lambda: "press Ctrl-C" in proc.stdout() or proc.popen.poll() is not None,
                   DEADLINE + 10, "the launcher's banner")
        assert proc.popen.poll() is None, proc.describe()
        return proc

    def down(proc):
        proc.popen.send_signal(2)
        assert proc.wait(DEADLINE) == 0, proc.describe()

    def cmdline(name):
        pid = int((data / "run" / (name + ".pid")).read_text())
        return open("/proc/%d/cmdline" % pid, "rb").read().split(b"\0")

    first = up()
    assert b"--new" in cmdline("order-2"), cmdline("order-2")
    #  The banner waits for a lookup; the replicas may still be electing.
    wait_until(lambda: http_request(port, "POST", "/orders",
                                    {"name": "apple", "type": "buy", "quantity": 1},
                                    {"Idempotency-Key": "one"}).status == 200,
               DEADLINE, "a trade to succeed")
    down(first)
    gone = sorted(data.glob("order-2.*"))
    assert data / "order-2.log" in gone, gone
    for f in gone:
        f.unlink()

    second = up()
    assert b"--new" not in cmdline("order-2"), cmdline("order-2")
    log = data / "logs" / "order-2.log"
    wait_until(lambda: re.search(r"joined: holds leader \d+'s 1 orders", log.read_text()),
               DEADLINE, "order-2 to join")
    assert "order-2.joining: joining a running system" in log.read_text()
    assert not (data / "order-2.joining").exists()
    down(second)
