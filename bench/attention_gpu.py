"""Benchmark `kernels.flash_attention` against torch's scaled_dot_product_attention on a GPU.

For each case it first checks that both give the same output and gradients, then times the
forward pass and forward + backward with `triton.testing.do_bench`, ours and torch's in the same
run. Shapes hold B * N = 16384 tokens, H = 16 heads of D = 64 or H = 8 of D = 128, N from 512 to
16384, in three variants: non-causal, non-causal with the last 10% of keys padded, and causal.
Torch runs its flash backend where it can; flash takes no mask, so with padding torch gets an
`attn_mask` and the first backend that accepts it (memory-efficient, then cuDNN, then math)
runs; each line names the backend used.

FLOPs: 4 * B * H * N^2 * D for the forward pass, 2.5 times that for the backward pass, half of
both for causal (padding is not subtracted). The ratio is torch's time / ours: above 1 we are
faster.

    python bench/attention_gpu.py                      # the full table, JSON in bench/results/
    python bench/attention_gpu.py --dtypes fp16 --dims 128 --ns 4096 16384
    python bench/attention_gpu.py --tiny --out /tmp/a.json   # CPU, Triton interpreter, seconds

`--tiny` runs one small shape on the CPU under TRITON_INTERPRET=1, timed with a wall clock, so
the script itself can be tested without a GPU; its timings mean nothing.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import math
import os
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DTYPE_NAMES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
# Max |ours - torch| / max |torch|, forward output and each gradient.
TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2, "bf16": 5e-2}
TOKENS = 16384
HEADS = {64: 16, 128: 8}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="one tiny shape on CPU (interpreter)")
    p.add_argument("--out", type=Path, default=None, help="JSON path (default bench/results/)")
    p.add_argument("--dtypes", nargs="+", default=["fp16", "bf16"], choices=sorted(DTYPE_NAMES))
    p.add_argument("--dims", nargs="+", type=int, default=[64, 128], choices=[16, 32, 64, 128])
    p.add_argument("--ns", nargs="+", type=int, default=[512, 1024, 2048, 4096, 8192, 16384])
    p.add_argument("--variants", nargs="+", default=["plain", "padded", "causal"])
    return p.parse_args(argv)


def flops(B: int, H: int, N: int, D: int, causal: bool, backward: bool) -> float:
    fwd = 4.0 * B * H * N * N * D * (0.5 if causal else 1.0)
    return fwd * (3.5 if backward else 1.0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.tiny:
        os.environ["TRITON_INTERPRET"] = "1"  # must precede the first import of `kernels`
    sys.path.insert(0, str(REPO))  # run as a script from anywhere

    import torch
    import torch.nn.functional as F
    import triton

    from kernels import flash_attention

    if args.tiny:
        device, gpu = "cpu", "cpu-interpreter"
        cases = [("fp32", 16, 2, 1, 48)]  # (dtype, D, H, B, N)
        variants = ["plain", "padded", "causal"]
    else:
        if not torch.cuda.is_available():
            print("no CUDA device: run on a GPU, or use --tiny to test the script on a CPU")
            return 2
        device, gpu = "cuda", torch.cuda.get_device_name()
        cases = [
            (dt, D, HEADS.get(D, 16), max(1, TOKENS // N), N)
            for dt in args.dtypes
            for D in args.dims
            for N in args.ns
        ]
        variants = args.variants

    def bench(fn, grad_to_none) -> float:
        """Microseconds per call."""
        if args.tiny:
            fn()
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            return statistics.median(times) * 1e6
        return triton.testing.do_bench(fn, grad_to_none=grad_to_none) * 1e3

    from torch.nn.attention import SDPBackend, sdpa_kernel

    def sdpa(q, k, v, mask, causal):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)

    def pick_backend(q, k, v, mask, causal):
        """The first SDPA backend that accepts these arguments, flash first where allowed."""
        order = [SDPBackend.FLASH_ATTENTION] if mask is None else []
        order += [SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION, SDPBackend.MATH]
        for backend in order:
            try:
                with sdpa_kernel([backend]), torch.no_grad():
                    sdpa(q, k, v, mask, causal)
                return backend
            except RuntimeError:
                continue
        raise RuntimeError("no SDPA backend accepted these inputs")

    def max_rel_err(ours, peer, q, k, v, do) -> dict[str, float]:
        """max |ours - peer| / max |peer| for the output and each gradient."""
        out = {}
        pairs = zip(
            ("o", "dq", "dk", "dv"),
            (ours, *grads(ours, q, k, v, do)),
            (peer, *grads(peer, q, k, v, do)),
        )
        for name, a, b in pairs:
            out[name] = ((a.float() - b.float()).abs().max() / b.float().abs().max()).item()
        return out

    def grads(o, q, k, v, do):
        return torch.autograd.grad(o, (q, k, v), do, retain_graph=True)

    print(f"# {gpu}: torch {torch.__version__}, triton {triton.__version__}", flush=True)
    results, all_ok = [], True
    for dt, D, H, B, N in cases:
        dtype = getattr(torch, DTYPE_NAMES[dt])
        gen = torch.Generator(device=device).manual_seed(0)
        q, k, v, do = (
            torch.randn(B, H, N, D, device=device, dtype=dtype, generator=gen) for _ in range(4)
        )
        q, k, v = (x.requires_grad_() for x in (q, k, v))
        for variant in variants:
            causal = variant == "causal"
            kpm = mask = None
            if variant == "padded":
                kpm = torch.zeros(B, N, dtype=torch.bool, device=device)
                kpm[:, N - max(1, N // 10) :] = True
                mask = ~kpm[:, None, None, :]  # (B, 1, 1, N); SDPA's bool mask: True = attend
            backend = pick_backend(q, k, v, mask, causal)

            with sdpa_kernel([backend]):  # correctness on this very shape, against torch
                errors = max_rel_err(
                    flash_attention(q, k, v, kpm, causal), sdpa(q, k, v, mask, causal), q, k, v, do
                )
            ok = all(math.isfinite(e) and e <= TOLERANCE[dt] for e in errors.values())
            all_ok &= ok

            ours = functools.partial(flash_attention, q, k, v, kpm, causal)
            peer = functools.partial(sdpa, q, k, v, mask, causal)
            for mode in ("fwd", "fwd+bwd"):
                with sdpa_kernel([backend]):
                    if mode == "fwd":
                        with torch.no_grad():
                            t_ours, t_peer = bench(ours, None), bench(peer, None)
                    else:
                        t_ours = bench(lambda f=ours, g=do: f().backward(g), [q, k, v])
                        t_peer = bench(lambda f=peer, g=do: f().backward(g), [q, k, v])
                fl = flops(B, H, N, D, causal, backward=mode == "fwd+bwd")
                row = {
                    "dtype": dt, "B": B, "H": H, "N": N, "D": D, "variant": variant,
                    "mode": mode, "ours_us": t_ours, "ours_tflops": fl / t_ours / 1e6,
                    "peer": f"torch sdpa ({backend.name.lower()})", "peer_us": t_peer,
                    "peer_tflops": fl / t_peer / 1e6, "ratio": t_peer / t_ours,
                    "max_rel_err": errors, "correct": ok,
                }  # fmt: skip
                results.append(row)
                print(
                    f"{dt} B{B:<3d} H{H:<2d} N{N:<5d} D{D:<3d} {variant:6s} {mode:7s} "
                    f"ours {t_ours:10.1f} us {row['ours_tflops']:7.2f} TFLOP/s | "
                    f"{row['peer']} {t_peer:10.1f} us {row['peer_tflops']:7.2f} TFLOP/s | "
                    f"ratio {row['ratio']:5.2f}x | {'ok' if ok else 'MISMATCH'} "
                    f"(max rel err {max(errors.values()):.1e})",
                    flush=True,
                )

    now = datetime.datetime.now()
    record = {
        "gpu": gpu,
        "date": now.isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "cuda": torch.version.cuda,
        "interpreter": os.environ.get("TRITON_INTERPRET") == "1",
        "flops": "4*B*H*N^2*D forward, x2.5 backward, x0.5 causal; ratio = peer_us / ours_us",
        "tolerance": TOLERANCE,
        "correct": all_ok,
        "results": results,
    }
    out = args.out
    if out is None:
        name = re.sub(r"[^A-Za-z0-9]+", "-", gpu).strip("-")
        out = REPO / "bench" / "results" / f"attention_{name}_{now:%Y-%m-%d}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"torch {torch.__version__}, triton {triton.__version__}, {gpu}; wrote {out}")
    if not all_ok:
        print("MISMATCH: some case differs from torch beyond tolerance", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
