"""NumPy Transformer encoder forward vs torch.nn.TransformerEncoder on CPU, side by side in one run.

    python bench/encoder.py [--out bench/results/encoder_cpu.json] [--repeats 10]

Shape: 4 post-LN layers, D = 256, H = 4, FFN 1024, ReLU, B = 32, T = 128, float32, evaluation
mode, no padding (DESIGN §7: target ≥ 0.8× torch tokens/s). Both run the same weights; torch runs
eagerly under `inference_mode` (which lets it take its fused fast path).
Prints one line: shape, ours, peer, ratio, versions; writes JSON only with --out.

Nearly all of the time is BLAS matrix products. On a machine shared with other busy processes,
OpenBLAS's worker threads (which spin while they wait for each other) can make ours several times
slower than on a quiet one; the line reports the BLAS thread count so that runs can be compared
(e.g. with `OPENBLAS_NUM_THREADS=1`).
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

from minienc.numpy import encoder

N_LAYERS, D, H, FFN, B, T = 4, 256, 4, 1024, 32, 128


def blas_threads() -> str:
    """The number of threads NumPy's own BLAS uses, as threadpoolctl reports it (if installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return os.environ.get("OPENBLAS_NUM_THREADS", "unknown")
    for info in threadpool_info():
        if info["user_api"] == "blas" and "numpy" in info["filepath"]:
            return str(info["num_threads"])
    return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the result as JSON to this file")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(D, H, FFN, dropout=0.0, batch_first=True)
    module = torch.nn.TransformerEncoder(layer, N_LAYERS, enable_nested_tensor=False).eval()
    params = {k: v.detach().numpy() for k, v in module.state_dict().items()}  # float32
    x = np.random.default_rng(0).standard_normal((B, T, D), dtype=np.float32)
    xt = torch.from_numpy(x)

    def ours() -> np.ndarray:
        return encoder.forward(params, x, H)[0]

    def peer() -> torch.Tensor:
        with torch.inference_mode():
            return module(xt)

    y = ours()
    err = float(np.abs(y - peer().numpy()).max())
    best = best_seconds({"ours": ours, "peer": peer}, args.repeats)
    t_ours, t_peer = best["ours"], best["peer"]
    tok_ours, tok_peer = B * T / t_ours, B * T / t_peer
    versions = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy_blas_threads": blas_threads(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "unset"),
    }
    shape = f"encoder fwd fp32 eval L={N_LAYERS} D={D} H={H} FFN={FFN} B={B} T={T}"
    print(
        f"{shape} | ours {tok_ours:,.0f} tok/s | torch.nn.TransformerEncoder {tok_peer:,.0f} tok/s"
        f" | ratio {tok_ours / tok_peer:.2f}x | max abs diff {err:.1e} | "
        + " ".join(f"{k} {v}" for k, v in versions.items())
    )
    if args.out:
        result = {
            "case": {
                "layers": N_LAYERS,
                "D": D,
                "H": H,
                "FFN": FFN,
                "B": B,
                "T": T,
                "dtype": "float32",
                "device": "cpu",
                "mode": "eval",
            },
            "ours_tokens_per_s": tok_ours,
            "peer": "torch.nn.TransformerEncoder",
            "peer_tokens_per_s": tok_peer,
            "ratio": tok_ours / tok_peer,
            "max_abs_diff": err,
            "versions": versions,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
