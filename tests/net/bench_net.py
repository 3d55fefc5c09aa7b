#!/usr/bin/python3
"""make bench-net: failover under a partition, and trades under delay.

    bench_net.py [--rounds 10] [--seconds 10] [--only failover|delay]

Bazaar on simulated hosts (netbazaar.py), needs root.  Not a test: it
prints numbers for docs/PERFORMANCE.md.

failover  The leader's host is unplugged (one nftables rule on the
          bridge drops every frame to or from it, both ways) while a trade is sent every 10 ms from the
          client host, each on its own connection and thread (2 s
          timeout), so a trade stuck at the old leader does not hold back
          the next.  Time from the cut to the end of the first trade sent
          after the cut that answers 200.  Healed, replica 3 (the highest
          id) takes over again before the next round.  Median of --rounds.

delay     Delay relays (tests/net/relay.py; no netem here) on every path
          between two hosts, clients included.  bazaar-client (5 sessions,
          p = 1: a lookup then a trade) runs --seconds at 0, 1 and 10 ms
          each way, and once with no relay at all; prints trade p50 and
          trades/s.  (p50_d - p50_0) / (2 d) is the number of network
          round trips on a trade's critical path.
"""
import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time

#  tests/net (netbazaar, netlab) and tests/ (the shared harness package).
sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),
                os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]

from netbazaar import PORTS, NetBazaar, READY_TIMEOUT, wait_until  # noqa: E402

HOSTS = ("broker", "catalog", "r1", "r2", "r3", "gateway", "client")

INTERVAL = 0.010
TIMEOUT = 2.0


def trade_once(bz, n, results, lock):
    body = json.dumps({"name": "apple", "type": "buy" if n % 2 else "sell", "quantity": 1})
    sent = time.monotonic()
    status = 0
    try:
        conn = http.client.HTTPConnection(bz.http_host, PORTS["http"], timeout=TIMEOUT)
        conn.request("POST", "/orders", body, {"Content-Type": "application/json"})
        status = conn.getresponse().status
        conn.close()
    except (OSError, http.client.HTTPException):
        pass
    with lock:
        results.append((sent, time.monotonic(), status))


def failover_round(bz, leader):
    """-> ms from the cut to the first success sent after it."""
    results, lock, stop = [], threading.Lock(), threading.Event()

    def spawner():
        bz.lab.enter("client")
        n = 0
        while not stop.is_set():
            threading.Thread(target=lambda k=n: (bz.lab.enter("client"),
                                                 trade_once(bz, k, results, lock)),
                             daemon=True).start()
            n += 1
            time.sleep(INTERVAL)
    thread = threading.Thread(target=spawner, daemon=True)
    thread.start()
    wait_until(lambda: any(s == 200 for _, _, s in list(results)), READY_TIMEOUT,
               "a trade before the cut")
    bz.lab.unplug("r%d" % leader)
    #  After the rule is committed (nft takes ~10-30 ms to run here: trades
    #  sent before that still reach the leader).
    cut = time.monotonic()

    def first_after():
        with lock:
            done = [end for sent, end, status in results if sent >= cut and status == 200]
        return min(done) if done else None
    end = wait_until(first_after, 20, "a trade after the cut")
    stop.set()
    thread.join()
    bz.lab.heal()
    return 1000 * (end - cut)


def bench_failover(rounds):
    bz = NetBazaar()
    times = []
    try:
        for i in range(rounds):
            wait_until(lambda: bz.leader() == 3 and bz.get("/orders/999999").status == 404,
                       READY_TIMEOUT, "replica 3 leading")
            time.sleep(1.0)   # the followers back in sync
            ms = failover_round(bz, 3)
            times.append(ms)
            print("failover round %d: %.0f ms (leader r3 unplugged: nftables drop on its bridge port)"
                  % (i + 1, ms), flush=True)
    finally:
        bz.close()
    print("failover under a partition of the leader: median %.0f ms, min %.0f, max %.0f "
          "over %d rounds" % (statistics.median(times), min(times), max(times), len(times)))


def run_client(bz, seconds):
    proc = bz.lab.popen("client", [os.path.join(bz.bin, "bazaar-client"), "--url",
                                   "http://%s:%d" % (bz.http_host, PORTS["http"]),
                                   "--sessions", "5", "--p", "1", "--duration", str(seconds),
                                   "--seed", "7"],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = proc.communicate(timeout=seconds + 120)
    return out


def bench_delay(seconds):
    pairs = [(a, b) for a in HOSTS for b in HOSTS if a != b]
    for delay in (None, 0, 1, 10):
        relays = [] if delay is None else pairs
        bz = NetBazaar(relays=relays)
        try:
            if delay:
                for a in HOSTS:
                    for b in HOSTS:
                        if a < b:
                            bz.lab.delay(a, b, delay)
            out = run_client(bz, seconds)
        finally:
            bz.close()
        label = "no relay" if delay is None else "relay, %d ms each way" % delay
        print("----- %s\n%s" % (label, out.strip()), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--only", choices=("failover", "delay"))
    args = parser.parse_args()
    if args.only != "delay":
        bench_failover(args.rounds)
    if args.only != "failover":
        bench_delay(args.seconds)


if __name__ == "__main__":
    main()
