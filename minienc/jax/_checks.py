"""Input validation for the JAX layers, at trace time.

Under `jax.jit` the arguments are tracers: their shapes and dtypes are known while tracing, their
values are not. So shapes, dtypes and keys are checked on every call (jitted or not), and checks
on values (ids in range, lengths ≥ 1) run only when the values are concrete. The shape-only
helpers of `minienc._checks` (`check_ndim`, `check_last_dim`, `check_same_shape`) work on JAX
arrays as they are and are re-exported; the ones that convert to NumPy are redone here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from minienc._checks import check_last_dim, check_ndim, check_same_shape

__all__ = [
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
    "subparams",
]


def _as_array(name: str, x: object) -> jax.Array:
    if not isinstance(x, jax.Array | np.ndarray | np.generic):
        raise TypeError(f"{name} must be a JAX or NumPy array, got {type(x).__name__}")
    return jnp.asarray(x)


def as_float(name: str, x: object) -> jax.Array:
    """Return `x` as a JAX array, or raise TypeError if it is not a floating-point array."""
    x = _as_array(name, x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating-point array, got dtype {x.dtype}")
    return x


def as_int(name: str, x: object) -> jax.Array:
    """Return `x` as a JAX array, or raise TypeError if it is not an integer array."""
    x = _as_array(name, x)
    if not jnp.issubdtype(x.dtype, jnp.integer):
        raise TypeError(f"{name} must be an integer array, got dtype {x.dtype}")
    return x


def as_bool(name: str, x: object, meaning: str = "True = padding") -> jax.Array:
    """Return `x` as a JAX array, or raise TypeError if it is not a bool array."""
    if not isinstance(x, jax.Array | np.ndarray) or x.dtype != np.bool_:
        got = x.dtype if isinstance(x, jax.Array | np.ndarray) else type(x).__name__
        raise TypeError(f"{name} must be a bool array ({meaning}), got {got}")
    return jnp.asarray(x)


def known_values(x: jax.Array) -> np.ndarray | None:
    """The values of `x` as a NumPy array when they are known now, None for a tracer (inside
    jit, grad or vmap). Value checks use NumPy so that they never trace JAX operations."""
    return None if isinstance(x, jax.core.Tracer) else np.asarray(x)


def check_params(
    params: Mapping[str, Any],
    shapes: Mapping[str, tuple[int | None, ...]],
    layer: str,
    dtype: Any = None,
) -> dict[str, jax.Array]:
    """Check that `params` holds every key in `shapes`, floating, of the given shapes.

    `None` in a shape means "any size". With `dtype`, every checked parameter must have it (the
    dtype of the input: nothing is silently promoted). Returns the checked entries as JAX arrays.
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
        w = as_float(f"params[{key!r}]", params[key])
        ok = w.ndim == len(shape) and all(s is None or s == d for s, d in zip(shape, w.shape))
        if not ok:
            want = tuple("*" if s is None else s for s in shape)
            raise ValueError(f"params[{key!r}] of {layer} must have shape {want}, got {w.shape}")
        if dtype is not None and w.dtype != dtype:
            raise TypeError(
                f"params[{key!r}] of {layer} has dtype {w.dtype} but the input has dtype "
                f"{dtype}: they must match"
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


def subparams(params: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The entries of `params` under `prefix` ("self_attn.") with the prefix removed."""
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}
