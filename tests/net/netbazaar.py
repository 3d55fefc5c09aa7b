"""Bazaar on simulated hosts: one process per host, one config file each.

    hosts   broker, catalog, r1..rN (order replicas 1..N, N = 3 or 5),
            gateway, client (the test's HTTP clients run in it)

NetBazaar(gateway_timeout=None, relays=(), replicas=3) builds a Lab
(netlab.py), writes one ZPL config per host (conf/<host>.cfg: the file a
user would write for that machine: its own addresses, the broker's, the
catalog's PUB, and for a replica the members of the consensus,
`members = "1,2,3"`) and starts every process with `ip netns exec <ns>
bazaar-<program> -c conf/<host>.cfg`: no address is given by flag.  Each
host has its own data directory (data/<host>/); verify_dir() links the
catalog journal and the replica logs into one directory for
`bazaar-client verify`.

Process names: broker, catalog, order-1 .. order-N, gateway (host(name)
maps them to hosts r1.. for replicas).  Epochs come from the replicas'
logs: leaderships() lists every "candidate -> leader (epoch E, ..." line.

The HTTP helpers run on threads that entered the client host's namespace
(lab.enter), so every request crosses the simulated network.

Load(bz, clients, seed) trades from client threads (one Idempotency-Key
per trade, a 503, a 504 or a timeout retried with the same key) and records what
was acknowledged; check_invariants(bz, load) checks SPEC §4 afterwards.
"""
import http.client
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from netlab import Lab

from harness import (BIN, INITIAL, INITIAL_QTY, READY_TIMEOUT, LogFiles, files_identical,
                     http_request, read_journal, wait_until)

STOCKS = sorted(INITIAL)
HTTP_TIMEOUT = 10.0
STOP_GRACE = 10.0
PORTS = {"broker": 5555, "catalog_pub": 5556, "http": 8080}
LEADER_LINE = re.compile(r"order leader is now (?:replica (\d+)|none \d+)")
LEADING_LINE = re.compile(r"(\S+ \S+) .*candidate -> leader \(epoch (\d+),")


def host_of(name):
    return "r" + name.split("-")[1] if name.startswith("order-") else name


