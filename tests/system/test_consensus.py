"""The consensus rules seen from outside (issue 20): a majority's log is
the commit point, promises survive kill -9, and the case an adversarial
pass found against the old design (a leader answering alone, a catalog
journal lost) neither loses an acknowledged trade nor numbers two trades
alike.
"""
import os
import re
import signal
import struct
import zlib

import pytest

from harness import (INITIAL, MSG_VERSION, NO_DEADLINE, READY_TIMEOUT, TRADE, Zmtp, assert_json,
                     broker_leader, canonical_dump, journal_records, packb, unpackb,
                     wait_until)

PROMISE_SLOT = 4096   # src/promise.c: two slots, the newest whole one wins
SELL = 1              # a TRADE's side on the bus (msgs/msgs.h)
RANGE, CS_APPEND = 22, 83


def read_promise(path):
    """(epoch, commit) of order-N.promise: the whole slot with the highest
    sequence (magic, version, crc32 checked as src/promise.c does)."""
    with open(path, "rb") as f:
        data = f.read()
    assert len(data) == 2 * PROMISE_SLOT, "%s: %d bytes" % (path, len(data))
    best = None
    for i in range(2):
        slot = data[i * PROMISE_SLOT:(i + 1) * PROMISE_SLOT]
        crc = struct.unpack_from("<I", slot, PROMISE_SLOT - 4)[0]
        if slot[:8] != b"BZPROMIS" or zlib.crc32(slot[:PROMISE_SLOT - 4]) != crc:
            continue
        seq, epoch, commit = struct.unpack_from("<QQQ", slot, 16)
        if best is None or seq > best[0]:
            best = (seq, epoch, commit)
    assert best is not None, "%s: no whole slot" % path
    return best[1], best[2]


def post(bz, key, name="apple", type_="buy", quantity=1):
    return bz.post("/orders", {"name": name, "type": type_, "quantity": quantity},
                   {"Idempotency-Key": key})


def trade_retrying(bz, key, name="apple", type_="buy", quantity=1):
    """503/504 retried with the key until answered; 200 recorded densely."""
    r = wait_until(lambda: (lambda r: r if r.status not in (503, 504) else None)(
        post(bz, key, name, type_, quantity)), READY_TIMEOUT, "trade %s" % key)
    assert r.status == 200, r
    assert_json(r.body, {"data": {"transaction_number": len(bz.orders)}}, "trade " + key)
    bz.record(len(bz.orders), name, type_, quantity)


def test_promise_survives_kill9(bazaar_factory):
    """A replica persists its promise before answering: after kill -9 it
    starts from the epoch it promised (never below), and the epochs that
    lead afterwards only grow."""
    bz = bazaar_factory(replicas=3)
    for i in range(3):
        trade_retrying(bz, "promise-%d" % i)
    path = os.path.join(bz.data, "order-1.promise")
    epoch, _ = read_promise(path)
    assert epoch >= 1, epoch
    since = bz.log_size("order")
    bz.kill("order")
    bz.start("order")
    bz.wait_log("order", r"consensus: promised epoch %d," % epoch, since=since)
    #  Kill the leader: the next one needs replica 1's promise of a higher
    #  epoch, and replica 1 records it before answering.
    bz.kill("order-3")
    trade_retrying(bz, "promise-after")
    after, _ = read_promise(path)
    assert after > epoch, (epoch, after)
    #  The next leader is replica 2, or replica 1 itself when replica 2 is
    #  still reporting catching-up after a step-down at the cold start
    #  (seen once): either way it leads above the promised epoch.
    led = [int(e) for name in ("order", "order-2")
           for e in re.findall(r"candidate -> leader \(epoch (\d+),", bz.log_text(name))]
    assert led and max(led) > epoch, led
    bz.assert_orders()


