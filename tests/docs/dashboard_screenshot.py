"""docs/dashboard.png: the dashboard under load, after a kill -9 of the
leader and its return, as headless Chromium shows it.

Run:  make screenshot   (or BAZAAR_BIN=build/bin /usr/bin/python3
tests/docs/dashboard_screenshot.py FILE).  Not a test: it checks nothing
but that the picture was written; look at it.
"""

import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness import BIN, Bazaar, chromium, slow_frame, wait_until, WATCH_S  # noqa: E402

DEADLINE = 60


def main(target):
    with Bazaar(replicas=3, cache_size=4) as bz:
        url = "http://127.0.0.1:%d/" % bz.port
        load = subprocess.Popen([os.path.join(BIN, "bazaar-client"), "--url", url.rstrip("/"),
                                 "--sessions", "3", "--p", "0.5", "--duration", "30",
                                 "--iterations", "0", "--rate", "600"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            def chaos():
                time.sleep(4)     # the picture should show a steady state before the kill
                wait_until(lambda: bz.get("/status").body["catalog_number"] > 1000, DEADLINE,
                           "load")
                bz.kill("order-3")
                wait_until(lambda: bz.get("/status").body["leader"] == 2, DEADLINE,
                           "order-2 leads")
                time.sleep(3)     # ... and order-2 leading for a while before order-3 returns
                bz.restart("order-3")
            thread = threading.Thread(target=chaos)
            thread.start()
            frame = slow_frame(url, WATCH_S)
            chromium(frame, "--screenshot=%s" % os.path.abspath(target),
                     "--window-size=1400,640", budget_ms=None)
            thread.join()
        finally:
            load.terminate()
            load.wait(DEADLINE)
    print("wrote %s" % target)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: dashboard_screenshot.py FILE.png")
    main(sys.argv[1])
