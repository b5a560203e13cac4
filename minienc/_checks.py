"""Input validation shared by every layer.

Bad input should meet a clear `ValueError`/`TypeError` that names the argument, the expected and the
actual shape or dtype, at the door of the function, never a broadcasting error from deep inside.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "check_float",
    "check_int",
    "check_ndim",
    "check_last_dim",
    "check_same_shape",
    "check_params",
    "check_qkv",
    "check_cross_entropy_args",
]

REDUCTIONS = ("mean", "sum", "none")


def _as_array(name: str, x: object) -> np.ndarray:
    if not isinstance(x, np.ndarray | np.generic):
        if hasattr(x, "__array__") and not isinstance(x, list | tuple):
            return np.asarray(x)
        raise TypeError(f"{name} must be a NumPy array, got {type(x).__name__}")
    return np.asarray(x)


def check_float(name: str, x: object) -> np.ndarray:
    """Return `x` as an array, or raise TypeError if it is not a floating-point array."""
    x = _as_array(name, x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must be a floating-point array, got dtype {x.dtype}")
    return x


def check_int(name: str, x: object) -> np.ndarray:
    """Return `x` as an array, or raise TypeError if it is not an integer array."""
    x = _as_array(name, x)
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"{name} must be an integer array, got dtype {x.dtype}")
    return x


def check_ndim(name: str, x: np.ndarray, ndim: int | Iterable[int], layout: str = "") -> None:
    """Raise ValueError unless `x.ndim` is `ndim` (or one of them). `layout` names the axes."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if x.ndim not in allowed:
        want = " or ".join(str(n) for n in allowed)
        hint = f" {layout}" if layout else ""
        raise ValueError(f"{name} must have {want} dimensions{hint}, got shape {x.shape}")


def check_last_dim(name: str, x: np.ndarray, size: int, against: str) -> None:
    """Raise ValueError unless the last axis of `x` has `size` entries (to match `against`)."""
    if x.ndim == 0 or x.shape[-1] != size:
        raise ValueError(
            f"{name} has shape {x.shape} but {against} expects a last dimension of {size}"
        )


def check_same_shape(name: str, x: np.ndarray, other_name: str, other: np.ndarray) -> None:
    """Raise ValueError unless `x` and `other` have the same shape."""
    if x.shape != other.shape:
        raise ValueError(
            f"{name} has shape {x.shape} but {other_name} has shape {other.shape}: they must match"
        )


def check_params(
    params: Mapping[str, np.ndarray], shapes: Mapping[str, tuple[int | None, ...]], layer: str
) -> None:
    """Check that `params` holds every key in `shapes`, floating, with the given ranks.

    `shapes` maps each required key to its expected shape; `None` in a shape means "any size".
    """
    if not isinstance(params, Mapping):
        raise TypeError(f"params of {layer} must be a dict of arrays, got {type(params).__name__}")
    missing = [k for k in shapes if k not in params]
    if missing:
        raise KeyError(
            f"params of {layer} is missing {missing}; expected keys {sorted(shapes)}, "
            f"got {sorted(params)}"
        )
    for key, shape in shapes.items():
        w = check_float(f"params[{key!r}]", params[key])
        ok = w.ndim == len(shape) and all(s is None or s == d for s, d in zip(shape, w.shape))
        if not ok:
            dims = ", ".join("*" if s is None else str(s) for s in shape)
            want = f"({dims},)" if len(shape) == 1 else f"({dims})"
            raise ValueError(f"params[{key!r}] of {layer} must have shape {want}, got {w.shape}")


def check_qkv(q: Any, k: Any, v: Any) -> None:
    """Check attention inputs (B, H, T, Dh): shared (B, H), equal Dh for q and k, equal Tk for k
    and v, one dtype. Shape-only, so it serves NumPy arrays, JAX arrays and tracers alike."""
    for name, a in (("q", q), ("k", k), ("v", v)):
        check_ndim(name, a, 4, "(B, H, T, Dh)")
    if k.shape[-1] != q.shape[-1]:
        raise ValueError(
            f"q has shape {q.shape} but k has shape {k.shape}: the last dimensions must match"
        )
    if q.shape[:2] != k.shape[:2] or v.shape[:3] != k.shape[:3]:
        raise ValueError(
            f"q, k, v have shapes {q.shape}, {k.shape}, {v.shape}: they must share (B, H), "
            "and k and v must share Tk"
        )
    for name, a in (("k", k), ("v", v)):
        if a.dtype != q.dtype:
            raise TypeError(
                f"q has dtype {q.dtype} but {name} has dtype {a.dtype}: they must match"
            )


def check_cross_entropy_args(
    logits: Any, target: Any, reduction: str, label_smoothing: float
) -> None:
    """Check cross-entropy's logits (..., C) against target (...), and its two options.

    Shape-only, so it serves the NumPy and the JAX build alike.
    """
    if logits.ndim == 0:
        raise ValueError("logits must have at least one dimension (..., C), got shape ()")
    if target.shape != logits.shape[:-1]:
        raise ValueError(
            f"target has shape {target.shape} but logits has shape {logits.shape}: target must "
            f"have the shape of logits without its last (class) axis, {logits.shape[:-1]}"
        )
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"label_smoothing must lie in [0, 1], got {label_smoothing}")
