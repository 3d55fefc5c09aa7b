"""Bazaar system-test harness: real processes on loopback, driven over HTTP.

Run:  BAZAAR_BIN=$PWD/build/bin /usr/bin/python3 -m pytest -q tests/system
(Debian's python3 and pytest; stdlib only.)  BAZAAR_KEEP=1 keeps every temp
dir (data + logs); a failing test always keeps its dir and prints the path.

Reusable pieces (import them with `from conftest import ...`):

  Bazaar(cache_size=None, timeout_ms=None, gateway_args=(), broker_args=(),
         catalog_args=(), order_args=(), start=True, create_data_dir=True,
         replicas=1)
      One whole system: broker, catalog, order replicas 1..replicas and gateway on a
      fresh block of free loopback ports, with a fresh data dir
      (bz.data; created empty unless create_data_dir=False) and one log
      file per process (bz.logdir/<name>.log, every start appends).  With start=True (default) it starts everything and
      waits until the API answers.  Use it as a context manager or call
      bz.close() (stops everything: SIGTERM, then SIGKILL after a grace).
      Names: "broker", "catalog", "order" (replica 1), "order-2", "order-3"...,
      "gateway"; bz.services lists them, bz.replica_names the replicas,
      bz.replica_id(name) / bz.replica_name(id) map between them.
        bz.ports / bz.endpoints  {"broker","tap","catalog_pub","order_pub",
                                  "order_rep","http"} -> port / tcp://...
        bz.argv(name)            the exact command line of a process
        bz.start(name) / bz.kill(name, sig=SIGKILL) / bz.restart(name)
        bz.stop(name)            SIGTERM, then SIGKILL after a grace; -> rc
        bz.start_all() / bz.stop_all() / bz.alive(name)
        bz.wait_ready(services=("catalog","order"), timeout=READY_TIMEOUT)
            waits (deadline, no fixed sleep) until the gateway answers and
            the catalog (unknown-stock lookup -> 404 "stock not found") and
            the order service (GET /orders/999999999 -> 404) are reachable.
        bz.request(method, path, body=None, headers=None, conn=None)
        bz.get(path) / bz.post(path, body, headers=None)
            body: bytes, str, or any object (sent as JSON).  Returns a
            Response: a 3-tuple (status, headers, body) where headers is a
            dict with lower-case names and body is the parsed JSON (or the
            raw bytes if it is not JSON); also .raw (bytes) and .elapsed (s).
            conn=bz.connection() reuses one keep-alive connection.
        Expected-state model (every trade made through bz.trade is tracked):
        bz.qty {name: quantity}, bz.orders [order dicts, index == number]
        bz.trade(name, type, quantity, key=None) -> number  (asserts the
            exact 200 body {"data":{"transaction_number":N}} with N dense)
        bz.record(number, name, type, quantity) add a trade placed otherwise
        bz.expected_stock(name) / bz.expected_stocks()
        bz.assert_stock(name) / bz.assert_stocks() / bz.assert_orders()
        bz.assert_next_unused()   GET /orders/<next> is 404, <next-1> is 200
        bz.assert_unchanged()     assert_stocks + assert_next_unused
        Logs: bz.log_text(name), bz.log_tail(name, n), bz.log_size(name),
        bz.wait_log(name, regex, since=offset, timeout=...), bz.log_tails()
        bz.check_healthy()  every process not deliberately stopped is alive
            and no log holds a sanitizer report (run after every test).

  wait_until(predicate, timeout, what, interval=0.05)
      Polls predicate (exceptions count as "not yet") until it returns a
      truthy value, which is returned; otherwise raises AssertionError
      naming `what` and the last value / exception.

  http_request(port, method, path, body=None, headers=None, timeout=...)
      The same request helper without a Bazaar (-> Response).

  assert_json(got, expected)  exact JSON equality where an expected int must
      be a JSON integer (not 10.0, not true) and an expected float matches
      any number equal to it.
  error_body(code, message)   {"error":{"code":code,"message":message}}

  INITIAL  {name: price} of the ten initial stocks;  INITIAL_QTY = 1000
  BIN      directory of the binaries (BAZAAR_BIN, default build/bin)

Fixtures: `bazaar` (fresh running system per test), `shared_bazaar` (one
running system per module; tests must keep its model in step by trading
through bz.trade), `bazaar_factory` (function: factory(**Bazaar kwargs),
every system it made is closed at teardown).  After every test each live
system is health-checked; on failure the tail of every process log is added
to the report.
"""

