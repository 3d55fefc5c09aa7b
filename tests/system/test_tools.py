"""The tools: bazaar-client (load generator), bazaar-tap (bus watcher) and
the bazaar launcher (up / status / stop), each run as a real process
against a real system on loopback.

Every process a test starts goes through the `spawn` fixture: its own
session (process group), SIGKILLed at teardown whatever happened.  Every
wait has a deadline; no sleep is ever the thing a check relies on.
"""

import csv
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from harness import (BIN, INITIAL, INITIAL_QTY, SANITIZER_MARKERS, assert_json, canonical_dump,
                     error_body, free_ports, http_raw, http_request, pid_running, port_busy, tool,
                     wait_until)

DEADLINE = 20.0          # bound for every wait (generous for ASan)
CLIENT_DEADLINE = 60.0   # bound for one bazaar-client run


# --------------------------------------------------------------------------
#  Helpers

def all_orders(port, limit=100000):
    """GET /orders/0, 1, ... until the first 404 -> list of order dicts."""
    orders = []
    for n in range(limit):
        r = http_request(port, "GET", "/orders/%d" % n)
        if r.status == 404:
            assert r.body == error_body(404, "transaction not found"), r
            return orders
        assert r.status == 200, "GET /orders/%d: %r" % (n, r)
        orders.append(r.body["data"])
    raise AssertionError("more than %d orders?" % limit)


# --------------------------------------------------------------------------
#  1. bazaar-client

SUMMARY_RE = re.compile(
    r"^(lookup|trade|query)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$", re.M)
TOTAL_RE = re.compile(r"^total\s+(\d+) requests in ([\d.]+) s: ([\d.]+) requests/s", re.M)
ORDERS_RE = re.compile(
    r"^orders: (\d+) placed, (\d+) buys refused \(409\), (\d+) verified; (\d+) problems", re.M)


def test_client_load_run_leaves_a_consistent_system(bazaar, spawn, tmp_path):
    sessions, iterations = 4, 50
    csv_path = tmp_path / "requests.csv"
    client = spawn([tool("bazaar-client"), "--url", "http://127.0.0.1:%d" % bazaar.port,
                    "--sessions", sessions, "--p", "0.5", "--iterations", iterations,
                    "--seed", "7", "--csv", csv_path])
    rc = client.wait(CLIENT_DEADLINE)
    out = client.stdout()
    assert rc == 0, client.describe()
    assert "seed 7" in out.splitlines()[0], client.describe()
    assert out.splitlines()[-1] == "OK", client.describe()

    #  The summary: one latency line per operation, with sane numbers.
    summary = {m.group(1): m.groups()[1:] for m in SUMMARY_RE.finditer(out)}
    assert set(summary) == {"lookup", "trade", "query"}, client.describe()
    counts = {op: int(v[0]) for op, v in summary.items()}
    for op, (_count, mean, p50, p99, mx) in summary.items():
        mean, p50, p99, mx = float(mean), float(p50), float(p99), float(mx)
        assert 0 < p50 <= p99 <= mx and mean <= mx, "%s latencies: %s" % (op, summary[op])
    assert counts["lookup"] == sessions * iterations, client.describe()
    m = ORDERS_RE.search(out)
    assert m, client.describe()
    placed, refused, verified, problems = map(int, m.groups())
    assert problems == 0 and verified == placed, client.describe()
    assert counts["trade"] == placed + refused, client.describe()
    assert counts["query"] == placed, client.describe()
    assert placed > 0, "p=0.5 over %d lookups placed no order: %s" % (
        sessions * iterations, client.describe())
    total = TOTAL_RE.search(out)
    assert total and int(total.group(1)) == sum(counts.values()), client.describe()

    #  The CSV: the header, then one well-formed row per request.
    with open(csv_path, newline="") as f:
        text = f.read()
    assert text.endswith("\n"), "CSV does not end with a newline: %r" % text[-80:]
    rows = list(csv.reader(text.splitlines()))
    assert rows[0] == ["op", "start_us", "latency_us", "status"], rows[:2]
    rows = rows[1:]
    assert len(rows) == sum(counts.values()), "%d CSV rows, summary says %r" % (len(rows), counts)
    by_op = {"lookup": [], "trade": [], "query": []}
    last_start = -1
    for row in rows:
        assert len(row) == 4, row
        op, start, latency, status = row
        assert op in by_op, row
        assert start.isdigit() and latency.isdigit(), row
        assert int(start) >= last_start, "rows not in start order: %r" % row
        last_start = int(start)
        by_op[op].append(int(status))
    assert {op: len(v) for op, v in by_op.items()} == counts
    assert set(by_op["lookup"]) == {200}, by_op["lookup"]
    assert set(by_op["query"]) == {200}, by_op["query"]
    assert set(by_op["trade"]) <= {200, 409}, by_op["trade"]
    assert by_op["trade"].count(200) == placed and by_op["trade"].count(409) == refused

    #  The system afterwards: every order it holds, and the quantities they
    #  imply (initial 1000 each, minus buys, plus sells), match.
    orders = all_orders(bazaar.port)
    assert len(orders) == placed, "system holds %d orders, client placed %d" % (
        len(orders), placed)
    for n, order in enumerate(orders):
        assert set(order) == {"number", "name", "type", "quantity"}, order
        assert order["number"] == n and order["name"] in INITIAL, order
        assert order["type"] in ("buy", "sell"), order
        assert isinstance(order["quantity"], int) and 1 <= order["quantity"] <= 5, order
        bazaar.record(n, order["name"], order["type"], order["quantity"])
    bazaar.assert_stocks()
    bazaar.assert_next_unused()


