"""The bytes Bazaar puts on the bus and on disk, for tests: just enough
msgpack (msgs/msgs.h) and the journal framing (src/journal.h:
[u32 length][u32 crc32][msgpack payload], little endian), so every test
suite (tests/system, tests/net) reads them with one piece of code.
"""
import struct
import zlib

TRADEREC = 71
ORDEREC = 73   #  an order replica's record: TRADEREC's fields, stamp, commit
SIDES = {0: "buy", 1: "sell"}


# --------------------------------------------------------------------------
#  msgpack, just enough

class Raw(bytes):
    """Bytes inserted into an encoding as they are."""


def packb(obj):
    if isinstance(obj, Raw):
        return bytes(obj)
    if obj is None:
        return b"\xc0"
    if obj is True:
        return b"\xc3"
    if obj is False:
        return b"\xc2"
    if isinstance(obj, int):
        if 0 <= obj < 128:
            return bytes([obj])
        if -32 <= obj < 0:
            return struct.pack(">b", obj)
        if obj >= 0:
            for code, fmt, limit in ((0xcc, ">B", 1 << 8), (0xcd, ">H", 1 << 16),
                                     (0xce, ">I", 1 << 32), (0xcf, ">Q", 1 << 64)):
                if obj < limit:
                    return bytes([code]) + struct.pack(fmt, obj)
        for code, fmt, bits in ((0xd0, ">b", 7), (0xd1, ">h", 15), (0xd2, ">i", 31),
                                (0xd3, ">q", 63)):
            if obj >= -(1 << bits):
                return bytes([code]) + struct.pack(fmt, obj)
        raise ValueError(obj)
    if isinstance(obj, float):
        return b"\xcb" + struct.pack(">d", obj)
    if isinstance(obj, str):
        data = obj.encode()
        n = len(data)
        if n < 32:
            return bytes([0xa0 | n]) + data
        if n < 256:
            return b"\xd9" + bytes([n]) + data
        if n < 65536:
            return b"\xda" + struct.pack(">H", n) + data
        return b"\xdb" + struct.pack(">I", n) + data
    if isinstance(obj, bytes):
        n = len(obj)
        return (b"\xc4" + bytes([n]) if n < 256 else b"\xc6" + struct.pack(">I", n)) + obj
    if isinstance(obj, (list, tuple)):
        n = len(obj)
        head = bytes([0x90 | n]) if n < 16 else (
            b"\xdc" + struct.pack(">H", n) if n < 65536 else b"\xdd" + struct.pack(">I", n))
        return head + b"".join(packb(x) for x in obj)
    if isinstance(obj, dict):
        n = len(obj)
        head = bytes([0x80 | n]) if n < 16 else b"\xde" + struct.pack(">H", n)
        return head + b"".join(packb(k) + packb(v) for k, v in obj.items())
    raise TypeError(obj)


def unpackb(data):
    """Decode one whole msgpack value; raises ValueError on anything else."""
    value, pos = _unpack(data, 0)
    if pos != len(data):
        raise ValueError("trailing bytes")
    return value


def _take(data, pos, n):
    if pos + n > len(data):
        raise ValueError("truncated")
    return data[pos:pos + n], pos + n


def _unpack(data, pos):
    b, pos = _take(data, pos, 1)
    b = b[0]
    if b < 0x80:
        return b, pos
    if b >= 0xe0:
        return b - 256, pos
    if 0x80 <= b <= 0x8f:
        return _map(data, pos, b & 0x0f)
    if 0x90 <= b <= 0x9f:
        return _array(data, pos, b & 0x0f)
    if 0xa0 <= b <= 0xbf:
        s, pos = _take(data, pos, b & 0x1f)
        return s.decode(), pos
    simple = {0xc0: None, 0xc2: False, 0xc3: True}
    if b in simple:
        return simple[b], pos
    fixed = {0xca: ">f", 0xcb: ">d", 0xcc: ">B", 0xcd: ">H", 0xce: ">I", 0xcf: ">Q",
             0xd0: ">b", 0xd1: ">h", 0xd2: ">i", 0xd3: ">q"}
    if b in fixed:
        raw, pos = _take(data, pos, struct.calcsize(fixed[b]))
        return struct.unpack(fixed[b], raw)[0], pos
    lengths = {0xd9: (">B", "str"), 0xda: (">H", "str"), 0xdb: (">I", "str"),
               0xc4: (">B", "bin"), 0xc5: (">H", "bin"), 0xc6: (">I", "bin"),
               0xdc: (">H", "array"), 0xdd: (">I", "array"),
               0xde: (">H", "map"), 0xdf: (">I", "map")}
    if b in lengths:
        fmt, kind = lengths[b]
        raw, pos = _take(data, pos, struct.calcsize(fmt))
        n = struct.unpack(fmt, raw)[0]
        if kind == "array":
            return _array(data, pos, n)
        if kind == "map":
            return _map(data, pos, n)
        s, pos = _take(data, pos, n)
        return (s.decode() if kind == "str" else s), pos
    raise ValueError("unsupported msgpack byte 0x%02x" % b)


