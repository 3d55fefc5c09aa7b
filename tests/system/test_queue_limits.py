"""Bounded waiting in the order replica (issue 11, item 4): a query for a
number beyond the leader's log waits for the catalog's journal before it
may be answered 404, but at most QUERIES_MAX (4096) wait at once; one more
is answered 503 at once, not 404 and not late.

The catalog is paused (SIGSTOP) so that the waiting queries cannot be
answered before their deadline: any reply that arrives for the overflow
before a reply for a waiting query shows "at once" without a clock.
"""
import os
import signal

from conftest import wait_until
from test_bus_garbage import (ERROR, MSG_VERSION, NO_DEADLINE, QUERY, Zmtp, packb,
                              unpackb)

QUERIES_MAX = 4096          # services/order/order.c
OVERFLOW = 100
UNAVAILABLE = 7             # msg_error_t MSG_ERR_UNAVAILABLE (msgs.h)


def test_query_queue_overflow_answers_503_at_once(bazaar_factory):
    bz = bazaar_factory(replicas=1, cache_size=0)
    bz.trade("apple", "buy", 1)
    os.kill(bz.pid("catalog"), signal.SIGSTOP)
    z = Zmtp(bz.ports["broker"])
    try:
        total = QUERIES_MAX + OVERFLOW
        #  Number 10**9 is beyond the log: each query waits for a JOURNAL.
        for req_id in range(1, total + 1):
            z.send(packb([MSG_VERSION, QUERY, req_id, 10 ** 9, NO_DEADLINE]))
        replies = []
        while len(replies) < total:
            msg = z.recv(timeout=30)
            assert msg is not None, "only %d of %d queries answered" % (len(replies), total)
            replies.append(unpackb(msg[-1]))
    finally:
        z.close()
        os.kill(bz.pid("catalog"), signal.SIGCONT)
    for reply in replies:
        assert reply[:2] == [MSG_VERSION, ERROR] and reply[3] == UNAVAILABLE, reply
    #  The overflow (the last OVERFLOW sent) was answered before any query
    #  that waited: those are answered only when their deadline passes.
    first = [reply[2] for reply in replies[:OVERFLOW]]
    assert sorted(first) == list(range(QUERIES_MAX + 1, total + 1)), first[:10]
    wait_until(lambda: bz.get("/orders/0").status == 200, 20, "order 0 readable again")
    #  ... and counted.
    bz.wait_log("order", r"answered 503 to \d+ queries beyond the log: too many waiting for "
                r"the catalog \(%d in all\)" % OVERFLOW, timeout=10)