def test_client_against_closed_port_fails_clearly(spawn, tmp_path):
    port = free_ports(1)[0]     # free: nothing listens there
    client = spawn([tool("bazaar-client"), "--url", "http://127.0.0.1:%d" % port,
                    "--sessions", "2", "--iterations", "5", "--seed", "1",
                    "--timeout", "2000", "--csv", tmp_path / "r.csv"])
    rc = client.wait(CLIENT_DEADLINE)
    assert rc > 0, client.describe()      # non-zero, and not killed by a signal
    err = client.stderr()
    assert re.search(r"cannot connect to 127\.0\.0\.1:%d: Connection refused" % port, err), \
        client.describe()
    assert client.stdout().splitlines()[-1] == "FAILED", client.describe()


class SilentPostServer:
    """A fake gateway on a free loopback port: answers GET /stocks/<name>
    with 10 in stock on a keep-alive connection and never answers a POST."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        buf = b""
        try:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                buf += data
                while b"\r\n\r\n" in buf:
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    request = head.split(b"\r\n")[0].split()
                    if request[0] == b"GET" and request[1].startswith(b"/stocks/"):
                        name = request[1][len(b"/stocks/"):]
                        body = b'{"data":{"name":"%s","price":1.5,"quantity":10}}' % name
                        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                    #  anything else (the POST and its body): silence
        except OSError:
            return

    def close(self):
        self.sock.close()
        for conn in self.conns:
            conn.close()


def test_client_reports_a_timeout_as_a_timeout(spawn):
    server = SilentPostServer()
    try:
        client = spawn([tool("bazaar-client"), "--url", "http://127.0.0.1:%d" % server.port,
                        "--sessions", "1", "--iterations", "1", "--p", "1", "--seed", "3",
                        "--timeout", "300"])
        rc = client.wait(CLIENT_DEADLINE)
    finally:
        server.close()
    assert rc == 1, client.describe()
    assert "POST /orders" in client.stderr(), client.describe()
    assert "timed out" in client.stderr(), client.describe()


# --------------------------------------------------------------------------
#  2. bazaar-tap

def test_tap_prints_trade_flow_as_json_and_exits_after_count(bazaar, spawn):
    count = 30
    stock = "nike"
    #  COMMITTED shows on the broker's tap.
    tap = spawn([tool("bazaar-tap"), "--json", "--no-heartbeats", "--count", count,
                 "--tap", bazaar.endpoints["tap"],
                 "--catalog-pub", bazaar.endpoints["catalog_pub"]])
    #  PUB/SUB slow joiner: what is published before the tap's subscription
    #  arrives is lost.  Keep trading (and looking up) until the tap has
    #  printed its --count lines and exited, each round waiting (bounded)
    #  for the tap to print something new.
    numbers = []
    side = "buy"
    deadline = time.monotonic() + DEADLINE
    while tap.popen.poll() is None:
        assert time.monotonic() < deadline, "tap never reached --count %d:\n%s" % (
            count, tap.describe())
        seen = len(tap.lines())
        numbers.append(bazaar.trade(stock, side, 1))
        side = "sell" if side == "buy" else "buy"
        bazaar.assert_stock(stock)           # a lookup through the gateway
        try:
            wait_until(lambda: len(tap.lines()) > seen or tap.popen.poll() is not None,
                       1.0, "tap output")
        except AssertionError:
            pass                              # not joined yet: trade again
    rc = tap.wait(DEADLINE)
    assert rc == 0, tap.describe()

    lines = tap.lines()
    assert len(lines) == count, "--count %d, printed %d lines:\n%s" % (
        count, len(lines), tap.describe())
    msgs = []
    for line in lines:
        assert line.endswith("\n"), line
        try:
            msg = json.loads(line)
        except ValueError as exc:
            raise AssertionError("tap line is not JSON (%s): %r" % (exc, line)) from None
        assert isinstance(msg, dict), line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", msg.get("time", "")), line
        #  The broker's own traffic: LEADER; the gateway's STATUS polls (its
        #  dashboard timeline) and their VIEWs hide with --no-heartbeats.
        assert msg.get("source") in ("broker/catalog", "broker/order", "catalog") \
            or (msg.get("source") == "broker" and msg.get("type") == "LEADER"), line
        assert msg.get("type") and msg["type"] != "undecodable", line
        assert msg["type"] != "HEARTBEAT", "--no-heartbeats printed one: %r" % line
        msgs.append(msg)

    def of(types, source=None):
        return [m for m in msgs if m["type"] in types and m.get("name") == stock
                and (source is None or m["source"] == source)]

    trades = of(("TRADE",), "broker/order")
    assert trades, "no TRADE for %s:\n%s" % (stock, tap.describe())
    for m in trades:
        assert m["side"] in ("buy", "sell") and m["quantity"] == 1, m
    committed = of(("COMMITTED",))
    assert committed, "no COMMITTED for %s:\n%s" % (stock, tap.describe())
    for m in of(("COMMITTED",)):
        assert m["number"] in numbers, "COMMITTED %r is not one of our trades %r" % (m, numbers)
    invalidations = of(("INVALIDATE",), "catalog")
    assert invalidations, "no INVALIDATE for %s:\n%s" % (stock, tap.describe())
    for m in invalidations:
        #  version = 1 + the last transaction touching the stock
        assert m["version"] - 1 in numbers, "INVALIDATE %r vs our trades %r" % (m, numbers)
    bazaar.assert_stocks()


def drive_tap(tap, make_traffic, what):
    """Call make_traffic(round) until the tap exits by itself (--count),
    each round waiting (bounded) for the tap to print something new: a
    subscription that has not arrived yet loses what is published."""
    deadline = time.monotonic() + DEADLINE
    n = 0
    while tap.popen.poll() is None:
        assert time.monotonic() < deadline, "tap never reached its --count (%s):\n%s" % (
            what, tap.describe())
        seen = len(tap.raw_lines())
        make_traffic(n)
        n += 1
        try:
            wait_until(lambda: len(tap.raw_lines()) > seen or tap.popen.poll() is not None,
                       1.0, "tap output")
        except AssertionError:
            pass
    rc = tap.wait(DEADLINE)
    assert rc == 0, tap.describe()
    return tap.raw_lines()


def test_tap_stats_counts_by_type_and_stops_after_count(shared_bazaar, spawn):
    """--stats prints one report a second (JSON with --json) of messages per
    second by type, honours --type, and --count N stops after N reports."""
    bazaar = shared_bazaar
    tap = spawn([tool("bazaar-tap"), "--stats", "--json", "--type", "LOOKUP", "--count", 3,
                 "--tap", bazaar.endpoints["tap"], "--catalog-pub", ""])
    deadline = time.monotonic() + DEADLINE
    while tap.popen.poll() is None:     # lookups of an unknown name always reach the bus
        assert time.monotonic() < deadline, tap.describe()
        assert bazaar.get("/stocks/no-such-stock").status == 404
    assert tap.wait(DEADLINE) == 0, tap.describe()
    reports = [json.loads(line) for line in tap.lines()]
    assert len(reports) == 3, tap.describe()
    for report in reports:
        assert set(report["per_second"]) <= {"LOOKUP"}, report
        assert report["interval_s"] >= 0.99, report
    assert reports[-1]["total"]["LOOKUP"] > 0, reports


def test_tap_json_escapes_hostile_names(shared_bazaar, spawn):
    """A stock name with a quote, a backslash and control characters comes
    out of --json as a valid JSON string holding exactly that name."""
    bazaar = shared_bazaar
    count = 3
    tap = spawn([tool("bazaar-tap"), "--json", "--type", "TRADE", "--count", count,
                 "--tap", bazaar.endpoints["tap"], "--catalog-pub", ""])
    sent = []

    def traffic(n):
        name = 'q"b\\c\x01\x1f\x7f-%d' % n
        sent.append(name)
        r = bazaar.post("/orders", {"name": name, "type": "buy", "quantity": 1})
        assert (r.status, r.body) == (404, error_body(404, "stock not found")), r

    lines = drive_tap(tap, traffic, "TRADE for hostile names")
    assert len(lines) == count, tap.describe()
    for raw in lines:
        msg = json.loads(raw)      # bytes: must be UTF-8 JSON
        assert msg["type"] == "TRADE" and msg["name"] in sent, raw
    bazaar.assert_unchanged()


def test_tap_json_lines_are_utf8_for_non_utf8_names(shared_bazaar, spawn):
    bazaar = shared_bazaar
    count = 2
    tap = spawn([tool("bazaar-tap"), "--json", "--type", "LOOKUP", "--count", count,
                 "--tap", bazaar.endpoints["tap"], "--catalog-pub", ""])

    def traffic(n):
        #  A raw 0xff byte in the path: the gateway passes it on as the name.
        reply = http_raw(bazaar.port, b"GET /stocks/q\xffz-%d HTTP/1.1\r\nHost: x\r\n"
                         b"Connection: close\r\n\r\n" % n, timeout=DEADLINE)
        assert reply.startswith(b"HTTP/1.1 404"), reply

    lines = drive_tap(tap, traffic, "LOOKUP for non-UTF-8 names")
    assert len(lines) == count, tap.describe()
    for raw in lines:
        try:
            json.loads(raw)
        except ValueError as exc:
            raise AssertionError("tap --json line is not valid JSON (%s): %r" % (exc, raw)) from None


def test_tap_without_endpoints_refuses(spawn):
    tap = spawn([tool("bazaar-tap"), "--tap", "", "--catalog-pub", ""])
    rc = tap.wait(DEADLINE)
    assert rc == 2, tap.describe()
    assert "no endpoint to listen to" in tap.stderr(), tap.describe()


# --------------------------------------------------------------------------
#  3. the launcher

#  `bazaar up --ports BASE` moves every ZeroMQ port (broker BASE, catalog
#  PUB BASE+1, tap BASE+2, order N PUB BASE+45+N and REP BASE+145+N): one
#  range per xdist worker, below the harness's blocks and the ephemeral
#  range and apart from test_first_hour_tools.py's; README's walk alone
#  uses the defaults.
LAUNCHER_NAMES = ("broker", "catalog", "order-1", "order-2", "order-3", "gateway")


def launcher_ports():
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    base = 30150 + (int(worker[2:]) % 8 if worker[2:].isdigit() else 0) * 300
    return base, (base, base + 1, base + 2) + tuple(base + d + n for d in (45, 145)
                                                    for n in (1, 2, 3))


def test_launcher_up_status_and_sigint(spawn, tmp_path):
    base, zmq_ports = launcher_ports()
    busy = [p for p in zmq_ports if port_busy(p)]
    if busy:
        pytest.skip("the launcher's ZeroMQ ports are busy here: %s" % busy)
    data = tmp_path / "data"
    port = free_ports(1)[0]
    env = dict(os.environ, BAZAAR_BIN=BIN)
    up = spawn([tool("bazaar"), "up", "--data", data, "--port", port, "--grace", "5",
                "--ports", base], merge_stderr=True, env=env)
    url = "http://127.0.0.1:%d" % port
    wait_until(lambda: url in up.stdout() or up.popen.poll() is not None,
               DEADLINE + 10, "the launcher to print %s" % url)
    if up.popen.poll() is not None:
        busy = [p for p in zmq_ports if port_busy(p)]
        if busy:     # lost a race for the ports with something else
            pytest.skip("the launcher's ZeroMQ ports were taken while starting: %s" % busy)
        raise AssertionError("launcher exited during startup: %s" % up.describe())
    wait_until(lambda: "press Ctrl-C" in up.stdout(), DEADLINE, "the launcher's banner")

    #  Every process has a pid file; the launcher's own is run/bazaar.pid.
    run = data / "run"
    pids = {}
    for name in LAUNCHER_NAMES + ("bazaar",):
        text = (run / (name + ".pid")).read_text().strip()
        assert text.isdigit(), "%s.pid: %r" % (name, text)
        pids[name] = int(text)
    assert pids["bazaar"] == up.pid, (pids, up.pid)
    for name in LAUNCHER_NAMES:
        binary = "bazaar-" + name.split("-")[0]
        assert pid_running(pids[name], binary), "%s (pid %d) not running" % (name, pids[name])
        assert re.search(r"^\s+%s\s+pid %d\s" % (re.escape(name), pids[name]), up.stdout(),
                         re.M), up.describe()

    try:
        r = http_request(port, "GET", "/stocks/apple")
        assert r.status == 200, r
        assert_json(r.body, {"data": {"name": "apple", "price": INITIAL["apple"],
                                      "quantity": INITIAL_QTY}})
        #  The launcher made the bus keys on first use and runs with them.
        keys = data / "keys"
        assert (keys / "allowed" / "gateway.key").exists(), list(keys.glob("**/*"))
        for name in LAUNCHER_NAMES:
            with open("/proc/%d/cmdline" % pids[name], "rb") as f:
                argv = f.read().split(b"\0")
            assert b"--keys" in argv and str(keys).encode() in argv, (name, argv)
        #  `bazaar up` is up once lookups answer; the replicas may still be
        #  settling their first election (under ASan it can take a second
        #  or two): a 503/504 is retried with the trade's key (the retry
        #  returns the truth, never a second trade), within a deadline.
        def trade():
            r = http_request(port, "POST", "/orders", {"name": "apple", "type": "buy",
                                                       "quantity": 1},
                             {"Idempotency-Key": "launcher-first"})
            assert r.status in (200, 503, 504), r
            return r if r.status == 200 else None
        r = wait_until(trade, DEADLINE, "the first trade to commit")
        assert r.body["data"]["transaction_number"] == 0, r

        #  bazaar status asks the broker: every worker, its state, the leader.
        def launcher_status(*extra):
            return subprocess.run([tool("bazaar"), "status", "--data", str(data), *extra],
                                  env=env, capture_output=True, text=True, timeout=DEADLINE)
        #  The first trade may have committed under another leader: the
        #  broker names order-3 once it registers (the leader line), and it
        #  leads once a majority promised it (its row says candidate until
        #  then; once a fresh clone's CI read the two in between), so every
        #  row is waited for, not the leader line alone.
        def all_serving():
            out = launcher_status().stdout
            assert re.search(r"^leader: order-3 \(epoch \d+\)", out, re.M), out
            for name, state in (("broker", "alive"), ("catalog", "serving"),
                                ("order-1", "serving"), ("order-2", "serving"),
                                ("order-3", "leader")):
                assert re.search(r"^%s\s+%s\b" % (re.escape(name), state), out, re.M), out
            return out
        status_out = wait_until(all_serving, DEADLINE, "bazaar status to show order-3 leading")
        assert "down" not in status_out, status_out
        assert re.search(r"^launcher\s+pid %d\b" % up.pid, status_out, re.M), status_out
        as_json = json.loads(launcher_status("--json").stdout)
        assert as_json["broker"] == "up" and as_json["leader"] == 3, as_json
        assert [p["process"] for p in as_json["processes"]] == \
            ["catalog", "order-1", "order-2", "order-3"], as_json

        os.kill(up.pid, signal.SIGINT)
        rc = up.wait(DEADLINE)
        assert rc == 0, up.describe()
        assert "stopping" in up.stdout(), up.describe()
        for name in LAUNCHER_NAMES:
            wait_until(lambda: not pid_running(pids[name]), DEADLINE,
                       "%s (pid %d) to be gone" % (name, pids[name]))
        assert not list(run.glob("*.pid")), "pid files left: %s" % list(run.glob("*.pid"))
        after = subprocess.run([tool("bazaar"), "status", "--data", str(data), "--broker",
                                "tcp://127.0.0.1:%d" % base], env=env,
                               capture_output=True, text=True, timeout=DEADLINE)
        assert after.returncode != 0 and "broker down" in after.stdout, after
    finally:
        for name in LAUNCHER_NAMES:      # whatever happened, none may outlive us
            if pid_running(pids[name], "bazaar-"):
                try:
                    os.kill(pids[name], signal.SIGKILL)
                except ProcessLookupError:
                    pass

    for name in LAUNCHER_NAMES:
        log = (data / "logs" / (name + ".log")).read_text(errors="replace")
        for marker in SANITIZER_MARKERS:
            assert marker not in log, "%s log holds %r:\n%s" % (name, marker, log[-3000:])


def test_launcher_refuses_a_port_that_already_answers(shared_bazaar, spawn, tmp_path):
    """bazaar up on the port of a running gateway refuses before starting
    anything (so this needs none of the default ZeroMQ ports)."""
    bazaar = shared_bazaar
    data = tmp_path / "data"
    up = spawn([tool("bazaar"), "up", "--data", data, "--port", bazaar.port],
               merge_stderr=True, env=dict(os.environ, BAZAAR_BIN=BIN))
    rc = up.wait(DEADLINE)
    assert rc == 1, up.describe()
    assert "something already answers on port %d" % bazaar.port in up.stdout(), up.describe()
    assert not list((data / "run").glob("*.pid")), list((data / "run").glob("*.pid"))
    bazaar.assert_unchanged()


def test_launcher_names_the_flag_when_a_bus_port_is_taken(spawn, tmp_path):
    """bazaar up with its broker port taken: the broker exits with the
    reason (it once aborted after it, with --keys), the launcher stops
    the rest and names --ports."""
    base, zmq_ports = launcher_ports()
    busy = [p for p in zmq_ports if port_busy(p)]
    if busy:
        pytest.skip("the launcher's ZeroMQ ports are busy here: %s" % busy)
    taken = socket.socket()
    taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)     # past TIME_WAITs
    taken.bind(("127.0.0.1", base))
    taken.listen()
    data = tmp_path / "data"
    try:
        up = spawn([tool("bazaar"), "up", "--data", data, "--port", free_ports(1)[0],
                    "--ports", base], merge_stderr=True, env=dict(os.environ, BAZAAR_BIN=BIN))
        rc = up.wait(DEADLINE + 10)
    finally:
        taken.close()
    out = up.stdout()
    assert rc == 1, up.describe()
    assert "broker died during startup (status 1)" in out, out
    assert "Address already in use" in out and "--ports BASE (now %d)" % base in out, out
    assert "Aborted" not in out and "Assertion" not in out, out
    assert not list((data / "run").glob("*.pid")), list((data / "run").glob("*.pid"))


def test_launcher_up_with_two_catalogs(spawn, tmp_path):
    """bazaar up --catalogs 2: catalog and catalog-2, each with its own
    files in the one data directory (SPEC 5); both learn every trade, and
    with either killed (bazaar kill) lookups go on."""
    base, _ = launcher_ports()
    base += 150     # the other half of this worker's block: no clash with the test above
    zmq_ports = (base, base + 1, base + 2, base + 22) + tuple(
        base + d + n for d in (45, 145) for n in (1, 2, 3))
    busy = [p for p in zmq_ports if port_busy(p)]
    if busy:
        pytest.skip("the launcher's ZeroMQ ports are busy here: %s" % busy)
    data = tmp_path / "data"
    port = free_ports(1)[0]
    env = dict(os.environ, BAZAAR_BIN=BIN)
    up = spawn([tool("bazaar"), "up", "--data", data, "--port", port, "--grace", "5",
                "--ports", base, "--catalogs", 2, "--cache-size", 0],
               merge_stderr=True, env=env)
    wait_until(lambda: "press Ctrl-C" in up.stdout() or up.popen.poll() is not None,
               DEADLINE + 10, "the launcher's banner")
    assert up.popen.poll() is None, up.describe()
    run = data / "run"
    pids = {name: int((run / (name + ".pid")).read_text()) for name in ("catalog", "catalog-2")}
    try:
        for name, pid in pids.items():
            assert pid_running(pid, "bazaar-catalog"), (name, up.describe())
        with open("/proc/%d/cmdline" % pids["catalog-2"], "rb") as f:
            argv = f.read().split(b"\0")
        assert b"--name" in argv and b"catalog-2" in argv, argv
        def trade(key, body):
            """200 with its number; a 503/504 while the replicas settle
            their first election is retried with the same key (SPEC 2:
            the retry returns the truth, never a second trade)."""
            def once():
                r = http_request(port, "POST", "/orders", body, {"Idempotency-Key": key})
                assert r.status in (200, 503, 504), r
                return r if r.status == 200 else None
            return wait_until(once, DEADLINE, "trade %s" % key).body["data"]["transaction_number"]
        numbers = [trade("two-%d" % i, {"name": "nike", "type": "buy", "quantity": i + 1})
                   for i in range(6)]
        assert numbers == list(range(6)), numbers
        expected = INITIAL_QTY - sum(range(1, 7))
        #  Both learn every trade, each into its own journal.
        for journal in ("catalog.journal", "catalog-2.journal"):
            wait_until(lambda: len(canonical_dump(data / journal)) == 6, DEADLINE,
                       "%s to hold the 6 trades" % journal)
        assert canonical_dump(data / "catalog.journal") == \
            canonical_dump(data / "catalog-2.journal")
        for victim in ("catalog-2", "catalog"):
            kill = subprocess.run([tool("bazaar"), "kill", victim, "--data", str(data)],
                                  env=env, capture_output=True, text=True, timeout=DEADLINE)
            assert kill.returncode == 0, kill
            wait_until(lambda: not pid_running(pids[victim]), DEADLINE, victim + " to die")
            if victim == "catalog-2":
                #  The other serves every lookup, exact.
                for _ in range(20):
                    r = http_request(port, "GET", "/stocks/nike")
                    assert r.status == 200 and r.body["data"]["quantity"] == expected, r
        #  No catalog: trades still go on.
        assert trade("two-6", {"name": "nike", "type": "sell", "quantity": 1}) == 6
        os.kill(up.pid, signal.SIGINT)
        assert up.wait(DEADLINE) == 0, up.describe()
    finally:
        for pid in pids.values():
            if pid_running(pid, "bazaar-"):
                os.kill(pid, signal.SIGKILL)
