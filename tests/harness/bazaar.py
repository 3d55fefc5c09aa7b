"""One whole Bazaar on loopback, for tests: real processes, driven over HTTP.

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
        bz.files_identical()  every order-N.log byte-identical to catalog.journal
        bz.verify_url        http://127.0.0.1:<port> (bazaar-client verify --url)

Besides: broker_leader(bz), trade_body(i), and bazaar-client verify
runs: verify(), assert_verify_ok(), assert_verify_failed(), line().
"""

import atexit
import http.client
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from harness.util import (BIN, INITIAL, INITIAL_QTY, READY_TIMEOUT, HTTP_TIMEOUT,
                          SANITIZER_MARKERS, STOP_GRACE, LogFiles, assert_json, error_body,
                          free_ports, http_request, report_problems, wait_until)
from harness.wire import files_identical

SERVICES = ("broker", "catalog", "order", "gateway")
PROBE_MISSING_STOCK = "zz-no-such-stock"
PROBE_ORDER = 999999999
VERIFY_DEADLINE = 120.0

LEADER_LINE = re.compile(r"order leader is now (?:replica (\d+)|none \d+)")

_LIVE = []   # every Bazaar not yet closed


def live_systems():
    """Every Bazaar made and not yet closed."""
    return list(_LIVE)


class Bazaar(LogFiles):
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
        self.started = set()
        self.logs = {}
        self.down = set(self.services)  # not running, or stopped on purpose
        self.keep = bool(os.environ.get("BAZAAR_KEEP"))
        self.closed = False
        self.exit_reports = {}    # sanitizer reports written at the last exits
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
        if exc[0] is None:
            self.assert_clean_exit()

    def assert_clean_exit(self):
        """After close: no process wrote a sanitizer report as it exited
        (LeakSanitizer reports only then, after check_healthy ran)."""
        if self.exit_reports:
            shown = ["----- %s -----\n%s" % (name, text[:4000])
                     for name, text in self.exit_reports.items()]
            raise AssertionError("at exit: " + "; ".join(report_problems(self.exit_reports))
                                 + "\nlogs kept in " + self.tmp + "\n" + "\n".join(shown))

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
                    "--pub", e[name + "_pub"], "--rep", e[name + "_rep"], "--data", self.data,
                    "--members", ",".join(str(self.replica_id(n)) for n in self.replica_names)]
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
        if name in self.replica_names and name not in self.started:
            #  Its first start is a new system's (or a new member's); a
            #  later one with no files is a replica that lost them: it joins.
            argv.append("--new")
        self.started.add(name)
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
            self.exit_reports = self.sanitizer_reports(self.procs)
            if self.exit_reports:
                self.keep = True
            if self in _LIVE:
                _LIVE.remove(self)
            if not self.keep:
                shutil.rmtree(self.tmp, ignore_errors=True)

    # -- logs (LogFiles reads them)
    def log_tails(self, lines=40):
        out = ["bazaar temp dir: %s" % self.tmp]
        for name in self.services:
            state = "running" if self.alive(name) else (
                "exited %s" % self.procs[name].returncode if name in self.procs else "never started")
            out.append("----- %s (%s), last %d lines -----" % (name, state, lines))
            out.append(self.log_tail(name, lines))
        return "\n".join(out)

    def check_healthy(self):
        problems = []
        for name in self.services:
            if name in self.down:
                continue
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                problems.append("%s exited unexpectedly with status %s" % (name, proc.returncode))
        problems += self.sanitizer_problems(self.services)
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

    def _replicas_settled(self):
        """The broker names the highest id and no replica reports catching
        up: a replica that lost a campaign in a cold start's elections
        reports catching-up for a second, and a test that starts from
        there would see its return as a role change of its own making."""
        view = self.get("/status").body
        orders = [p for p in view["processes"]
                  if p["service"] == "order" and p["registered"]]
        return (view["leader"] == self.replica_id(self.replica_names[-1])
                and len(orders) == len(self.replica_names)
                and all(p["state"] in ("serving", "leader") for p in orders))

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
                if len(self.replica_names) > 1 and not self.down & set(self.replica_names):
                    wait_until(self._replicas_settled, max(1.0, deadline - time.monotonic()),
                               "the first elections to settle (the highest id leads, "
                               "no replica catching up)")
        except AssertionError as exc:
            self.keep = True
            raise AssertionError("%s\n%s" % (exc, self.log_tails())) from None

    # -- files
    def data_file(self, name):
        return os.path.join(self.data, name)

    def order_file(self, name):
        """order-N.log of replica `name`."""
        return self.data_file("order-%d.log" % self.replica_id(name))

    def files_identical(self):
        """Every replica's order-N.log holds the trades catalog.journal holds
        (canonical dumps: stamps may differ)."""
        return files_identical([self.data_file("catalog.journal")]
                               + [self.order_file(n) for n in self.replica_names])

    @property
    def verify_url(self):
        return "http://127.0.0.1:%d" % self.port

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


def broker_leader(bz):
    """The replica id the broker named last (0 for none, None before any),
    from its log."""
    found = LEADER_LINE.findall(bz.log_text("broker"))
    if not found:
        return None
    return int(found[-1]) if found[-1] else 0


def trade_body(i):
    """Trade i of a deterministic mix that never runs a stock out."""
    names = sorted(INITIAL)
    return {"name": names[i % len(names)], "type": "sell" if i % 3 == 0 else "buy",
            "quantity": i % 4 + 1}


def verify(data, url=None, wait=None):
    """Runs bazaar-client verify; -> (exit status, stdout lines, stderr)."""
    argv = [os.path.join(BIN, "bazaar-client"), "verify", "--data", data]
    if url is not None:
        argv += ["--url", url]
    if wait is not None:
        argv += ["--wait", str(wait)]
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=VERIFY_DEADLINE)
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    for marker in SANITIZER_MARKERS:
        assert marker not in err, "verify: %s\n%s" % (marker, err)
    return proc.returncode, out.splitlines(), err


def assert_verify_ok(data, url=None, wait=10):
    rc, lines, err = verify(data, url, wait)
    assert rc == 0 and lines and lines[-1] == "verify: OK", \
        "verify exited %d:\n%s\n%s" % (rc, "\n".join(lines), err)
    return lines


def assert_verify_failed(data, url=None, wait=None, problems=None):
    rc, lines, err = verify(data, url, wait)
    text = "\n".join(lines)
    assert rc == 1, "verify exited %d, expected 1:\n%s\n%s" % (rc, text, err)
    assert lines and lines[-1].startswith("verify: FAILED ("), text
    if problems is not None:
        expected = "verify: FAILED (%d problem%s)" % (problems, "" if problems == 1 else "s")
        assert lines[-1] == expected, text
    return lines


def line(lines, prefix):
    """The one line starting with prefix."""
    found = [l for l in lines if l.startswith(prefix)]
    assert len(found) == 1, "expected one line starting %r in:\n%s" % (prefix, "\n".join(lines))
    return found[0]
