"""Pooling: one vector per sequence from the encoder's states h (B, T, D) and a padding mask.

`mask` is a key-padding mask, bool (B, T), True = padding (torch's convention); padding may sit
anywhere for `mean`, `max` and `weighted_mean`, while `last` takes the last position that is not
padding. A row that is all padding pools to zeros (and sends back zero gradient).

Modes, with m_t = 1 for real tokens and 0 for padding, n = Σ_t m_t:

    cls            y = h_0                                   dh_0 = dy
    last           y = h_ℓ, ℓ = the last t with m_t = 1      dh_ℓ = dy
    mean           y = Σ_t m_t h_t / n                       dh_t = m_t dy / n
    max            y_d = max_{t: m_t=1} h_td                 dh_td = dy_d at the argmax t, else 0
    weighted_mean  s_t = h_t · w,  a = softmax over real t of s,  y = Σ_t a_t h_t
                   dh_t = a_t dy + a_t (dy·h_t − dy·y) w,     dw = Σ_t a_t (dy·h_t − dy·y) h_t

`weighted_mean` is learned attention pooling: `params = {"weight": (1, D)}`, the weight of
`nn.Linear(D, 1, bias=False)` (a bias would cancel in the softmax). The other modes take no params.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from jaxtyping import Bool, Float

from minienc._checks import check_bool, check_float, check_last_dim, check_ndim, check_same_shape
from minienc._params import check_keys, check_params, param_name
from minienc.numpy.softmax import backward as softmax_backward

__all__ = ["MODES", "forward", "backward"]

MODES = ("cls", "last", "mean", "max", "weighted_mean")


def forward(
    h: Float[np.ndarray, "B T D"],
    mask: Bool[np.ndarray, "B T"],
    mode: str,
    params: Mapping[str, np.ndarray] | None = None,
) -> tuple[Float[np.ndarray, "B D"], tuple]:
    """Pool h (B, T, D) over time into y (B, D), ignoring positions where `mask` is True.

    Returns y and a cache holding (mode, h's shape, the mask and what the mode needs: the
    positions chosen by `last`/`max`, the counts for `mean`, the weights a for `weighted_mean`).
    """
    h, mask = _check(h, mask, mode, params)  # see the bottom of the file
    B, T, D = h.shape
    real = ~mask  # (B, T)
    rows = np.arange(B)
    if mode == "cls":
        y = h[:, 0] * real[:, :1]
        return y, (mode, h.shape, real, None)
    if mode == "last":
        has_any = real.any(axis=1)
        last = T - 1 - np.argmax(real[:, ::-1], axis=1)  # last real position per row
        y = h[rows, last] * has_any[:, None]
        return y, (mode, h.shape, real, (last, has_any))
    if mode == "mean":
        n = real.sum(axis=1, keepdims=True).astype(h.dtype)  # (B, 1)
        y = np.einsum("bt,btd->bd", real.astype(h.dtype), h) / np.maximum(n, 1)
        return y, (mode, h.shape, real, n)
    if mode == "max":
        masked = np.where(real[:, :, None], h, -np.inf)
        arg = np.argmax(masked, axis=1)  # (B, D) time index of each maximum
        has_any = real.any(axis=1)
        y = np.take_along_axis(h, arg[:, None, :], axis=1)[:, 0] * has_any[:, None]
        return y, (mode, h.shape, real, (arg, has_any))
    # weighted_mean
    w = params["weight"][0]  # (D,)
    s = np.where(real, h @ w, -np.inf)  # (B, T) scores, padding excluded
    has_any = real.any(axis=1, keepdims=True)
    s = np.where(has_any, s, 0.0)  # an all-padding row: finite scores, weights zeroed below
    a = np.exp(s - s.max(axis=1, keepdims=True))
    a = a * real / np.maximum(np.sum(a * real, axis=1, keepdims=True), np.finfo(h.dtype).tiny)
    y = np.einsum("bt,btd->bd", a, h)
    return y, (mode, h.shape, real, (a, h, w))


def backward(
    dy: Float[np.ndarray, "B D"], cache: tuple
) -> tuple[Float[np.ndarray, "B T D"], dict[str, np.ndarray]]:
    """Gradient of pooling: dh (B, T, D) and grads (`{"weight"}` for weighted_mean, else `{}`)."""
    mode, shape, real, saved = cache
    B, T, D = shape
    dy = check_float("dy", dy)
    if dy.shape != (B, D):
        raise ValueError(f"dy has shape {dy.shape} but the pooled output has shape {(B, D)}")
    dh = np.zeros(shape, dtype=dy.dtype)
    rows = np.arange(B)
    if mode == "cls":
        dh[:, 0] = dy * real[:, :1]
        return dh, {}
    if mode == "last":
        last, has_any = saved
        dh[rows, last] = dy * has_any[:, None]
        return dh, {}
    if mode == "mean":
        n = saved
        dh[:] = real[:, :, None] * (dy / np.maximum(n, 1))[:, None, :]
        return dh, {}
    if mode == "max":
        arg, has_any = saved
        np.put_along_axis(dh, arg[:, None, :], (dy * has_any[:, None])[:, None, :], axis=1)
        return dh, {}
    a, h, w = saved
    # y = Σ_t a_t h_t: direct path, then through the weights a = softmax(s), s_t = h_t · w
    da = np.einsum("bd,btd->bt", dy, h)  # (B, T)
    ds, _ = softmax_backward(da, (a, 1, False))  # padded positions have a_t = 0, so ds_t = 0
    dh = a[:, :, None] * dy[:, None, :] + ds[:, :, None] * w  # (B, T, D)
    dw = np.einsum("bt,btd->d", ds, h)[None, :]  # (1, D)
    check_same_shape("dh", dh, "h", h)
    return dh, {"weight": dw}


def _check(
    h: object, mask: object, mode: str, params: Mapping[str, np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray]:
    """h and mask, once they, the mode and the mode's params are checked."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    h = check_float("h", h)
    check_ndim("h", h, 3, "(B, T, D)")
    if h.shape[1] == 0:
        raise ValueError(
            f"h must have at least one position, got shape {h.shape} (B, T, D) with T = 0"
        )
    mask = check_bool("mask", mask, "(B, T) with True = padding")
    if mask.shape != h.shape[:2]:
        raise ValueError(
            f"mask has shape {mask.shape} but h of shape {h.shape} needs {h.shape[:2]}"
        )
    params = {} if params is None else params
    check_keys(params, ("weight",) if mode == "weighted_mean" else (), f"{mode} pooling")
    if mode == "weighted_mean":
        w = check_params(params, {"weight": (1, None)}, "weighted_mean pooling")["weight"]
        check_last_dim("h", h, w.shape[1], f"{param_name(params, 'weight')} of shape {w.shape}")
    return h, mask
