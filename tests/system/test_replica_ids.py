"""One process per replica id (SPEC §3, issue 20 item 8).

The broker refuses a second live process with a replica id that is taken
(it logs the refusal, the newcomer logs why and exits non-zero, and
nothing changes: the same leader, the same epoch, dense numbers, one row
for the id in /status); it accepts at once a replica restarted after
kill -9 (its connection closed), and one that replaces a paused replica
the broker has expired, and then refuses the paused one when it resumes.
A broker restart (kill -9 and start) does not change who leads: no role
change in any replica, no new epoch, trades go on.
"""

import os
import re
import signal

import pytest

from harness import broker_leader, free_ports, wait_until

DEADLINE = 20
REFUSED_BY_BROKER = (r"refused a second order replica with id %d \(incarnation \d+\): "
                     r"the registered one \(incarnation \d+\) is alive")
REFUSED_NEWCOMER = "the broker refused this replica"
ROLE_CHANGE = re.compile(r"\b(leader|follower|candidate|catching-up) -> ")


def second_replica(bz, spawn, replica_id, name="second"):
    """Starts another bazaar-order --id replica_id on its own data
    directory and ports, its output read by a Proc."""
    data = os.path.join(bz.tmp, "data-%s-%d" % (name, replica_id))
    pub, rep = free_ports(2)
    return spawn([os.path.join(bz.bin, "bazaar-order"), "--id", replica_id,
                  "--broker", bz.endpoints["broker"], "--data", data, "--new",
                  "--pub", "tcp://127.0.0.1:%d" % pub, "--rep", "tcp://127.0.0.1:%d" % rep],
                 merge_stderr=True, cwd=bz.tmp)


def status(bz):
    r = bz.get("/status")
    assert r.status == 200, r
    return r.body


def rows(view, replica_id):
    """Every /status row of order replica replica_id, registered or not."""
    return [p for p in view["processes"]
            if p["service"] == "order" and p["replica_id"] == replica_id]


def settled(bz, leader):
    """/status once `leader` leads with an epoch and every registered
    replica reports the role it has."""
    def check():
        view = status(bz)
        me = rows(view, leader)
        return view if (view["leader"] == leader and len(me) == 1 and me[0]["role"] == "leader"
                        and view["epoch"] >= 1) else None
    return wait_until(check, DEADLINE, "replica %d to lead" % leader)


def sizes(bz):
    return {name: bz.log_size(name) for name in bz.services}


def assert_no_role_change(bz, since, names):
    for name in names:
        text = bz.log_since(name, since[name])
        assert not ROLE_CHANGE.search(text), "%s changed role:\n%s" % (name, text)


def assert_refused(bz, proc, replica_id, since):
    """proc exits non-zero within DEADLINE saying the broker refused it,
    and the broker logged the refusal."""
    rc = proc.wait(DEADLINE)
    out = proc.stdout()
    assert rc != 0, "the refused replica exited %d:\n%s" % (rc, out)
    assert REFUSED_NEWCOMER in out, out
    bz.wait_log("broker", REFUSED_BY_BROKER % replica_id, since=since, timeout=5)


# --------------------------------------------------------------------------
#  A second live process with a taken id is refused and changes nothing

@pytest.mark.parametrize("replica_id", [3, 1], ids=["leader", "follower"])
def test_second_replica_with_a_live_id_is_refused(bazaar_factory, spawn, replica_id):
    bz = bazaar_factory(replicas=3)
    for i in range(3):
        bz.trade("apple", "buy", i + 1)
    before = settled(bz, 3)
    (first,) = rows(before, replica_id)
    since = sizes(bz)
    proc = second_replica(bz, spawn, replica_id)
    assert_refused(bz, proc, replica_id, since["broker"])
    #  Trades go on, numbered densely (bz.trade checks), under the same
    #  leader and epoch: nobody stepped down, nobody claimed an epoch.
    for i in range(3):
        bz.trade("tesla", "sell", i + 1)
    view = settled(bz, 3)
    assert view["epoch"] == before["epoch"], (before, view)
    (row,) = rows(view, replica_id)
    assert row["registered"] and row["incarnation"] == first["incarnation"], view
    assert "order leader is now" not in bz.log_since("broker", since["broker"])
    for name in bz.replica_names:
        assert "campaigning" not in bz.log_since(name, since[name]), bz.log_tail(name)
    assert_no_role_change(bz, since, bz.replica_names)
    bz.assert_orders()
    bz.assert_stocks()


# --------------------------------------------------------------------------
#  A replica restarted after kill -9 is the same id, not a second one

