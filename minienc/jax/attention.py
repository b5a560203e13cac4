"""Scaled dot-product attention, as `torch.nn.functional.scaled_dot_product_attention`.

Per batch element and head, with q (Tq, Dh), k (Tk, Dh), v (Tk, Dh) and s = 1/√Dh:

    S = s q kᵀ                    (Tq, Tk) scores
    S[i, j] = -∞  where key j is padding, or j > i when causal (top-left aligned, as torch)
    P = softmax(S) ⊙ r            (Tq, Tk) weights; r_i = 0 when row i has no key left, else 1
    y = P v                       (Tq, Dh)

A query whose keys are all masked would be softmax(-∞, ..., -∞) = 0/0. Such a row gets finite
scores (0) before the softmax and is multiplied by r_i = 0 after it, so y_i = 0 and its gradient
is zero, never NaN. `jnp.where` passes no gradient to the scores it replaces, so masked entries
get none either. With dropout, P is replaced by dropout(P) (inverted dropout on the weights, as
torch). Batched over (B, H) with `jnp.matmul`, no loop over heads or positions.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax import Array
from jaxtyping import Bool, Float

from minienc._checks import as_bool, as_float, check_number, check_qkv
from minienc.jax import dropout as dropout_layer
from minienc.jax.softmax import softmax

__all__ = ["scaled_dot_product_attention"]


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


def _weights(
    q: Float[Array, "B H Tq Dh"],
    k: Float[Array, "B H Tk Dh"],
    key_padding_mask: Bool[Array, "B Tk"] | None,
    causal: bool,
    dropout_p: float,
    rng: Array | None,
) -> Float[Array, "B H Tq Tk"]:
    """P = softmax(q kᵀ / √Dh) over the visible keys (zero rows where none is), then dropout."""
    check_number("dropout_p", dropout_p, 0, 1)
    B, _, Tq, Dh = q.shape
    Tk = k.shape[2]
    allowed = _allowed(key_padding_mask, causal, B, Tq, Tk)
    scores = (q * (1.0 / math.sqrt(Dh))) @ k.swapaxes(-1, -2)  # (B, H, Tq, Dh) @ (B, H, Dh, Tk)
    if allowed is None:
        weights = softmax(scores, axis=-1)  # (B, H, Tq, Tk)
    else:
        alive = allowed.any(axis=-1, keepdims=True)  # (B, 1, Tq, 1) or (Tq, 1)
        fill = jnp.where(alive, -jnp.inf, 0.0).astype(q.dtype)  # a dead row: a harmless uniform row
        weights = softmax(jnp.where(allowed, scores, fill), axis=-1) * alive  # dead rows zeroed
    if dropout_p > 0.0:
        weights = dropout_layer.forward({}, weights, p=dropout_p, training=True, rng=rng)
    return weights


def scaled_dot_product_attention(
    q: Float[Array, "B H Tq Dh"],
    k: Float[Array, "B H Tk Dh"],
    v: Float[Array, "B H Tk Dh"],
    key_padding_mask: Bool[Array, "B Tk"] | None = None,
    causal: bool = False,
    dropout_p: float = 0.0,
    rng: Array | None = None,
) -> Float[Array, "B H Tq Dh"]:
    """softmax(q kᵀ / √Dh) v over the keys each query may see.

    Args:
        q: queries of shape (B, H, Tq, Dh).
        k: keys of shape (B, H, Tk, Dh).
        v: values of shape (B, H, Tk, Dh).
        key_padding_mask: bool of shape (B, Tk), True where a key is padding.
        causal: query i sees keys 0..i only (top-left aligned, like torch's `is_causal`); static.
        dropout_p: dropout probability on the attention weights (0 = none, the default); static.
        rng: a JAX PRNG key for the dropout.

    Returns:
        y of shape (B, H, Tq, Dh); rows of queries with no visible key are zeros.
    """
    q, k, v = as_float("q", q), as_float("k", k), as_float("v", v)
    check_qkv(q, k, v)
    p = _weights(q, k, key_padding_mask, causal, dropout_p, rng)  # (B, H, Tq, Tk)
    return p @ v  # (B, H, Tq, Tk) @ (B, H, Tk, Dh) -> (B, H, Tq, Dh)
