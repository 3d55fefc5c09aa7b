"""Simulated hosts for Bazaar: one Linux network namespace per host.

Python stdlib only; needs root (ip netns, nft).  Used by tests/net/ and by
`make chaos-net` (tests/net/chaos_net.py).

Layout of one Lab (names are unique per run: "bzn<pid>x<random>-<host>"):

    namespace <prefix>-sw      a bridge br0; one veth end per host
    namespace <prefix>-<host>  lo, eth0 = 10.77.0.(11+i)/24, an nftables
                               table "bznet" (filter input, nat output)

Addresses exist only inside these namespaces; nothing is routed out of
them (no default route, the bridge is in a namespace of its own), so the
traffic never leaves.  Every namespace and every process is removed by
Lab.close(), which the fixtures call and atexit calls again; a Lab also
removes namespaces left by a run whose process is gone (kill -9 of
pytest).

Faults (each one prints a line saying what it did and how):

    cut(a, b)                 a and b hear nothing from each other
                              (nftables: drop by source address in each
                              one's input chain: silent, as on a wire)
    cut(a, b, oneway=True)    b does not hear a; a still hears b
    cut(..., method="blackhole")  a blackhole route in the sender instead
                              (the sender's kernel refuses at once)
    isolate(a)                a cut from every other host, both ways
    unplug(a)                 a's cable pulled: one nftables rule on the
                              bridge drops every frame to or from a's
                              port (atomic, where isolate is one rule per
                              host; the benchmark uses it)
    loss(percent, hosts)      nftables "numgen random mod 100 < p drop" on
                              the input of every host given (default all)
    relay(src, dst, ports)    put a delay relay (tests/net/relay.py, a
                              process in dst's namespace) on the path of
                              src's connections to dst's ports, with an
                              nftables DNAT in src.  Only new connections
                              take it (this kernel cannot kill sockets:
                              no ss -K), so set relays up before the
                              processes connect; delay(src, dst, ms)
                              then sets the delay (one way, each
                              direction), 0 to heal.
    heal()                    every cut, loss and delay removed

There is no netem qdisc in this kernel ("qdisc kind is unknown"), hence
the relay; Lab.delay_method says which mechanism was used.
"""
import atexit
import ctypes
import os
import random
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SUBNET = "10.77.0"
RELAY_PORT_BASE = 40000
CLONE_NEWNET = 0x40000000

_LABS = []


def _log(text):
    sys.stdout.write("netlab %s %s\n" % (time.strftime("%H:%M:%S"), text))
    sys.stdout.flush()


def sh(argv, check=True, input_text=None):
    """Run a command; -> CompletedProcess. Raises with its stderr if check."""
    proc = subprocess.run(argv, input=input_text, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(argv), proc.returncode,
                                                   proc.stderr.strip() or proc.stdout.strip()))
    return proc


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def remove_stale_namespaces():
    """Delete namespaces of earlier runs whose process is gone."""
    out = sh(["ip", "netns", "list"], check=False).stdout
    for line in out.splitlines():
        m = re.match(r"(bzn(\d+)x[0-9a-f]+-\S+)", line.strip())
        if m and int(m.group(2)) != os.getpid() and not _pid_alive(int(m.group(2))):
            sh(["ip", "netns", "del", m.group(1)], check=False)


class LabError(RuntimeError):
    pass


