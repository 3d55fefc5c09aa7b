"""The gateway's stock cache (SPEC section 3, "Cache invalidation").

Observed through /metrics: bazaar_cache_hits_total, _misses_total,
_evictions_total, _invalidations_total, _flushes_total, _entries and
bazaar_cache_live (1 while the gateway is connected to the catalog's PUB
and has heard from it within 1 s; the cache serves nothing while it is 0).

Part one runs the real system: hits, invalidation by a trade, a writer
always reading its own trades, replacement, a catalog killed and restarted,
two gateways on one catalog.  Part two points the gateway's subscriber at a
fake catalog publisher (a minimal ZMTP 3.0 PUB written below, beaconing
every 100 ms like the catalog) to check each invalidation rule on its own:
the per-name version mark, sequence gaps, beacons revealing lost
invalidations, a silent publisher, a new incarnation, and a reconnect.
"""

import os
import random
import signal
import subprocess
import time

import pytest

from harness import (BEACON_INTERVAL, FakePublisher, INITIAL, SILENCE, assert_json,
                     beacon_frame, cache_counter, free_ports, http_request, metrics, wait_live,
                     wait_until)

DEADLINE = 10.0         # bound for every wait; never what a test measures


# --------------------------------------------------------------------------
#  Helpers

def lookup(port, name, conn=None):
    r = http_request(port, "GET", "/stocks/" + name, conn=conn)
    assert r.status == 200, "GET /stocks/%s: %r" % (name, r)
    return r.body["data"]


def expect_stock(bz, port, name, conn=None):
    """Lookup through the gateway on port must match the model exactly."""
    r = http_request(port, "GET", "/stocks/" + name, conn=conn)
    assert r.status == 200, "GET /stocks/%s: %r" % (name, r)
    assert_json(r.body, {"data": bz.expected_stock(name)}, "GET /stocks/%s on %d" % (name, port))


def is_hit(port, name):
    """Looks name up; True if that lookup was answered from the cache."""
    before = cache_counter(port, "hits_total")
    lookup(port, name)
    return cache_counter(port, "hits_total") == before + 1


def warm(port, name):
    """Look name up until it is cached (the second lookup is a hit)."""
    wait_until(lambda: lookup(port, name) and is_hit(port, name), DEADLINE,
               "%s to be cached by the gateway on port %d" % (name, port))


