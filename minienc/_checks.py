"""Input validation for every layer, NumPy and JAX alike.

Bad input should meet a clear `ValueError`/`TypeError` that names the argument, the expected and the
actual shape or dtype, at the door of the function, never a broadcasting error from deep inside.

The checks look only at shapes, dtypes and keys, so they serve NumPy arrays, JAX arrays and JAX
tracers (inside `jax.jit`, shapes and dtypes are known while tracing, values are not). Checks on
values (ids in range, lengths ≥ 1) use `known_values`, which is None under a JAX transformation.
The one difference between the backends is the array a check hands back: `check_float`,
`check_int` and `check_bool` return a NumPy array (for the NumPy layers), `as_float`, `as_int`
and `as_bool` the same checked input as a JAX array (for the JAX layers).
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "check_float",
    "check_int",
    "check_bool",
    "as_float",
    "as_int",
    "as_bool",
    "known_values",
    "check_number",
    "check_ndim",
    "check_last_dim",
    "check_mask",
    "check_same_shape",
    "check_qkv",
    "check_batch",
    "check_cross_entropy_args",
]

REDUCTIONS = ("mean", "sum", "none")
_KINDS = {"float": "a floating-point", "int": "an integer", "bool": "a bool"}


def _is_jax(x: object) -> bool:
    jax = sys.modules.get("jax")  # no JAX array can exist unless jax is imported
    return jax is not None and isinstance(x, jax.Array)


def _kind_ok(dtype: Any, kind: str) -> bool:
    base = {"float": np.floating, "int": np.integer, "bool": np.bool_}[kind]
    return np.issubdtype(dtype, base)


def _dtype_error(name: str, dtype: Any, kind: str, meaning: str = "") -> TypeError:
    what = f"{_KINDS[kind]} array" + (f" ({meaning})" if meaning else "")
    return TypeError(f"{name} must be {what}, got dtype {dtype}")


def _checked_numpy(name: str, x: object, kind: str, meaning: str = "") -> np.ndarray:
    if not isinstance(x, np.ndarray | np.generic):
        if not hasattr(x, "__array__") or isinstance(x, list | tuple):
            raise TypeError(f"{name} must be a NumPy array, got {type(x).__name__}")
    x = np.asarray(x)
    if not _kind_ok(x.dtype, kind):
        raise _dtype_error(name, x.dtype, kind, meaning)
    return x


def _checked_jax(name: str, x: object, kind: str, meaning: str = "") -> Any:
    import jax.numpy as jnp

    if not (_is_jax(x) or isinstance(x, np.ndarray | np.generic)):
        raise TypeError(f"{name} must be a JAX or NumPy array, got {type(x).__name__}")
    if not _kind_ok(x.dtype, kind):
        raise _dtype_error(name, x.dtype, kind, meaning)
    return jnp.asarray(x)


def check_float(name: str, x: object) -> np.ndarray:
    """Return `x` as a NumPy array, or raise TypeError if it is not a floating-point array."""
    return _checked_numpy(name, x, "float")


def check_int(name: str, x: object) -> np.ndarray:
    """Return `x` as a NumPy array, or raise TypeError if it is not an integer array."""
    return _checked_numpy(name, x, "int")


def check_bool(name: str, x: object, meaning: str = "True = padding") -> np.ndarray:
    """Return `x` as a NumPy array, or raise TypeError if it is not a bool array."""
    return _checked_numpy(name, x, "bool", meaning)


def as_float(name: str, x: object) -> Any:
    """`check_float` for the JAX layers: returns a JAX array (a tracer passes through)."""
    return _checked_jax(name, x, "float")


def as_int(name: str, x: object) -> Any:
    """`check_int` for the JAX layers: returns a JAX array (a tracer passes through)."""
    return _checked_jax(name, x, "int")


def as_bool(name: str, x: object, meaning: str = "True = padding") -> Any:
    """`check_bool` for the JAX layers: returns a JAX array (a tracer passes through)."""
    return _checked_jax(name, x, "bool", meaning)


def known_values(x: Any) -> np.ndarray | None:
    """The values of `x` as a NumPy array when they are known now, None for a JAX tracer
    (inside jit, grad or vmap). Value checks use NumPy, so they never trace JAX operations."""
    jax = sys.modules.get("jax")
    return None if jax is not None and isinstance(x, jax.core.Tracer) else np.asarray(x)


def check_number(name: str, value: object, low: float, high: float | None = None) -> None:
    """Raise TypeError unless `value` is a real number, ValueError unless low ≤ value (≤ high)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if high is None and not value >= low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and not low <= value <= high:
        raise ValueError(f"{name} must lie in [{low}, {high}], got {value}")


