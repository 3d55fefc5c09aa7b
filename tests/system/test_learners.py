"""Catalogs are learners of the replicas' committed log (issue 20, items
5 to 7, the gateway's and the catalogs' side):

  - two catalogs serve beside each other; SIGKILL either under load and
    no lookup fails (the broker answers what the dead one held at once,
    the gateway asks again and the other catalog answers);
  - trades never wait for a catalog: with the only catalog SIGKILLed every
    trade is 200 with dense numbers; restarted on the same disk or an
    empty one, it converges to the exact quantities and its journal holds
    the replicas' canonical log;
  - a trade whose leader freezes after it was proposed answers 504 or its
    number, never a second trade: a retry with the same key returns the
    one number;
  - each trade reaches the catalog in the LEARN its leader publishes when
    it commits (one message: the trade and the commit position), not by
    a copy round; a LEARN sent to a replica's REP endpoint is never
    published (catalogs apply a LEARN without question).
"""
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from harness import (ERROR, INITIAL, LOOKUP, MSG_VERSION, NO_DEADLINE, RANGE, STOCK, Zmtp,
                     canonical_dump, cpu_share, free_ports, heartbeat_frame, packb, request_reply,
                     tool, trade_body, unpackb, wait_until)

ERR_UNAVAILABLE = 7     # msgs.h MSG_ERROR_TABLE: OK 0 ... UNAVAILABLE 7
LEARN = 64              # msgs.h: [version, LEARN, R, e, f (start), m (commit), T (trades)]

DEADLINE = 30


class SecondCatalog:
    """A catalog beside the harness's, on the same data directory under
    another name (--name catalog-2: SPEC 5, several on one host)."""

    def __init__(self, bz):
        (pub,) = free_ports(1)
        self.log_path = os.path.join(bz.logdir, "catalog-2.log")
        self.argv = [os.path.join(bz.bin, "bazaar-catalog"), "--name", "catalog-2",
                     "--broker", bz.endpoints["broker"], "--data", bz.data,
                     "--pub", "tcp://127.0.0.1:%d" % pub]
        log = open(self.log_path, "ab", buffering=0)
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_serving(self):
        wait_until(lambda: "caught up with the replicas" in self.log(), DEADLINE,
                   "catalog-2 to catch up")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


class Load:
    """Threads that look up (and one that trades) until stopped; every
    answer is kept."""

    def __init__(self, bz, lookers=3, trade=True):
        self.bz = bz
        self.stop = threading.Event()
        self.lookups = []          # (status, body) of every lookup
        self.trades = []           # status of every trade
        self.threads = [threading.Thread(target=self._look, args=(i,)) for i in range(lookers)]
        if trade:
            self.threads.append(threading.Thread(target=self._trade))
        for t in self.threads:
            t.start()

    def _look(self, i):
        conn = self.bz.connection()
        names = sorted(INITIAL)
        n = i
        while not self.stop.is_set():
            path = "/stocks" if n % 5 == 0 else "/stocks/" + names[n % len(names)]
            r = self.bz.get(path, conn=conn)
            self.lookups.append((r.status, path, r.body))
            n += 1

    def _trade(self):
        conn = self.bz.connection()
        i = 0
        while not self.stop.is_set():
            body = trade_body(i)
            r = self.bz.post("/orders", body, conn=conn)
            self.trades.append(r.status)
            if r.status == 200:
                self.bz.record(r.body["data"]["transaction_number"], body["name"], body["type"],
                               body["quantity"])
            i += 1

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(DEADLINE)


