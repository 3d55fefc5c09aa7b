"""A replica whose log cannot be written stops before it acknowledges
(issue 11, item 5), and its file never holds more or less than what it
acknowledged.

The replica runs under RLIMIT_FSIZE (prlimit --fsize): once its log would
grow past the limit, the write fails (EFBIG; the replica ignores SIGXFSZ so
that this is an error, not a silent death) and the replica must exit
non-zero with a message, leaving whole records only. Restarted without the
limit it catches up and every acknowledged order reads back.
"""
import os

from harness import Bazaar, READY_TIMEOUT, journal_records, trade_body, wait_until

LIMIT = 16 * 1024        # bytes: a few hundred orders; the process log stays far below
TRADES_MAX = 3000        # bound: the limit must be hit well before this


def test_failed_log_write_stops_the_replica_before_it_acknowledges(bazaar_bin):
    bz = Bazaar(replicas=1, bin_dir=bazaar_bin, start=False)
    try:
        plain_argv = bz.argv
        bz.argv = lambda name: (["prlimit", "--fsize=%d" % LIMIT, "--"] + plain_argv(name)
                                if name == "order" else plain_argv(name))
        bz.start_all()
        bz.wait_ready()
        acknowledged = 0
        conn = bz.connection()
        try:
            for i in range(TRADES_MAX):
                body = trade_body(i)
                r = bz.post("/orders", body, conn=conn)
                if r.status != 200:
                    break
                bz.record(r.body["data"]["transaction_number"], body["name"], body["type"],
                          body["quantity"])
                acknowledged += 1
        finally:
            conn.close()
        assert 0 < acknowledged < TRADES_MAX, "the limit was never hit (%d trades)" % acknowledged
        wait_until(lambda: not bz.alive("order"), READY_TIMEOUT, "the replica to stop")
        assert bz.procs["order"].returncode == 1, bz.log_tail("order")
        assert "sync failed" in bz.log_text("order"), bz.log_tail("order")
        bz.down.add("order")
        #  Whole records only, and exactly the acknowledged orders.
        path = os.path.join(bz.data, "order-1.log")
        assert os.path.getsize(path) <= LIMIT
        on_disk = [order for _, order in journal_records(path, strict=True)]
        assert len(on_disk) == acknowledged, (len(on_disk), acknowledged)
        for order in on_disk:
            assert {k: order[k] for k in ("number", "name", "type", "quantity")} == \
                bz.orders[order["number"]], order
        #  Without the limit it catches up (the trade that failed had
        #  committed at the catalog: it comes back too) and serves again.
        bz.argv = plain_argv
        bz.start("order")
        wait_until(lambda: bz.get("/orders/%d" % (acknowledged - 1)).status == 200,
                   READY_TIMEOUT, "the replica to serve again")
        bz.assert_orders()
        bz.check_healthy()
    finally:
        bz.close()