def test_restarted_replica_refuses_an_append_below_its_promise(bazaar_factory):
    """A promise survives kill -9 (issue 20): replica 1 promised epoch e;
    killed and restarted alone (no leader to remind it of e), it refuses
    a CS_APPEND of epoch e - 1 and appends nothing, though the entry fits
    its log exactly: start is its length, prev_stamp its last stamp, the
    number the next one. A replica that forgot its promise takes it (the
    core checks no stamp order): deleting order-1.promise before the
    restart makes this test fail."""
    bz = bazaar_factory(replicas=3)
    trade_retrying(bz, "old-0")
    #  A second epoch, so that e - 1 is one (epoch 0 is no epoch).
    bz.kill("order-3")
    for i in range(1, 3):
        trade_retrying(bz, "old-%d" % i)
    epoch, _ = read_promise(os.path.join(bz.data, "order-1.promise"))
    assert epoch >= 2, epoch
    bz.kill("order")
    bz.kill("order-2")
    since = bz.log_size("order")
    bz.start("order")
    bz.wait_log("order", r"waiting for the broker's leader announcement", since=since)
    log = bz.order_file("order")
    records = [o for _, o in journal_records(log)]
    length, last_stamp = len(records), records[-1]["stamp"]
    entry = [2 * (epoch - 1), length, "apple", SELL, 1, "forged-old-epoch"]
    #  [version, type, R, u, e, f, h, g, m, E]: from replica 2, to replica 1.
    forged = packb([MSG_VERSION, CS_APPEND, 2, 1, epoch - 1, length, last_stamp, length + 1,
                    0, [entry]])
    dealer = Zmtp(bz.ports["order_rep"], socket_type="DEALER", identity=b"forger")
    dealer.send([b"", forged])
    #  The REP endpoint takes one peer's messages in order, and the loop
    #  writes a turn's appends before it polls again: once the second
    #  RANGE is answered, an accepted APPEND would be in the file.
    for req_id in (1, 2):
        dealer.send([b"", packb([MSG_VERSION, RANGE, req_id, 0, 1])])
        reply = dealer.recv(timeout=READY_TIMEOUT)
        assert reply is not None and unpackb(reply[-1])[2] == req_id, reply
    dealer.close()
    after = [o for _, o in journal_records(log)]
    assert len(after) == length, (length, after[length:])
    assert all(o["key"] != "forged-old-epoch" for o in after)
    bz.start("order-2")
    bz.start("order-3")
    trade_retrying(bz, "old-after")
    bz.assert_orders()
    wait_until(bz.files_identical, READY_TIMEOUT, "every log to hold the same trades")


def test_an_append_to_all_on_the_rep_endpoint_is_dropped(bazaar_factory):
    """An APPEND to all comes only on the leader's PUB, which delivers
    nothing sent before a replica subscribed: a joining replica trusts
    that. On the REP endpoint one is misaddressed and dropped, said in
    the log, and nothing changes."""
    bz = bazaar_factory(replicas=3)
    trade_retrying(bz, "before")
    epoch, _ = read_promise(os.path.join(bz.data, "order-1.promise"))
    since = bz.log_size("order")
    #  [version, type, R, u, e, f, h, g, m, E]: from replica 3, to all.
    forged = packb([MSG_VERSION, CS_APPEND, 3, 0, epoch, 1, 0, 1, 1, []])
    dealer = Zmtp(bz.ports["order_rep"], socket_type="DEALER", identity=b"forger")
    try:
        dealer.send([b"", forged])
        bz.wait_log("order", r"dropped a CS_APPEND to 0 on the REP endpoint of replica 1",
                    since=since)
    finally:
        dealer.close()
    trade_retrying(bz, "after")
    bz.assert_orders()
    wait_until(bz.files_identical, READY_TIMEOUT, "every log to hold the same trades")