def _array(data, pos, n):
    out = []
    for _ in range(n):
        v, pos = _unpack(data, pos)
        out.append(v)
    return out, pos


def _map(data, pos, n):
    out = {}
    for _ in range(n):
        k, pos = _unpack(data, pos)
        v, pos = _unpack(data, pos)
        out[k] = v
    return out, pos


# --------------------------------------------------------------------------
#  Journal files

def journal_extent(data):
    """len(data) without the zeros a journal's writer wrote ahead of its
    appends (src/journal.h, journal_extent): where the framing walked from
    the start meets a zero length and only zeros follow, the bytes end."""
    offset = 0
    while offset + 8 <= len(data):
        length = struct.unpack_from("<I", data, offset)[0]
        if length == 0 or offset + 8 + length > len(data):
            break
        offset += 8 + length
    return len(data) if data[offset:].strip(b"\0") else offset


def journal_bytes(path):
    """The bytes of a journal file (catalog.journal, order-N.log), without
    the zeros written ahead of its appends: what byte-for-byte comparisons
    of the files compare."""
    with open(path, "rb") as f:
        data = f.read()
    return data[:journal_extent(data)]


def journal_records(path, strict=False):
    """[(raw record bytes, order dict with "key")] of the whole records of a
    journal file.  A file being written may end in a partial record: it is
    left out, unless strict (then any trailing byte or bad crc fails)."""
    try:
        data = journal_bytes(path)
    except FileNotFoundError:
        if strict:
            raise
        return []
    out, offset = [], 0
    while offset + 8 <= len(data):
        length, crc = struct.unpack_from("<II", data, offset)
        end = offset + 8 + length
        if length == 0 or end > len(data):
            break
        payload = data[offset + 8:end]
        if zlib.crc32(payload) != crc:
            assert not strict, "%s: bad crc in the record at byte %d" % (path, offset)
            break
        fields = unpackb(payload)
        assert isinstance(fields, list) and (
            (len(fields) == 7 and fields[:2] == [1, TRADEREC])
            or (len(fields) == 9 and fields[:2] == [1, ORDEREC])), \
            "%s: record at byte %d is not a TRADEREC or ORDEREC: %r" % (path, offset, fields)
        number, name, side, quantity, key = fields[2:7]
        order = {"number": number, "name": name, "type": SIDES[side],
                 "quantity": quantity, "key": key}
        if len(fields) == 9:
            order["stamp"], order["commit"] = fields[7], fields[8]
        out.append((data[offset:end], order))
        offset = end
    assert not strict or offset == len(data), \
        "%s: %d trailing bytes after %d records" % (path, len(data) - offset, len(out))
    return out


def read_journal(path):
    """[(number, name, type, quantity, key)] of a quiet journal file (no
    torn record, no trailing byte: journal_records strict)."""
    return [(o["number"], o["name"], o["type"], o["quantity"], o["key"])
            for _, o in journal_records(path, strict=True)]


def canonical_dump(path):
    """[(number, name, type, quantity, key)] of the whole records of a trade
    file (catalog.journal or order-N.log): what SPEC §4.4 compares. An
    order log's stamps and carried commit positions may differ from
    replica to replica (docs/CONSENSUS.md "Files"); these never do."""
    return [(o["number"], o["name"], o["type"], o["quantity"], o["key"])
            for _, o in journal_records(path)]


def files_identical(paths):
    """True if every file in paths holds the same trades (canonical dumps,
    SPEC §4.4): catalog.journal and every order-N.log."""
    contents = [canonical_dump(path) for path in paths]
    return all(data == contents[0] for data in contents[1:])
