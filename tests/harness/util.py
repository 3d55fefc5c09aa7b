"""Helpers every test suite shares (tests/system, tests/net): waiting on a
condition with a deadline, HTTP requests and exact JSON checks, loopback
ports per pytest-xdist worker, process logs, and the constants of a fresh
system.

  wait_until(predicate, timeout, what, interval=0.05)
      Polls predicate (exceptions count as "not yet") until it returns a
      truthy value, which is returned; otherwise raises AssertionError
      naming `what` and the last value / exception.
  http_request(port, method, path, body=None, headers=None, timeout=...,
               conn=None, host="127.0.0.1") -> Response
      Response is a 3-tuple (status, headers, body) with .raw and .elapsed;
      body is the parsed JSON, or the raw bytes if it is not JSON.
  assert_json(got, expected)  exact JSON equality where an expected int must
      be a JSON integer (not 10.0, not true) and an expected float matches
      any number equal to it.
  error_body(code, message) / assert_error(r, code, message)
  free_ports(count)  ports no other worker of this run hands out
  LogFiles  mixin: log_text, log_size, log_since, log_tail, wait_log,
      sanitizer_reports / sanitizer_problems over self.log_path(name)
  tool(name)  path of a built binary (fails the test if missing)
  cpu_seconds(pid) / cpu_share(pid, seconds=2.0)  CPU time a process used
      (user + system), and its share of one core over an interval
  INITIAL  {name: price} of the ten initial stocks;  INITIAL_QTY = 1000
  BIN      directory of the binaries (BAZAAR_BIN, default build/bin)
"""

import http.client
import json
import os
import re
import socket
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

#  Deadlines are generous on purpose (the suite also runs under ASan); they
#  bound a hang, they are never the thing a test measures.
READY_TIMEOUT = float(os.environ.get("BAZAAR_READY_TIMEOUT", "40"))
HTTP_TIMEOUT = float(os.environ.get("BAZAAR_HTTP_TIMEOUT", "15"))
STOP_GRACE = 10.0

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:", "ThreadSanitizer", "Segmentation fault")


# --------------------------------------------------------------------------
#  Waiting and HTTP

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


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    #  utime and stime are fields 14 and 15 (1-based) of the whole line
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_share(pid, seconds=2.0):
    """Share of one core the process used over an interval."""
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - start_cpu) / (time.monotonic() - start)


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


def http_raw(port, request, timeout=HTTP_TIMEOUT):
    """Send request (bytes, as is) on a fresh connection; return every
    byte the gateway answers until it closes (send Connection: close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return answer
            answer += chunk


def http_request(port, method, path, body=None, headers=None, timeout=HTTP_TIMEOUT,
                 conn=None, host="127.0.0.1"):
    """One HTTP request to host:port (or over conn, kept open)."""
    data = _encode_body(body)
    hdrs = dict(headers or {})
    if data is not None and not any(k.lower() == "content-type" for k in hdrs):
        hdrs["Content-Type"] = "application/json"
    own = conn is None
    if own:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
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


def metrics(port):
    """The gateway's /metrics as {"name{labels}": float}."""
    r = http_request(port, "GET", "/metrics")
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("text/plain"), r.headers
    out = {}
    for line in r.raw.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def cache_counter(port, name):
    return metrics(port)["bazaar_cache_" + name]


def wait_live(port):
    """Wait until the gateway's cache is subscribed to invalidations."""
    wait_until(lambda: cache_counter(port, "live") == 1, READY_TIMEOUT,
               "the gateway on port %d to subscribe to invalidations" % port)


# --------------------------------------------------------------------------
#  Ports: each process that hands out ports (a pytest-xdist worker "gw0",
#  "gw1"..., tools/eval run by a test, a second pytest run on the same
#  machine) first claims a block of PORT_BLOCK ports below the ephemeral
#  range with an exclusive flock on a file in the temp dir, held until it
#  exits: two processes at once never hand out from one block. (A block
#  shared with another run let one run's order replica, its broker killed
#  by its test and ZeroMQ reconnecting, register with the other run's new
#  broker on that port: a fresh system answered a first trade with number
#  7.) Worker N tries block 15 - N first, then the next ones: runs of the
#  harness before blocks were claimed (1,250 ports a worker from 20000)
#  seldom reach up there. A counter walks
#  round the block from an offset taken from the pid; each candidate is
#  checked by binding it. If every block is claimed, the worker's own is
#  shared, as before.

