"""make eval's script, once with tiny sizes (EVAL_TINY=1) into a temp dir:
it must finish, verify the replicas, and write every CSV and PNG non-empty
and an EVALUATION.md that embeds every plot."""

import os
import subprocess
import sys

from harness import BIN

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CSVS = ("latency.csv", "cache_timeline.csv", "failover.csv", "failover_summary.csv")
PNGS = ("latency-lookup.png", "latency-trade.png", "latency-query.png",
        "cache_replacement.png", "failover.png")


def test_eval_smoke(tmp_path):
    out = tmp_path / "eval"
    env = dict(os.environ, EVAL_TINY="1", EVAL_OUT=str(out), EVAL_SEED="7", BAZAAR_BIN=BIN)
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "eval")], env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    for name in CSVS:
        lines = (out / name).read_text().splitlines()
        assert len(lines) >= 2, (name, lines)
    for name in PNGS:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name
    doc = (tmp_path / "EVALUATION.md").read_text()
    for name in PNGS:
        assert "](eval/%s)" % name in doc, name
    assert "nan" not in (out / "failover_summary.csv").read_text()
