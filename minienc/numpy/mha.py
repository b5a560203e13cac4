"""Multi-head attention, as `torch.nn.MultiheadAttention(D, H, batch_first=True)`.

Forward, with D = H·Dh, the packed projection W_in = [W_q; W_k; W_v] of shape (3D, D) and
b_in = [b_q; b_k; b_v]:

    Q = query W_qᵀ + b_q,   K = key W_kᵀ + b_k,   V = value W_vᵀ + b_v       (B, T, D) each
    split the last axis into H heads of Dh:  (B, T, D) -> (B, H, T, Dh)
    O = attention(Q, K, V)                                                  (B, H, Tq, Dh)
    join the heads back:  (B, H, Tq, Dh) -> (B, Tq, D)
    y = O W_oᵀ + b_o

Backward runs the same steps in reverse, each with its own block's backward: the output linear,
the head join (a transpose), attention, the head split, then the three input projections. The
gradient of W_in is the three projections' weight gradients stacked, [dW_q; dW_k; dW_v], and the
same for b_in.

Self-attention passes one array x as query, key and value. `backward` still returns three
gradients, (dquery, dkey, dvalue), one per argument; the gradient of x is their sum (x reaches the
output along three paths), which the caller adds up: `dx = dq + dk + dv`.
`self_attention_forward(params, x, ...)` computes the same thing with the three projections as one
matrix product x W_inᵀ (B, T, 3D), and `self_attention_backward` returns that sum as dx directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from jaxtyping import Bool, Float

from minienc._checks import check_float, check_last_dim, check_mask, check_ndim
from minienc._params import check_keys, check_params, mha_keys
from minienc.numpy import attention, linear

__all__ = [
    "MHACache",
    "forward",
    "backward",
    "self_attention_forward",
    "self_attention_backward",
]


class MHACache(NamedTuple):
    """What the backward pass needs; `weights` is (B, Tq, Tk) when `need_weights`, else None."""

    in_caches: tuple  # linear caches: three (q, k, v), or one for the packed self-attention
    attention_cache: attention.AttentionCache
    out_cache: tuple  # linear cache of out_proj
    num_heads: int
    has_bias: bool
    weights: np.ndarray | None  # attention weights averaged over the heads (as torch)


def _split(params: Mapping[str, np.ndarray], D: int, has_bias: bool) -> list[dict]:
    """The packed in-projection as three linear layers' params (views, no copies)."""
    w = params["in_proj_weight"]
    parts = []
    for i in range(3):
        p = {"weight": w[i * D : (i + 1) * D]}  # (D, D)
        if has_bias:
            p["bias"] = params["in_proj_bias"][i * D : (i + 1) * D]  # (D,)
        parts.append(p)
    return parts


def _packed(params: Mapping[str, np.ndarray], has_bias: bool) -> dict:
    """The in-projection as one linear layer from D to 3D."""
    p = {"weight": params["in_proj_weight"]}
    if has_bias:
        p["bias"] = params["in_proj_bias"]
    return p


def _out(params: Mapping[str, np.ndarray], has_bias: bool) -> dict:
    p = {"weight": params["out_proj.weight"]}
    if has_bias:
        p["bias"] = params["out_proj.bias"]
    return p


def _check(
    params: Mapping[str, np.ndarray],
    query: np.ndarray,
    key: np.ndarray,
    value: np.ndarray,
    num_heads: int,
) -> bool:
    """Validate the arguments; return whether the projections have biases."""
    for name, a in (("query", query), ("key", key), ("value", value)):
        check_ndim(name, a, 3, "(B, T, D)")
    check_keys(params, mha_keys(params), "multi-head attention")
    check_params(params, {"in_proj_weight": (None, None)}, "multi-head attention")
    w_shape = params["in_proj_weight"].shape
    check_last_dim("query", query, w_shape[1], f"the in_proj_weight of shape {w_shape}")
    D = query.shape[-1]
    for name, a in (("key", key), ("value", value)):
        if a.shape[-1] != D:
            raise ValueError(
                f"query has shape {query.shape} but {name} has shape {a.shape}: "
                "the last dimensions must match"
            )
        if a.shape[0] != query.shape[0]:
            raise ValueError(
                f"query has shape {query.shape} but {name} has shape {a.shape}: "
                "the batch sizes must match"
            )
        if a.dtype != query.dtype:
            raise TypeError(
                f"query has dtype {query.dtype} but {name} has dtype {a.dtype}: they must match"
            )
    if key.shape[1] != value.shape[1]:
        raise ValueError(
            f"key has shape {key.shape} but value has shape {value.shape}: the lengths must match"
        )
    if isinstance(num_heads, bool) or not isinstance(num_heads, int | np.integer):
        raise TypeError(f"num_heads must be a positive int, got {num_heads!r}")
    if num_heads < 1:
        raise ValueError(f"num_heads must be a positive int, got {num_heads!r}")
    if D % num_heads:
        raise ValueError(f"D = {D} must be divisible by num_heads = {num_heads}")
    shapes = {"in_proj_weight": (3 * D, D), "out_proj.weight": (D, D)}
    has_bias = "in_proj_bias" in params  # with out_proj.bias: check_keys above
    if has_bias:
        shapes |= {"in_proj_bias": (3 * D,), "out_proj.bias": (D,)}
    check_params(params, shapes, "multi-head attention")
    return has_bias


