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
    "check_number",
    "check_ndim",
    "check_last_dim",
    "check_mask",
    "check_same_shape",
    "check_params",
    "check_no_params",
    "check_mapping",
    "check_known_keys",
    "check_keys",
    "param_name",
    "sub_params",
    "MHA_KEYS",
    "ENCODER_LAYER_KEYS",
    "all_or_none",
    "mha_keys",
    "encoder_keys",
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
    prefix = getattr(params, "prefix", "")
    missing = [prefix + k for k in shapes if k not in params]
    if missing:
        raise KeyError(
            f"params of {layer} is missing {missing}; expected keys "
            f"{sorted(prefix + k for k in shapes)}, got {sorted(prefix + k for k in params)}"
        )
    out = {}
    for key, shape in shapes.items():
        name, w = param_name(params, key), params[key]
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


def check_mapping(params: Any, layer: str) -> None:
    """Raise TypeError unless `params` is a dict (a mapping of names to arrays)."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params of {layer} must be a dict of arrays, got {type(params).__name__}")


def check_known_keys(params: Mapping[str, Any], known: Iterable[str], layer: str) -> None:
    """Raise KeyError naming the keys of `params` that `layer` does not have."""
    known = set(known)
    unexpected = sorted(set(params) - known)
    if unexpected:
        raise KeyError(
            f"params of {layer} has unexpected keys {unexpected}; expected keys {sorted(known)}"
        )


def check_keys(
    params: Mapping[str, Any], expected: Iterable[str], layer: str, nested: Iterable[str] = ()
) -> None:
    """Raise KeyError unless `params` has exactly the keys `expected`, as torch's
    `load_state_dict(strict=True)`: every missing and every unexpected key is named (with the
    prefix of the enclosing model, see `sub_params`). Keys under a prefix in `nested` belong to
    a block that checks its own."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params of {layer} must be a dict of arrays, got {type(params).__name__}")
    expected, nested, prefix = list(expected), tuple(nested), getattr(params, "prefix", "")
    missing = [prefix + k for k in expected if k not in params]
    unexpected = sorted(
        prefix + k for k in params if k not in expected and not k.startswith(nested)
    )
    if missing or unexpected:
        problems = [f"is missing {missing}"] * bool(missing)
        problems += [f"has unexpected keys {unexpected}"] * bool(unexpected)
        raise KeyError(
            f"params of {layer} {' and '.join(problems)}; expected exactly "
            f"{sorted(prefix + k for k in expected)}"
            + (f" and keys under {nested}" if nested else "")
        )


def param_name(params: Mapping[str, Any], key: str) -> str:
    """How an error names a parameter: `params['encoder.layers.1.linear1.weight']`."""
    return f"params[{getattr(params, 'prefix', '') + key!r}]"


class Params(dict):
    """The parameters of a block inside a model (`sub_params`): a dict that remembers its prefix
    in the model, so that an error names the full key, "encoder.layers.1.linear1.bias"."""

    prefix: str = ""


def _flatten(p: Params) -> tuple[list, tuple]:
    keys = sorted(p)
    return [p[k] for k in keys], (p.prefix, tuple(keys))


def _unflatten(aux: tuple, values: Iterable) -> Params:
    prefix, keys = aux
    out = Params(zip(keys, values))
    out.prefix = prefix
    return out


_registered = False


def sub_params(params: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The entries of `params` under `prefix` ("self_attn."), with the prefix stripped."""
    global _registered
    jax = sys.modules.get("jax")
    if jax is not None and not _registered:  # JAX sees it as a dict (jit, grad, tree.map)
        jax.tree_util.register_pytree_node(Params, _flatten, _unflatten)
        _registered = True
    out = Params((k[len(prefix) :], v) for k, v in params.items() if k.startswith(prefix))
    out.prefix = getattr(params, "prefix", "") + prefix
    return out


MHA_KEYS = ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")
ENCODER_LAYER_KEYS = tuple(f"self_attn.{k}" for k in MHA_KEYS) + tuple(
    f"{block}.{k}" for block in ("linear1", "linear2", "norm1", "norm2") for k in ("weight", "bias")
)


def all_or_none(params: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str, ...]:
    """`keys` if `params` has any of them, else (): a group torch keeps or drops as a whole.
    (For a `params` that is not a dict, `keys`: `check_keys` then says what params is.)"""
    return keys if not isinstance(params, Mapping) or any(k in params for k in keys) else ()


def mha_keys(params: Mapping[str, Any]) -> tuple[str, ...]:
    """The keys of `nn.MultiheadAttention`: all four, or with `bias=False` neither bias (torch
    drops `in_proj_bias` and `out_proj.bias` together, so one bias alone is a missing key)."""
    return ("in_proj_weight", "out_proj.weight") + all_or_none(
        params, ("in_proj_bias", "out_proj.bias")
    )


def encoder_keys(params: Mapping[str, Any], num_layers: int) -> tuple[tuple, tuple]:
    """The keys of `nn.TransformerEncoder` outside its layers (the final norm, kept or dropped
    as a whole), and the prefixes of its layers, `layers.{i}.`, which check their own."""
    return all_or_none(params, ("norm.weight", "norm.bias")), tuple(
        f"layers.{i}." for i in range(num_layers)
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
