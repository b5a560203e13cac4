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

import sys
from collections.abc import Iterable, Mapping
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
    "check_ndim",
    "check_last_dim",
    "check_same_shape",
    "check_params",
    "check_no_params",
    "check_known_keys",
    "sub_params",
    "check_qkv",
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


def check_same_shape(name: str, x: Any, other_name: str, other: Any) -> None:
    """Raise ValueError unless `x` and `other` have the same shape."""
    if x.shape != other.shape:
        raise ValueError(
            f"{name} has shape {x.shape} but {other_name} has shape {other.shape}: they must match"
        )


def check_params(
    params: Mapping[str, Any],
    shapes: Mapping[str, tuple[int | None, ...]],
    layer: str,
    dtype: Any = None,
) -> dict[str, Any]:
    """Check that `params` holds every key in `shapes`, floating, of the given shapes.

    `None` in a shape means "any size". With `dtype` (the JAX layers pass the input's), every
    checked parameter must have it once JAX has converted it: nothing is silently promoted.
    Returns the checked entries, as JAX arrays when they are or when `dtype` is given.
    """
    if not isinstance(params, Mapping):
        raise TypeError(f"params of {layer} must be a dict of arrays, got {type(params).__name__}")
    missing = [k for k in shapes if k not in params]
    if missing:
        raise KeyError(
            f"params of {layer} is missing {missing}; expected keys {sorted(shapes)}, "
            f"got {sorted(params)}"
        )
    out = {}
    for key, shape in shapes.items():
        name, w = f"params[{key!r}]", params[key]
        jax_array = dtype is not None or _is_jax(w)
        w = as_float(name, w) if jax_array else check_float(name, w)
        if w.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, w.shape)):
            dims = ", ".join("*" if s is None else str(s) for s in shape)
            want = f"({dims},)" if len(shape) == 1 else f"({dims})"
            raise ValueError(f"{name} of {layer} must have shape {want}, got {w.shape}")
        if dtype is not None and w.dtype != dtype:
            raise TypeError(
                f"{name} of {layer} has dtype {w.dtype} but the input has dtype {dtype}: "
                "they must match"
            )
        out[key] = w
    return out


def check_no_params(params: Mapping[str, Any], layer: str) -> None:
    """A parameterless layer takes `params={}` (any mapping; its entries are not used)."""
    if not isinstance(params, Mapping):
        raise TypeError(
            f"params of {layer} must be a dict (pass {{}}), got {type(params).__name__}"
        )


def check_known_keys(params: Mapping[str, Any], known: Iterable[str], layer: str) -> None:
    """Raise KeyError naming the keys of `params` that `layer` does not have."""
    known = set(known)
    unexpected = sorted(set(params) - known)
    if unexpected:
        raise KeyError(
            f"params of {layer} has unexpected keys {unexpected}; expected keys {sorted(known)}"
        )


def sub_params(params: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The entries of `params` under `prefix` ("self_attn."), with the prefix stripped."""
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


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


def check_cross_entropy_args(
    logits: Any, target: Any, reduction: str, label_smoothing: float
) -> None:
    """Check cross-entropy's logits (..., C) against target (...), and its two options."""
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