def test_lone_leader_acknowledges_nothing_and_a_lost_journal_is_relearned(bazaar_factory):
    """Issue 20's adversarial case: kill -9 replicas 1 and 2, trade (the
    old leader answered alone: now 503/504), kill -9 replica 3 and the
    catalog, delete the catalog's journal, start the catalog and replicas
    1 and 2, trade, start replica 3: every acknowledged number means one
    trade, numbers are dense, every log holds the same trades and the
    catalog's quantities are exact."""
    bz = bazaar_factory(replicas=3)
    for i in range(5):
        trade_retrying(bz, "adv-%d" % i, ("apple", "ford", "nike")[i % 3], "buy", i + 1)
    bz.kill("order")
    bz.kill("order-2")
    lone = post(bz, "adv-lone", "tesla", "buy", 7)
    assert lone.status in (503, 504), "replica 3 alone answered %r" % (lone,)
    bz.kill("order-3")
    bz.kill("catalog")
    os.unlink(os.path.join(bz.data, "catalog.journal"))
    bz.start("catalog")
    bz.start("order")
    bz.start("order-2")
    for i in range(5, 10):
        trade_retrying(bz, "adv-%d" % i, ("apple", "ford", "nike")[i % 3], "sell", i)
    #  The lone trade's retry says the truth once: it trades now, once.
    trade_retrying(bz, "adv-lone", "tesla", "buy", 7)
    bz.start("order-3")
    trade_retrying(bz, "adv-last", "meta", "buy", 2)
    bz.assert_orders()
    bz.assert_next_unused()
    wait_until(bz.files_identical, READY_TIMEOUT, "every log to hold the same trades")
    dump = canonical_dump(bz.data_file("order-1.log"))
    assert [d[0] for d in dump] == list(range(len(bz.orders))), dump
    keys = [d[4] for d in dump]
    assert len(keys) == len(set(keys)), keys
    wait_until(lambda: bz.get("/stocks").body == {"data": bz.expected_stocks()},
               READY_TIMEOUT, "the catalog's quantities to be exact")
    assert set(INITIAL) == {s["name"] for s in bz.get("/stocks").body["data"]}


STAMP = r"^\S+ (\d\d):(\d\d):(\d\d\.\d+) "


def line_time(text, regex):
    """Seconds of day of the first log line matching regex, or None."""
    found = re.search(STAMP + r".*" + regex, text, re.M)
    if not found:
        return None
    hours, minutes, seconds = found.groups()[:3]
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def test_cold_start_highest_id_leads(bazaar_factory):
    """Three replicas started cold, COLD_STARTS times: every start ends
    with replica 3 leading (the lab's rule; the harness waits for it),
    the broker sending it trades, and the first trade numbered 0, once.
    How fast replica 3 wins is a benchmark's question, not this test's
    (tests/bench/trades.sh times cold starts): starved of CPU, its first
    campaign may run out its 400 ms and the broker name it again a
    second later, and both are correct."""
    for start in range(COLD_STARTS):
        bz = bazaar_factory(replicas=3)
        wait_until(lambda: broker_leader(bz) == 3, READY_TIMEOUT,
                   "the broker to send trades to replica 3 (start %d)" % start)
        assert "candidate -> leader" in bz.log_text("order-3"), (start, bz.log_tails())
        assert bz.trade("apple", "buy", 1) == 0
        bz.assert_orders()
        if start < COLD_STARTS - 1:
            #  SIGKILL: what is tested here is the start. A clean stop
            #  (SIGTERM, the gateway's drain, LeakSanitizer's exit scan
            #  in each process: about 0.4 s under ASan) is every other
            #  test's teardown; the last start here still gets one.
            bz.check_healthy()
            for name in bz.services:
                bz.kill(name)
        bz.close()


COLD_STARTS = 8


def test_cold_start_without_a_campaign_duel(bazaar_factory):
    """Replicas started in id order, each a moment after the last: the
    broker names replica 1 while it is alone (it waits for a majority),
    then, when replica 2 registers (reporting catching-up in its first
    heartbeat), names 1 again with a majority registered, so 1 campaigns;
    a heartbeat later it names 2, and then 3. A candidate the broker no
    longer names gives its campaign up, and one that meets a rival of a
    higher id at its epoch does not campaign again: no two replicas' campaigns
    fail at one epoch (a duel: before, 1 and 2 refused each other, retried
    one epoch higher, and both failed there and stepped aside for a second,
    in about half the starts). A lone failed campaign (one that timed out on
    a starved machine) is allowed: what is checked is the logs' account of
    the start, not how long it took."""
    for start in range(COLD_STARTS):
        bz = bazaar_factory(replicas=3, start=False)
        bz.start_all(["broker", "catalog", "order"])
        bz.wait_log("order", r"named by the broker with 1 of 3 members registered")
        bz.start_all(["order-2", "order-3", "gateway"])
        bz.wait_ready()   # replica 3 leads, nobody reports catching-up
        failed_at = {}    # epoch -> replicas whose campaign failed at it
        for name in bz.replica_names:
            for epoch in re.findall(r"candidate -> catching-up \(epoch (\d+),",
                                    bz.log_text(name)):
                failed_at.setdefault(int(epoch), []).append(name)
        duels = {e: names for e, names in failed_at.items() if len(names) > 1}
        assert not duels, (start, duels, bz.log_tails())
        assert bz.trade("apple", "buy", 1) == 0
        bz.assert_orders()
        bz.check_healthy()
        for name in bz.services:
            bz.kill(name)
        bz.close()