@pytest.mark.parametrize("victim", ["catalog", "catalog-2"])
def test_two_catalogs_kill_either_under_load_no_lookup_fails(bazaar_factory, victim):
    bz = bazaar_factory(replicas=1, cache_size=0)
    second = SecondCatalog(bz)
    try:
        second.wait_serving()
        bz.trade("apple", "buy", 3)
        load = Load(bz)
        try:
            time.sleep(0.5)
            if victim == "catalog":
                bz.kill("catalog")
            else:
                second.kill()
            time.sleep(1.5)
        finally:
            load.finish()
        failed = [r for r in load.lookups if r[0] != 200]
        assert not failed, "%d of %d lookups failed after killing %s: %r" % (
            len(failed), len(load.lookups), victim, failed[:5])
        assert len(load.lookups) > 30, len(load.lookups)
        assert load.trades and set(load.trades) == {200}, load.trades
        #  Both catalogs served before the kill.
        assert "catalog-2" in second.log() and bz.log_text("catalog")
        bz.assert_stocks()
        bz.assert_orders()
    finally:
        second.kill()


def test_a_copied_range_invalidates_each_stock_once_a_turn(bazaar_factory, spawn):
    """A catalog that copies a range applies it in a few turns, and a stock
    changed in a turn gets one invalidation, of its newest version: it
    used to publish one per trade (each a message on the bus and a wakeup
    in every gateway). The catalog's beacons carry the sequence of the
    invalidations it published since it started, whenever one joins."""
    bz = bazaar_factory(replicas=1, cache_size=0)
    total = 300
    for i in range(total):
        body = trade_body(i)
        bz.trade(body["name"], body["type"], body["quantity"])
    stocks = {trade_body(i)["name"] for i in range(total)}
    bz.kill("catalog")
    os.unlink(bz.data_file("catalog.journal"))
    tap = spawn([tool("bazaar-tap"), "--json", "--tap", "", "--order-pub", "",
                 "--catalog-pub", bz.endpoints["catalog_pub"]])
    since = bz.log_size("catalog")
    bz.start("catalog")
    bz.wait_log("catalog", r"caught up with the replicas at %d trades" % total, since=since)
    after = len(tap.lines())

    def beacon_seq():
        seqs = []
        for line in tap.lines()[after:]:
            try:
                m = json.loads(line)
            except ValueError:
                continue
            if m.get("beacon"):
                seqs.append(m["seq"])
        #  Three beacons in a row (100 ms apart) with one sequence: the
        #  copy's last invalidations are out (the turn that logs "caught
        #  up" publishes after it).
        return seqs[-1] if len(seqs) >= 3 and seqs[-1] == seqs[-2] == seqs[-3] > 0 else None
    seq = wait_until(beacon_seq, DEADLINE, "the beacons' sequence to settle after the copy")
    assert len(stocks) <= seq < total // 3, (seq, total, sorted(stocks))
    bz.assert_stocks()


@pytest.mark.parametrize("disk", ["same", "empty"])
def test_trades_go_on_without_the_catalog_and_it_converges(bazaar_factory, disk):
    bz = bazaar_factory(replicas=3, cache_size=0)
    for i in range(5):
        body = trade_body(i)
        bz.trade(body["name"], body["type"], body["quantity"])
    bz.kill("catalog")
    #  Every trade while no catalog runs is acknowledged, numbers dense.
    started = time.monotonic()
    i = 5
    while time.monotonic() - started < 1.5:
        body = trade_body(i)
        bz.trade(body["name"], body["type"], body["quantity"])
        i += 1
    assert len(bz.orders) >= 10, len(bz.orders)
    if disk == "empty":
        for name in os.listdir(bz.data):
            if name.startswith("catalog."):
                os.unlink(os.path.join(bz.data, name))
    bz.start("catalog")
    bz.wait_ready()

    def converged():
        r = bz.get("/stocks")
        return r.status == 200 and r.body == {"data": bz.expected_stocks()}
    wait_until(converged, DEADLINE, "the restarted catalog to reach the exact quantities")
    bz.assert_stocks()
    bz.assert_orders()
    expected = [(n, o["name"], o["type"], o["quantity"]) for n, o in enumerate(bz.orders)]
    journal = bz.data_file("catalog.journal")
    wait_until(lambda: [t[:4] for t in canonical_dump(journal)] == expected, DEADLINE,
               "catalog.journal to hold every acknowledged trade")
    wait_until(bz.files_identical, DEADLINE,
               "catalog.journal and every order-N.log to hold the same canonical log")


