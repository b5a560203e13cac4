"""Write the golden reference files `<name>.npz` from torch, in float64, with fixed seeds.

Usage: python tests/golden/make_golden.py [OUTDIR]      (default: this script's folder)

Each file holds the positional inputs (their names, in order, in `inputs`), the parameters as
`param.<key>` (torch `state_dict()` keys), the keyword arguments as 0-d arrays `kwarg.<name>`,
torch's output `y`, a random upstream gradient `dy`, and torch's gradients of sum(dy * y): `dx` for
the first input (unless it holds integer ids), `dx.<name>` for each floating input when there are
several, and `grad.<key>` for each parameter. Parameters are
random and non-zero (biases included). `minienc.golden` reads these files without torch.

Dropout cannot share torch's random mask, so its reference applies the mask of
`minienc.numpy.dropout`, `np.random.default_rng(seed).random(x.shape) >= p`, in torch.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

DTYPE = torch.float64


@dataclass
class Golden:
    """One reference: inputs, params and kwargs, and the torch function y = fn(params, *inputs)."""

    inputs: dict[str, torch.Tensor]
    fn: Callable[..., torch.Tensor]
    params: dict[str, torch.Tensor] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)


def randn(*shape: int) -> torch.Tensor:
    return torch.randn(shape, dtype=DTYPE)


def make_linear() -> Golden:
    params = {"weight": randn(4, 5) / 5**0.5, "bias": randn(4)}
    return Golden({"x": randn(2, 3, 5)}, lambda p, x: F.linear(x, p["weight"], p["bias"]), params)


def make_embedding() -> Golden:
    ids = torch.tensor([[1, 0, 3, 3, 6], [5, 2, 0, 1, 4]])  # (2, 5), row 0 is padding, 3 repeats
    return Golden(
        {"ids": ids},
        lambda p, ids: F.embedding(ids, p["weight"], padding_idx=0),
        {"weight": randn(7, 4)},
        {"padding_idx": 0},
    )


def make_layernorm() -> Golden:
    params = {"weight": 1 + 0.5 * randn(6), "bias": randn(6)}
    return Golden(
        {"x": 2 * randn(2, 3, 6) + 1},
        lambda p, x: F.layer_norm(x, (6,), p["weight"], p["bias"], eps=1e-5),
        params,
        {"eps": 1e-5},
    )


def make_activation(kind: str) -> Callable[[], Golden]:
    fns = {
        "relu": F.relu,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "gelu": F.gelu,
        "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    }
    return lambda: Golden({"x": 2 * randn(2, 3, 4)}, lambda p, x: fns[kind](x), {}, {"kind": kind})


def make_softmax(log: bool) -> Callable[[], Golden]:
    fn = F.log_softmax if log else F.softmax
    kwargs = {"log": True} if log else {}
    return lambda: Golden({"x": 3 * randn(2, 3, 5)}, lambda p, x: fn(x, dim=-1), {}, kwargs)


def make_dropout() -> Golden:
    p, seed, shape = 0.3, 1234, (2, 3, 4)
    keep = np.random.default_rng(seed).random(shape) >= p  # minienc.numpy.dropout's mask
    mask = torch.from_numpy(keep).to(DTYPE)
    return Golden(
        {"x": randn(*shape)},
        lambda params, x: x * mask * (1 / (1 - p)),
        {},
        {"p": p, "training": True, "rng": seed},
    )


def make_cross_entropy() -> Golden:
    target = torch.tensor([[2, -100, 0, 3, 1], [3, 3, -100, 0, 2]])  # (2, 5), two ignored
    kwargs = {"ignore_index": -100, "label_smoothing": 0.1, "reduction": "mean"}
    return Golden(
        {"logits": 2 * randn(2, 5, 4), "target": target},
        lambda p, logits, target: F.cross_entropy(logits.movedim(-1, 1), target, **kwargs),
        {},
        kwargs,
    )


def make_attention() -> Golden:
    """Scaled dot-product attention on (B, H, T, Dh) = (2, 3, 5|7, 16) with a key-padding mask.

    Batch element 1 has every key padded: its output and gradients are zeros, never NaN. Dh = 16
    so that the Triton kernel can be checked against the same file.
    """
    mask = torch.zeros(2, 7, dtype=torch.bool)  # (B, Tk), True = padding
    mask[0, 5:] = True
    mask[1, :] = True

    def attention(p, q, k, v):
        s = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5  # (B, H, Tq, Tk)
        s = s.masked_fill(mask[:, None, None, :], float("-inf"))
        m = s.amax(-1, keepdim=True)
        m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # all-masked rows: no nan
        e = torch.exp(s - m)
        return (e / e.sum(-1, keepdim=True).clamp_min(1e-300)) @ v

    q, k, v = randn(2, 3, 5, 16), randn(2, 3, 7, 16), randn(2, 3, 7, 16)
    return Golden({"q": q, "k": k, "v": v}, attention, {}, {"key_padding_mask": mask.numpy()})


MAKERS: dict[str, Callable[[], Golden]] = {
    "linear": make_linear,
    "embedding": make_embedding,
    "layernorm": make_layernorm,
    **{
        f"activations_{k}": make_activation(k)
        for k in ("relu", "tanh", "sigmoid", "gelu", "gelu_tanh")
    },
    "softmax": make_softmax(log=False),
    "log_softmax": make_softmax(log=True),
    "dropout": make_dropout,
    "cross_entropy": make_cross_entropy,
    "attention": make_attention,
}


def arrays_for(name: str) -> dict[str, np.ndarray]:
    """Build the reference `name` with torch and return the arrays its file stores."""
    torch.manual_seed(zlib.crc32(name.encode()))  # one fixed seed per file, independent of order
    g = MAKERS[name]()
    inputs = {k: v.clone().requires_grad_(v.is_floating_point()) for k, v in g.inputs.items()}
    params = {k: v.clone().requires_grad_(True) for k, v in g.params.items()}
    y = g.fn(params, *inputs.values())
    dy = randn(*y.shape)
    y.backward(dy)

    out = {"inputs": np.array(list(inputs))}
    out.update({k: v.detach().numpy() for k, v in inputs.items()})
    out.update({f"param.{k}": v.detach().numpy() for k, v in params.items()})
    out.update({f"kwarg.{k}": np.array(v) for k, v in g.kwargs.items()})
    out["y"] = y.detach().numpy()
    out["dy"] = dy.numpy()
    first = next(iter(inputs.values()))
    if first.is_floating_point():
        out["dx"] = first.grad.numpy()
    if len(inputs) > 1:  # several inputs: the gradient of each floating one as dx.<name>
        out.update({f"dx.{k}": v.grad.numpy() for k, v in inputs.items() if v.is_floating_point()})
    out.update({f"grad.{k}": v.grad.numpy() for k, v in params.items()})
    return out


def main(outdir: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    for name in MAKERS:
        np.savez(outdir / f"{name}.npz", **arrays_for(name))
        print(f"wrote {outdir / name}.npz")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