def test_named_replica_campaigns_once_a_majority_is_registered(bazaar_factory):
    """Replica 3 alone (of members 1, 2, 3) is named but does not
    campaign: it could not win, and a lost campaign would only promise an
    epoch the next candidate is refused at. Trades answer 503 meanwhile.
    Replica 1 registers: that makes a majority, and replica 3 campaigns
    and leads at once (epoch 1: no campaign before it)."""
    bz = bazaar_factory(replicas=3, start=False)
    bz.start_all(["broker", "catalog", "order-3", "gateway"])
    bz.wait_log("order-3", r"named by the broker with 1 of 3 members registered: "
                r"campaigning once a majority is")
    r = bz.post("/orders", {"name": "apple", "type": "buy", "quantity": 1})
    assert r.status == 503, r
    assert "campaigning from epoch" not in bz.log_text("order-3"), bz.log_tails()
    bz.start("order")
    bz.wait_log("order-3", r"candidate -> leader \(epoch 1,")
    bz.start("order-2")
    bz.wait_ready()
    bz.trade("apple", "buy", 1)
    bz.assert_orders()


@pytest.mark.parametrize("hold", ["stopped", "killed"])
def test_quiet_replicas_drop_an_old_leaders_uncommitted_tail(bazaar_factory, hold):
    """SPEC §4.4 with no trade to help. Replica 3 is killed, so replica 2
    leads; it accepts a trade alone (replica 1 paused with SIGSTOP, or
    killed) and is killed before it commits; replicas 1 and 3 come back
    and elect replica 3; replica 2 restarts holding that entry past the
    new leader's log. It is not named (3 is higher and leads), so only
    the leader's heartbeats reach it: an APPEND that ends at the leader's
    length cuts an older epoch's entries past it. With no further trade,
    every replica's canonical log and the catalog's journal are the same
    within a deadline. A paused replica 1 may still read the entry off
    its socket after SIGCONT; then replica 3 recovers it and it commits
    everywhere, as quiet and as equal. A killed one never sees it: then
    replica 2 must say it cut it. (Had the old leader the highest id, the
    broker would name it again on restart and its campaign would settle
    the tail by adopting the best log: another path.)"""
    #  A 5 s quorum timeout: replica 2 must still lead, alone, when the
    #  lone trade reaches it (with the default 300 ms it stepped down first
    #  on a loaded machine, and the trade was refused by the broker).
    bz = bazaar_factory(replicas=3, order_args=["--timeout", "5000"])
    trade_retrying(bz, "tail-0")
    before_kill = bz.log_size("order-2")
    bz.kill("order-3")
    for i in range(1, 3):
        trade_retrying(bz, "tail-%d" % i)
    #  The broker may name replica 1 for a moment (2 was still reporting
    #  catching-up): wait until 2 is named and leads.
    wait_until(lambda: broker_leader(bz) == 2, READY_TIMEOUT, "the broker to name replica 2")
    bz.wait_log("order-2", r"candidate -> leader", since=before_kill, timeout=READY_TIMEOUT)
    held = len(bz.orders)
    wait_until(lambda: len(canonical_dump(bz.order_file("order"))) == held, READY_TIMEOUT,
               "replica 1 to hold the first trades")
    if hold == "stopped":
        os.kill(bz.pid("order"), signal.SIGSTOP)
    else:
        bz.kill("order")
    z = Zmtp(bz.ports["broker"])
    try:
        z.send(packb([MSG_VERSION, TRADE, 1, "tesla", SELL, 3, "tail-lone", NO_DEADLINE]))
        wait_until(lambda: len(canonical_dump(bz.order_file("order-2"))) == held + 1,
                   READY_TIMEOUT, "replica 2 to accept the lone trade")
        bz.kill("order-2")
    finally:
        z.close()
        if hold == "stopped":
            os.kill(bz.pid("order"), signal.SIGCONT)
        else:
            bz.start("order")
    since = bz.log_size("order-3")
    bz.start("order-3")
    bz.wait_log("order-3", r"candidate -> leader", since=since)
    wait_until(lambda: broker_leader(bz) == 3, READY_TIMEOUT, "the broker to name replica 3")
    since = bz.log_size("order-2")
    bz.start("order-2")
    bz.wait_log("order-2", r"caught up with leader 3", since=since)
    wait_until(bz.files_identical, READY_TIMEOUT,
               "every log to hold the same trades, with no trade after the failover")
    assert broker_leader(bz) == 3 and "named by the broker" not in bz.log_text("order-2")[since:]
    dump = canonical_dump(bz.order_file("order"))
    assert [d[0] for d in dump] == list(range(len(dump))), dump
    assert len(dump) in (held, held + 1), dump
    if len(dump) == held + 1:
        assert dump[-1][1:] == ("tesla", "sell", 3, "tail-lone"), dump
    if hold == "killed":
        assert len(dump) == held, dump
        assert re.search(r"cut 1 uncommitted orders %d\.\.%d" % (held, held),
                         bz.log_text("order-2")[since:]), bz.log_tails()


