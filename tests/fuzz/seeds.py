#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz harness (tests/fuzz/<name>/seed-*):
good and bad examples of bus messages (msgs), journal files (journal),
HTTP requests (gateway) and verb sequences for one consensus core
(consensus). Deterministic; run it again after changing it.
Inputs libFuzzer found later (and crashes turned into regressions) sit
beside the seeds under other names and are not touched here."""

import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def pack(value):
    """A minimal msgpack encoder: what msgs/ uses."""
    if isinstance(value, bool):
        return b"\xc3" if value else b"\xc2"
    if value is None:
        return b"\xc0"
    if isinstance(value, int):
        if 0 <= value < 128:
            return bytes([value])
        if 0 <= value < 2 ** 8:
            return b"\xcc" + struct.pack(">B", value)
        if 0 <= value < 2 ** 16:
            return b"\xcd" + struct.pack(">H", value)
        if 0 <= value < 2 ** 32:
            return b"\xce" + struct.pack(">I", value)
        if 0 <= value < 2 ** 64:
            return b"\xcf" + struct.pack(">Q", value)
        if -32 <= value < 0:
            return struct.pack(">b", value)
        return b"\xd3" + struct.pack(">q", value)
    if isinstance(value, float):
        return b"\xcb" + struct.pack(">d", value)
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        if len(value) < 32:
            return bytes([0xa0 | len(value)]) + value
        if len(value) < 256:
            return b"\xd9" + bytes([len(value)]) + value
        return b"\xda" + struct.pack(">H", len(value)) + value
    if isinstance(value, list):
        head = bytes([0x90 | len(value)]) if len(value) < 16 else \
            b"\xdc" + struct.pack(">H", len(value))
        return head + b"".join(pack(v) for v in value)
    raise TypeError(value)


V = 1
#  [version, type, fields...] as in msgs/msgs.h MSG_TABLE
MESSAGES = {
    "heartbeat": [V, 1, "order", 3, 77, "tcp://127.0.0.1:5603", "tcp://127.0.0.1:5703", 10, 2, 3,
                  [1, 2], 0],
    "heartbeat-silent-leader": [V, 1, "order", 1, 78, "tcp://127.0.0.1:5601",
                                "tcp://127.0.0.1:5701", 10, 2, 1, [], 3],
    "leader": [V, 2, 3, 2, "tcp://127.0.0.1:5603", "tcp://127.0.0.1:5703",
               [[1, 1, 10, 2, "tcp://127.0.0.1:5701"], [3, 3, 10, 2, "tcp://127.0.0.1:5703"]]],
    "lookup": [V, 10, 7, "apple", 12, 0],
    "lookup-position-huge": [V, 10, 7, "apple", 2 ** 64 - 1, 0],
    "list": [V, 11, 8, 3, 0],
    "trade": [V, 20, 12, "apple", 0, 5, "idem-1", 0],
    "query": [V, 21, 13, 2 ** 64 - 1, 1796608014641],
    "range": [V, 22, 14, 100, 10000],
    "stock": [V, 40, 15, "apple", 152.59, 1000, 3],
    "stocks": [V, 41, 16, [["amc", 4.78, 1000, 1], ["apple", 152.59, 995, 2]]],
    "committed": [V, 42, 17, 4, "ford", 1, 3, "", 1003, 5],
    "order": [V, 43, 18, 4, "ford", 1, 3],
    "trades": [V, 44, 19, 2, [[0, "apple", 0, 5, "k"], [1, "nike", 1, 2, ""]]],
    "error": [V, 49, 21, 1, "stock not found"],
    "invalidate": [V, 60, 123456789, 42, "apple", 7],
    "learn": [V, 64, 3, 7, 40, 42, [[40, "apple", 0, 5, "gw-1"], [41, "nike", 1, 2, ""]]],
    "learn-beacon": [V, 64, 3, 7, 42, 42, []],
    "stockdef": [V, 70, "gamestop", 20.0, 1000],
    "traderec": [V, 71, 0, "apple", 0, 10, "key"],
    #  consensus: R (from), u (to, 0 = all), e, then the type's fields
    "cs-prepare": [V, 80, 3, 0, 7],
    "cs-promise": [V, 81, 1, 3, 7, 13, 42, 40],
    "cs-refuse": [V, 82, 2, 3, 9],
    "cs-append": [V, 83, 3, 0, 7, 40, 13, 42, 40,
                  [[14, 40, "apple", 0, 5, "gw-1"], [15, 41, "nike", 1, 2, ""]]],
    "cs-append-heartbeat": [V, 83, 3, 0, 7, 42, 15, 42, 42, []],
    "cs-ack": [V, 84, 1, 3, 7, 42],
    "cs-fetch": [V, 85, 2, 3, 7, 2 ** 64 - 1],
    "cs-entries": [V, 86, 1, 2, 7, 0, 0, 2, 1,
                   [[2, 0, "amc", 0, 1, ""], [3, 1, "meta", 1, 1000000000, "k" * 64]]],
}

BAD_MESSAGES = {
    "bad-version": pack([2, 10, 7, "apple"]),
    "bad-type": pack([V, 99, 7, "apple"]),
    "too-few-fields": pack([V, 10, 7]),
    "too-many-fields": pack([V, 10, 7, "apple", 0, 0, 1]),
    "negative-id": pack([V, 10, -1, "apple", 0, 0]),
    "long-name": pack([V, 10, 7, "x" * 65, 0, 0]),
    "side-2": pack([V, 20, 12, "apple", 2, 5, "", 0]),
    "quantity-0": pack([V, 20, 12, "apple", 0, 0, "", 0]),
    "trailing": pack([V, 11, 8, 0, 0]) + b"\x00",
    "not-array": pack({}) if False else b"\x80",
    "truncated": pack([V, 41, 16, [["amc", 4.78, 1000, 1]]])[:-3],
    "huge-array-header": b"\xdd\xff\xff\xff\xff",
    "nested-huge": pack([V, 41, 16])[:-1] + b"\x91\xdd\x7f\xff\xff\xff",
    "empty": b"",
    "cs-entry-no-stamp": pack([V, 86, 1, 2, 7, 0, 0, 1, 1, [[0, "amc", 0, 1, ""]]]),
    "cs-entry-side-2": pack([V, 83, 3, 0, 7, 0, 0, 1, 0, [[15, 0, "amc", 2, 1, ""]]]),
    "cs-prepare-negative-id": pack([V, 80, -3, 0, 7]),
    "cs-ack-trailing": pack([V, 84, 1, 3, 7, 42]) + b"\xc0",
    "cs-entries-huge-list": pack([V, 86, 1, 2, 7, 0, 0, 1, 1, []])[:-1] + b"\xdd\x00\x00\x27\x11",
}


def frame(payload):
    return struct.pack("<II", len(payload), zlib.crc32(payload) & 0xffffffff) + payload


def traderec(number, name="apple", side=0, quantity=1, key=""):
    return pack([V, 71, number, name, side, quantity, key])


def journals():
    three = b"".join(frame(traderec(n, ["apple", "ford", "nike"][n], n % 2, n + 1,
                                    "k%d" % n if n != 1 else "")) for n in range(3))
    good = frame(traderec(0))
    return {
        "empty": b"",
        "three": three,
        "torn-tail": three + frame(traderec(3))[:-4],
        "torn-header": three + b"\x10\x00",
        "bad-crc-last": three[:-1] + bytes([three[-1] ^ 1]),
        "bad-crc-middle": good + b"\x00" * 0 + frame(traderec(1))[:-1] + b"\xff" + frame(traderec(2)),
        "out-of-order": frame(traderec(1)) + frame(traderec(0)),
        "gap": frame(traderec(0)) + frame(traderec(2)),
        "not-a-trade": frame(pack([V, 70, "apple", 1.0, 10])),
        "not-msgpack": frame(b"\xc1\xc1\xc1"),
        "zero-length": struct.pack("<II", 0, 0) + three,
        "huge-length": struct.pack("<II", 0xffffffff, 0) + b"x" * 16,
        "duplicate-key": frame(traderec(0, key="same")) + frame(traderec(1, key="same")),
        "stockdefs": b"".join(frame(pack([V, 70, n, 1.5, 1000])) for n in ("a", "b")),
    }


def requests():
    order = b'{"name":"apple","type":"buy","quantity":10}'
    return {
        "lookup": b"GET /stocks/apple\n",
        "lookup-query": b"GET /stocks/apple?x=1\n",
        "list": b"GET /stocks\n",
        "head": b"HEAD /stocks/tesla\n",
        "absolute": b"GET http://127.0.0.1:8080/stocks/apple\n",
        "absolute-https-upper": b"GET HTTPS://HOST/orders/3?x\n",
        "absolute-no-path": b"GET http://host\n",
        "trade": b"POST /orders\n" + order,
        "trade-absolute": b"POST http://h/orders\n" + order,
        "query": b"GET /orders/42\n",
        "query-max": b"GET /orders/18446744073709551615\n",
        "query-over-64-bits": b"GET /orders/18446744073709551616\n",
        "query-zeros": b"GET /orders/000000000000000000000000000001\n",
        "query-bad": b"GET /orders/-1\n",
        "metrics": b"GET /metrics\n",
        "wrong-method": b"DELETE /stocks/apple\n",
        "unknown": b"GET /nope\n",
        "name-nul": b"GET /stocks/ap\x00ple\n",
        "name-long": b"GET /stocks/" + b"x" * 65 + b"\n",
        "body-big-int": b"POST /orders\n" + b'{"name":"apple","type":"buy","quantity":99999999999999999999}',
        "body-big-real": b"POST /orders\n" + b'{"name":"apple","type":"sell","quantity":1e400,"x":[1e999,-1e999]}',
        "body-real": b"POST /orders\n" + b'{"name":"apple","type":"buy","quantity":1.0}',
        "body-many-bigs": b"POST /orders\n" + b'{"x":[' + b",".join([b"1e400"] * 20) + b'],"name":"a"}',
        "body-bad-type": b"POST /orders\n" + b'{"name":"apple","type":"hold","quantity":1}',
        "body-no-name": b"POST /orders\n" + b'{"type":"buy","quantity":1}',
        "body-long-name": b"POST /orders\n" + b'{"name":"' + b"n" * 70 + b'","type":"buy","quantity":1}',
        "body-not-object": b"POST /orders\n[1,2,3]",
        "body-truncated": b"POST /orders\n" + order[:-5],
        "body-unicode": b"POST /orders\n" + '{"name":"\\u00e9t\\u00e9","type":"sell","quantity":1000000000}'.encode(),
    }


# fuzz_consensus.c's input: a verb byte (% 7), then its arguments.
STEP, TICK, CAMPAIGN, PROPOSE, FETCH, ABANDON, RESTART = range(7)
PREPARE, PROMISE, REFUSE, APPEND, ACK, FETCH_MSG, ENTRIES = range(1, 8)


def message(kind, sender, epoch, start=0, prev=0, last=0, length=0, commit=0, stamps=()):
    """A step verb: type, from, to (1), six numbers (one byte each below
    0xf0), then the entries: a stamp and a payload of one byte each."""
    numbers = [epoch, start, prev, last, length, commit]
    assert all(n < 0xf0 for n in numbers + list(stamps))
    data = bytes([STEP, kind, sender, 1] + numbers + [len(stamps)])
    for stamp in stamps:
        data += bytes([stamp, 1, 0x61])
    return data


def consensus():
    lead = (bytes([CAMPAIGN]) + message(PROMISE, 2, 1)
            + bytes([PROPOSE]) + b"trade-00" + message(ACK, 2, 1, length=1))
    return {
        # member 1 campaigns (epoch 1), 2 promises, a proposal commits on
        # 2's ACK, a restart, time passes (heartbeats, quorum timeout)
        "lead-commit-restart": lead + bytes([RESTART, TICK, 100, TICK, 200]),
        # a follower of 3 takes two entries, then 2's higher epoch holds
        # another at index 1: the tail is cut before the ACK
        "follow-then-cut": message(APPEND, 3, 2, length=2, commit=1, stamps=(5, 5))
                           + message(APPEND, 2, 3, start=1, prev=5, length=2, stamps=(7,)),
        # catch-up from a peer that answers with entries
        "fetch-entries": bytes([FETCH, 2]) + message(ENTRIES, 2, 2, length=2, commit=2, stamps=(5, 5)),
        # a rival's PREPARE while campaigning, then a refusal above it
        "rival": bytes([CAMPAIGN]) + message(PREPARE, 3, 1) + message(REFUSE, 3, 4),
        # the epochs at the top: a REFUSE of 2^64 - 1 (malformed; the first
        # bug this harness found: the next campaign wrapped to epoch 0), one
        # of 2^63 - 1 (the last: no campaign above it)
        "epoch-max": bytes([CAMPAIGN, STEP, REFUSE, 3, 1, 0xff]) + b"\xff" * 8 + bytes([0] * 6)
                     + bytes([STEP, REFUSE, 3, 1, 0xff, 0x7f]) + b"\xff" * 7 + bytes([0] * 6)
                     + bytes([CAMPAIGN]),
    }


def write(name, cases):
    directory = os.path.join(HERE, name)
    os.makedirs(directory, exist_ok=True)
    for case, data in cases.items():
        with open(os.path.join(directory, "seed-" + case), "wb") as f:
            f.write(data)


def main():
    msgs = {name: pack(fields) for name, fields in MESSAGES.items()}
    msgs.update(BAD_MESSAGES)
    write("msgs", msgs)
    write("journal", journals())
    write("gateway", requests())
    write("consensus", consensus())


if __name__ == "__main__":
    main()