def forward(
    params: Mapping[str, np.ndarray],
    query: Float[np.ndarray, "B Tq D"],
    key: Float[np.ndarray, "B Tk D"],
    value: Float[np.ndarray, "B Tk D"],
    num_heads: int,
    key_padding_mask: Bool[np.ndarray, "B Tk"] | None = None,
    need_weights: bool = False,
    dropout: float = 0.0,
    training: bool = False,
    rng: int | np.random.Generator | None = None,
) -> tuple[Float[np.ndarray, "B Tq D"], MHACache]:
    """Multi-head attention of `query` over `key`/`value`.

    Args:
        params: `in_proj_weight` (3D, D), `in_proj_bias` (3D,), `out_proj.weight` (D, D),
            `out_proj.bias` (D,); the two biases may both be left out (torch's `bias=False`).
        query: of shape (B, Tq, D).
        key: of shape (B, Tk, D).
        value: of shape (B, Tk, D). For self-attention pass the same array three times.
        num_heads: H; D must be divisible by it.
        key_padding_mask: bool of shape (B, Tk), True where a key is padding.
        need_weights: also put the attention weights (after dropout) averaged over heads,
            (B, Tq, Tk), in `cache.weights` (torch's `need_weights`); per-head weights are always
            in `cache.attention_cache.weights`. A query with no visible key has a zero row
            (torch gives NaN there).
        dropout: dropout probability on the attention weights, used only when `training`.
        training: apply dropout.
        rng: int seed or `np.random.Generator` for the dropout.

    Returns:
        y of shape (B, Tq, D), and an `MHACache`.
    """
    query = check_float("query", query)
    key = check_float("key", key)
    value = check_float("value", value)
    has_bias = _check(params, query, key, value, num_heads)
    check_mask(key_padding_mask, "key", key)
    B, Tq, D = query.shape
    Tk = key.shape[1]
    H = int(num_heads)
    Dh = D // H

    heads, in_caches = [], []
    for p, x, T in zip(_split(params, D, has_bias), (query, key, value), (Tq, Tk, Tk)):
        z, c = linear.forward(p, x.reshape(B * T, D))  # (B*T, D): one matrix product
        heads.append(z.reshape(B, T, H, Dh).transpose(0, 2, 1, 3))  # (B, H, T, Dh)
        in_caches.append(c)
    return _attend(
        params,
        heads,
        tuple(in_caches),
        has_bias,
        key_padding_mask,
        need_weights,
        dropout if training else 0.0,
        rng,
    )


def self_attention_forward(
    params: Mapping[str, np.ndarray],
    x: Float[np.ndarray, "B T D"],
    num_heads: int,
    key_padding_mask: Bool[np.ndarray, "B T"] | None = None,
    need_weights: bool = False,
    dropout: float = 0.0,
    training: bool = False,
    rng: int | np.random.Generator | None = None,
) -> tuple[Float[np.ndarray, "B T D"], MHACache]:
    """`forward(params, x, x, x, ...)`, with the three projections done as one matrix product.

    The same arguments and result as `forward` with query = key = value = x (of shape (B, T, D)),
    a little faster. Its gradient comes from `self_attention_backward`, which returns dx itself.
    """
    x = check_float("x", x)
    has_bias = _check(params, x, x, x, num_heads)
    B, T, D = x.shape
    H = int(num_heads)
    Dh = D // H
    qkv, c = linear.forward(_packed(params, has_bias), x.reshape(B * T, D))  # (B*T, 3D)
    qkv = qkv.reshape(B, T, 3, H, Dh).transpose(2, 0, 3, 1, 4)  # (3, B, H, T, Dh)
    return _attend(
        params,
        tuple(qkv),
        (c,),
        has_bias,
        key_padding_mask,
        need_weights,
        dropout if training else 0.0,
        rng,
    )