class ExtraGateway:
    """A second gateway process on the same broker and catalog."""

    def __init__(self, bz, extra_args=()):
        self.bz = bz
        self.port = free_ports(1)[0]
        argv = bz.argv("gateway")
        argv[argv.index("--port") + 1] = str(self.port)
        self.log_path = os.path.join(bz.logdir, "gateway-%d.log" % self.port)
        self.log = open(self.log_path, "ab", buffering=0)
        self.proc = subprocess.Popen(argv + list(extra_args), stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=bz.tmp,
                                     start_new_session=True)
        wait_until(lambda: http_request(self.port, "GET", "/stocks/apple").status == 200,
                   DEADLINE, "the extra gateway to answer")

    def close(self):
        """SIGTERM; returns the exit status (0 expected)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        with open(self.log_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        assert "Sanitizer" not in text and "runtime error:" not in text, text[-3000:]
        return self.proc.returncode


@pytest.fixture
def extra_gateways():
    made = []

    def factory(bz, extra_args=()):
        gw = ExtraGateway(bz, extra_args)
        made.append(gw)
        return gw
    yield factory
    codes = [gw.close() for gw in made]
    assert codes == [0] * len(made), "extra gateways exited with %r" % codes


# --------------------------------------------------------------------------
#  Part one: the real system

def test_second_lookup_is_a_hit(bazaar):
    bz = bazaar
    wait_live(bz.port)
    m0 = metrics(bz.port)
    expect_stock(bz, bz.port, "nvidia")
    expect_stock(bz, bz.port, "nvidia")
    m1 = metrics(bz.port)
    assert m1["bazaar_cache_misses_total"] == m0["bazaar_cache_misses_total"] + 1
    assert m1["bazaar_cache_hits_total"] == m0["bazaar_cache_hits_total"] + 1
    assert m1["bazaar_cache_entries"] >= 1
    #  the cached body is byte-for-byte the uncached one
    first = http_request(bz.port, "GET", "/stocks/nvidia").raw
    assert first == b'{"data":{"name":"nvidia","price":240.63,"quantity":1000}}', first
    assert m1['bazaar_http_requests_total{route="/stocks/:name",status="200"}'] >= 2


def test_trade_invalidates(bazaar):
    bz = bazaar
    wait_live(bz.port)
    warm(bz.port, "apple")
    m0 = metrics(bz.port)
    bz.trade("apple", "buy", 7)
    m1 = metrics(bz.port)
    assert m1["bazaar_cache_invalidations_total"] > m0["bazaar_cache_invalidations_total"]
    expect_stock(bz, bz.port, "apple")          # 993, not the cached 1000
    m2 = metrics(bz.port)
    assert m2["bazaar_cache_misses_total"] == m1["bazaar_cache_misses_total"] + 1
    warm(bz.port, "apple")                        # and it is cached again
    expect_stock(bz, bz.port, "apple")


WRITER_ROUNDS = 250


def test_writer_always_sees_own_trades(bazaar):
    """WRITER_ROUNDS rounds of trade-then-lookup through one gateway: every
    lookup shows the trade just made, whether it hits the cache or not.
    The lookup leaves on the same connection the moment the trade is
    answered, while the catalog's INVALIDATE (and the catalog's learning
    of the trade) crosses the bus from the leader: a gateway that did not
    drop its own committed trade's entry, or did not make the lookup wait
    for the catalog to reach the acknowledged position, serves the old
    quantity in most rounds, not one in hundreds. 250 rounds (1000 before:
    about 20 s of the ASan run, for the same check) leave that no room."""
    bz = bazaar
    wait_live(bz.port)
    rng = random.Random(4)
    names = ["apple", "tesla", "ford"]
    conn = bz.connection()
    try:
        for name in names:
            warm(bz.port, name)
        for i in range(WRITER_ROUNDS):
            name = names[i % len(names)]
            kind = "sell" if bz.qty[name] < 20 or rng.random() < 0.5 else "buy"
            bz.trade(name, kind, rng.randint(1, 5), conn=conn)
            expect_stock(bz, bz.port, name, conn=conn)
            #  a lookup of another (cached) stock in between
            other = names[(i + 1) % len(names)]
            expect_stock(bz, bz.port, other, conn=conn)
    finally:
        conn.close()
    m = metrics(bz.port)
    assert m["bazaar_cache_hits_total"] > 0, m
    bz.assert_stocks()


def test_replacement_evicts_least_recently_used(bazaar_factory):
    bz = bazaar_factory(cache_size=3)
    wait_live(bz.port)
    names = sorted(INITIAL)[:6]
    assert cache_counter(bz.port, "capacity") == 3
    for name in names[:3]:
        warm(bz.port, name)
    assert cache_counter(bz.port, "entries") == 3
    assert cache_counter(bz.port, "evictions_total") == 0
    lookup(bz.port, names[0])                     # names[1] is now the oldest
    lookup(bz.port, names[3])                     # evicts names[1]
    assert cache_counter(bz.port, "evictions_total") == 1
    assert cache_counter(bz.port, "entries") == 3
    assert is_hit(bz.port, names[0])
    assert not is_hit(bz.port, names[1])          # evicted: a miss (evicts names[2])
    for name in names:                            # more stocks than room
        expect_stock(bz, bz.port, name)
    m = metrics(bz.port)
    assert m["bazaar_cache_evictions_total"] >= 5, m
    assert m["bazaar_cache_entries"] == 3, m


def test_cache_size_zero_never_hits(bazaar_factory):
    bz = bazaar_factory(cache_size=0)
    for _ in range(3):
        expect_stock(bz, bz.port, "meta")
    m = metrics(bz.port)
    assert m["bazaar_cache_hits_total"] == 0 and m["bazaar_cache_entries"] == 0, m
    bz.trade("meta", "sell", 3)
    expect_stock(bz, bz.port, "meta")


def test_catalog_kill9_restart_serves_no_stale_value(bazaar, extra_gateways):
    bz = bazaar
    other = extra_gateways(bz)
    wait_live(bz.port)
    bz.trade("amazon", "buy", 5)
    warm(bz.port, "amazon")
    flushes = cache_counter(bz.port, "flushes_total")

    bz.kill("catalog")
    #  Whatever the gateway answers while the catalog is down, it is not a
    #  wrong quantity (nothing can trade without the catalog).
    r = bz.get("/stocks/amazon")
    assert r.status in (200, 503), r
    if r.status == 200:
        assert_json(r.body, {"data": bz.expected_stock("amazon")})

    bz.start("catalog")
    bz.wait_ready()
    #  Trade through the other gateway: the first one learns of it only
    #  from the restarted catalog's invalidations.
    r = http_request(other.port, "POST", "/orders",
                     {"name": "amazon", "type": "buy", "quantity": 11})
    assert r.status == 200, r
    bz.record(r.body["data"]["transaction_number"], "amazon", "buy", 11)
    want = bz.expected_stock("amazon")["quantity"]
    wait_until(lambda: lookup(bz.port, "amazon")["quantity"] == want, DEADLINE,
               "the first gateway to show the trade made through the other one")
    for _ in range(50):                           # and never the old value again
        expect_stock(bz, bz.port, "amazon")
    #  The trade above most likely landed before this gateway's subscriber
    #  reconnected: the cache stays off until then, so nothing stale.
    wait_live(bz.port)
    assert cache_counter(bz.port, "flushes_total") > flushes
    warm(bz.port, "amazon")                       # caching resumed
    expect_stock(bz, bz.port, "amazon")


def test_two_gateways_see_each_others_trades(bazaar, extra_gateways):
    bz = bazaar
    second = extra_gateways(bz)
    wait_live(bz.port)
    wait_live(second.port)
    for round_ in range(5):
        warm(second.port, "intel")
        warm(bz.port, "intel")
        writer, reader = (bz.port, second.port) if round_ % 2 == 0 else (second.port, bz.port)
        r = http_request(writer, "POST", "/orders",
                         {"name": "intel", "type": "sell", "quantity": 2 + round_})
        assert r.status == 200, r
        bz.record(r.body["data"]["transaction_number"], "intel", "sell", 2 + round_)
        want = bz.expected_stock("intel")["quantity"]
        wait_until(lambda: lookup(reader, "intel")["quantity"] == want, DEADLINE,
                   "gateway %d to see a trade made through gateway %d" % (reader, writer))
        expect_stock(bz, writer, "intel")
    bz.assert_stocks()


# --------------------------------------------------------------------------
#  Part two: a fake catalog publisher

@pytest.fixture
def fake_pub(bazaar_factory):
    """(system, publisher): the gateway (-v) subscribes to the fake
    publisher, which beacons (incarnation 5, seq 0) until told otherwise."""
    pub = FakePublisher()
    try:
        bz = bazaar_factory(start=False, gateway_args=["--catalog-pub", pub.endpoint, "-v"])
        bz.start_all()
        pub.accept()
        bz.wait_ready()
        wait_live(bz.port)
        yield bz, pub
    finally:
        pub.close()


def send_and_wait(bz, pub, frame, counter="invalidations_total"):
    """Send a frame and wait until the gateway has counted it."""
    before = cache_counter(bz.port, counter)
    pub.send(frame)
    wait_until(lambda: cache_counter(bz.port, counter) > before, DEADLINE,
               "the gateway to apply the invalidation")


def publish_and_wait(bz, pub, incarnation, seq, name, version):
    """Publish an invalidation and wait until the gateway has applied it."""
    before = cache_counter(bz.port, "invalidations_total")
    pub.publish(incarnation, seq, name, version)
    wait_until(lambda: cache_counter(bz.port, "invalidations_total") > before, DEADLINE,
               "the gateway to apply the invalidation")


def test_reply_older_than_invalidation_is_never_cached(fake_pub):
    bz, pub = fake_pub
    warm(bz.port, "tesla")
    #  "tesla is now at version 1000": the catalog's replies (version 0,
    #  nothing traded) are older, as if they had raced that change.
    publish_and_wait(bz, pub, 77, 1, "tesla", 1000)
    for _ in range(3):
        assert not is_hit(bz.port, "tesla")
    assert cache_counter(bz.port, "flushes_total") >= 1
    #  other names are unaffected
    warm(bz.port, "ford")
    #  an invalidation with an older version than the mark changes nothing
    publish_and_wait(bz, pub, 77, 2, "tesla", 5)
    assert not is_hit(bz.port, "tesla")
    assert is_hit(bz.port, "ford")


def test_sequence_gap_flushes(fake_pub):
    bz, pub = fake_pub
    publish_and_wait(bz, pub, 5, 1, "nothing-cached", 1)
    warm(bz.port, "ford")
    warm(bz.port, "nike")
    flushes = cache_counter(bz.port, "flushes_total")
    publish_and_wait(bz, pub, 5, 2, "nothing-cached", 2)    # in order
    assert cache_counter(bz.port, "flushes_total") == flushes
    assert is_hit(bz.port, "ford")
    publish_and_wait(bz, pub, 5, 4, "nothing-cached", 3)    # 3 is missing
    assert cache_counter(bz.port, "flushes_total") == flushes + 1
    assert cache_counter(bz.port, "entries") == 0
    assert not is_hit(bz.port, "ford")
    assert not is_hit(bz.port, "nike")
    assert is_hit(bz.port, "ford")


def test_beacon_with_skipped_seq_flushes(fake_pub):
    """The last invalidations of a burst are lost: no later invalidation
    shows the gap, the next beacon does."""
    bz, pub = fake_pub
    publish_and_wait(bz, pub, 5, 1, "nothing-cached", 1)
    warm(bz.port, "ford")
    warm(bz.port, "nike")
    flushes = cache_counter(bz.port, "flushes_total")
    log_from = bz.log_size("gateway")
    pub.lose(2)                                   # seq 2 and 3 never arrive
    wait_until(lambda: cache_counter(bz.port, "flushes_total") > flushes, DEADLINE,
               "a beacon to reveal the lost invalidations")
    pub.wait_beacons(3)                           # more beacons at seq 3: no more flushes
    assert cache_counter(bz.port, "flushes_total") == flushes + 1
    assert cache_counter(bz.port, "entries") == 0
    assert cache_counter(bz.port, "live") == 1
    assert not is_hit(bz.port, "ford")
    assert is_hit(bz.port, "ford")
    bz.wait_log("gateway", r"flush \(beacon shows missed invalidations\)", since=log_from)
    #  and the next invalidation follows the beacon's seq
    publish_and_wait(bz, pub, 5, 4, "nothing-cached", 2)
    assert cache_counter(bz.port, "flushes_total") == flushes + 1
    assert is_hit(bz.port, "ford")


def test_beacon_with_same_seq_does_not_flush(fake_pub):
    """Beacons repeating the last seq change nothing, and keep the cache
    serving well past the silence limit."""
    bz, pub = fake_pub
    publish_and_wait(bz, pub, 5, 1, "nothing-cached", 1)
    warm(bz.port, "amc")
    flushes = cache_counter(bz.port, "flushes_total")
    invalidations = cache_counter(bz.port, "invalidations_total")
    pub.send(beacon_frame(5, 1))                  # one more, right now
    pub.wait_beacons(int(1.5 * SILENCE / BEACON_INTERVAL))
    m = metrics(bz.port)
    assert m["bazaar_cache_flushes_total"] == flushes, m
    assert m["bazaar_cache_invalidations_total"] == invalidations, m    # not counted
    assert m["bazaar_cache_live"] == 1, m
    assert is_hit(bz.port, "amc")


def test_silent_publisher_stops_hits(fake_pub):
    """No message for more than 1 s: flush, serve and store nothing until
    the publisher speaks again."""
    bz, pub = fake_pub
    publish_and_wait(bz, pub, 5, 1, "nothing-cached", 1)
    warm(bz.port, "meta")
    flushes = cache_counter(bz.port, "flushes_total")
    log_from = bz.log_size("gateway")
    pub.beat(False)
    wait_until(lambda: cache_counter(bz.port, "live") == 0, DEADLINE,
               "the gateway to notice the silent publisher")
    assert cache_counter(bz.port, "flushes_total") == flushes + 1
    assert cache_counter(bz.port, "entries") == 0
    for _ in range(3):                            # nothing served or stored
        assert not is_hit(bz.port, "meta")
    assert cache_counter(bz.port, "entries") == 0
    bz.wait_log("gateway", r"flush \(catalog silent\)", since=log_from)
    pub.beat(True)                                # it speaks again
    wait_live(bz.port)
    warm(bz.port, "meta")
    expect_stock(bz, bz.port, "meta")


def test_invalidations_alone_keep_the_cache_serving(fake_pub):
    """Any message counts, not only beacons."""
    bz, pub = fake_pub
    warm(bz.port, "nike")
    flushes = cache_counter(bz.port, "flushes_total")
    pub.beat(False)
    deadline = time.monotonic() + 2 * SILENCE
    seq = 0
    while time.monotonic() < deadline:
        seq += 1
        publish_and_wait(bz, pub, 5, seq, "nothing-cached", seq)
        time.sleep(SILENCE / 4)
    assert cache_counter(bz.port, "flushes_total") == flushes
    assert cache_counter(bz.port, "live") == 1
    assert is_hit(bz.port, "nike")


def test_nothing_cached_before_the_first_message(bazaar_factory):
    """Connected to a publisher that never speaks: the cache stays off."""
    pub = FakePublisher()
    try:
        bz = bazaar_factory(start=False, gateway_args=["--catalog-pub", pub.endpoint])
        bz.start_all()
        pub.accept(beat=False)
        bz.wait_ready()
        for _ in range(3):
            assert not is_hit(bz.port, "apple")
        m = metrics(bz.port)
        assert m["bazaar_cache_live"] == 0 and m["bazaar_cache_entries"] == 0, m
        pub.beat(True)
        wait_live(bz.port)
        warm(bz.port, "apple")
    finally:
        pub.close()


def test_new_incarnation_flushes(fake_pub):
    bz, pub = fake_pub
    publish_and_wait(bz, pub, 5, 1, "nothing-cached", 1)
    warm(bz.port, "amc")
    flushes = cache_counter(bz.port, "flushes_total")
    publish_and_wait(bz, pub, 6, 1, "nothing-cached", 1)    # restarted
    assert cache_counter(bz.port, "flushes_total") == flushes + 1
    assert not is_hit(bz.port, "amc")


def test_new_incarnation_in_a_beacon_flushes(fake_pub):
    bz, pub = fake_pub
    warm(bz.port, "amc")
    flushes = cache_counter(bz.port, "flushes_total")
    with pub.lock:
        pub.incarnation, pub.seq = 6, 0           # restarted, nothing traded yet
    wait_until(lambda: cache_counter(bz.port, "flushes_total") > flushes, DEADLINE,
               "a beacon from the new incarnation to flush")
    pub.wait_beacons(3)
    assert cache_counter(bz.port, "flushes_total") == flushes + 1
    assert not is_hit(bz.port, "amc")


def test_reconnect_flushes_and_disconnect_stops_serving(fake_pub):
    bz, pub = fake_pub
    warm(bz.port, "meta")
    pub.drop()
    wait_until(lambda: cache_counter(bz.port, "live") == 0, DEADLINE,
               "the gateway to notice the lost subscription")
    assert cache_counter(bz.port, "entries") == 0
    for _ in range(3):                            # nothing served or stored
        assert not is_hit(bz.port, "meta")
    pub.relisten()
    pub.accept()                                  # the SUB reconnects
    wait_live(bz.port)
    assert pub.accepts == 2
    warm(bz.port, "meta")


def test_bad_invalidation_frame_is_dropped_and_flushes(fake_pub):
    bz, pub = fake_pub
    warm(bz.port, "gamestop")
    send_and_wait(bz, pub, b"\x93\x01\x3c\xff", counter="flushes_total")   # garbage
    assert not is_hit(bz.port, "gamestop")
    expect_stock(bz, bz.port, "gamestop")
    assert "invalidation" in bz.log_text("gateway")
