"""What a newcomer trips over in the first hour (issue 21, items 6 to 8):
HTTP/2 is not offered, logs do not flood, and the smaller things (the
catalog's role, --stocks files, the catalog's files, recovery log lines,
the Idempotency-Key limit, verify on a busy system).
"""

import os
import random
import re
import socket
import struct
import threading
import time
import zlib

import pytest

from harness import (LOOKUP, MSG_VERSION, ORDEREC, REPO, TRADE, TRADEREC, Proc, Zmtp, free_ports,
                     http_request, journal_records, packb, tool, verify, wait_until)

HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HTTP2_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"    # an empty SETTINGS frame


@pytest.fixture
def lone_gateway():
    """A gateway with no broker behind it: enough for what HTTP it speaks."""
    port, broker, catalog_pub = free_ports(3)
    proc = Proc([tool("bazaar-gateway"), "--port", str(port),
                 "--broker", "tcp://127.0.0.1:%d" % broker,
                 "--catalog-pub", "tcp://127.0.0.1:%d" % catalog_pub], merge_stderr=True)
    try:
        wait_until(lambda: http_request(port, "GET", "/metrics", timeout=2).status == 200, 20,
                   "the gateway to answer")
        yield port
    finally:
        proc.kill()


def exchange(port, data, timeout=10):
    """Send data, read until the server closes (or timeout): what it sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        got = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                return got, True
            got += chunk
        return got, False


# --------------------------------------------------------------------------
#  Item 7: HTTP/1.1 only (SPEC §1). With HTTP/2 on, a 70 KB body got
#  REFUSED_STREAM instead of the JSON 413; now HTTP/2 is not offered.

def test_http2_prior_knowledge_is_not_offered(lone_gateway):
    got, closed = exchange(lone_gateway, HTTP2_PREFACE + HTTP2_SETTINGS)
    #  An HTTP/2 server answers the preface with its SETTINGS frame
    #  (9-byte header, type 0x04).
    assert not (len(got) >= 9 and got[3] == 0x04), \
        "the gateway speaks HTTP/2 with prior knowledge: %r" % got[:40]
    assert closed and (got == b"" or got.startswith(b"HTTP/1.1 ")), got[:200]


def test_h2c_upgrade_is_not_offered(lone_gateway):
    request = (b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
               b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
    got, _ = exchange(lone_gateway, request, timeout=3)
    assert got.startswith(b"HTTP/1.1 200"), got[:200]


def test_large_body_is_a_json_413_over_http11(lone_gateway):
    body = b'{"name":"apple","type":"buy","quantity":1,"pad":"' + b"x" * 70000 + b'"}'
    r = http_request(lone_gateway, "POST", "/orders", body=body)
    assert r.status == 413 and r.body == {"error": {"code": 413, "message": "request too large"}}, r


# --------------------------------------------------------------------------
#  Item 8: the Idempotency-Key limit is 64 bytes (SPEC §2), and the 400
#  says so. The key is checked before anything crosses the bus.

TRADE = {"name": "apple", "type": "buy", "quantity": 1}


def test_idempotency_key_limit_is_in_bytes_and_said_so(lone_gateway):
    #  33 characters, 66 bytes in UTF-8 (h2o passes header bytes as they came)
    key = "é" * 33
    r = http_request(lone_gateway, "POST", "/orders", body=TRADE,
                     headers={"Idempotency-Key": key.encode("utf-8").decode("latin-1")})
    assert r.status == 400, r
    assert r.body["error"]["message"] == \
        "malformed request: Idempotency-Key is longer than 64 bytes", r
    r = http_request(lone_gateway, "POST", "/orders", body=TRADE,
                     headers={"Idempotency-Key": "k" * 65})
    assert r.status == 400 and "64 bytes" in r.body["error"]["message"], r
    #  64 bytes pass the check (and meet the missing broker: 503)
    r = http_request(lone_gateway, "POST", "/orders", body=TRADE,
                     headers={"Idempotency-Key": "k" * 64}, timeout=10)
    assert r.status == 503, r


# --------------------------------------------------------------------------
#  Item 6: a flood of undecodable frames costs a few log lines a second,
#  not one line each (2 s of junk added 160-190 KB to the broker's and the
#  catalog's logs), and what was not printed is counted. The catalog no
#  longer binds a socket that takes requests (it learns from the replicas'
#  PUB); what a stranger can reach is the broker and a replica's REP.

FLOOD_SECONDS = 2.0
FLOOD_LOG_BYTES_PER_S = 4000    # per call site: 10 lines and a count a second


def junk_frames(rng, target):
    """Messages (lists of frames) that each cost the target a drop: the
    broker's decoder refuses them or they are not requests; a replica's
    REP (a ROUTER that reads [identity][empty][message]) refuses what does
    not decode and what lacks the empty delimiter (a decodable message of
    another type with the delimiter would go to its tap unlogged)."""
    junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
    too_long = packb([MSG_VERSION, LOOKUP, 1, "a" * 1000, 0])
    bad_side = packb([MSG_VERSION, TRADE, 1, "amc", 7, 1, "", 0])
    bad_types = packb([MSG_VERSION, LOOKUP, "x", 5, 0])
    if target == "broker":
        return [[junk], [too_long], [bad_side], [bad_types]]
    return [[b"", junk], [b"", too_long], [bad_side], [b"", bad_types]]


def test_a_flood_of_junk_frames_is_counted_not_logged_line_by_line(bazaar):
    rng = random.Random(21)
    #  replica 1: a follower (the broker names the highest id)
    ports = {"broker": bazaar.ports["broker"], "order": bazaar.ports["order_rep"]}
    names = sorted(ports)
    since = {n: bazaar.log_size(n) for n in names}
    sent = dict.fromkeys(names, 0)
    #  every junk frame is either a line of its own or counted in a line
    #  told once its window is over
    counted = re.compile(r"\.\.\. (\d+) more like that in the last [\d.]+ s; the last: .*drop")

    def accounted(name):
        for peer in peers.values():
            peer.recv(timeout=0.01)     # answers ZMTP PINGs: stay connected
        text = bazaar.log_since(name, since[name])
        told = sum(int(n) for n in counted.findall(text))
        return told, len(re.findall(r" WARN dropped", text))

    #  The peers stay connected until their frames are all read: closing
    #  one may drop what the process has not read yet.
    peers = {n: Zmtp(ports[n]) for n in names}
    took = {}
    try:
        started = time.monotonic()
        deadline = started + FLOOD_SECONDS
        while time.monotonic() < deadline:
            for name in names:
                for frames in junk_frames(rng, name):
                    peers[name].send(frames)
                    sent[name] += 1
        for name in names:
            assert sent[name] > 2000, "the flood sent only %d frames to %s" % (sent[name], name)
            wait_until(lambda: sum(accounted(name)) >= sent[name], 60,
                       "the %s's log to account for the %d junk frames" % (name, sent[name]))
            took[name] = time.monotonic() - started
            told, lines = accounted(name)
            assert told > 10 * lines, (name, told, lines)
    finally:
        for peer in peers.values():
            peer.close()
    for name in names:
        #  a few lines a second for as long as the junk kept it busy (a
        #  line each was about 90 bytes a frame)
        grown = bazaar.log_size(name) - since[name]
        bound = FLOOD_LOG_BYTES_PER_S * max(took[name], FLOOD_SECONDS + 1)
        assert grown < bound, "%s's log grew by %d bytes for %d junk frames:\n%s" % (
            name, grown, sent[name], bazaar.log_since(name, since[name])[-3000:])
    #  Both serve on (a replica busy with junk may have missed a heartbeat
    #  or two under a sanitizer: it registers again).
    #  A trade commits (retried with its key while an election a slow
    #  heartbeat caused settles: it happens once) and lookups see it.
    trade = {"name": "apple", "type": "buy", "quantity": 1}
    r = wait_until(lambda: [r for r in [bazaar.post("/orders", trade, {"Idempotency-Key": "flood"})]
                            if r.status == 200], 30, "a trade to commit after the flood")[0]
    bazaar.record(r.body["data"]["transaction_number"], "apple", "buy", 1)
    wait_until(lambda: bazaar.get("/stocks/apple").status == 200, 30, "lookups to answer")
    wait_until(lambda: bazaar.get("/stocks/apple").body["data"] == bazaar.expected_stock("apple"),
               30, "the lookup to see the trade")


# --------------------------------------------------------------------------
#  Item 8: the catalog's files. A catalog alone (no broker) opens its data
#  before it joins the bus: enough to see what it accepts and what it says.

CATALOG_WAIT = 20


class LoneCatalog:
    def __init__(self, data, *args):
        broker, pub = free_ports(2)
        self.proc = Proc([tool("bazaar-catalog"), "--data", str(data),
                          "--broker", "tcp://127.0.0.1:%d" % broker,
                          "--pub", "tcp://127.0.0.1:%d" % pub] + list(args), merge_stderr=True)

    def refused(self):
        """Its exit status and output, after it stopped by itself."""
        rc = self.proc.wait(CATALOG_WAIT)
        return rc, self.proc.stdout()

    def started(self):
        """Its output once it serves (then it is stopped)."""
        try:
            wait_until(lambda: "serving catalog via" in self.proc.stdout()
                       or self.proc.popen.poll() is not None, CATALOG_WAIT,
                       "the catalog to open its data")
            assert self.proc.popen.poll() is None, self.proc.describe()
            return self.proc.stdout()
        finally:
            self.proc.kill()


def trade_record(number, name, side, quantity, key=""):
    """One catalog.journal record (src/journal.c framing: length, crc32)."""
    payload = packb([MSG_VERSION, TRADEREC, number, name, side, quantity, key])
    return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


def order_record(number, name, side, quantity, stamp, commit, key=""):
    """One order-N.log record: an ORDEREC (TRADEREC's fields, the entry's
    stamp and the commit position of the write that carried it), same
    framing."""
    payload = packb([MSG_VERSION, ORDEREC, number, name, side, quantity, key, stamp, commit])
    return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


def fresh_catalog_data(tmp_path, stocks=None):
    """A data directory a catalog made: catalog.stocks and catalog.journal."""
    data = tmp_path / "data"
    args = ["--stocks", str(stocks)] if stocks else []
    LoneCatalog(data, *args).started()
    assert (data / "catalog.stocks").exists(), os.listdir(data)
    return data


def test_duplicate_stock_name_is_named(tmp_path):
    stocks = tmp_path / "stocks.txt"
    stocks.write_text("# my stocks\napple 1.5\nford 2 10\napple 3\n")
    rc, out = LoneCatalog(tmp_path / "data", "--stocks", str(stocks)).refused()
    assert rc != 0 and "%s: duplicate stock name apple at line 4" % stocks in out, (rc, out)
    assert "expected 'name price" not in out, out


@pytest.mark.parametrize("damage", ["missing", "empty"])
def test_lost_stock_list_is_refused_not_guessed(tmp_path, damage):
    stocks = tmp_path / "stocks.txt"
    stocks.write_text("zinc 3.5 50\n")
    data = fresh_catalog_data(tmp_path, stocks)
    with open(data / "catalog.journal", "wb") as f:
        f.write(trade_record(0, "zinc", 0, 5) + trade_record(1, "zinc", 1, 2))
    if damage == "missing":
        os.unlink(data / "catalog.stocks")
    else:
        open(data / "catalog.stocks", "wb").close()
    #  Restarted without --stocks: the built-in list would be a guess.
    rc, out = LoneCatalog(data).refused()
    assert rc != 0 and "catalog.stocks" in out, (rc, out)
    assert ("is missing but catalog.journal holds 2 trades" if damage == "missing"
            else "catalog.stocks is damaged (no stocks, after 0 whole stocks)") in out, out
    assert not (data / "catalog.stocks").exists() or damage == "empty", os.listdir(data)


def test_first_start_still_writes_the_stock_list(tmp_path):
    data = fresh_catalog_data(tmp_path)
    out = LoneCatalog(data).started()        # and reads it back
    assert "catalog.stocks" not in out or "missing" not in out, out


def test_corrupt_record_before_good_ones_names_the_offsets(tmp_path):
    data = fresh_catalog_data(tmp_path)
    records = [trade_record(n, "apple", 0, 1) for n in range(3)]
    bad = bytearray(records[1])
    bad[-1] ^= 0xff                         # the crc no longer matches
    with open(data / "catalog.journal", "wb") as f:
        f.write(records[0] + bytes(bad) + records[2])
    rc, out = LoneCatalog(data).refused()
    at, after = len(records[0]), len(records[0]) + len(bad)
    assert rc != 0 and "a corrupt record at byte offset %d is followed by a good one at " \
        "offset %d" % (at, after) in out, (rc, out)


def test_torn_last_record_is_cut_with_a_log_line(tmp_path):
    data = fresh_catalog_data(tmp_path)
    records = trade_record(0, "apple", 0, 1) + trade_record(1, "apple", 1, 1)
    torn = trade_record(2, "apple", 0, 1)[:-3]
    with open(data / "catalog.journal", "wb") as f:
        f.write(records + torn)
    out = LoneCatalog(data).started()
    assert re.search(r"catalog\.journal: cut a torn last record: %d bytes at byte offset %d "
                     r"\(after 2 whole records\)" % (len(torn), len(records)), out), out
    assert os.path.getsize(data / "catalog.journal") >= len(records)


@pytest.mark.parametrize("damage", ["torn record after the last", "last record cut"])
def test_damaged_stocks_file_is_refused_and_left_as_it_is(tmp_path, damage):
    """catalog.stocks is written whole and renamed into place, so a torn
    record there is damage, not a crash's doing: the stocks after it are
    unknown. It used to be cut like a journal's torn tail, and a file cut
    inside its records lost stocks: lookups of them said 200 while trades
    said 404. Refused now, naming the file, and not touched."""
    data = fresh_catalog_data(tmp_path)
    path = data / "catalog.stocks"
    whole = os.path.getsize(path)
    if damage == "torn record after the last":
        with open(path, "ab") as f:
            f.write(struct.pack("<II", 32, 0xdeadbeef) + b"\x96\x01\x47")  # says 32, holds 3
    else:
        os.truncate(path, whole - 3)
    damaged = path.read_bytes()
    rc, out = LoneCatalog(data).refused()
    assert rc != 0 and re.search(r"catalog\.stocks is damaged \(a cut or bad record, after %d "
                                 r"whole stocks\): restore it" % (
                                     10 if damage.startswith("torn") else 9), out), (rc, out)
    assert path.read_bytes() == damaged


def test_a_serving_catalog_reports_its_role_as_follower(bazaar):
    def catalog():
        body = bazaar.get("/status").body
        return [p for p in body["processes"] if p["service"] == "catalog"][0]
    p = wait_until(lambda: catalog()["role"] == "follower" and catalog(), 20,
                   "the catalog to report the role follower")
    assert p["state"] == "serving", p
    #  ... and keeps it while it serves trades
    bazaar.trade("apple", "buy", 1)
    bazaar.assert_stock("apple")
    assert catalog()["role"] == "follower", catalog()


# --------------------------------------------------------------------------
#  Item 8: verify on a busy system without --wait: it waits by default,
#  and lag it still sees while trades flow is said to be motion, not a
#  bare failure.

def test_verify_on_a_busy_system_waits_or_says_it_was_moving(bazaar):
    stop = threading.Event()
    done = []

    def trader(t):
        i = 0
        while not stop.is_set():
            r = bazaar.post("/orders", {"name": ("apple", "tesla")[t],
                                        "type": "buy" if i % 2 else "sell", "quantity": 1})
            assert r.status == 200, r
            i += 1
        done.append(i)
    threads = [threading.Thread(target=trader, args=(t,), daemon=True) for t in range(2)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: bazaar.get("/status").body["catalog_number"] > 50, 20,
                   "trades to flow")
        rc, lines, err = verify(bazaar.data, bazaar.verify_url)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    text = "\n".join(lines) + err
    assert len(done) == 2, "a trader failed"
    assert rc == 0 or (rc == 1 and "verify: the system was still moving" in text), text
    #  Quiet, it is OK: once the last acknowledged trade has reached the
    #  third replica and the catalog (an acknowledgement waits for a
    #  majority only), so "still moving" may come back a few times first.
    result = []

    def settled():
        result[:] = verify(bazaar.data, bazaar.verify_url)
        return not (result[0] == 1 and "still moving" in "\n".join(result[1]) + result[2])
    wait_until(settled, 20, "verify to find the system quiet")
    rc, lines, err = result
    assert rc == 0 and lines[-1] == "verify: OK", "\n".join(lines) + err


# --------------------------------------------------------------------------
#  Item 8: docs/EVALUATION.md (and tools/eval, which writes it) say what
#  its numbers say.

def test_evaluation_text_agrees_with_its_numbers():
    with open(os.path.join(REPO, "docs", "EVALUATION.md")) as f:
        doc = f.read()
    with open(os.path.join(REPO, "tools", "eval")) as f:
        template = f.read()
    for text in (doc, template):
        #  The table shows an empty point as "-" (tools/eval latency_cell).
        assert "NaN in the table" not in text
    assert re.search(r"^\| [\d.]+ \| \w+ \| .*\| - \|", doc, re.M), "no empty point in the table"
    failed = re.search(r"Failed requests: (\d+) of", doc)
    assert failed, "EVALUATION.md no longer counts failed requests"
    if failed.group(1) == "0":
        assert "exits non-zero because it counts the 503s" not in doc, doc
    assert "exits non-zero because it counts the 503s" not in template


def test_torn_last_record_of_a_replica_log_is_cut_with_a_log_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    broker, pub, rep = free_ports(3)
    args = [tool("bazaar-order"), "--id", "1", "--data", str(data), "--new",
            "--broker", "tcp://127.0.0.1:%d" % broker, "--pub", "tcp://127.0.0.1:%d" % pub,
            "--rep", "tcp://127.0.0.1:%d" % rep]

    def opened():
        proc = Proc(args, merge_stderr=True)
        try:
            wait_until(lambda: "orders in the log" in proc.stdout()
                       or proc.popen.poll() is not None, CATALOG_WAIT, "the replica to open its log")
            assert proc.popen.poll() is None, proc.describe()
            return proc.stdout()
        finally:
            proc.kill()
    #  A first start writes order-1.stocks (a log without it is refused).
    opened()
    #  Epoch 1's proposals carry stamp 3 (docs/CONSENSUS.md: 2e + 1); each
    #  record the commit position of the write that carried it.
    records = order_record(0, "apple", 0, 1, 3, 0) + order_record(1, "apple", 1, 1, 3, 1)
    torn = order_record(2, "apple", 0, 1, 3, 2)[:-3]
    with open(data / "order-1.log", "wb") as f:
        f.write(records + torn)
    out = opened()
    assert re.search(r"order-1\.log: cut a torn last record: %d bytes at byte offset %d "
                     r"\(after 2 whole records\)" % (len(torn), len(records)), out), out
    assert "2 orders in the log" in out, out
    assert [o["number"] for _, o in journal_records(data / "order-1.log", strict=True)] == [0, 1]