def test_a_late_range_reply_does_not_spin_the_catalog(bazaar_factory):
    """A replica that answers a copy round after the catalog's deadline
    (500 ms): the catalog reads the late reply and drops it. Left queued,
    it kept the catalog's wait readable and its loop at a full core until
    the next round. A long broker expiry keeps the frozen follower
    announced, so its link (and the reply) stay."""
    bz = bazaar_factory(replicas=3, broker_args=["--heartbeat-expiry", "20000"])
    since = bz.log_size("catalog")
    os.kill(bz.pid("order"), signal.SIGSTOP)        # a follower: replica 3 leads
    try:
        bz.restart("catalog")
        bz.wait_log("catalog", r"replica 1 did not answer a range request in time", since)
    finally:
        os.kill(bz.pid("order"), signal.SIGCONT)
    bz.wait_ready()
    share = cpu_share(bz.pid("catalog"), 2.0)
    assert share < 0.25, "the catalog used %.0f%% of a core after a late reply" % (share * 100)


def test_frozen_leader_gives_504_or_the_number_never_two_trades(bazaar_factory):
    """The leader (replica 3) is frozen with a trade proposed to followers
    that cannot answer yet: the client gets 504 (the broker expires the
    leader and answers what it held 504; or, if a new leader committed it
    in time, its number), never 503 for a trade that may commit. After
    SIGCONT a retry with the same key returns one number."""
    #  The broker expires the frozen leader 1 s + a heartbeat after its
    #  last one and answers 504 for what it held. The default timeout
    #  (1.8 s) outlasts that by a few hundred ms; 4 s keeps the answer the
    #  broker's on a machine busy with sanitizers (a gateway that hears
    #  nothing says 503: bus.h's documented window).
    bz = bazaar_factory(replicas=3, cache_size=0, timeout_ms=4000)
    bz.trade("ford", "buy", 1)
    #  Followers paused: the leader proposes and cannot commit.
    os.kill(bz.pid("order"), signal.SIGSTOP)
    os.kill(bz.pid("order-2"), signal.SIGSTOP)
    result = []
    asker = threading.Thread(target=lambda: result.append(bz.post(
        "/orders", {"name": "ford", "type": "buy", "quantity": 2},
        {"Idempotency-Key": "frozen-1"})))
    asker.start()
    time.sleep(0.3)
    os.kill(bz.pid("order-3"), signal.SIGSTOP)
    asker.join(DEADLINE)
    for name in ("order", "order-2", "order-3"):
        os.kill(bz.pid(name), signal.SIGCONT)
    assert result, "no answer"
    first = result[0]
    assert first.status in (200, 504), first
    if first.status == 504:
        assert first.body == {"error": {"code": 504, "message": "outcome unknown"}}, first

    def retried():
        r = bz.post("/orders", {"name": "ford", "type": "buy", "quantity": 2},
                    {"Idempotency-Key": "frozen-1"})
        return r if r.status == 200 else None
    r = wait_until(retried, DEADLINE, "the retry with the same key to answer 200")
    number = r.body["data"]["transaction_number"]
    if first.status == 200:
        assert number == first.body["data"]["transaction_number"], (first, r)
    assert number == 1, r
    bz.record(number, "ford", "buy", 2)
    again = bz.post("/orders", {"name": "ford", "type": "buy", "quantity": 2},
                    {"Idempotency-Key": "frozen-1"})
    assert again.status == 200 and again.body["data"]["transaction_number"] == number, again
    bz.assert_stocks()
    bz.assert_orders()
    bz.assert_next_unused()


def lookup_at(req_id, name, position):
    return packb([MSG_VERSION, LOOKUP, req_id, name, position, NO_DEADLINE])


