"""Read the attention benchmark's results and draw TFLOP/s against sequence length.

`bench/attention_gpu.py` writes one JSON record per run, named
`bench/results/attention_<gpu>_<date>.json`: the GPU name, date, library versions, and one row
per case with `dtype`, `D`, `N`, `variant` ("plain", "padded", "causal"), `mode` ("fwd",
"fwd+bwd"), `ours_tflops`, `peer` (which torch SDPA backend ran) and `peer_tflops`.
`latest_record` finds the newest GPU record and `plot_tflops` draws ours against torch's, one
panel per mode.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["RESULTS_DIR", "latest_record", "plot_tflops"]

RESULTS_DIR = Path(__file__).resolve().parents[1] / "bench" / "results"
MODES = ("fwd", "fwd+bwd")


def latest_record(
    results_dir: str | Path = RESULTS_DIR, include_interpreter: bool = False
) -> dict[str, Any] | None:
    """The newest `attention_*.json` record by its `date` field, with `path` added; or None.

    Records from the CPU interpreter (`--tiny`, whose timings mean nothing) are skipped unless
    `include_interpreter` is True.
    """
    records = []
    for path in sorted(Path(results_dir).glob("attention_*.json")):
        record = json.loads(path.read_text())
        if record.get("interpreter") and not include_interpreter:
            continue
        records.append({**record, "path": str(path)})
    return max(records, key=lambda r: r["date"], default=None)


def _pick(wanted: str | None, preferred: str, available: set[str]) -> str:
    if wanted is not None:
        return wanted
    return preferred if preferred in available else sorted(available)[0]


def plot_tflops(record: dict[str, Any], dtype: str | None = None, variant: str | None = None):
    """TFLOP/s against N for ours (solid) and torch SDPA (dashed), one colour per head width D.

    `dtype` defaults to fp16 and `variant` to "padded" when the record has them, else to the
    first in alphabetical order. Returns the figure; the title names the GPU and the run's date.
    """
    import matplotlib.pyplot as plt

    rows = record["results"]
    dtype = _pick(dtype, "fp16", {r["dtype"] for r in rows})
    variant = _pick(variant, "padded", {r["variant"] for r in rows})
    rows = [r for r in rows if r["dtype"] == dtype and r["variant"] == variant]
    if not rows:
        have = sorted({(r["dtype"], r["variant"]) for r in record["results"]})
        raise ValueError(
            f"no results for dtype={dtype!r}, variant={variant!r}; the record has {have}"
        )

    modes = [m for m in MODES if any(r["mode"] == m for r in rows)]
    fig, axes = plt.subplots(1, len(modes), figsize=(5.5 * len(modes), 4), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        for i, D in enumerate(sorted({r["D"] for r in rows})):
            case = sorted(
                (r for r in rows if r["mode"] == mode and r["D"] == D), key=lambda r: r["N"]
            )
            ns = [r["N"] for r in case]
            ax.plot(ns, [r["ours_tflops"] for r in case], "o-", color=f"C{i}", label=f"ours, D={D}")
            ax.plot(
                ns,
                [r["peer_tflops"] for r in case],
                "s--",
                color=f"C{i}",
                alpha=0.7,
                label=f"{case[0]['peer']}, D={D}",
            )
        ax.set_xscale("log", base=2)
        ax.set_xlabel("sequence length N")
        ax.set_ylabel("TFLOP/s")
        ax.set_ylim(bottom=0)
        ax.set_title(mode)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"{record['gpu']}, {record['date'][:10]}: {dtype}, {variant} "
        f"(torch {record.get('torch', '?')}, triton {record.get('triton', '?')})"
    )
    fig.tight_layout()
    return fig
