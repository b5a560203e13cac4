"""Parameter dicts, NumPy and JAX alike: exact keys (as torch's `load_state_dict(strict=True)`),
shapes and dtypes, and the block-inside-a-model view `sub_params` whose errors name the full key.

A layer's forward asks for exactly the keys one torch configuration has (`check_keys`); a missing
or unexpected key is a `KeyError` that names it with its prefix in the model
("encoder.layers.1.linear1.bias") and the layer.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

from minienc._checks import _is_jax, as_float, check_float

__all__ = [
    "check_params",
    "check_no_params",
    "check_mapping",
    "check_keys",
    "param_name",
    "sub_params",
    "MHA_KEYS",
    "ENCODER_LAYER_KEYS",
    "all_or_none",
    "mha_keys",
    "encoder_keys",
]


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
