"""failover.py URL PID [SECONDS] - one failover round for failover.sh.

Places trades (POST URL/orders, 1 share, buy and sell in turn) at a light
steady rate: a new request every 10 ms, each on its own connection and
thread with a 2 s timeout, so a request stuck in the failover does not hold
back the next one.  Once a trade has succeeded, kills PID (the order leader)
with SIGKILL and measures the time from the kill to the end of the first
trade sent after the kill that answers 200.

Prints one line: "<ms> <failed>" (failed = trades sent after the kill that
did not answer 200 before that one ended), or "- <failed>" when no trade
succeeded within SECONDS (default 10) of the kill.  Exit 2 if no trade
succeeded before the kill.  Standard library only.
"""
import http.client
import json
import os
import signal
import sys
import threading
import time
import urllib.parse

INTERVAL = 0.010
TIMEOUT = 2.0
MAX_IN_FLIGHT = 200


def main():
    url = urllib.parse.urlsplit(sys.argv[1])
    pid = int(sys.argv[2])
    limit = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
    lock = threading.Lock()
    results = []            # (sent, done, status)
    in_flight = [0]
    stop = threading.Event()

    def trade(n):
        body = json.dumps({"name": "apple", "type": "buy" if n % 2 else "sell", "quantity": 1})
        sent = time.monotonic()
        status = 0
        try:
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=TIMEOUT)
            conn.request("POST", "/orders", body, {"Content-Type": "application/json"})
            status = conn.getresponse().status
            conn.close()
        except (OSError, http.client.HTTPException):
            pass
        with lock:
            results.append((sent, time.monotonic(), status))
            in_flight[0] -= 1

    def spawner():
        n = 0
        next_at = time.monotonic()
        while not stop.is_set():
            with lock:
                busy = in_flight[0] >= MAX_IN_FLIGHT
                if not busy:
                    in_flight[0] += 1
            if not busy:
                n += 1
                threading.Thread(target=trade, args=(n,), daemon=True).start()
            next_at += INTERVAL
            time.sleep(max(0.0, next_at - time.monotonic()))

    threading.Thread(target=spawner, daemon=True).start()

    def first_success(since):
        with lock:
            ok = [done for sent, done, status in results if sent >= since and status == 200]
        return min(ok) if ok else None

    deadline = time.monotonic() + 5.0
    while first_success(0.0) is None:
        if time.monotonic() > deadline:
            print("failover: no trade succeeded before the kill", file=sys.stderr)
            return 2
        time.sleep(0.01)
    time.sleep(0.2)                     # some steady load first
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    deadline = killed + limit
    while True:
        done = first_success(killed)    # final: a later answer ends later
        if done is not None:
            break
        if time.monotonic() > deadline:
            done = None
            break
        time.sleep(0.005)
    stop.set()
    with lock:
        failed = sum(1 for sent, end, status in results
                     if sent >= killed and status != 200 and (done is None or end <= done))
    print("%s %d" % ("%.0f" % ((done - killed) * 1000) if done is not None else "-", failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
