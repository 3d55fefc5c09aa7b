"""Bad endpoints (issue 11, item 6): every binary and every flag that takes
a ZeroMQ endpoint refuses a malformed one with a clear message naming the
flag and the value, and a non-zero exit, instead of an assert, a hang or
a vague "cannot bind".
"""

import os
import subprocess
import tempfile

import pytest

from harness import BIN, free_ports

BAD = [
    "127.0.0.1:5555",          # no transport
    "tcp://127.0.0.1",         # no port
    "tcp://127.0.0.1:",        # empty port
    "tcp://127.0.0.1:99999",   # port out of range
    "tcp://:5555",             # no host
    "tcp://127.0.0.1:55x5",    # not a number
    "udp://127.0.0.1:5555",    # unknown transport
    "tcp://",
]

#  (binary, flag, extra arguments); the other endpoints are free ports so
#  that only the flag under test can be the problem.
def cases():
    data = tempfile.mkdtemp(prefix="bazaar-endpoints-")
    p = free_ports(3)
    e = ["tcp://127.0.0.1:%d" % n for n in p]
    return [
        ("broker", "--bind", ["--tap", e[1]]),
        ("broker", "--broker", ["--tap", e[1]]),
        ("broker", "--tap", ["--bind", e[0]]),
        ("catalog", "--broker", ["--pub", e[1], "--data", data]),
        ("catalog", "--pub", ["--broker", e[0], "--data", data]),
        ("order", "--broker", ["--pub", e[1], "--rep", e[2], "--data", data]),
        ("order", "--pub", ["--broker", e[0], "--rep", e[2], "--data", data]),
        ("order", "--rep", ["--broker", e[0], "--pub", e[1], "--data", data]),
        ("gateway", "--broker", ["--catalog-pub", e[1], "--port", "0"]),
        ("gateway", "--catalog-pub", ["--broker", e[0], "--port", "0"]),
        ("tap", "--tap", ["--catalog-pub", e[1]]),
        ("tap", "--catalog-pub", ["--tap", e[0]]),
        ("tap", "--order-pub", ["--tap", e[0], "--catalog-pub", e[1]]),
    ]


CASES = cases()


@pytest.mark.parametrize("binary,flag,extra", CASES,
                         ids=["%s%s" % (c[0], c[1]) for c in CASES])
def test_bad_endpoint_is_refused_clearly(binary, flag, extra):
    for bad in BAD:
        argv = [os.path.join(BIN, "bazaar-" + binary), flag, bad] + extra
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail("%s ran on with %s %r instead of refusing it" % (binary, flag, bad))
        err = proc.stderr.decode(errors="replace") + proc.stdout.decode(errors="replace")
        assert proc.returncode > 0, \
            "%s %s %r: exit status %d (a signal is negative)\n%s" % (
                binary, flag, bad, proc.returncode, err)
        assert flag in err and bad in err, \
            "%s %s %r: the message names neither the flag nor the value:\n%s" % (
                binary, flag, bad, err)
        assert "ssert" not in err and "Abort" not in err, err


def test_bad_endpoint_in_a_config_file_is_refused(tmp_path):
    config = tmp_path / "bazaar.cfg"
    config.write_text("catalog\n    pub = 127.0.0.1:5556\n")
    proc = subprocess.run([os.path.join(BIN, "bazaar-catalog"), "-c", str(config),
                           "--data", str(tmp_path / "data")],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode > 0 and "--pub" in err and "127.0.0.1:5556" in err, err