class NetBazaar(LogFiles):
    log_wait = READY_TIMEOUT

    def __init__(self, gateway_timeout=None, relays=(), order_options=None, start=True,
                 cache_size=8, verbose=(), replicas=3):
        self.bin = BIN
        self.ids = list(range(1, replicas + 1))
        self.replicas = ["order-%d" % n for n in self.ids]
        self.services = ("broker", "catalog") + tuple(self.replicas) + ("gateway",)
        self.hosts = ("broker", "catalog") + tuple("r%d" % n for n in self.ids) + (
            "gateway", "client")
        missing = [s for s in ("broker", "catalog", "order", "gateway", "client")
                   if not os.access(os.path.join(self.bin, "bazaar-" + s), os.X_OK)]
        if missing:
            raise RuntimeError("missing binaries in %s: %s (make build)" % (self.bin, missing))
        self.tmp = tempfile.mkdtemp(prefix="bazaar-net-")
        self.keep = bool(os.environ.get("BAZAAR_KEEP"))
        self.lab = None
        self.closed = False
        self.procs, self.logs = {}, {}
        self.started = set()   # replicas started once: a later start is not a first
        self.down = set(self.services)
        self.gateway_timeout = gateway_timeout
        self.order_options = dict(order_options or {})
        self.cache_size = cache_size
        self.verbose = set(verbose)
        try:
            self.lab = Lab(self.hosts)
            self.ip = self.lab.ip
            self.http_host = self.ip["gateway"]
            self.clients = ThreadPoolExecutor(8, thread_name_prefix="client",
                                              initializer=self.lab.enter,
                                              initargs=("client",))
            for src, dst in relays:
                self.lab.relay(src, dst, self.listen_ports(dst))
            self.write_configs()
            if start:
                self.start_all()
                self.wait_ready()
        except BaseException:
            self.keep = True
            self.close()
            raise

    # -- configuration: one file per host
    def endpoint(self, host, port):
        return "tcp://%s:%d" % (self.ip[host], port)

    def listen_ports(self, host):
        """The TCP ports a host's process binds."""
        if host == "broker":
            return [PORTS["broker"]]
        if host == "catalog":
            return [PORTS["catalog_pub"]]
        if host.startswith("r"):
            n = int(host[1:])
            return [5600 + n, 5700 + n]
        if host == "gateway":
            return [PORTS["http"]]
        return []

    def data_dir(self, host):
        return os.path.join(self.tmp, "data", host)

    def config_path(self, host):
        return os.path.join(self.tmp, "conf", host + ".cfg")

    def write_configs(self):
        os.makedirs(os.path.join(self.tmp, "conf"))
        os.makedirs(os.path.join(self.tmp, "logs"))
        broker = self.endpoint("broker", PORTS["broker"])
        sections = {
            "broker": ("broker", {"bind": broker, "tap": ""}),
            "catalog": ("catalog", {"broker": broker, "data": self.data_dir("catalog"),
                                    "pub": self.endpoint("catalog", PORTS["catalog_pub"])}),
            "gateway": ("gateway", {"broker": broker, "host": self.ip["gateway"],
                                    "port": str(PORTS["http"]),
                                    "catalog-pub": self.endpoint("catalog",
                                                                 PORTS["catalog_pub"]),
                                    "cache-size": str(self.cache_size)}),
        }
        if self.gateway_timeout:
            sections["gateway"][1]["timeout"] = str(self.gateway_timeout)
        members = ",".join(str(n) for n in self.ids)
        for n in self.ids:
            host = "r%d" % n
            options = {"id": str(n), "broker": broker, "data": self.data_dir(host),
                       "pub": self.endpoint(host, 5600 + n),
                       "rep": self.endpoint(host, 5700 + n), "members": members}
            options.update(self.order_options)
            sections[host] = ("order", options)
        for host, (program, options) in sections.items():
            os.makedirs(self.data_dir(host), exist_ok=True)
            lines = ["#  Bazaar on host %s (%s): the %s" % (host, self.ip[host], program),
                     program]
            lines += ['    %s = "%s"' % (k, v) for k, v in options.items()]
            with open(self.config_path(host), "w") as f:
                f.write("\n".join(lines) + "\n")

    # -- processes
    def argv(self, name):
        program = "order" if name.startswith("order-") else name
        argv = [os.path.join(self.bin, "bazaar-" + program), "-c",
                self.config_path(host_of(name))]
        if name in self.verbose:
            argv.append("-v")
        return argv

    def log_path(self, name):
        return os.path.join(self.tmp, "logs", name + ".log")

    def start(self, name):
        log = open(self.log_path(name), "ab", buffering=0)
        log.write(("=== net harness: start %s on host %s (%s) at %s\n" % (
            name, host_of(name), self.ip[host_of(name)], time.strftime("%H:%M:%S"))).encode())
        if name in self.logs:
            self.logs[name].close()
        self.logs[name] = log
        argv = self.argv(name)
        if name.startswith("order-") and name not in self.started:
            argv.append("--new")       # a new system's first start; later ones join
        self.started.add(name)
        self.procs[name] = self.lab.popen(host_of(name), argv,
                                          stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT,
                                          cwd=self.data_dir(host_of(name)))
        self.down.discard(name)

    def start_all(self):
        for name in self.services:
            self.start(name)

    def alive(self, name):
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def kill(self, name, sig=signal.SIGKILL):
        proc = self.procs.get(name)
        self.down.add(name)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_GRACE)

    def close(self):
        if self.closed:
            return
        self.closed = True
        try:
            for name, proc in self.procs.items():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE / 2
            for proc in self.procs.values():
                try:
                    proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
        finally:
            if getattr(self, "clients", None):
                self.clients.shutdown(wait=False, cancel_futures=True)
            if self.lab:
                self.lab.close()
            for log in self.logs.values():
                log.close()
            if self.keep:
                print("net bazaar kept in %s" % self.tmp)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)

    # -- logs (LogFiles reads them)
    def offsets(self):
        return {name: self.log_size(name) for name in self.services}

    def log_tails(self, lines=30):
        out = ["net bazaar temp dir: %s" % self.tmp]
        for name in self.services:
            out.append("----- %s on %s (%s) -----" % (
                name, host_of(name), "running" if self.alive(name) else "not running"))
            out += self.log_text(name).splitlines()[-lines:]
        return "\n".join(out)

    def check_healthy(self):
        problems = []
        for name in self.services:
            if name not in self.down and not self.alive(name):
                problems.append("%s exited on its own (status %s)"
                                % (name, self.procs[name].returncode))
        return problems + self.sanitizer_problems(self.services)

    def leader(self):
        """The replica id the broker named last (0: none), from its log."""
        found = LEADER_LINE.findall(self.log_text("broker"))
        return int(found[-1]) if found and found[-1] else 0

    def leaderships(self):
        """[(time, epoch, replica)]: every time a replica became leader (a
        majority promised it the epoch), from the replicas' logs, by time."""
        out = []
        for n in self.ids:
            out += [(t, int(e), n) for t, e in LEADING_LINE.findall(self.log_text("order-%d" % n))]
        return sorted(out)

    def log_file(self, n):
        """Replica n's order log."""
        return os.path.join(self.data_dir("r%d" % n), "order-%d.log" % n)

    def journal_file(self):
        return os.path.join(self.data_dir("catalog"), "catalog.journal")

    # -- HTTP, from the client host
    def request(self, method, path, body=None, headers=None, timeout=HTTP_TIMEOUT):
        return self.clients.submit(http_request, PORTS["http"], method, path, body, headers,
                                   timeout, None, self.http_host).result()

    def get(self, path, timeout=HTTP_TIMEOUT):
        return self.request("GET", path, timeout=timeout)

    def trade(self, name, type_, quantity, key, retry_for=READY_TIMEOUT):
        """A trade retried with its key until answered (not 503) -> Response."""
        body = {"name": name, "type": type_, "quantity": quantity}

        def placed():
            r = self.request("POST", "/orders", body, {"Idempotency-Key": key})
            return r if r.status not in (503, 504) else None
        return wait_until(placed, retry_for, "trade %s (key %s) to be answered" % (body, key))

    def wait_ready(self, timeout=READY_TIMEOUT):
        try:
            wait_until(lambda: self.get("/stocks/zz-none", timeout=5).status == 404,
                       timeout, "the catalog to answer through the gateway")
            wait_until(lambda: self.get("/orders/999999999", timeout=5).status == 404,
                       timeout, "the order service to answer through the gateway")
            #  Settled: the broker names the highest id (the lab's rule),
            #  which leads (a campaign at start may fail while the peers
            #  connect; the broker names it again).
            wait_until(lambda: self.leader() == self.ids[-1]
                       and self.get("/orders/999999999", timeout=5).status == 404,
                       timeout, "replica %d to lead" % self.ids[-1])
        except AssertionError as exc:
            self.keep = True
            raise AssertionError("%s\n%s" % (exc, self.log_tails())) from None

    # -- files
    def verify_dir(self):
        """A directory with links to catalog.journal and every order-N.log."""
        path = os.path.join(self.tmp, "verify")
        os.makedirs(path, exist_ok=True)
        links = {name: os.path.join(self.data_dir("catalog"), name)
                 for name in os.listdir(self.data_dir("catalog")) if name.startswith("catalog.")}
        for n in self.ids:
            links["order-%d.log" % n] = self.log_file(n)
        for name, target in links.items():
            link = os.path.join(path, name)
            if not os.path.lexists(link):
                os.symlink(target, link)
        return path

    def files_identical(self):
        """Every replica's order-N.log holds the trades catalog.journal holds
        (canonical dumps: an entry's stamp may differ between replicas)."""
        return files_identical([self.journal_file()] + [self.log_file(n) for n in self.ids])

    def verify(self):
        """`bazaar-client verify` over the files and the live gateway, run
        on the client host -> (rc, output)."""
        proc = self.lab.popen("client", [os.path.join(self.bin, "bazaar-client"), "verify",
                                         "--data", self.verify_dir(), "--url",
                                         "http://%s:%d" % (self.http_host, PORTS["http"]),
                                         "--wait", "20"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out, _ = proc.communicate(timeout=120)
        return proc.returncode, out


# --------------------------------------------------------------------------
#  Load: clients trading through the gateway, from the client host

class Load:
    """clients threads trade (random stock, buy/sell 1-5, a key each); a 503,
    a timeout or a refused connection is retried with the same key for
    retry_for seconds.  Records acked {number: (order, key)}, refused keys,
    unknown outcomes, latencies, and problems (a number given twice...)."""

    def __init__(self, bz, clients=5, seed=1, retry_for=30.0, tag="load", pause=0.0,
                 watch_stock=None):
        self.bz = bz
        self.watch_stock = watch_stock   # client 0 alone trades it and reads it back
        self.watch_reads = 0
        self.clients = clients
        self.seed = seed
        self.retry_for = retry_for
        self.tag = tag
        self.pause = pause
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked = {}
        self.key_number = {}
        self.refused = set()
        self.unknown = 0
        self.retries = 0
        self.problems = []
        self.latencies = []          # seconds, successful first attempts
        self.events = []             # (monotonic time, number) per ack
        self.threads = []

    def start(self):
        for i in range(self.clients):
            t = threading.Thread(target=self._client, args=(i,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def finish(self, timeout=None):
        self.stop.set()
        for t in self.threads:
            t.join(timeout or self.retry_for + 2 * HTTP_TIMEOUT)
        assert not any(t.is_alive() for t in self.threads), "a client thread did not stop"

    def count(self):
        with self.lock:
            return len(self.acked)

    def _ack(self, number, order, key, elapsed, first):
        with self.lock:
            if number in self.acked and self.acked[number][1] != key:
                self.problems.append("number %d acknowledged for two trades: %r and %r"
                                     % (number, self.acked[number], (order, key)))
            if key in self.key_number and self.key_number[key] != number:
                self.problems.append("key %s acknowledged as %d and as %d"
                                     % (key, self.key_number[key], number))
            self.acked[number] = (dict(order, number=number), key)
            self.key_number[key] = number
            self.events.append((time.monotonic(), number))
            if first:
                self.latencies.append(elapsed)

    def place(self, conn_box, order, key):
        body = {k: order[k] for k in ("name", "type", "quantity")}
        deadline = time.monotonic() + self.retry_for
        first = True
        while True:
            try:
                if conn_box[0] is None:
                    conn_box[0] = http.client.HTTPConnection(self.bz.http_host, PORTS["http"],
                                                             timeout=HTTP_TIMEOUT)
                r = http_request(None, "POST", "/orders", body, {"Idempotency-Key": key},
                              conn=conn_box[0])
            except (OSError, http.client.HTTPException, AttributeError):
                if conn_box[0] is not None:
                    conn_box[0].close()
                conn_box[0] = None
                r = None
            if r is not None and r.status == 200:
                number = r.body.get("data", {}).get("transaction_number") \
                    if isinstance(r.body, dict) else None
                if not isinstance(number, int):
                    with self.lock:
                        self.problems.append("200 without a number: %r" % (r.body,))
                    return 200
                self._ack(number, order, key, r.elapsed, first)
                return 200
            if r is not None and r.status == 409:
                with self.lock:
                    self.refused.add(key)
                return 409
            if r is not None and r.status not in (503, 504):
                with self.lock:
                    self.problems.append("trade %r key %s: unexpected %r" % (order, key, r))
                return r.status
            if time.monotonic() >= deadline:
                with self.lock:
                    self.unknown += 1
                return None
            with self.lock:
                self.retries += 1
            first = False
            time.sleep(0.05)

    def _read_quantity(self, conn_box, name):
        """GET /stocks/name through the same gateway -> quantity or None."""
        try:
            if conn_box[0] is None:
                conn_box[0] = http.client.HTTPConnection(self.bz.http_host, PORTS["http"],
                                                         timeout=HTTP_TIMEOUT)
            r = http_request(None, "GET", "/stocks/" + name, conn=conn_box[0])
        except (OSError, http.client.HTTPException, AttributeError):
            if conn_box[0] is not None:
                conn_box[0].close()
            conn_box[0] = None
            return None
        return r.body["data"]["quantity"] if r.status == 200 else None

    def _client(self, index):
        try:
            self.bz.lab.enter("client")
            rng = random.Random("%s-%d-%d" % (self.tag, self.seed, index))
            conn_box = [None]
            n = 0
            watching = self.watch_stock is not None and index == 0
            others = [s for s in STOCKS if s != self.watch_stock]
            expected = None     # the watched stock's quantity, as this client knows it
            while not self.stop.is_set():
                if watching and expected is None:
                    expected = self._read_quantity(conn_box, self.watch_stock)
                    if expected is None:
                        time.sleep(0.05)
                        continue
                name = self.watch_stock if watching else rng.choice(others)
                order = {"name": name, "type": rng.choice(("buy", "sell")),
                         "quantity": rng.randint(1, 5)}
                status = self.place(conn_box, order,
                                    "%s-%d-%d-%d" % (self.tag, self.seed, index, n))
                n += 1
                if watching:
                    if status == 200:
                        expected += order["quantity"] * (1 if order["type"] == "sell" else -1)
                    elif status != 409:
                        expected = None     # outcome unknown: read the truth again
                        continue
                    got = self._read_quantity(conn_box, self.watch_stock)
                    if got is not None and got != expected:
                        with self.lock:
                            self.problems.append(
                                "the gateway served %s quantity %d after acknowledging a "
                                "trade that made it %d (a stale cached value)"
                                % (self.watch_stock, got, expected))
                    elif got is not None:
                        with self.lock:
                            self.watch_reads += 1
                if self.pause:
                    time.sleep(self.pause)
        except Exception as exc:  # noqa: BLE001 - reported with the rest
            with self.lock:
                self.problems.append("client %d failed: %r" % (index, exc))


def check_invariants(bz, loads, context=""):
    """SPEC §4 after healing and quiet: -> list of lines it checked."""
    acked, refused, problems = {}, set(), []
    for load in loads:
        acked.update(load.acked)
        refused |= load.refused
        problems += load.problems
    assert not problems, "%s: %s" % (context, "\n".join(problems))
    wait_until(bz.files_identical, READY_TIMEOUT,
               "%s: every order-N.log canonically identical to catalog.journal" % context)
    journal = read_journal(os.path.join(bz.data_dir("catalog"), "catalog.journal"))
    numbers = [r[0] for r in journal]
    assert numbers == list(range(len(journal))), "%s: journal not dense" % context
    keys = [r[4] for r in journal if r[4] is not None]
    assert len(keys) == len(set(keys)), "%s: a key committed twice" % context
    assert not (refused & set(keys)), "%s: answered 409 yet committed" % context
    for number, (order, key) in acked.items():
        assert number < len(journal), "%s: acked %d beyond the journal" % (context, number)
        expected = (number, order["name"], order["type"], order["quantity"], key)
        assert journal[number] == expected, "%s: acked %r, journal holds %r" % (
            context, expected, journal[number])
    def read_back():
        conn = http.client.HTTPConnection(bz.http_host, PORTS["http"], timeout=HTTP_TIMEOUT)
        try:
            for number, (order, key) in sorted(acked.items()):
                r = http_request(None, "GET", "/orders/%d" % number, conn=conn)
                assert r.status == 200 and r.body == {"data": order}, \
                    "%s: acked %r reads back as %r" % (context, order, tuple(r))
        finally:
            conn.close()
    bz.lab.in_host("client", read_back)
    r = bz.get("/orders/%d" % len(journal))
    assert r.status == 404, "%s: the next number %d exists: %r" % (context, len(journal), r)
    qty = {name: INITIAL_QTY for name in INITIAL}
    for _, name, type_, quantity, _ in journal:
        qty[name] += quantity if type_ == "sell" else -quantity

    def stocks_match():
        r = bz.get("/stocks")
        got = {s["name"]: s["quantity"] for s in r.body["data"]}
        return got == qty
    wait_until(stocks_match, 10, "%s: GET /stocks = initial +- the journal" % context)
    rc, out = bz.verify()
    assert rc == 0 and out.strip().endswith("verify: OK"), "%s: verify exited %d:\n%s" % (
        context, rc, out)
    return ["%d trades in the journal, dense; %d acknowledged, every one read back identical; "
            "quantities = initial +- journal; verify: OK (%d logs canonically identical to the "
            "journal)" % (len(journal), len(acked), len(bz.ids))]
