"""Scaled dot-product attention, as `torch.nn.functional.scaled_dot_product_attention`.

Per batch element and head, with q (Tq, Dh), k (Tk, Dh), v (Tk, Dh) and s = 1/√Dh:

    S = s q kᵀ                    (Tq, Tk) scores
    S[i, j] = -∞  where key j is padding, or j > i when causal (top-left aligned, as torch)
    P = softmax(S) ⊙ r            (Tq, Tk) weights; r_i = 0 when row i has no key left, else 1
    y = P v                       (Tq, Dh)

A query whose keys are all masked would be softmax(-∞, ..., -∞) = 0/0. Such a row gets finite
scores (0) before the softmax and is multiplied by r_i = 0 after it, so y_i = 0 and its gradient
is zero, never NaN. `jnp.where` passes no gradient to the scores it replaces, so masked entries
get none either. Batched over (B, H) with `jnp.matmul`, no loop over heads or positions.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax import Array
from jaxtyping import Bool, Float

from minienc._checks import as_bool, as_float, check_qkv
from minienc.jax import dropout as dropout_layer
from minienc.jax.softmax import softmax

__all__ = ["scaled_dot_product_attention", "attention_weights"]


def _allowed(
    key_padding_mask: Array | None, causal: bool, B: int, Tq: int, Tk: int
) -> Array | None:
    """Bool mask broadcastable to (B, H, Tq, Tk), True where a query may see a key."""
    allowed = None
    if key_padding_mask is not None:
        key_padding_mask = as_bool("key_padding_mask", key_padding_mask)
        if key_padding_mask.shape != (B, Tk):
            raise ValueError(
                f"key_padding_mask must have shape (B, Tk) = {(B, Tk)}, "
                f"got {key_padding_mask.shape}"
            )
        allowed = ~key_padding_mask[:, None, None, :]  # (B, 1, 1, Tk)
    if causal:
        tril = jnp.tri(Tq, Tk, dtype=bool)  # (Tq, Tk): key j visible from query i iff j <= i
        allowed = tril if allowed is None else allowed & tril  # (B, 1, Tq, Tk)
    return allowed


def attention_weights(
    q: Float[Array, "B H Tq Dh"],
    k: Float[Array, "B H Tk Dh"],
    key_padding_mask: Bool[Array, "B Tk"] | None = None,
    causal: bool = False,
) -> Float[Array, "B H Tq Tk"]:
    """P = softmax(q kᵀ / √Dh) over the visible keys; all-zero rows for queries that see none."""
    q, k = as_float("q", q), as_float("k", k)
    check_qkv(q, k, k)
    B, _, Tq, Dh = q.shape
    Tk = k.shape[2]
    allowed = _allowed(key_padding_mask, causal, B, Tq, Tk)
    scores = (q * (1.0 / math.sqrt(Dh))) @ k.swapaxes(-1, -2)  # (B, H, Tq, Dh) @ (B, H, Dh, Tk)
    if allowed is None:
        return softmax(scores, axis=-1)  # (B, H, Tq, Tk)
    alive = allowed.any(axis=-1, keepdims=True)  # (B, 1, Tq, 1) or (Tq, 1)
    fill = jnp.where(alive, -jnp.inf, 0.0).astype(q.dtype)  # a dead row: a harmless uniform row
    weights = softmax(jnp.where(allowed, scores, fill), axis=-1)  # (B, H, Tq, Tk)
    return weights * alive  # dead rows zeroed


def scaled_dot_product_attention(
    q: Float[Array, "B H Tq Dh"],
    k: Float[Array, "B H Tk Dh"],
    v: Float[Array, "B H Tk Dh"],
    key_padding_mask: Bool[Array, "B Tk"] | None = None,
    causal: bool = False,
    dropout_p: float = 0.0,
    key: Array | None = None,
) -> Float[Array, "B H Tq Dh"]:
    """softmax(q kᵀ / √Dh) v over the keys each query may see.

    Args:
        q: queries of shape (B, H, Tq, Dh).
        k: keys of shape (B, H, Tk, Dh).
        v: values of shape (B, H, Tk, Dh).
        key_padding_mask: bool of shape (B, Tk), True where a key is padding.
        causal: query i sees keys 0..i only (top-left aligned, like torch's `is_causal`); static.
        dropout_p: dropout probability on the attention weights (0 = none, the default); static.
        key: a JAX PRNG key for the dropout.

    Returns:
        y of shape (B, H, Tq, Dh); rows of queries with no visible key are zeros.
    """
    q, k, v = as_float("q", q), as_float("k", k), as_float("v", v)
    check_qkv(q, k, v)
    p = attention_weights(q, k, key_padding_mask, causal)  # (B, H, Tq, Tk)
    if dropout_p > 0.0:
        p = dropout_layer.forward({}, p, p=dropout_p, training=True, key=key)
    return p @ v  # (B, H, Tq, Tk) @ (B, H, Tk, Dh) -> (B, H, Tq, Dh)
