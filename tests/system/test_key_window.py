"""Idempotency keys are remembered for a bounded window (issue 11, item 10):
--idempotency-trades N / --idempotency-hours H (defaults 1,000,000 and 24,
whichever keeps more, at most 10,000,000 keys).  Here the window is five
trades and no hours, so it can be driven past: a key inside it still
returns its trade, one beyond it is forgotten, memory holds at most the
window, and copies of old trades (a replica catching up) still carry their
keys, read back from the files.  Three replicas (--members 1,2,3), so
the two left running while replica 1 is stopped are a majority and commit.
The window is the replicas' (the leader deduplicates); the catalog, a
learner, holds no keys and applies a key the leader forgot when it comes
again (a catalog that held it refused that committed trade and stopped).
"""

import os
import re

from harness import canonical_dump, wait_until

WINDOW = ["--idempotency-trades", "5", "--idempotency-hours", "0"]


def test_keys_are_kept_for_a_bounded_window(bazaar_factory):
    bz = bazaar_factory(replicas=3, order_args=WINDOW)
    old = bz.trade("apple", "buy", 1, key="old-key")
    r = bz.post("/orders", {"name": "apple", "type": "buy", "quantity": 1},
                {"Idempotency-Key": "old-key"})
    assert (r.status, r.body) == (200, {"data": {"transaction_number": old}}), r
    bz.stop("order")                      # replica 1 falls behind
    for i in range(12):
        bz.trade("ford", "sell", 1, key="k-%d" % i)
    #  Inside the window: the same trade again.
    r = bz.post("/orders", {"name": "ford", "type": "sell", "quantity": 1},
                {"Idempotency-Key": "k-11"})
    assert (r.status, r.body) == (200, {"data": {"transaction_number": old + 12}}), r
    #  Beyond it: the key is forgotten, the request trades anew.
    again = bz.trade("apple", "buy", 1, key="old-key")
    assert again == old + 13
    bz.assert_unchanged()
    #  Replica 1 copies trades whose keys left everyone's memory.
    bz.start("order")
    #  (Order logs carry stamps, which may differ between replicas: their
    #  canonical dumps, keys included, are what must agree, SPEC §4.4.)
    journal = os.path.join(bz.data, "catalog.journal")
    expected = [(o["number"], o["name"], o["type"], o["quantity"], k)
                for o, k in zip(bz.orders, ["old-key"] + ["k-%d" % i for i in range(12)]
                                + ["old-key"])]
    wait_until(lambda: canonical_dump(journal) == expected, 30,
               "catalog.journal to hold the 14 trades with their keys")
    for n in (1, 2, 3):
        log = os.path.join(bz.data, "order-%d.log" % n)
        wait_until(lambda: canonical_dump(log) == expected, 30,
                   "order-%d.log to hold the same trades and keys as catalog.journal" % n)
    bz.assert_orders()
    #  At exit every process says how many keys it held: the window at most.
    for name in ("catalog", "order", "order-2", "order-3"):
        since = bz.log_size(name)
        assert bz.stop(name) == 0
        held = [int(x) for x in re.findall(r"(\d+) idempotency keys held in memory",
                                           bz.log_since(name, since))]
        assert held and max(held) <= 5, (name, held, bz.log_tail(name))