PORT_BASE = 20000
PORT_BLOCK = 600
PORT_BLOCKS = 16        # 20000..29599; the launcher tests use 30000 and up

_port_lock = threading.Lock()
_ports_given = set()
_claim = []             # the open lock file of the claimed block


def _worker_index():
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


def _claim_block():
    """Index of a block no other live process has claimed (flock)."""
    import fcntl
    import tempfile
    folder = os.path.join(tempfile.gettempdir(), "bazaar-test-ports")
    os.makedirs(folder, exist_ok=True)
    own = (PORT_BLOCKS - 1 - _worker_index()) % PORT_BLOCKS   # the top ones first (below)
    for i in range(PORT_BLOCKS):
        index = (own - i) % PORT_BLOCKS
        f = open(os.path.join(folder, "block-%d.lock" % index), "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        _claim.append(f)     # kept open: the lock lasts as long as this process
        return index
    return own


_block = []             # [start, first port], set at the first free_ports


def _block_range():
    if not _block:
        start = PORT_BASE + _claim_block() * PORT_BLOCK
        _block.extend([start, start + (os.getpid() * 97) % PORT_BLOCK])
        _next_port.append(_block[1])
    return _block


_next_port = []


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
    """count ports that nothing holds now and that this process has not
    handed out since its counter last went round the block (a port given
    a round ago is free again unless its process still holds it)."""
    out = []
    with _port_lock:
        block_start, first_port = _block_range()
        for _ in range(2 * PORT_BLOCK):
            port = _next_port[0]
            _next_port[0] = port + 1 if port + 1 < block_start + PORT_BLOCK else block_start
            if _next_port[0] == first_port:
                _ports_given.clear()
            if port not in _ports_given and _port_free(port):
                _ports_given.add(port)
                out.append(port)
                if len(out) == count:
                    return out
    raise RuntimeError("no free loopback ports in %d..%d" % (block_start,
                                                             block_start + PORT_BLOCK - 1))


# --------------------------------------------------------------------------
#  Process logs: one file per process, found by self.log_path(name)

class LogFiles:
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

    def log_since(self, name, offset=0):
        try:
            with open(self.log_path(name), "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, name, lines=40):
        return "\n".join(self.log_text(name).splitlines()[-lines:])

    log_wait = 10.0     # wait_log's default deadline, seconds

    def wait_log(self, name, regex, since=0, timeout=None):
        pattern = re.compile(regex, re.I)
        timeout = self.log_wait if timeout is None else timeout

        def found():
            return pattern.search(self.log_since(name, since))
        return wait_until(found, timeout, "%s log to match /%s/" % (name, regex))

    def sanitizer_reports(self, names):
        """{name: its log from its first sanitizer report on} for every
        log of names that holds one (each log read once)."""
        reports = {}
        for name in names:
            text = self.log_text(name)
            found = [text.index(m) for m in SANITIZER_MARKERS if m in text]
            if found:
                reports[name] = text[min(found):]
        return reports

    def sanitizer_problems(self, names):
        """["<name> log contains <marker>"] for every sanitizer report."""
        return report_problems(self.sanitizer_reports(names))


def report_problems(reports):
    """["<name> log contains <marker>"] for sanitizer_reports' result."""
    return ["%s log contains %r" % (name, marker)
            for name, text in reports.items() for marker in SANITIZER_MARKERS
            if marker in text]


def tool(name):
    """Path of a built binary of BIN; fails the test if it is missing."""
    path = os.path.join(BIN, name)
    if not os.access(path, os.X_OK):
        pytest.fail("missing %s (run make build)" % path)
    return path