def test_catalog_answers_a_lookup_once_it_has_learned_its_position(bazaar_factory):
    bz = bazaar_factory(replicas=1, cache_size=0)
    bz.trade("amc", "buy", 5)                     # number 0: the catalog holds 1 trade
    wait_until(lambda: bz.get("/stocks/amc").body["data"]["quantity"] == 995, DEADLINE,
               "the catalog to learn trade 0")
    z = Zmtp(bz.ports["broker"])
    try:
        #  Covered: answered at once.
        reply, _ = request_reply(z, lookup_at(1, "amc", 1), 1)
        assert reply[:4] == [MSG_VERSION, STOCK, 1, "amc"] and reply[5] == 995, reply
        #  Never reached: refused after the bound, not answered stale.
        started = time.monotonic()
        reply, _ = request_reply(z, lookup_at(2, "amc", 1000), 2)
        waited = time.monotonic() - started
        assert reply[:4] == [MSG_VERSION, ERROR, 2, ERR_UNAVAILABLE], reply
        assert 0.3 < waited < 3.0, waited
        #  Asked before the trade it needs: answered after it, with it.
        z.send(lookup_at(3, "amc", 2))
        time.sleep(0.1)
        assert z.recv(timeout=0.05) is None, "answered before it learned trade 1"
        bz.trade("amc", "buy", 7)                 # number 1
        reply = None
        deadline = time.monotonic() + DEADLINE
        while reply is None and time.monotonic() < deadline:
            msg = z.recv(timeout=1.0)
            if msg is not None and unpackb(msg[-1])[2] == 3:
                reply = unpackb(msg[-1])
        assert reply and reply[:4] == [MSG_VERSION, STOCK, 3, "amc"] and reply[5] == 988, reply
    finally:
        z.close()
    bz.assert_stocks()


def test_gateway_lookups_carry_the_position_it_acknowledged(bazaar_factory):
    """A fake catalog (ZMTP by hand) sees the position of every lookup:
    0 before any trade through this gateway, 1 + the number after."""
    bz = bazaar_factory(replicas=1, cache_size=0)
    bz.stop("catalog")
    since = bz.log_size("broker")
    z = Zmtp(bz.ports["broker"])
    try:
        z.send(heartbeat_frame("catalog", 0, 4343, role=1))
        bz.wait_log("broker", r"worker catalog/0 ready", since=since, timeout=DEADLINE)

        def looked_up(path):
            got = []
            asker = threading.Thread(target=lambda: got.append(bz.get(path)))
            asker.start()
            request = None
            while request is None:
                msg = z.recv(timeout=DEADLINE)
                assert msg is not None, "no lookup reached the fake catalog"
                fields = unpackb(msg[-1])
                if len(msg) == 2 and fields[1] in (LOOKUP, LOOKUP + 1):
                    request = (msg[0], fields)
            identity, fields = request
            if fields[1] == LOOKUP:
                z.send([identity, packb([MSG_VERSION, STOCK, fields[2], fields[3], 1.5, 7, 1])])
            else:
                z.send([identity, packb([MSG_VERSION, ERROR, fields[2], ERR_UNAVAILABLE,
                                         "fake"])])
            asker.join(DEADLINE)
            return fields
        assert looked_up("/stocks/zebra")[4] == 0
        for _ in range(3):
            bz.trade("ford", "sell", 1)
            z.send(heartbeat_frame("catalog", 0, 4343, role=1))   # stay registered
            assert looked_up("/stocks/zebra")[4] == len(bz.orders)
        assert looked_up("/stocks")[3] == len(bz.orders)          # LIST: [v, t, r, N, D]
    finally:
        z.close()


def learn_reader(sub, match, seen=None):
    """A wait_until predicate: the first LEARN on sub for which match is
    true, reading everything queued (beacons come every 50 ms); every
    message read goes to seen too."""
    def found():
        msg = sub.recv(timeout=0.5)
        while msg is not None:
            fields = unpackb(msg[-1])
            if seen is not None:
                seen.append(fields)
            if fields[1] == LEARN and match(fields):
                return fields
            msg = sub.recv(timeout=0)
        return None
    return found