import atexit
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
#  Absolute: the processes start in their own temp directories.
BIN = os.path.abspath(os.environ.get("BAZAAR_BIN") or os.path.join(REPO, "build", "bin"))

INITIAL = {
    "amazon": 94.88, "amc": 4.78, "apple": 152.59, "ford": 11.93,
    "gamestop": 20.00, "intel": 28.01, "meta": 194.02, "nike": 126.13,
    "nvidia": 240.63, "tesla": 183.26,
}
INITIAL_QTY = 1000
SERVICES = ("broker", "catalog", "order", "gateway")

#  Deadlines are generous on purpose (the suite also runs under ASan); they
#  bound a hang, they are never the thing a test measures.
READY_TIMEOUT = float(os.environ.get("BAZAAR_READY_TIMEOUT", "40"))
HTTP_TIMEOUT = float(os.environ.get("BAZAAR_HTTP_TIMEOUT", "15"))
STOP_GRACE = 10.0

PROBE_MISSING_STOCK = "zz-no-such-stock"
PROBE_ORDER = 999999999

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:", "ThreadSanitizer", "Segmentation fault")

_LIVE = []   # every Bazaar not yet closed


# --------------------------------------------------------------------------
#  Small helpers

def wait_until(predicate, timeout, what, interval=0.05):
    """Poll predicate until truthy (returned) or raise after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = value
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(
                "timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))
        time.sleep(interval)


def error_body(code, message):
    return {"error": {"code": code, "message": message}}


def _json_diff(got, expected, path="$"):
    if isinstance(expected, bool) or expected is None:
        if got is not expected:
            return "%s: expected %r, got %r" % (path, expected, got)
        return None
    if isinstance(expected, int):
        if isinstance(got, bool) or not isinstance(got, int) or got != expected:
            return "%s: expected integer %r, got %r" % (path, expected, got)
        return None
    if isinstance(expected, float):
        if isinstance(got, bool) or not isinstance(got, (int, float)) or got != expected:
            return "%s: expected number %r, got %r" % (path, expected, got)
        return None
    if isinstance(expected, str):
        if got != expected:
            return "%s: expected %r, got %r" % (path, expected, got)
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return "%s: expected an object, got %r" % (path, got)
        if set(got) != set(expected):
            return "%s: expected keys %s, got %s" % (path, sorted(expected), sorted(got))
        for key in expected:
            diff = _json_diff(got[key], expected[key], "%s.%s" % (path, key))
            if diff:
                return diff
        return None
    if isinstance(expected, list):
        if not isinstance(got, list):
            return "%s: expected an array, got %r" % (path, got)
        if len(got) != len(expected):
            return "%s: expected %d elements, got %d: %r" % (path, len(expected), len(got), got)
        for i, (g, e) in enumerate(zip(got, expected)):
            diff = _json_diff(g, e, "%s[%d]" % (path, i))
            if diff:
                return diff
        return None
    raise TypeError("unsupported expected value %r" % (expected,))


def assert_json(got, expected, context=""):
    """Exact JSON equality; ints must be JSON integers."""
    diff = _json_diff(got, expected)
    if diff:
        raise AssertionError("%s%s\n  expected: %s\n  got:      %r" % (
            (context + ": ") if context else "", diff, json.dumps(expected), got))


def assert_error(r, code, message, what=""):
    """r is an exact SPEC error response: status code and its JSON body."""
    assert r.status == code, "%s: expected %d %r, got %r" % (what, code, message, r)
    assert_json(r.body, error_body(code, message), what)


class Response(tuple):
    """(status, headers, body) with .raw bytes and .elapsed seconds."""

    def __new__(cls, status, headers, body, raw, elapsed):
        self = super().__new__(cls, (status, headers, body))
        self.raw = raw
        self.elapsed = elapsed
        return self

    status = property(lambda self: self[0])
    headers = property(lambda self: self[1])
    body = property(lambda self: self[2])

    def __repr__(self):
        return "<HTTP %s %r %r>" % (self[0], self[1], self.raw[:300])


def _encode_body(body):
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def _read_response(conn, start):
    resp = conn.getresponse()
    raw = resp.read()
    elapsed = time.monotonic() - start
    headers = {}
    for key, value in resp.getheaders():
        key = key.lower()
        headers[key] = value if key not in headers else headers[key] + ", " + value
    body = raw
    if headers.get("content-type", "").split(";")[0].strip() == "application/json":
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            body = raw
    return Response(resp.status, headers, body, raw, elapsed)


def http_request(port, method, path, body=None, headers=None, timeout=HTTP_TIMEOUT,
                 conn=None):
    """One HTTP request to 127.0.0.1:port (or over conn, kept open)."""
    data = _encode_body(body)
    hdrs = dict(headers or {})
    if data is not None and not any(k.lower() == "content-type" for k in hdrs):
        hdrs["Content-Type"] = "application/json"
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    start = time.monotonic()
    try:
        try:
            conn.request(method, path, body=data, headers=hdrs)
        except (BrokenPipeError, ConnectionResetError):
            #  The server may answer (413) and close before reading it all.
            pass
        return _read_response(conn, start)
    finally:
        if own:
            conn.close()


# --------------------------------------------------------------------------
#  Ports: a per-process counter from a pid-seeded base below the ephemeral
#  range, each candidate checked by binding it.

_port_lock = threading.Lock()
_ports_given = set()
_next_port = [20000 + (os.getpid() * 97) % 10000]


def _port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_ports(count):
    out = []
    with _port_lock:
        for _ in range(20000):
            port = _next_port[0]
            _next_port[0] = port + 1 if port + 1 < 30000 else 20000
            if port not in _ports_given and _port_free(port):
                _ports_given.add(port)
                out.append(port)
                if len(out) == count:
                    return out
    raise RuntimeError("no free loopback ports")


# --------------------------------------------------------------------------
#  The system under test

class Bazaar:
    def __init__(self, cache_size=None, timeout_ms=None, gateway_args=(), broker_args=(),
                 catalog_args=(), order_args=(), start=True, bin_dir=None,
                 create_data_dir=True, replicas=1):
        self.bin = bin_dir or BIN
        self.tmp = tempfile.mkdtemp(prefix="bazaar-test-")
        self.data = os.path.join(self.tmp, "data")
        self.logdir = os.path.join(self.tmp, "logs")
        os.makedirs(self.logdir)
        if create_data_dir:
            #  The processes create it if missing, but catalog and order
            #  racing to mkdir it is a test of its own (test_crash.py).
            os.makedirs(self.data)
        #  Replica 1 is "order" (order_pub, order_rep); replica N > 1 is
        #  "order-N" (order-N_pub, order-N_rep).
        self.replica_names = ["order"] + ["order-%d" % n for n in range(2, replicas + 1)]
        self.services = ("broker", "catalog") + tuple(self.replica_names) + ("gateway",)
        names = ["broker", "tap", "catalog_pub", "http"]
        for name in self.replica_names:
            names += [name + "_pub", name + "_rep"]
        self.ports = dict(zip(names, free_ports(len(names))))
        self.endpoints = {k: "tcp://127.0.0.1:%d" % p for k, p in self.ports.items()}
        gw = list(gateway_args)
        if cache_size is not None:
            gw += ["--cache-size", str(cache_size)]
        if timeout_ms is not None:
            gw += ["--timeout", str(timeout_ms)]
        self.extra = {"broker": list(broker_args), "catalog": list(catalog_args),
                      "gateway": gw}
        for name in self.replica_names:
            self.extra[name] = list(order_args)
        self.procs = {}
        self.logs = {}
        self.down = set(self.services)  # not running, or stopped on purpose
        self.keep = bool(os.environ.get("BAZAAR_KEEP"))
        self.closed = False
        self.qty = {name: INITIAL_QTY for name in INITIAL}
        self.orders = []
        self._model_lock = threading.Lock()
        _LIVE.append(self)
        if start:
            try:
                self.start_all()
                self.wait_ready()
            except BaseException:
                self.keep = True
                self.close()
                raise

    # -- context manager
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None:
            self.keep = True
        self.close()

    # -- processes
    @property
    def port(self):
        return self.ports["http"]

    def argv(self, name):
        e = self.endpoints
        exe = os.path.join(self.bin, "bazaar-" + name)
        if name == "broker":
            args = ["--bind", e["broker"], "--tap", e["tap"]]
        elif name == "catalog":
            args = ["--broker", e["broker"], "--pub", e["catalog_pub"], "--data", self.data]
        elif name in self.replica_names:
            exe = os.path.join(self.bin, "bazaar-order")
            args = ["--id", str(self.replica_id(name)), "--broker", e["broker"],
                    "--pub", e[name + "_pub"], "--rep", e[name + "_rep"], "--data", self.data]
        elif name == "gateway":
            args = ["--host", "127.0.0.1", "--port", str(self.ports["http"]),
                    "--broker", e["broker"], "--catalog-pub", e["catalog_pub"]]
        else:
            raise ValueError(name)
        return [exe] + args + self.extra[name]

    @staticmethod
    def replica_id(name):
        """order -> 1, order-3 -> 3."""
        return 1 if name == "order" else int(name.split("-")[1])

    def replica_name(self, replica_id):
        return "order" if replica_id == 1 else "order-%d" % replica_id

    def log_path(self, name):
        return os.path.join(self.logdir, name + ".log")

    def start(self, name):
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is None:
            raise AssertionError("%s is already running (pid %d)" % (name, proc.pid))
        argv = self.argv(name)
        log = open(self.log_path(name), "ab", buffering=0)
        log.write(("=== test harness: start %s at %.3f: %s\n" % (
            name, time.time(), " ".join(argv))).encode())
        old = self.logs.pop(name, None)
        if old:
            old.close()
        self.logs[name] = log
        self.procs[name] = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=self.tmp, start_new_session=True)
        self.down.discard(name)
        return self.procs[name]

    def start_all(self, order=None):
        for name in order or self.services:
            self.start(name)

    def alive(self, name):
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def pid(self, name):
        return self.procs[name].pid

    def kill(self, name, sig=signal.SIGKILL, timeout=STOP_GRACE):
        """Send sig to the process and wait for it to exit (SIGKILL after
        timeout if sig was not enough). Marks it deliberately down.
        Returns its exit status (negative: killed by that signal)."""
        proc = self.procs.get(name)
        self.down.add(name)
        if proc is None:
            return None
        if proc.poll() is None:
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_GRACE)
        with open(self.log_path(name), "ab") as log:
            log.write(("=== test harness: %s exited with %s after signal %d\n" % (
                name, proc.returncode, sig)).encode())
        return proc.returncode

    def stop(self, name, timeout=STOP_GRACE):
        return self.kill(name, signal.SIGTERM, timeout)

    def restart(self, name):
        self.kill(name)
        return self.start(name)

    def stop_all(self):
        running = [n for n, p in self.procs.items() if p.poll() is None]
        for name in running:
            try:
                self.procs[name].send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + STOP_GRACE / 2
        for name in running:
            proc = self.procs[name]
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_GRACE)
        self.down.update(self.services)

    def close(self):
        if self.closed:
            return
        self.closed = True
        try:
            self.stop_all()
        finally:
            for proc in self.procs.values():   # belt and braces
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            for log in self.logs.values():
                log.close()
            if self in _LIVE:
                _LIVE.remove(self)
            if not self.keep:
                shutil.rmtree(self.tmp, ignore_errors=True)

    # -- logs
    def log_text(self, name):
        try:
            with open(self.log_path(name), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_size(self, name):
        try:
            return os.path.getsize(self.log_path(name))
        except FileNotFoundError:
            return 0

    def log_since(self, name, offset):
        with open(self.log_path(name), "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def log_tail(self, name, lines=40):
        return "\n".join(self.log_text(name).splitlines()[-lines:])

    def log_tails(self, lines=40):
        out = ["bazaar temp dir: %s" % self.tmp]
        for name in self.services:
            state = "running" if self.alive(name) else (
                "exited %s" % self.procs[name].returncode if name in self.procs else "never started")
            out.append("----- %s (%s), last %d lines -----" % (name, state, lines))
            out.append(self.log_tail(name, lines))
        return "\n".join(out)

    def wait_log(self, name, regex, since=0, timeout=10.0):
        pattern = re.compile(regex, re.I)

        def found():
            return pattern.search(self.log_since(name, since))
        return wait_until(found, timeout, "%s log to match /%s/" % (name, regex))

    def check_healthy(self):
        problems = []
        for name in self.services:
            if name in self.down:
                continue
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                problems.append("%s exited unexpectedly with status %s" % (name, proc.returncode))
        for name in self.services:
            text = self.log_text(name)
            for marker in SANITIZER_MARKERS:
                if marker in text:
                    problems.append("%s log contains %r" % (name, marker))
        if problems:
            self.keep = True
            raise AssertionError("; ".join(problems) + "\n" + self.log_tails(60))

    # -- HTTP
    def connection(self, timeout=HTTP_TIMEOUT):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None, timeout=HTTP_TIMEOUT):
        return http_request(self.port, method, path, body, headers, timeout, conn)

    def get(self, path, headers=None, conn=None, timeout=HTTP_TIMEOUT):
        return self.request("GET", path, None, headers, conn, timeout)

    def post(self, path, body, headers=None, conn=None, timeout=HTTP_TIMEOUT):
        return self.request("POST", path, body, headers, conn, timeout)

    # -- readiness
    def _catalog_ok(self):
        r = self.get("/stocks/" + PROBE_MISSING_STOCK)
        return r.status == 404 and r.body == error_body(404, "stock not found")

    def _order_ok(self):
        r = self.get("/orders/%d" % PROBE_ORDER)
        return r.status == 404 and r.body == error_body(404, "transaction not found")

    def wait_ready(self, services=("catalog", "order"), timeout=READY_TIMEOUT):
        """Wait until the gateway answers and the given services are reachable."""
        deadline = time.monotonic() + timeout
        try:
            wait_until(lambda: self.get("/stocks/" + PROBE_MISSING_STOCK, timeout=5),
                       timeout, "the gateway to answer HTTP")
            if "catalog" in services:
                wait_until(self._catalog_ok, max(1.0, deadline - time.monotonic()),
                           "the catalog to answer (404 for an unknown stock)")
            if "order" in services:
                wait_until(self._order_ok, max(1.0, deadline - time.monotonic()),
                           "the order service to answer (404 for order %d)" % PROBE_ORDER)
        except AssertionError as exc:
            self.keep = True
            raise AssertionError("%s\n%s" % (exc, self.log_tails())) from None

    # -- expected-state model
    def expected_stock(self, name):
        return {"name": name, "price": INITIAL[name], "quantity": self.qty[name]}

    def expected_stocks(self):
        return [self.expected_stock(n) for n in sorted(INITIAL)]

    def record(self, number, name, type_, quantity):
        with self._model_lock:
            while len(self.orders) <= number:
                self.orders.append(None)
            assert self.orders[number] is None, "number %d handed out twice" % number
            self.orders[number] = {"number": number, "name": name, "type": type_,
                                   "quantity": quantity}
            self.qty[name] += quantity if type_ == "sell" else -quantity

    def trade(self, name, type_, quantity, key=None, conn=None):
        headers = {"Idempotency-Key": key} if key is not None else None
        r = self.post("/orders", {"name": name, "type": type_, "quantity": quantity},
                      headers, conn=conn)
        assert r.status == 200, "trade %s %s %d: %r" % (type_, name, quantity, r)
        assert_json(r.body, {"data": {"transaction_number": len(self.orders)}},
                    "trade %s %s %d" % (type_, name, quantity))
        number = r.body["data"]["transaction_number"]
        self.record(number, name, type_, quantity)
        return number

    def assert_stock(self, name):
        r = self.get("/stocks/" + name)
        assert r.status == 200, "GET /stocks/%s: %r" % (name, r)
        assert_json(r.body, {"data": self.expected_stock(name)}, "GET /stocks/" + name)

    def assert_stocks(self):
        r = self.get("/stocks")
        assert r.status == 200, "GET /stocks: %r" % (r,)
        assert_json(r.body, {"data": self.expected_stocks()}, "GET /stocks")
        for name in INITIAL:
            self.assert_stock(name)

    def assert_orders(self):
        for order in self.orders:
            assert order is not None, "model has a hole: %r" % self.orders
            r = self.get("/orders/%d" % order["number"])
            assert r.status == 200, "GET /orders/%d: %r" % (order["number"], r)
            assert_json(r.body, {"data": order}, "GET /orders/%d" % order["number"])

    def assert_next_unused(self):
        n = len(self.orders)
        r = self.get("/orders/%d" % n)
        assert (r.status, r.body) == (404, error_body(404, "transaction not found")), \
            "GET /orders/%d (next unused number): %r" % (n, r)
        if n:
            r = self.get("/orders/%d" % (n - 1))
            assert r.status == 200, "GET /orders/%d: %r" % (n - 1, r)

    def assert_unchanged(self):
        self.assert_stocks()
        self.assert_next_unused()


def _close_all_at_exit():
    for bz in list(_LIVE):
        try:
            bz.close()
        except Exception:  # noqa: BLE001
            pass


atexit.register(_close_all_at_exit)


# --------------------------------------------------------------------------
#  Fixtures and hooks

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
    for bz in list(_LIVE):
        bz.check_healthy()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for bz in list(_LIVE):
            bz.keep = True
            rep.sections.append(("bazaar process logs (%s)" % bz.tmp, bz.log_tails()))
