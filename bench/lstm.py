"""NumPy LSTM forward vs torch.nn.LSTM on CPU: tokens per second, side by side in one run.

    python bench/lstm.py [--out bench/results/lstm_cpu.json] [--repeats 10]

Shape I = H = 256, B = 32, T = 128, one layer, float32 (DESIGN §7: target ≥ 0.5× torch).
Prints one line: shape, ours, peer, ratio, versions; writes JSON only with --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import numpy as np
import torch
from _timing import best_seconds  # bench/ is sys.path[0] when a script here runs

from minienc.numpy import lstm

I, H, B, T = 256, 256, 32, 128


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the result as JSON to this file")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    torch.manual_seed(0)
    module = torch.nn.LSTM(I, H, batch_first=True).eval()
    params = {k: v.detach().numpy() for k, v in module.state_dict().items()}  # float32
    x = np.random.default_rng(0).standard_normal((B, T, I), dtype=np.float32)
    xt = torch.from_numpy(x)

    (ours_out, _), _ = lstm.forward(params, x)
    with torch.inference_mode():
        peer_out, _ = module(xt)
    err = float(np.abs(ours_out - peer_out.numpy()).max())

    def peer() -> None:
        with torch.inference_mode():
            module(xt)

    best = best_seconds({"ours": lambda: lstm.forward(params, x), "peer": peer}, args.repeats)
    ours, theirs = B * T / best["ours"], B * T / best["peer"]
    versions = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "unset"),
    }
    shape = f"lstm fwd fp32 I={I} H={H} B={B} T={T}"
    print(
        f"{shape} | ours {ours:,.0f} tok/s | torch.nn.LSTM {theirs:,.0f} tok/s | "
        f"ratio {ours / theirs:.2f}x | max abs diff {err:.1e} | "
        + " ".join(f"{k} {v}" for k, v in versions.items())
    )
    if args.out:
        result = {
            "case": {"I": I, "H": H, "B": B, "T": T, "dtype": "float32", "device": "cpu"},
            "ours_tokens_per_s": ours,
            "peer": "torch.nn.LSTM",
            "peer_tokens_per_s": theirs,
            "ratio": ours / theirs,
            "max_abs_diff": err,
            "versions": versions,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