class Lab:
    delay_method = "relay (tests/net/relay.py; this kernel has no netem qdisc)"

    def __init__(self, hosts):
        if os.geteuid() != 0:
            raise LabError("network namespaces need root (ip netns add); run the net tests as root")
        for tool in ("ip", "nft"):
            if sh(["sh", "-c", "command -v " + tool], check=False).returncode != 0:
                raise LabError("'%s' is missing (apt-get install iproute2 nftables)" % tool)
        remove_stale_namespaces()
        self.prefix = "bzn%dx%04x" % (os.getpid(), random.SystemRandom().randrange(1 << 16))
        self.switch = self.prefix + "-sw"
        self.hosts = list(hosts)
        self.ip = {h: "%s.%d" % (SUBNET, 11 + i) for i, h in enumerate(self.hosts)}
        self.made = []            # namespaces created, for close()
        self.procs = []           # every Popen started in a namespace
        self.blackholes = []      # (host, address)
        self.relays = {}          # dst host -> relay Popen
        self.relay_ports = {}     # (src, dst) -> [listen ports]
        self.next_relay_port = RELAY_PORT_BASE
        self.relay_lock = threading.Lock()
        self.faults = []          # what is in force, for the output
        self.closed = False
        _LABS.append(self)
        try:
            self._build()
        except Exception as exc:
            self.close()
            raise LabError("cannot build the network namespaces: %s" % exc) from None

    # -- building and tearing down
    def ns(self, host):
        return "%s-%s" % (self.prefix, host)

    def _add_ns(self, name):
        sh(["ip", "netns", "add", name])
        self.made.append(name)
        sh(["ip", "-n", name, "link", "set", "lo", "up"])

    def _build(self):
        self._add_ns(self.switch)
        sh(["ip", "-n", self.switch, "link", "add", "br0", "type", "bridge"])
        sh(["ip", "-n", self.switch, "link", "set", "br0", "up"])
        self.nft_ns(self.switch, "add table bridge bznet\n"
                    "add chain bridge bznet forward { type filter hook forward priority 0; }\n")
        for i, host in enumerate(self.hosts):
            ns = self.ns(host)
            self._add_ns(ns)
            port = "p%d" % i
            sh(["ip", "-n", self.switch, "link", "add", port, "type", "veth",
                "peer", "name", "eth0", "netns", ns])
            sh(["ip", "-n", self.switch, "link", "set", port, "master", "br0", "up"])
            sh(["ip", "-n", ns, "addr", "add", self.ip[host] + "/24", "dev", "eth0"])
            sh(["ip", "-n", ns, "link", "set", "eth0", "up"])
            self.nft(host, "add table inet bznet\n"
                           "add chain inet bznet input { type filter hook input priority 0; }\n"
                           "add table ip bznat\n"
                           "add chain ip bznat output { type nat hook output priority -100; }\n")
        _log("built %d hosts under %s-*: %s" % (len(self.hosts), self.prefix, ", ".join(
            "%s=%s" % (h, self.ip[h]) for h in self.hosts)))

    def close(self):
        if self.closed:
            return
        self.closed = True
        for proc in self.procs + list(self.relays.values()):
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs + list(self.relays.values()):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        for name in reversed(self.made):
            sh(["ip", "netns", "del", name], check=False)
        if self in _LABS:
            _LABS.remove(self)

    # -- running things in a host
    def nft(self, host, script):
        self.nft_ns(self.ns(host), script)

    def nft_ns(self, ns, script):
        sh(["ip", "netns", "exec", ns, "nft", "-f", "-"], input_text=script)

    def popen(self, host, argv, **kwargs):
        """Start argv in host's namespace (ip netns exec execs it: same pid)."""
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns(host)] + list(argv),
                                start_new_session=True, **kwargs)
        self.procs.append(proc)
        return proc

    def enter(self, host):
        """Move the calling thread into host's namespace (for good)."""
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open("/run/netns/" + self.ns(host), os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into " + self.ns(host))
        finally:
            os.close(fd)

    def in_host(self, host, fn, *args):
        """Run fn(*args) on a fresh thread inside host's namespace; -> result."""
        box = {}

        def run():
            try:
                self.enter(host)
                box["value"] = fn(*args)
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                box["error"] = exc
        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join()
        if "error" in box:
            raise box["error"]
        return box["value"]

    # -- faults
    def _fault(self, text):
        self.faults.append(text)
        _log("fault: " + text)

    def cut(self, a, b, oneway=False, method="nft"):
        """b stops hearing a (and a stops hearing b unless oneway)."""
        pairs = [(a, b)] if oneway else [(a, b), (b, a)]
        for src, dst in pairs:
            if method == "nft":
                self.nft(dst, "add rule inet bznet input ip saddr %s drop\n" % self.ip[src])
            elif method == "blackhole":
                sh(["ip", "-n", self.ns(src), "route", "add", "blackhole", self.ip[dst] + "/32"])
                self.blackholes.append((src, self.ip[dst]))
            else:
                raise ValueError(method)
        how = ("nftables drop of %s's packets in %s's input" % (a, b) if method == "nft"
               else "blackhole route to %s in %s" % (b, a))
        self._fault("%s %s %s (%s%s)" % (a, "->" if oneway else "<->", b, how,
                                          "" if oneway else ", and back"))

    def isolate(self, a, method="nft"):
        for b in self.hosts:
            if b != a:
                self.cut(a, b, method=method)

    def unplug(self, a):
        port = "p%d" % self.hosts.index(a)
        self.nft_ns(self.switch, 'add rule bridge bznet forward iifname "%s" drop\n'
                                 'add rule bridge bznet forward oifname "%s" drop\n'
                                 % (port, port))
        self._fault("%s unplugged (nftables drop of its bridge port, both ways)" % a)

    def loss(self, percent, hosts=None):
        for host in hosts or self.hosts:
            self.nft(host, "add rule inet bznet input numgen random mod 100 < %d drop\n"
                     % percent)
        self._fault("%d%% loss on the input of %s (nftables numgen random drop)"
                    % (percent, "every host" if hosts is None else ", ".join(hosts)))

    def _relay_for(self, dst):
        proc = self.relays.get(dst)
        if proc is None:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns(dst), sys.executable,
                 os.path.join(HERE, "relay.py")],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                start_new_session=True)
            self.relays[dst] = proc
        return proc

    def _relay_command(self, dst, line):
        proc = self._relay_for(dst)
        proc.stdin.write(line + "\n")
        proc.stdin.flush()
        answer = proc.stdout.readline().strip()
        if answer != "ok":
            raise RuntimeError("relay in %s: %s -> %r" % (dst, line, answer))

    def relay(self, src, dst, ports, delay_ms=0):
        """src's new connections to dst's ports go through a delay relay."""
        with self.relay_lock:
            for port in ports:
                listen = self.next_relay_port
                self.next_relay_port += 1
                self._relay_command(dst, "map %s %d %s %d %g" % (
                    self.ip[dst], listen, self.ip[dst], port, delay_ms))
                self.nft(src, "add rule ip bznat output ip daddr %s tcp dport %d "
                              "dnat to %s:%d\n" % (self.ip[dst], port, self.ip[dst], listen))
                self.relay_ports.setdefault((src, dst), []).append(listen)

    def delay(self, a, b, delay_ms):
        """Delay (one way, ms) on every relayed path between a and b."""
        with self.relay_lock:
            found = False
            for src, dst in ((a, b), (b, a)):
                for listen in self.relay_ports.get((src, dst), []):
                    self._relay_command(dst, "delay %d %g" % (listen, delay_ms))
                    found = True
        if not found:
            raise ValueError("no relay between %s and %s (Lab.relay first)" % (a, b))
        if delay_ms:
            self._fault("%g ms delay each way between %s and %s (%s)"
                        % (delay_ms, a, b, self.delay_method))

    def heal(self):
        for host in self.hosts:
            self.nft(host, "flush chain inet bznet input\n")
        self.nft_ns(self.switch, "flush chain bridge bznet forward\n")
        for src, address in self.blackholes:
            sh(["ip", "-n", self.ns(src), "route", "del", "blackhole", address + "/32"],
               check=False)
        self.blackholes = []
        with self.relay_lock:
            for (src, dst), listens in self.relay_ports.items():
                for listen in listens:
                    self._relay_command(dst, "delay %d 0" % listen)
        if self.faults:
            _log("healed: %s" % "; ".join(self.faults))
        self.faults = []


def _close_all():
    for lab in list(_LABS):
        try:
            lab.close()
        except Exception:  # noqa: BLE001
            pass


atexit.register(_close_all)
