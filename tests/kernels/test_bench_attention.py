"""bench/attention_gpu.py runs end to end and writes the JSON it promises.

On a CPU (tests/conftest.py has set TRITON_INTERPRET=1) it runs `--tiny`: one small shape under
the Triton interpreter. On a GPU machine it runs one real benchmark shape instead, since the
interpreter of older Triton releases found there cannot run loops with runtime bounds.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"


def test_attention_bench_writes_json(tmp_path):
    out = tmp_path / "attention.json"
    shape = ["--tiny"] if INTERPRET else ["--dtypes", "fp16", "--dims", "64", "--ns", "1024"]
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "attention_gpu.py"), *shape, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = json.loads(out.read_text())
    assert {"gpu", "date", "torch", "triton", "results", "correct"} <= set(record)
    assert record["correct"] is True and record["interpreter"] is INTERPRET
    rows = record["results"]
    assert {(r["variant"], r["mode"]) for r in rows} == {
        (variant, mode) for variant in ("plain", "padded", "causal") for mode in ("fwd", "fwd+bwd")
    }
    for r in rows:
        assert r["correct"] and all(0 <= e <= 1e-2 for e in r["max_rel_err"].values())
        assert r["ours_us"] > 0 and r["peer_us"] > 0 and r["ratio"] > 0
        assert r["peer"].startswith("torch sdpa")
    lines = [line for line in proc.stdout.splitlines() if "ours" in line and "ratio" in line]
    assert len(lines) == len(rows)
