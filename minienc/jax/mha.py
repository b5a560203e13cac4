"""Multi-head attention, as `torch.nn.MultiheadAttention(D, H, batch_first=True)`.

With the packed input projection W_in = [W_q; W_k; W_v] (3D, D) and b_in (3D,), as torch stores it:

    q = query W_qᵀ + b_q,   k = key W_kᵀ + b_k,   v = value W_vᵀ + b_v          (B, T, D)
    split D into H heads of Dh = D / H:  (B, T, D) -> (B, H, T, Dh)
    y_h = attention(q_h, k_h, v_h)  for every head at once                    (B, H, Tq, Dh)
    out = concat_h(y_h) W_oᵀ + b_o                                              (B, Tq, D)

Keys: `in_proj_weight` (3D, D), `in_proj_bias` (3D,), `out_proj.weight` (D, D), `out_proj.bias`
(D,); the biases are optional (torch's `bias=False`). Separate k/v sizes (torch's `kdim`/`vdim`)
and `add_bias_kv` are not supported.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np
from jax import Array
from jaxtyping import Bool, Float

from minienc._checks import as_float, check_known_keys, check_ndim, check_params
from minienc.jax.attention import scaled_dot_product_attention

__all__ = ["forward"]

_KEYS = ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")


def _split_heads(x: Array, num_heads: int) -> Array:
    B, T, D = x.shape
    return x.reshape(B, T, num_heads, D // num_heads).transpose(0, 2, 1, 3)  # (B, H, T, Dh)


def forward(
    params: Mapping[str, Array],
    query: Float[Array, "B Tq D"],
    key: Float[Array, "B Tk D"],
    value: Float[Array, "B Tk D"],
    num_heads: int,
    key_padding_mask: Bool[Array, "B Tk"] | None = None,
) -> Float[Array, "B Tq D"]:
    """Multi-head attention of `query` over `key`/`value`.

    Args:
        params: the keys of `nn.MultiheadAttention` (see the module docstring).
        query: (B, Tq, D). key, value: (B, Tk, D); for self-attention pass x three times.
        num_heads: H, which must divide D (static under jit).
        key_padding_mask: bool (B, Tk), True where a key is padding.

    Returns:
        out of shape (B, Tq, D). A query with every key masked gets out = b_o (zero attention).
    """
    query, key, value = as_float("query", query), as_float("key", key), as_float("value", value)
    for name, a in (("query", query), ("key", key), ("value", value)):
        check_ndim(name, a, 3, "(B, T, D)")
    if key.shape != value.shape or (query.shape[0], query.shape[2]) != (key.shape[0], key.shape[2]):
        raise ValueError(
            f"query, key, value have shapes {query.shape}, {key.shape}, {value.shape}: they must "
            "share B and D, and key and value must have the same shape"
        )
    for name, a in (("key", key), ("value", value)):
        if a.dtype != query.dtype:
            raise TypeError(
                f"query has dtype {query.dtype} but {name} has dtype {a.dtype}: they must match"
            )
    B, Tq, D = query.shape
    if isinstance(num_heads, bool) or not isinstance(num_heads, int | np.integer) or num_heads < 1:
        raise ValueError(f"num_heads must be a positive int (static under jit), got {num_heads!r}")
    num_heads = int(num_heads)
    if D % num_heads:
        raise ValueError(f"num_heads = {num_heads} must divide the model width D = {D}")
    check_known_keys(params, _KEYS, "multi-head attention")
    shapes = {"in_proj_weight": (3 * D, D), "out_proj.weight": (D, D)}
    shapes |= {k: (s,) for k, s in (("in_proj_bias", 3 * D), ("out_proj.bias", D)) if k in params}
    p = check_params(params, shapes, "multi-head attention", query.dtype)

    w_q, w_k, w_v = jnp.split(p["in_proj_weight"], 3)  # (D, D) each
    q, k, v = query @ w_q.T, key @ w_k.T, value @ w_v.T  # (B, Tq, D), (B, Tk, D), (B, Tk, D)
    if "in_proj_bias" in p:
        b_q, b_k, b_v = jnp.split(p["in_proj_bias"], 3)  # (D,) each
        q, k, v = q + b_q, k + b_k, v + b_v
    y = scaled_dot_product_attention(
        _split_heads(q, num_heads),
        _split_heads(k, num_heads),
        _split_heads(v, num_heads),
        key_padding_mask=key_padding_mask,
    )  # (B, H, Tq, Dh)
    y = y.transpose(0, 2, 1, 3).reshape(B, Tq, D)  # (B, Tq, H, Dh) -> (B, Tq, D)
    out = y @ p["out_proj.weight"].T  # (B, Tq, D)
    if "out_proj.bias" in p:
        out = out + p["out_proj.bias"]
    return out