def leader_sub(bz):
    """A SUB to everything on replica 3's PUB, once a LEARN beacon shows
    the subscription holds."""
    sub = Zmtp(bz.ports["order-3_pub"], socket_type="SUB")
    sub.send(b"\x01")
    wait_until(learn_reader(sub, lambda f: True), DEADLINE, "a LEARN beacon on the leader's PUB")
    return sub


def test_the_catalog_learns_each_trade_from_its_leaders_learn(bazaar_factory):
    """A SUB on the leader's PUB (replica 3) sees, for every trade, a
    LEARN that carries it (its number, name, side, quantity) with a commit
    position past it; the catalog shows each trade's quantity and copies
    nothing by range meanwhile."""
    bz = bazaar_factory(replicas=3, cache_size=0)
    since = bz.log_size("catalog")
    sub = leader_sub(bz)
    try:
        for i in range(6):
            body = trade_body(i)
            number = bz.trade(body["name"], body["type"], body["quantity"])
            side = 1 if body["type"] == "sell" else 0
            learn = wait_until(learn_reader(sub, lambda f: any(t[0] == number for t in f[6])),
                               DEADLINE, "the LEARN of trade %d" % number)
            trade = [t for t in learn[6] if t[0] == number][0]
            assert trade[1:4] == [body["name"], side, body["quantity"]], learn
            assert learn[4] <= number < learn[5], learn     # start <= number < commit
            wait_until(lambda: bz.get("/stocks/" + body["name"]).body["data"]["quantity"]
                       == bz.expected_stock(body["name"])["quantity"], DEADLINE,
                       "the catalog to learn trade %d" % number)
    finally:
        sub.close()
    bz.assert_stocks()
    assert "copied committed trades" not in bz.log_since("catalog", since), \
        bz.log_since("catalog", since)


def test_a_learn_sent_to_a_replicas_rep_is_not_published(bazaar_factory):
    """A replica's PUB carries, for the tap, copies of what its REP
    endpoint received. A LEARN sent there must not come out: the catalog
    would apply it as trade 1 (selling 777 apple) and skip the real one.
    Each replica gets one, then a RANGE whose answer means the LEARN was
    handled; then the real trade 1, whose LEARN the leader's PUB sends
    after any copy: nothing before it carries the forged key, and the
    catalog learns the real trade."""
    bz = bazaar_factory(replicas=3, cache_size=0)
    bz.trade("apple", "buy", 1)                                   # number 0
    forged = packb([MSG_VERSION, LEARN, 3, 1, 1, 2, [[1, "apple", 1, 777, "forged"]]])
    sub = leader_sub(bz)
    seen = []
    try:
        for req_id, name in enumerate(("order", "order-2", "order-3"), 1):
            dealer = Zmtp(bz.ports[name + "_rep"], socket_type="DEALER", identity=b"forger")
            try:
                dealer.send([b"", forged])
                dealer.send([b"", packb([MSG_VERSION, RANGE, req_id, 0, 1])])
                reply = dealer.recv(timeout=DEADLINE)
                assert reply is not None and unpackb(reply[-1])[2] == req_id, reply
            finally:
                dealer.close()
        bz.trade("apple", "buy", 2)                               # number 1
        wait_until(learn_reader(sub, lambda f: [1, "apple", 0, 2] in [t[:4] for t in f[6]],
                                seen), DEADLINE, "the LEARN of the real trade 1")
    finally:
        sub.close()
    assert not [f for f in seen if "forged" in repr(f)], [f for f in seen if "forged" in repr(f)]
    wait_until(lambda: bz.get("/stocks/apple").body["data"]["quantity"]
               == bz.expected_stock("apple")["quantity"], DEADLINE,
               "the catalog to learn the real trade 1")
    bz.assert_stocks()
