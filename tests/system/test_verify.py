"""bazaar-client verify (SPEC §4.4, §6): the data directory and the live
system checked against the invariants.

Files: catalog.journal's numbers are dense, every order-N.log holds its
trades (canonical dumps: number, name, side, quantity, key; a replica's
stamps and carried commit positions legitimately differ), the same
trades as every other log, identical once caught up; live: GET /stocks
equals initial - buys + sells over the journal, sampled GET /orders/<n>
equal the journal's records, the next number is 404.  Each test damages
one thing (a log cut short, one byte changed, the wrong system behind
--url) and checks verify names it and exits 1, and that it passes
otherwise.
"""
import os
import struct
import time
import zlib

from harness import (INITIAL, assert_verify_failed, assert_verify_ok, journal_bytes, line,
                     verify)

VERIFY_DEADLINE = 60.0   # bound for one verify run (ASan included)
TRADES = [("apple", "buy", 5), ("tesla", "sell", 3), ("ford", "buy", 1), ("nike", "buy", 2),
          ("apple", "sell", 4), ("amc", "buy", 7), ("meta", "sell", 1), ("intel", "buy", 2),
          ("gamestop", "buy", 3), ("nvidia", "sell", 6)]


def trade_all(bz, trades=TRADES, rounds=2):
    for _ in range(rounds):
        for name, type_, quantity in trades:
            bz.trade(name, type_, quantity)


def frames(path):
    """[(offset, payload length)] of the whole records of a journal file."""
    data = journal_bytes(path)
    out, offset = [], 0
    while offset + 8 <= len(data):
        length = struct.unpack_from("<I", data, offset)[0]
        if offset + 8 + length > len(data):
            break
        out.append((offset, length))
        offset += 8 + length
    return out


# --------------------------------------------------------------------------

def test_verify_passes_on_a_quiet_system_after_trades(bazaar_factory):
    bazaar = bazaar_factory(replicas=3)
    trade_all(bazaar)
    count = len(bazaar.orders)
    lines = assert_verify_ok(bazaar.data, bazaar.verify_url, wait=10)
    assert line(lines, "catalog.stocks:") == "catalog.stocks: %d stocks" % len(INITIAL)
    assert line(lines, "catalog.journal:") == "catalog.journal: %d trades, dense" % count
    assert line(lines, "order-1.log:") == "order-1.log: identical to catalog.journal"
    assert line(lines, "order-2.log:") == "order-2.log: identical to catalog.journal"
    assert line(lines, "order-3.log:") == "order-3.log: identical to catalog.journal"
    assert line(lines, "stocks:") == "stocks: %d match" % len(INITIAL)
    assert line(lines, "orders:") == (
        "orders: %d sampled of %d match over HTTP, /orders/%d is 404" % (count, count, count))
    #  The files alone: no live checks.
    lines = assert_verify_ok(bazaar.data)
    assert not [l for l in lines if l.startswith(("stocks:", "orders:"))], lines
    bazaar.assert_stocks()


def test_verify_reports_a_replica_log_cut_short(bazaar_factory):
    bazaar = bazaar_factory(replicas=3)
    trade_all(bazaar)
    count = len(bazaar.orders)
    assert_verify_ok(bazaar.data, bazaar.verify_url, wait=10)

    #  Replica 1 down, its log cut at a record boundary: 3 behind.
    bazaar.kill("order")
    path = os.path.join(bazaar.data, "order-1.log")
    records = frames(path)
    assert len(records) == count
    offset, _ = records[count - 3]
    os.truncate(path, offset)
    lines = assert_verify_failed(bazaar.data, bazaar.verify_url, problems=1)
    assert line(lines, "order-1.log:") == \
        "order-1.log: behind by 3 (%d of %d trades)" % (count - 3, count)
    assert line(lines, "order-2.log:") == "order-2.log: identical to catalog.journal"
    assert line(lines, "order-3.log:") == "order-3.log: identical to catalog.journal"
    assert line(lines, "stocks:") == "stocks: %d match" % len(INITIAL)
    #  Waiting does not hide it while the replica stays down.
    lines = assert_verify_failed(bazaar.data, wait=1, problems=1)
    assert line(lines, "order-1.log:").startswith("order-1.log: behind by 3 ")

    #  Cut in the middle of a record: the torn part is not a trade (its
    #  canonical dump ends at the last whole record).
    offset, _ = records[count - 5]
    os.truncate(path, offset + 5)
    lines = assert_verify_failed(bazaar.data, problems=1)
    assert line(lines, "order-1.log:") == (
        "order-1.log: behind by 5 (%d of %d trades)" % (count - 5, count))

    #  Restarted, the replica catches up from its peers: OK again.
    bazaar.start("order")
    lines = assert_verify_ok(bazaar.data, bazaar.verify_url, wait=20)
    assert line(lines, "order-1.log:") == "order-1.log: identical to catalog.journal"


