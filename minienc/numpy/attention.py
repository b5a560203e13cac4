"""Scaled dot-product attention, as `torch.nn.functional.scaled_dot_product_attention`.

Forward, per batch element and head, with q (Tq, Dh), k (Tk, Dh), v (Tk, Dh) and s = 1/√Dh:

    S = s q kᵀ                    (Tq, Tk) scores
    S[i, j] = -∞  where key j is padding, or j > i when causal (top-left aligned, as torch)
    P = softmax(S) ⊙ r            (Tq, Tk) weights; r_i = 0 when row i has no key left, else 1
    y = P v                       (Tq, Dh)

A query whose keys are all masked would be softmax(-∞, ..., -∞) = 0/0; the row indicator r makes
it an all-zero row instead (torch does the same), so y_i = 0 and no gradient flows through it.
With dropout, P is replaced by dropout(P) (inverted dropout on the weights, as torch).

Backward, from dy (Tq, Dh):

    dv = Pᵀ dy                    (Tk, Tq) @ (Tq, Dh)
    dP = (dy vᵀ) ⊙ r              (Tq, Dh) @ (Dh, Tk), dead rows zeroed
    dS = P ⊙ (dP - Σ_j dP ⊙ P)    the softmax backward; masked entries have P = 0, so dS = 0
    dq = s dS k                   (Tq, Tk) @ (Tk, Dh)
    dk = s dSᵀ q                  (Tk, Tq) @ (Tq, Dh)

Everything runs batched over (B, H) with `np.matmul`; no loop over heads or positions.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from jaxtyping import Bool, Float

from minienc._checks import check_bool, check_float, check_number, check_qkv
from minienc.numpy import dropout as dropout_layer
from minienc.numpy import softmax as softmax_layer

__all__ = ["AttentionCache", "scaled_dot_product_attention", "backward"]


class AttentionCache(NamedTuple):
    """What the backward pass needs; `weights` (B, H, Tq, Tk) is there to plot as well."""

    q: np.ndarray  # (B, H, Tq, Dh)
    k: np.ndarray  # (B, H, Tk, Dh)
    v: np.ndarray  # (B, H, Tk, Dh)
    weights: np.ndarray  # (B, H, Tq, Tk), softmax(S) ⊙ r (before dropout)
    dropped: np.ndarray  # (B, H, Tq, Tk), the weights after dropout (`weights` without it)
    softmax_cache: tuple
    alive: np.ndarray | None  # (B, 1, Tq, 1) r, or None when every row has a key
    dropout_cache: tuple | None
    scale: float


def _allowed(
    key_padding_mask: np.ndarray | None, causal: bool, B: int, Tq: int, Tk: int
) -> np.ndarray | None:
    """Boolean mask broadcastable to (B, H, Tq, Tk), True where a query may see a key."""
    allowed = None
    if key_padding_mask is not None:
        key_padding_mask = check_bool("key_padding_mask", key_padding_mask)
        if key_padding_mask.shape != (B, Tk):
            raise ValueError(
                f"key_padding_mask must have shape (B, Tk) = {(B, Tk)}, "
                f"got {key_padding_mask.shape}"
            )
        allowed = ~key_padding_mask[:, None, None, :]  # (B, 1, 1, Tk)
    if causal:
        tril = np.tri(Tq, Tk, dtype=bool)  # (Tq, Tk): key j visible from query i iff j <= i
        allowed = tril if allowed is None else allowed & tril  # (B, 1, Tq, Tk)
    return allowed


def scaled_dot_product_attention(
    q: Float[np.ndarray, "B H Tq Dh"],
    k: Float[np.ndarray, "B H Tk Dh"],
    v: Float[np.ndarray, "B H Tk Dh"],
    key_padding_mask: Bool[np.ndarray, "B Tk"] | None = None,
    causal: bool = False,
    dropout_p: float = 0.0,
    rng: int | np.random.Generator | None = None,
) -> tuple[Float[np.ndarray, "B H Tq Dh"], AttentionCache]:
    """softmax(q kᵀ / √Dh) v over the keys each query may see.

    Args:
        q: queries of shape (B, H, Tq, Dh).
        k: keys of shape (B, H, Tk, Dh).
        v: values of shape (B, H, Tk, Dh).
        key_padding_mask: bool of shape (B, Tk), True where a key is padding.
        causal: query i sees keys 0..i only (top-left aligned, like torch's `is_causal`).
        dropout_p: dropout probability on the attention weights (0 = none, the default).
        rng: int seed or `np.random.Generator` for the dropout.

    Returns:
        y of shape (B, H, Tq, Dh), and an `AttentionCache` holding q, k, v and the attention
        `weights` (B, H, Tq, Tk) (all-zero rows for queries with no visible key).
    """
    q, k, v = check_float("q", q), check_float("k", k), check_float("v", v)
    check_qkv(q, k, v)
    B, _, Tq, Dh = q.shape
    Tk = k.shape[2]
    allowed = _allowed(key_padding_mask, causal, B, Tq, Tk)
    check_number("dropout_p", dropout_p, 0, 1)
    scale = 1.0 / math.sqrt(Dh)

    scores = q @ k.swapaxes(-1, -2)  # (B, H, Tq, Dh) @ (B, H, Dh, Tk) -> (B, H, Tq, Tk)
    scores *= scale
    alive = None
    if allowed is not None:
        row_alive = allowed.any(axis=-1, keepdims=True)  # (B, 1, Tq, 1) or (Tq, 1)
        # A dead row gets scores of 0 (a harmless uniform softmax), then r zeroes it.
        fill = np.where(row_alive, -np.inf, 0.0).astype(q.dtype)
        scores = np.where(allowed, scores, fill)
        if not row_alive.all():
            alive = np.broadcast_to(row_alive, (B, 1, Tq, 1)).astype(q.dtype)
    weights, softmax_cache = softmax_layer.forward({}, scores, axis=-1)
    if alive is not None:
        weights = weights * alive
    p, dropout_cache = weights, None
    if dropout_p > 0.0:
        p, dropout_cache = dropout_layer.forward({}, weights, p=dropout_p, training=True, rng=rng)
    y = p @ v  # (B, H, Tq, Tk) @ (B, H, Tk, Dh) -> (B, H, Tq, Dh)
    return y, AttentionCache(q, k, v, weights, p, softmax_cache, alive, dropout_cache, scale)


def backward(
    dy: Float[np.ndarray, "B H Tq Dh"], cache: AttentionCache
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], dict]:
    """Gradients of scaled dot-product attention.

    Args:
        dy: upstream gradient of shape (B, H, Tq, Dh).
        cache: the `AttentionCache` from `scaled_dot_product_attention`.

    Returns:
        `(dq, dk, dv)` shaped like q, k, v, and `{}` (no parameters).
    """
    q, k, v, _, p, softmax_cache, alive, dropout_cache, scale = cache
    dy = check_float("dy", dy)
    if dy.shape != q.shape[:3] + v.shape[3:]:
        raise ValueError(f"dy has shape {dy.shape} but y has shape {q.shape[:3] + v.shape[3:]}")
    dp = dy @ v.swapaxes(-1, -2)  # (B, H, Tq, Dh) @ (B, H, Dh, Tk) -> (B, H, Tq, Tk)
    if dropout_cache is not None:
        dp, _ = dropout_layer.backward(dp, dropout_cache)
    if alive is not None:
        dp = dp * alive
    dscores, _ = softmax_layer.backward(dp, softmax_cache)
    dscores *= scale
    dq = dscores @ k  # (B, H, Tq, Tk) @ (B, H, Tk, Dh) -> (B, H, Tq, Dh)
    dk = dscores.swapaxes(-1, -2) @ q  # (B, H, Tk, Tq) @ (B, H, Tq, Dh) -> (B, H, Tk, Dh)
    dv = p.swapaxes(-1, -2) @ dy  # (B, H, Tk, Tq) @ (B, H, Tq, Dh) -> (B, H, Tk, Dh)
    return (dq, dk, dv), {}