def replica_1_misses_the_last_five(bz):
    """Three trades all replicas hold, then five that replica 1 (killed)
    misses: only replicas 2 and 3 hold them. Returns the trade count."""
    for i in range(3):
        trade_retrying(bz, "all-%d" % i)
    bz.kill("order")
    for i in range(5):
        trade_retrying(bz, "two-%d" % i)
    return len(bz.orders)


@pytest.mark.parametrize("damaged,holder", [("order-2", "order-3"), ("order-3", "order-2")],
                         ids=["a follower's log", "the leader's log"])
def test_a_replica_that_lost_committed_orders_cannot_help_elect_a_leader_without_them(
        bazaar_factory, damaged, holder):
    """A replica whose log is shorter than the commit position it stored
    (a damaged or replaced log) lost orders a majority committed. Its vote
    must not let a replica without them lead and number other trades with
    their numbers: it used to vote and then lead, and acknowledged trades
    were lost (a probe of damaged files). Its promises say what it knew
    committed, and it does not lead until it holds it again. A leader
    stores its soft commit position every 200 ms for this; the test waits
    for the stored position, since what was committed after it is not
    covered (docs/CONSENSUS.md)."""
    bz = bazaar_factory(replicas=3)
    total = replica_1_misses_the_last_five(bz)
    promise = os.path.join(bz.data, damaged + ".promise")
    wait_until(lambda: read_promise(promise)[1] == total, READY_TIMEOUT,
               "%s to store that all %d committed" % (damaged, total))
    bz.kill("order-3")
    bz.kill("order-2")
    log = bz.order_file(damaged)
    records = journal_records(log, strict=True)
    kept = total - 3
    with open(log, "r+b") as f:
        f.truncate(sum(len(raw) for raw, _ in records[:kept]))

    since = bz.log_size(damaged)
    bz.start("order")
    bz.start(damaged)
    bz.wait_log(damaged, r"holds %d orders but this replica knew %d committed"
                % (kept, total), since=since)
    #  Replica 1 and the damaged one are a majority, but neither holds the
    #  lost orders: no leader, so no trade (and no number handed out twice).
    r = post(bz, "while-two-lack-them")
    assert r.status in (503, 504), r
    for n in range(kept, total):
        r = bz.get("/orders/%d" % n)
        assert r.status != 200 or r.body["data"] == bz.orders[n], (n, r)
    since = bz.log_size(damaged)
    bz.start(holder)
    bz.wait_log(damaged, r"holds the %d orders it knew committed again" % total,
                since=since)
    trade_retrying(bz, "while-two-lack-them")
    bz.assert_orders()
    wait_until(bz.files_identical, READY_TIMEOUT, "every log to hold the same trades")