def test_verify_names_the_order_a_changed_byte_is_in(bazaar_factory):
    bazaar = bazaar_factory(replicas=3)
    trade_all(bazaar)
    count = len(bazaar.orders)
    assert_verify_ok(bazaar.data, bazaar.verify_url, wait=10)
    bazaar.kill("order")
    path = os.path.join(bazaar.data, "order-1.log")
    records = frames(path)
    with open(path, "rb") as f:
        original = f.read()

    def damaged(number, change):
        offset, length = records[number]
        data = bytearray(original)
        change(data, offset + 8, length)
        with open(path, "wb") as f:
            f.write(data)
        lines = assert_verify_failed(bazaar.data, bazaar.verify_url, problems=1)
        got = line(lines, "order-1.log:")
        assert got.startswith("order-1.log: order %d differs from catalog.journal "
                              "(number, name, side, quantity or key" % number), "\n".join(lines)
        assert line(lines, "order-2.log:") == "order-2.log: identical to catalog.journal"
        assert line(lines, "order-3.log:") == "order-3.log: identical to catalog.journal"
        return got

    def flip(data, payload, length):
        data[payload + length // 2] ^= 0x01

    #  One bit flipped in a record in the middle: a bad checksum.
    got = damaged(7, flip)
    assert "bad checksum: corrupt from record 7" in got, got
    #  ... and in the last record, which a replay takes for a torn tail
    #  (recovery would cut it): the log is one trade behind.
    data = bytearray(original)
    flip(data, records[count - 1][0] + 8, records[count - 1][1])
    with open(path, "wb") as f:
        f.write(data)
    lines = assert_verify_failed(bazaar.data, bazaar.verify_url, problems=1)
    assert line(lines, "order-1.log:") == \
        "order-1.log: behind by 1 (%d of %d trades)" % (count - 1, count), lines

    #  A different quantity with a correct checksum: another trade.
    def requantify(data, payload, length):
        #  msgpack [1, 73, number, name, side, quantity, key, stamp,
        #  commit] (ORDEREC), small numbers as one byte each.
        body = data[payload:payload + length]
        assert body[:3] == b"\x99\x01\x49" and body[3] < 0x80 and \
            0xa0 <= body[4] < 0xc0, bytes(body)
        at = payload + 5 + (body[4] - 0xa0) + 1
        assert 1 <= data[at] < 0x20, bytes(body)
        data[at] += 10
        data[payload - 4:payload] = struct.pack(
            "<I", zlib.crc32(bytes(data[payload:payload + length])))

    got = damaged(12, requantify)
    assert "checksum" not in got, got

    with open(path, "wb") as f:
        f.write(original)
    assert_verify_ok(bazaar.data, bazaar.verify_url, wait=0)


def test_verify_against_another_system_reports_the_mismatch(bazaar_factory):
    traded = bazaar_factory()
    fresh = bazaar_factory()
    trade_all(traded, rounds=1)
    assert_verify_ok(traded.data, traded.verify_url, wait=10)
    assert_verify_ok(fresh.data, fresh.verify_url, wait=10)

    #  traded's files, fresh's gateway: every traded stock and every order
    #  differ. A wrong order is final, so --wait does not drag on.
    start = time.monotonic()
    lines = assert_verify_failed(traded.data, fresh.verify_url, wait=5)
    elapsed = time.monotonic() - start
    assert elapsed < 4, "verify waited %.1fs for a mismatch no wait can fix" % elapsed
    text = "\n".join(lines)
    assert ("stocks: apple has quantity %d over HTTP, catalog.journal says %d"
            % (1000, traded.qty["apple"])) in lines, text
    assert "orders: GET /orders/0: HTTP 404, catalog.journal says buy 5 apple" in lines, text
    assert not [l for l in lines if l.startswith("stocks: ") and l.endswith(" match")], text

    #  fresh's files (no trades), traded's gateway.
    lines = assert_verify_failed(fresh.data, traded.verify_url)
    text = "\n".join(lines)
    assert "stocks: apple has quantity %d over HTTP, catalog.journal says 1000" \
        % traded.qty["apple"] in lines, text
    assert line(lines, "orders: GET /orders/0:").startswith(
        "orders: GET /orders/0: HTTP 200, expected 404"), text


def test_verify_refuses_a_directory_without_catalog_files(tmp_path):
    rc, lines, err = verify(str(tmp_path))
    assert rc == 2 and not lines, (rc, lines, err)
    assert "no catalog files" in err, err
    rc, lines, err = verify(str(tmp_path / "missing"))
    assert rc == 2 and not lines, (rc, lines, err)
    assert "No such file or directory" in err, err
