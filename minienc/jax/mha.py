"""Multi-head attention, as `torch.nn.MultiheadAttention(D, H, batch_first=True)`.

With the packed input projection W_in = [W_q; W_k; W_v] (3D, D) and b_in (3D,), as torch stores it:

    q = query W_qᵀ + b_q,   k = key W_kᵀ + b_k,   v = value W_vᵀ + b_v          (B, T, D)
    split D into H heads of Dh = D / H:  (B, T, D) -> (B, H, T, Dh)
    y_h = attention(q_h, k_h, v_h)  for every head at once                    (B, H, Tq, Dh)
    out = concat_h(y_h) W_oᵀ + b_o                                              (B, Tq, D)

With dropout (in training) the attention weights are dropped before they weigh v, as torch does.
`self_attention_forward(params, x, ...)` is `forward(params, x, x, x, ...)` with the three input
projections done as one matrix product x W_inᵀ (B, T, 3D).

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

from minienc._checks import as_float, check_mask, check_ndim
from minienc._params import MHA_KEYS, check_keys, check_params, mha_keys
from minienc.jax import attention

__all__ = ["forward", "self_attention_forward"]

_KEYS = MHA_KEYS


def _split_heads(x: Array, num_heads: int) -> Array:
    B, T, D = x.shape
    return x.reshape(B, T, num_heads, D // num_heads).transpose(0, 2, 1, 3)  # (B, H, T, Dh)


def _check(
    params: Mapping[str, Array], query: Array, key: Array, value: Array, num_heads: int
) -> tuple[dict, int]:
    """Validate the arguments; return the checked params and H."""
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
    D = query.shape[2]
    if isinstance(num_heads, bool) or not isinstance(num_heads, int | np.integer):
        raise TypeError(f"num_heads must be a positive int (static under jit), got {num_heads!r}")
    if num_heads < 1:
        raise ValueError(f"num_heads must be a positive int (static under jit), got {num_heads!r}")
    if D % num_heads:
        raise ValueError(f"num_heads = {num_heads} must divide the model width D = {D}")
    check_keys(params, mha_keys(params), "multi-head attention")
    shapes = {"in_proj_weight": (3 * D, D), "out_proj.weight": (D, D)}
    shapes |= {k: (s,) for k, s in (("in_proj_bias", 3 * D), ("out_proj.bias", D)) if k in params}
    return check_params(params, shapes, "multi-head attention", query.dtype), int(num_heads)


def _attend(
    p: Mapping[str, Array],
    q: Array,
    k: Array,
    v: Array,
    num_heads: int,
    key_padding_mask: Array | None,
    need_weights: bool,
    dropout: float,
    rng: Array | None,
) -> Array | tuple[Array, Array]:
    """Attention over the projected q (B, Tq, D), k, v (B, Tk, D), then the output projection."""
    B, Tq, D = q.shape
    q, k, v = (_split_heads(z, num_heads) for z in (q, k, v))  # (B, H, T, Dh) each
    weights = attention._weights(q, k, key_padding_mask, False, dropout, rng)  # (B, H, Tq, Tk)
    y = weights @ v  # (B, H, Tq, Tk) @ (B, H, Tk, Dh) -> (B, H, Tq, Dh)
    y = y.transpose(0, 2, 1, 3).reshape(B, Tq, D)  # (B, Tq, H, Dh) -> (B, Tq, D)
    out = y @ p["out_proj.weight"].T  # (B, Tq, D)
    if "out_proj.bias" in p:
        out = out + p["out_proj.bias"]
    if need_weights:
        return out, weights.mean(axis=1)  # (B, Tq, Tk), averaged over the heads as torch
    return out


def forward(
    params: Mapping[str, Array],
    query: Float[Array, "B Tq D"],
    key: Float[Array, "B Tk D"],
    value: Float[Array, "B Tk D"],
    num_heads: int,
    key_padding_mask: Bool[Array, "B Tk"] | None = None,
    need_weights: bool = False,
    dropout: float = 0.0,
    training: bool = False,
    rng: Array | None = None,
) -> Float[Array, "B Tq D"] | tuple[Float[Array, "B Tq D"], Float[Array, "B Tq Tk"]]:
    """Multi-head attention of `query` over `key`/`value`.

    Args:
        params: the keys of `nn.MultiheadAttention` (see the module docstring).
        query: (B, Tq, D). key, value: (B, Tk, D); for self-attention pass x three times.
        num_heads: H, which must divide D (static under jit).
        key_padding_mask: bool (B, Tk), True where a key is padding.
        need_weights: also return the attention weights averaged over the heads (static).
        dropout: dropout probability on the attention weights, used only when `training` (static).
        training: apply dropout (static).
        rng: a JAX PRNG key for the dropout; needed when training with 0 < dropout < 1.

    Returns:
        out of shape (B, Tq, D); with `need_weights`, `(out, weights)` with weights (B, Tq, Tk),
        as torch returns them (NumPy keeps them in the cache). A query with every key masked gets
        out = b_o (zero attention).
    """
    query, key, value = as_float("query", query), as_float("key", key), as_float("value", value)
    p, H = _check(params, query, key, value, num_heads)
    check_mask(key_padding_mask, "key", key)
    w_q, w_k, w_v = jnp.split(p["in_proj_weight"], 3)  # (D, D) each
    q, k, v = query @ w_q.T, key @ w_k.T, value @ w_v.T  # (B, Tq, D), (B, Tk, D), (B, Tk, D)
    if "in_proj_bias" in p:
        b_q, b_k, b_v = jnp.split(p["in_proj_bias"], 3)  # (D,) each
        q, k, v = q + b_q, k + b_k, v + b_v
    p_drop = dropout if training else 0.0
    return _attend(p, q, k, v, H, key_padding_mask, need_weights, p_drop, rng)


def self_attention_forward(
    params: Mapping[str, Array],
    x: Float[Array, "B T D"],
    num_heads: int,
    key_padding_mask: Bool[Array, "B T"] | None = None,
    need_weights: bool = False,
    dropout: float = 0.0,
    training: bool = False,
    rng: Array | None = None,
) -> Float[Array, "B T D"] | tuple[Float[Array, "B T D"], Float[Array, "B T T"]]:
    """`forward(params, x, x, x, ...)`, with the three projections done as one matrix product.

    The same arguments and result as `forward` with query = key = value = x of shape (B, T, D).
    """
    x = as_float("x", x)
    p, H = _check(params, x, x, x, num_heads)
    qkv = x @ p["in_proj_weight"].T  # (B, T, D) @ (D, 3D) -> (B, T, 3D)
    if "in_proj_bias" in p:
        qkv = qkv + p["in_proj_bias"]
    q, k, v = jnp.split(qkv, 3, axis=-1)  # (B, T, D) each
    p_drop = dropout if training else 0.0
    return _attend(p, q, k, v, H, key_padding_mask, need_weights, p_drop, rng)