def _attend(
    params: Mapping[str, np.ndarray],
    heads: tuple[np.ndarray, ...],
    in_caches: tuple,
    has_bias: bool,
    key_padding_mask: np.ndarray | None,
    need_weights: bool,
    p_drop: float,
    rng: int | np.random.Generator | None,
) -> tuple[np.ndarray, MHACache]:
    """Attention over the projected heads, then the output projection."""
    o, att_cache = attention.scaled_dot_product_attention(
        *heads, key_padding_mask=key_padding_mask, dropout_p=p_drop, rng=rng
    )
    B, H, Tq, Dh = o.shape
    o = o.transpose(0, 2, 1, 3).reshape(B * Tq, H * Dh)  # (B, H, Tq, Dh) -> (B*Tq, D)
    y, out_cache = linear.forward(_out(params, has_bias), o)
    weights = att_cache.dropped.mean(axis=1) if need_weights else None  # (B, Tq, Tk)
    cache = MHACache(in_caches, att_cache, out_cache, H, has_bias, weights)
    return y.reshape(B, Tq, H * Dh), cache


def _attend_backward(dy: np.ndarray, cache: MHACache) -> tuple[tuple, dict]:
    """Back through the output projection and attention: (dq, dk, dv) of shape (B, H, T, Dh)."""
    B, H, Tq, Dh = cache.attention_cache.q.shape
    D = H * Dh
    dy = check_float("dy", dy)
    if dy.shape != (B, Tq, D):
        raise ValueError(f"dy has shape {dy.shape} but y has shape {(B, Tq, D)}: they must match")
    do, out_grads = linear.backward(dy.reshape(B * Tq, D), cache.out_cache)  # (B*Tq, D)
    do = do.reshape(B, Tq, H, Dh).transpose(0, 2, 1, 3)  # (B, H, Tq, Dh)
    dheads, _ = attention.backward(do, cache.attention_cache)
    return dheads, {f"out_proj.{k}": v for k, v in out_grads.items()}


def backward(
    dy: Float[np.ndarray, "B Tq D"], cache: MHACache
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], dict[str, np.ndarray]]:
    """Gradients of multi-head attention.

    Args:
        dy: upstream gradient of shape (B, Tq, D).
        cache: the `MHACache` from `forward`.

    Returns:
        `(dquery, dkey, dvalue)` shaped like the inputs (for self-attention, dx is their sum),
        and grads with the keys of params.
    """
    if len(cache.in_caches) != 3:
        raise ValueError(
            "this cache comes from self_attention_forward: use self_attention_backward"
        )
    dheads, grads = _attend_backward(dy, cache)
    B, H, _, Dh = dheads[0].shape
    dxs, in_grads = [], []
    for dz, c in zip(dheads, cache.in_caches):
        T = dz.shape[2]
        dz = dz.transpose(0, 2, 1, 3).reshape(B * T, H * Dh)  # (B, H, T, Dh) -> (B*T, D)
        dx, g = linear.backward(dz, c)
        dxs.append(dx.reshape(B, T, H * Dh))
        in_grads.append(g)
    grads["in_proj_weight"] = np.concatenate([g["weight"] for g in in_grads])  # (3D, D)
    if cache.has_bias:
        grads["in_proj_bias"] = np.concatenate([g["bias"] for g in in_grads])  # (3D,)
    return tuple(dxs), grads


def self_attention_backward(
    dy: Float[np.ndarray, "B T D"], cache: MHACache
) -> tuple[Float[np.ndarray, "B T D"], dict[str, np.ndarray]]:
    """Gradients of `self_attention_forward`: dx of shape (B, T, D), and grads like params."""
    if len(cache.in_caches) != 1:
        raise ValueError("this cache comes from forward: use backward")
    (dq, dk, dv), grads = _attend_backward(dy, cache)
    B, H, T, Dh = dq.shape
    dqkv = np.stack([d.transpose(0, 2, 1, 3) for d in (dq, dk, dv)], axis=2)  # (B, T, 3, H, Dh)
    dqkv = dqkv.reshape(B * T, 3 * H * Dh)  # (B*T, 3D), laid out as the packed projection
    dx, g = linear.backward(dqkv, cache.in_caches[0])
    grads["in_proj_weight"] = g["weight"]
    if cache.has_bias:
        grads["in_proj_bias"] = g["bias"]
    return dx.reshape(B, T, H * Dh), grads
