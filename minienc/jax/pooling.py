"""Pooling: one vector per sequence from the encoder's states h (B, T, D) and a padding mask.

`mask` is a key-padding mask, bool (B, T), True = padding (torch's convention); padding may sit
anywhere for `mean`, `max` and `weighted_mean`, while `last` takes the last position that is not
padding. A row that is all padding pools to zeros (and sends back zero gradient).

Modes, with m_t = 1 for real tokens and 0 for padding:

    cls            y = h_0 (zeros if position 0 is padding)
    last           y = h_ℓ, ℓ = the last t with m_t = 1
    mean           y = Σ_t m_t h_t / Σ_t m_t
    max            y_d = max_{t: m_t=1} h_td
    weighted_mean  s_t = h_t · w,  a = softmax over the real t of s,  y = Σ_t a_t h_t

`weighted_mean` is learned attention pooling: `params = {"weight": (1, D)}`, the weight of
`nn.Linear(D, 1, bias=False)` (a bias would cancel in the softmax). The other modes take no params.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
from jax import Array
from jaxtyping import Bool, Float

from minienc._checks import as_bool, as_float, check_last_dim, check_ndim
from minienc._params import check_keys, check_params, param_name
from minienc.jax.softmax import softmax

__all__ = ["MODES", "forward"]

MODES = ("cls", "last", "mean", "max", "weighted_mean")


def forward(
    h: Float[Array, "B T D"],
    mask: Bool[Array, "B T"],
    mode: str,
    params: Mapping[str, Array] | None = None,
) -> Float[Array, "B D"]:
    """Pool h (B, T, D) over time into y (B, D), ignoring positions where `mask` is True.

    `mode` is static under jit; `params` is `{"weight": (1, D)}` for "weighted_mean", else None.
    """
    h, mask, w = _check(h, mask, mode, params)  # see the bottom of the file
    T = h.shape[1]
    real = ~mask  # (B, T)
    has_any = real.any(axis=1, keepdims=True)  # (B, 1)
    if mode == "cls":
        return h[:, 0] * real[:, :1]
    if mode == "last":
        last = T - 1 - jnp.argmax(real[:, ::-1], axis=1)  # (B,) the last real position per row
        y = h[jnp.arange(h.shape[0]), last]  # (B, D)
        return y * has_any
    if mode == "mean":
        n = real.sum(axis=1, keepdims=True).astype(h.dtype)  # (B, 1)
        return jnp.einsum("bt,btd->bd", real.astype(h.dtype), h) / jnp.maximum(n, 1)
    if mode == "max":
        y = jnp.where(real[:, :, None], h, -jnp.inf).max(axis=1)  # (B, D)
        return jnp.where(has_any, y, 0)
    # weighted_mean: an all-padding row gets finite scores (0), then its weights are zeroed
    s = h @ w[0]  # (B, T, D) @ (D,) -> (B, T)
    s = jnp.where(real, s, jnp.where(has_any, -jnp.inf, 0.0))
    a = softmax(s, axis=1) * has_any  # (B, T)
    return jnp.einsum("bt,btd->bd", a, h)


def _check(
    h: object, mask: object, mode: str, params: Mapping[str, Array] | None
) -> tuple[Array, Array, Array | None]:
    """h, mask and the weighted_mean weight (None for other modes), once all are checked."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    h = as_float("h", h)
    check_ndim("h", h, 3, "(B, T, D)")
    if h.shape[1] == 0:
        raise ValueError(
            f"h must have at least one position, got shape {h.shape} (B, T, D) with T = 0"
        )
    mask = as_bool("mask", mask, "(B, T) with True = padding")
    if mask.shape != h.shape[:2]:
        raise ValueError(
            f"mask has shape {mask.shape} but h of shape {h.shape} needs {h.shape[:2]}"
        )
    params = {} if params is None else params
    check_keys(params, ("weight",) if mode == "weighted_mean" else (), f"{mode} pooling")
    if mode != "weighted_mean":
        return h, mask, None
    w = check_params(params, {"weight": (1, None)}, "weighted_mean pooling", h.dtype)["weight"]
    check_last_dim("h", h, w.shape[1], f"{param_name(params, 'weight')} of shape {w.shape}")
    return h, mask, w