@pytest.mark.parametrize("name", ["order-3", "order"], ids=["leader", "follower"])
def test_replica_restarted_after_kill_is_accepted(bazaar_factory, name):
    bz = bazaar_factory(replicas=3)
    bz.trade("ford", "buy", 2)
    old = rows(settled(bz, 3), bz.replica_id(name))[0]
    since = sizes(bz)
    bz.kill(name)
    bz.start(name)
    #  Restarted, it holds what its leader committed (a follower), or it
    #  won the election the broker named it for (the highest id).
    bz.wait_log(name, r"caught up with leader \d+|candidate -> leader", since=since[name],
                timeout=DEADLINE)
    view = wait_until(lambda: (lambda v: v if any(
        p["registered"] and p["incarnation"] != old["incarnation"]
        for p in rows(v, old["replica_id"])) else None)(status(bz)),
        DEADLINE, "the restarted %s to register" % name)
    assert len(rows(view, old["replica_id"])) == 1, view
    assert "refused" not in bz.log_since("broker", since["broker"])
    settled(bz, 3)
    bz.trade("ford", "sell", 1)
    bz.assert_orders()


# --------------------------------------------------------------------------
#  A paused replica the broker expired is replaced; resumed, it is refused

def led_by_another(view, replica_id, incarnation):
    """view, if its one registered replica replica_id is not incarnation
    and leads."""
    mine = [p for p in rows(view, replica_id) if p["registered"]]
    ok = (view["leader"] == replica_id and len(mine) == 1 and mine[0]["role"] == "leader"
          and mine[0]["incarnation"] != incarnation)
    return view if ok else None


def test_paused_replica_is_refused_when_it_resumes(bazaar_factory, spawn):
    bz = bazaar_factory(replicas=3)
    bz.trade("nike", "buy", 4)
    old = rows(settled(bz, 3), 3)[0]
    since = sizes(bz)
    os.kill(bz.pid("order-3"), signal.SIGSTOP)
    try:
        bz.wait_log("broker", r"worker order/3 gone", since=since["broker"], timeout=DEADLINE)
        wait_until(lambda: broker_leader(bz) == 2, DEADLINE, "the broker to name replica 2")
        newcomer = second_replica(bz, spawn, 3, "newcomer")
        wait_until(lambda: led_by_another(status(bz), 3, old["incarnation"]), DEADLINE,
                   "the newcomer with id 3 to lead")
        bz.trade("nike", "sell", 1)
        resumed_at = bz.log_size("broker")
    finally:
        os.kill(bz.pid("order-3"), signal.SIGCONT)
    rc = bz.procs["order-3"].wait(DEADLINE)
    bz.kill("order-3")      # it exited: the harness must not expect it alive
    text = bz.log_since("order-3", since["order-3"])
    assert rc != 0 and REFUSED_NEWCOMER in text, "the old replica 3 exited %d:\n%s" % (rc, text)
    bz.wait_log("broker", REFUSED_BY_BROKER % 3, since=resumed_at, timeout=5)
    assert newcomer.popen.poll() is None, newcomer.describe()
    view = led_by_another(status(bz), 3, old["incarnation"])
    assert view and len(rows(view, 3)) == 1, status(bz)
    bz.trade("nike", "buy", 1)
    bz.assert_orders()
    bz.assert_stocks()


# --------------------------------------------------------------------------
#  A broker restart does not change who leads

def test_broker_restart_keeps_the_leader(bazaar_factory):
    bz = bazaar_factory(replicas=3)
    for i in range(5):
        bz.trade("meta", "buy", i + 1)
    before = settled(bz, 3)
    since = sizes(bz)
    bz.kill("broker")
    bz.start("broker")
    bz.wait_ready()
    for i in range(5):
        bz.trade("meta", "sell", i + 1)
    view = settled(bz, 3)
    assert view["epoch"] == before["epoch"], (before, view)
    named = re.findall(r"order leader is now .*", bz.log_since("broker", since["broker"]))
    assert named == ["order leader is now replica 3 (was 0)"], named
    for name in bz.replica_names:
        assert "campaigning" not in bz.log_since(name, since[name]), bz.log_tail(name)
    #  Nobody heard "no leader": the leader did not step down, the
    #  followers did not drop their subscription.
    assert_no_role_change(bz, since, bz.replica_names)
    for name in bz.replica_names:
        text = bz.log_since(name, since[name])
        assert "leader is replica 0" not in text, "%s:\n%s" % (name, text)
    bz.assert_orders()
    bz.assert_stocks()