def check_ndim(name: str, x: Any, ndim: int | Iterable[int], layout: str = "") -> None:
    """Raise ValueError unless `x.ndim` is `ndim` (or one of them). `layout` names the axes."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if x.ndim not in allowed:
        want = " or ".join(str(n) for n in allowed)
        hint = f" {layout}" if layout else ""
        raise ValueError(f"{name} must have {want} dimensions{hint}, got shape {x.shape}")


def check_last_dim(name: str, x: Any, size: int, against: str) -> None:
    """Raise ValueError unless the last axis of `x` has `size` entries (to match `against`)."""
    if x.ndim == 0 or x.shape[-1] != size:
        raise ValueError(
            f"{name} has shape {x.shape} but {against} expects a last dimension of {size}"
        )


def check_mask(mask: Any, x_name: str, x: Any) -> None:
    """Raise ValueError unless a key_padding_mask (B, T) has the batch and length of `x`."""
    if mask is not None and np.shape(mask) != tuple(x.shape[:2]):
        raise ValueError(
            f"key_padding_mask must have shape (B, Tk) = {tuple(x.shape[:2])} for {x_name} of "
            f"shape {x.shape}, got {np.shape(mask)}"
        )


def check_same_shape(name: str, x: Any, other_name: str, other: Any) -> None:
    """Raise ValueError unless `x` and `other` have the same shape."""
    if x.shape != other.shape:
        raise ValueError(
            f"{name} has shape {x.shape} but {other_name} has shape {other.shape}: they must match"
        )


def check_qkv(q: Any, k: Any, v: Any) -> None:
    """Check attention inputs (B, H, T, Dh): shared (B, H), equal Dh for q and k, equal Tk for k
    and v, one dtype."""
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


def check_batch(ids: Any, lengths: Any, backend: str = "numpy") -> tuple[Any, Any]:
    """Check a batch of token ids (B, T) and its lengths (B,), 1 ≤ lengths[b] ≤ T (the values
    when they are known). Returns both as arrays of the backend."""
    to_int = as_int if backend == "jax" else check_int
    ids = to_int("ids", ids)
    check_ndim("ids", ids, 2, "(B, T)")
    lengths = to_int("lengths", lengths)
    if lengths.shape != ids.shape[:1]:
        raise ValueError(
            f"lengths has shape {lengths.shape} but ids of shape {ids.shape} needs {ids.shape[:1]}"
        )
    values = known_values(lengths)
    if values is not None and values.size and (values.min() < 1 or values.max() > ids.shape[1]):
        raise ValueError(
            f"lengths must lie in [1, T = {ids.shape[1]}] for ids of shape {ids.shape}, got "
            f"{values.min()} to {values.max()}"
        )
    return ids, lengths


def check_cross_entropy_args(
    logits: Any, target: Any, reduction: str, label_smoothing: float
) -> None:
    """Check cross-entropy's logits (..., C) against target (...), and its two options."""
    if logits.ndim == 0 or logits.shape[-1] == 0:
        raise ValueError(
            f"logits must have at least one dimension (..., C) with C ≥ 1 classes, "
            f"got shape {logits.shape}"
        )
    if target.shape != logits.shape[:-1]:
        raise ValueError(
            f"target has shape {target.shape} but logits has shape {logits.shape}: target must "
            f"have the shape of logits without its last (class) axis, {logits.shape[:-1]}"
        )
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    check_number("label_smoothing", label_smoothing, 0, 1)