def wipe(bz, name):
    """Moves every file of replica `name` away, as a lost disk does."""
    prefix = "order-%d." % bz.replica_id(name)
    gone = [f for f in os.listdir(bz.data) if f.startswith(prefix)]
    assert any(f.endswith(".log") for f in gone), gone
    for f in gone:
        os.unlink(os.path.join(bz.data, f))


@pytest.mark.parametrize("wiped,holder", [("order-2", "order-3"), ("order-3", "order-2")],
                         ids=["follower-wiped", "leader-wiped"])
def test_a_replica_that_lost_its_files_joins_and_votes_only_once_it_holds_the_log(
        bazaar_factory, wiped, holder):
    """A replica whose files are gone (a lost disk, a data directory moved
    away) used to come back at epoch 0 and vote at once: with the only
    other holder of the last orders down, it and a replica that missed
    them elected a leader without them, and acknowledged numbers were
    handed out again. Started without --new it joins: it promises nothing
    and does not lead until it holds the log of a leader the others
    elected (order-N.joining says so meanwhile), then votes as before."""
    bz = bazaar_factory(replicas=3)
    total = replica_1_misses_the_last_five(bz)
    bz.kill("order-3")
    bz.kill("order-2")
    wipe(bz, wiped)
    mark = bz.data_file("order-%d.joining" % bz.replica_id(wiped))

    since = bz.log_size(wiped)
    bz.start("order")
    bz.start(wiped)
    bz.wait_log(wiped, r"joining a running system", since=since)
    #  Replica 1 campaigns (the wiped one does not); its PREPARE is ignored.
    bz.wait_log(wiped, r"joining: not promising epoch \d+ to replica 1", since=since)
    assert os.path.exists(mark)
    r = post(bz, "while-one-lacks-them")
    assert r.status in (503, 504), r
    for n in range(3, total):
        r = bz.get("/orders/%d" % n)
        assert r.status != 200 or r.body["data"] == bz.orders[n], (n, r)

    since = bz.log_size(wiped)
    bz.start(holder)
    bz.wait_log(wiped, r"joined: holds leader \d+'s \d+ orders", since=since)
    assert not os.path.exists(mark)
    trade_retrying(bz, "while-one-lacks-them")
    bz.assert_orders()
    #  Joined, it counts: with it and replica 1 alone, trades go on.
    bz.kill(holder)
    trade_retrying(bz, "without-the-holder")
    bz.assert_orders()
    bz.start(holder)
    wait_until(bz.files_identical, READY_TIMEOUT, "every log to hold the same trades")


def test_replicas_of_a_new_system_started_without_new_wait_and_say_why(bazaar_factory):
    """Empty replicas started without --new cannot tell a new system from
    lost files: none votes, trades answer 503, and each log says to start
    a new system's replicas with --new; started so, they serve."""
    bz = bazaar_factory(replicas=3, start=False)
    bz.started.update(bz.replica_names)     # no --new on their first start
    bz.start_all()
    for name in bz.replica_names:
        bz.wait_log(name, r"joining a running system .* start each replica of a new system "
                          r"with --new")
    wait_until(lambda: bz.post("/orders", {"name": "apple", "type": "buy", "quantity": 1},
                               {"Idempotency-Key": "first"}).status == 503,
               READY_TIMEOUT, "the gateway to answer a trade with 503")
    for name in bz.replica_names:
        assert os.path.exists(bz.data_file("order-%d.joining" % bz.replica_id(name)))
        bz.stop(name)
    bz.started.clear()
    for name in bz.replica_names:
        bz.start(name)
    bz.wait_ready()
    trade_retrying(bz, "first")
    for name in bz.replica_names:
        assert not os.path.exists(bz.data_file("order-%d.joining" % bz.replica_id(name)))
