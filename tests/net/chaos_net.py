#!/usr/bin/python3
"""make chaos-net: a bounded network nemesis over Bazaar on simulated hosts.

    chaos_net.py [--seed S] [--duration SECONDS] [--clients 5] [--replicas 3|5]

Bazaar runs with one process per host (netbazaar.py; 3 or 5 order
replicas, a majority of them commits) and delay relays on
the gateway->broker path and between every two replicas (set up before
the processes connect; 0 ms until the nemesis sets a delay).  Five
clients trade through the gateway from their own host (a key per trade,
retried with it on 503).  Every 1-3 s the nemesis picks one fault, holds
it 1-5 s and heals it:

    partition A B      both ways (nftables drop, or blackhole routes)
    oneway A B         B does not hear A (nftables drop)
    isolate A          A cut from every other host
    leader-cut         the current leader cut from the broker
    loss P [hosts]     P% random drop (nftables numgen) on all or 2 hosts
    delay A B MS       MS each way on a relayed path (the kernel has no netem)

Hosts are broker, catalog, r1-rN and gateway (never the clients' host).
Then everything is healed, the system quiets down, one more trade must
succeed, and SPEC §4 is checked (netbazaar.check_invariants): every
acknowledged number reads back identical, the journal is dense, no key
committed twice, quantities = initial +- journal, `bazaar-client verify`
passes (all order logs canonically identical to catalog.journal: the
stamps of one committed entry may differ between replicas).

The seed and the schedule are printed (and written to chaos.txt in the
kept temp dir); --seed S replays the same schedule (timing differs).
Exit status 0 when clean, 1 otherwise.  Needs root.
"""
import argparse
import os
import random
import sys
import time
import traceback

#  tests/net (netbazaar, netlab) and tests/ (the shared harness package).
sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),
                os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]

from netbazaar import Load, NetBazaar, READY_TIMEOUT, check_invariants, wait_until  # noqa: E402

def plan(rng, leader, replicas):
    targets = ("broker", "catalog") + replicas + ("gateway",)
    """One fault, chosen from rng -> (description, list of words)."""
    kind = rng.choice(("partition", "partition", "oneway", "isolate", "leader-cut", "loss",
                       "delay"))
    if kind == "partition":
        a, b = rng.sample(targets, 2)
        return [kind, a, b, rng.choice(("nft", "blackhole"))]
    if kind == "oneway":
        a, b = rng.sample(targets, 2)
        return [kind, a, b]
    if kind == "isolate":
        return [kind, rng.choice(targets)]
    if kind == "leader-cut":
        return [kind, "r%d" % leader if leader else replicas[-1]]
    if kind == "loss":
        hosts = [] if rng.random() < 0.5 else rng.sample(targets, 2)
        return [kind, str(rng.choice((5, 10, 20)))] + hosts
    if rng.random() < 0.4:
        a, b = "gateway", "broker"
    else:
        a, b = rng.sample(replicas, 2)
    return [kind, a, b, str(rng.choice((10, 50, 100)))]


def inject(lab, fault):
    kind = fault[0]
    if kind == "partition":
        lab.cut(fault[1], fault[2], method=fault[3])
    elif kind == "oneway":
        lab.cut(fault[1], fault[2], oneway=True)
    elif kind == "isolate":
        lab.isolate(fault[1])
    elif kind == "leader-cut":
        lab.cut(fault[1], "broker")
    elif kind == "loss":
        lab.loss(int(fault[1]), fault[2:] or None)
    elif kind == "delay":
        lab.delay(fault[1], fault[2], float(fault[3]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--replicas", type=int, choices=(3, 5), default=3)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2 ** 31)
    rng = random.Random(seed)
    hosts = tuple("r%d" % n for n in range(1, args.replicas + 1))
    pairs = [(a, b) for a in hosts for b in hosts if a != b]
    bz = NetBazaar(relays=[("gateway", "broker")] + pairs, replicas=args.replicas)
    notes = open(os.path.join(bz.tmp, "chaos.txt"), "a", buffering=1)
    start = time.monotonic()

    def note(text):
        line = "chaos-net %7.3f %s" % (time.monotonic() - start, text)
        print(line, flush=True)
        notes.write(line + "\n")

    note("seed %d (--seed %d to replay), %.0f s, %d clients, %d replicas, temp dir %s"
         % (seed, seed, args.duration, args.clients, args.replicas, bz.tmp))
    note("delay by %s" % bz.lab.delay_method)
    schedule, ok = [], False
    load = Load(bz, clients=args.clients, seed=seed, tag="chaos", retry_for=20.0,
                watch_stock="amc")
    try:
        load.start()
        while time.monotonic() - start < args.duration:
            time.sleep(rng.uniform(1.0, 3.0))
            fault = plan(rng, bz.leader(), hosts)
            hold = rng.uniform(1.0, 5.0)
            schedule.append("%s/%.1fs" % (":".join(fault), hold))
            note("inject %s for %.1f s (%d acknowledged so far)"
                 % (" ".join(fault), hold, load.count()))
            inject(bz.lab, fault)
            time.sleep(hold)
            bz.lab.heal()
            note("healed")
        load.finish()
        note("schedule: %s" % " ".join(schedule))
        note("%d acknowledged, %d refused (409), %d unknown, %d retries, %d read-backs of %s"
             % (len(load.acked), len(load.refused), load.unknown, load.retries,
                load.watch_reads, load.watch_stock))
        problems = bz.check_healthy()
        if problems:
            raise AssertionError("; ".join(problems))
        bz.wait_ready()
        final = bz.trade("apple", "sell", 1, "chaos-%d-final" % seed)
        assert final.status == 200, "a trade after healing: %r" % (tuple(final),)
        load.acked[final.body["data"]["transaction_number"]] = (
            {"number": final.body["data"]["transaction_number"], "name": "apple",
             "type": "sell", "quantity": 1}, "chaos-%d-final" % seed)
        wait_until(bz.files_identical, READY_TIMEOUT, "the logs to converge")
        for line in check_invariants(bz, [load], "seed %d" % seed):
            note("OK: " + line)
        ok = True
    except BaseException as exc:  # noqa: BLE001 - reported, then exit 1
        note("FAILED (seed %d, --seed %d replays): %s" % (seed, seed, exc))
        traceback.print_exc()
        print(bz.log_tails(40))
        bz.keep = True
    finally:
        if not ok:
            note("schedule: %s" % " ".join(schedule))
        load.stop.set()
        bz.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
