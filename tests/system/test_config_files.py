"""Config files (-c FILE) are held to the same rule as flags (issue 21,
item 3): README's example works, and an unknown key or section, or a file
that is not ZPL, is refused with exit 2 and a message naming the file,
the line and the key, by every binary. A shared file may hold the other
programs' sections (tests/net writes one file per host with one section).
"""

import os
import re
import subprocess

import pytest

from harness import REPO, free_ports, http_request, tool, wait_until, Proc

PROGRAMS = ["broker", "catalog", "order", "gateway", "tap", "client"]


def run(program, config, *args):
    argv = [tool("bazaar-" + program), "-c", str(config)] + list(args)
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("%s ran on instead of refusing its config file" % " ".join(argv))
    return proc.returncode, proc.stderr.decode(errors="replace")


def readme_example():
    """The config line README gives in "Running the pieces by hand"."""
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    match = re.search(r"`(gateway/port = (\d+))`", text)
    assert match, "README no longer shows the `gateway/port = N` example"
    return match.group(1), match.group(2)


def test_readme_example_sets_the_gateway_port(tmp_path):
    line, port = readme_example()
    #  The example's own port may be taken on a shared machine: the same
    #  line with a port of this test's.
    port_free, broker = free_ports(2)
    config = tmp_path / "bazaar.cfg"
    config.write_text(line.replace(port, str(port_free)) + "\n")
    gateway = Proc([tool("bazaar-gateway"), "-c", str(config),
                    "--broker", "tcp://127.0.0.1:%d" % broker], merge_stderr=True)
    try:
        r = wait_until(lambda: http_request(port_free, "GET", "/metrics", timeout=2), 20,
                       "the gateway to listen on the port of its config file")
        assert r.status == 200, r
    finally:
        gateway.kill()


BAD_FILES = [
    #  (name, content, line, what the message names)
    ("typo-key", "# a config\nprot = 8081\n", 2, "'prot'"),
    ("underscore", "cache_size = 0\n", 1, "'cache_size'"),
    ("typo-section", "\ngatway\n    port = 8081\n", 2, "'gatway'"),
    ("not-zpl", "port 8081\n", 1, "expected '='"),
]


@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("name,content,line,key", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_unknown_key_section_or_syntax_is_refused(tmp_path, program, name, content, line, key):
    config = tmp_path / ("%s.cfg" % name)
    config.write_text(content)
    rc, err = run(program, config)
    assert rc == 2, "bazaar-%s -c %s: exit %d\n%s" % (program, name, rc, err)
    assert "%s line %d:" % (config, line) in err and key in err, err


@pytest.mark.parametrize("program", PROGRAMS)
def test_binary_garbage_is_refused(tmp_path, program):
    config = tmp_path / "garbage.cfg"
    config.write_bytes(bytes(range(256)) * 4)
    rc, err = run(program, config)
    assert rc == 2 and str(config) in err and "not a text file" in err, (rc, err)


def test_own_section_is_checked_others_are_not(tmp_path):
    config = tmp_path / "shared.cfg"
    config.write_text("gateway\n    port = 8081\n    prot = 8082\n")
    rc, err = run("gateway", config)
    assert rc == 2 and "line 3" in err and "'prot'" in err, err
    #  The catalog does not own the gateway's section: it starts (--help
    #  would not read the file; a bad flag after it shows the file passed).
    rc, err = run("catalog", config, "--pub", "nonsense")
    assert rc == 2 and "config file" not in err and "--pub" in err, err


def test_net_suite_style_file_is_accepted(tmp_path):
    """tests/net/netbazaar.py writes one section per host file, values quoted."""
    config = tmp_path / "r1.cfg"
    config.write_text('#  Bazaar on host r1: the order\norder\n'
                      '    id = "1"\n    broker = "tcp://10.0.0.1:5555"\n'
                      '    pub = "tcp://10.0.0.2:5601"\n    rep = "tcp://10.0.0.2:5701"\n'
                      'broker\n    bind = "tcp://10.0.0.1:5555"\n    tap = ""\n')
    #  --id 0 is refused after the file was read: the file itself passed.
    rc, err = run("order", config, "--id", "0")
    assert rc == 2 and "config file" not in err and "--id" in err, err
