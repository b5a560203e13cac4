"""Softmax and log-softmax along one axis, numerically stable.

Forward, along the axis (the others are independent rows):

    softmax(x)_i     = e^{x_i - m} / Σ_j e^{x_j - m}
    log_softmax(x)_i = (x_i - m) - log Σ_j e^{x_j - m},     m = max_j x_j

Subtracting the row maximum changes nothing mathematically (it cancels) but keeps every exponent
≤ 0, so `x + 1000` gives the same, finite answer.

Backward. With y = softmax(x), ∂y_i/∂x_j = y_i (δ_ij - y_j), so

    dx_j = Σ_i dy_i y_i (δ_ij - y_j) = y_j (dy_j - Σ_i dy_i y_i).

With z = log_softmax(x), ∂z_i/∂x_j = δ_ij - y_j, so

    dx_j = dy_j - y_j Σ_i dy_i.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from jaxtyping import Float

from minienc._checks import check_float, check_same_shape
from minienc._params import check_params

__all__ = ["softmax", "log_softmax", "forward", "backward"]


def _check_axis(x: np.ndarray, axis: int) -> int:
    """Return `axis` as a non-negative index into x's axes, or raise ValueError."""
    if not isinstance(axis, int | np.integer) or isinstance(axis, bool):
        raise TypeError(f"axis must be an int, got {type(axis).__name__}")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis {axis} is out of range for x of shape {x.shape}")
    return int(axis) % x.ndim


def _shifted(x: np.ndarray, axis: int) -> np.ndarray:
    """x minus its maximum along `axis`: every entry ≤ 0 and the maximum is exactly 0."""
    return x - np.max(x, axis=axis, keepdims=True, initial=-np.inf)  # initial: an empty axis


def softmax(x: Float[np.ndarray, "..."], axis: int = -1) -> Float[np.ndarray, "..."]:
    """Softmax of x along `axis` (stable); x of any shape with at least one axis."""
    x = check_float("x", x)
    axis = _check_axis(x, axis)
    e = _shifted(x, axis)  # a fresh array: exponentiate and normalise it in place
    np.exp(e, out=e)
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


def log_softmax(x: Float[np.ndarray, "..."], axis: int = -1) -> Float[np.ndarray, "..."]:
    """Log of the softmax of x along `axis` (stable); x of any shape with at least one axis."""
    x = check_float("x", x)
    axis = _check_axis(x, axis)
    s = _shifted(x, axis)
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def forward(
    params: Mapping[str, Any], x: Float[np.ndarray, "*B D"], axis: int = -1, log: bool = False
) -> tuple[Float[np.ndarray, "*B D"], tuple]:
    """Softmax (or log-softmax when `log`) of x along `axis`.

    Args:
        params: unused (the layer has no parameters); pass `{}`.
        x: input of shape (B, T, D), or any shape with at least one axis.
        axis: the axis that is normalised.
        log: return log-softmax instead.

    Returns:
        y of the shape and dtype of x, and the cache `(p, axis, log)` where p = softmax(x).
    """
    check_params(params, {}, "log_softmax" if log else "softmax")
    x = check_float("x", x)
    axis = _check_axis(x, axis)
    if log:
        y = log_softmax(x, axis)
        p = np.exp(y)
    else:
        y = p = softmax(x, axis)
    return y, (p, axis, log)


def backward(dy: Float[np.ndarray, "*B D"], cache: tuple) -> tuple[Float[np.ndarray, "*B D"], dict]:
    """Gradient of softmax or log-softmax.

    Args:
        dy: upstream gradient, of the shape of y, e.g. (B, T, D).
        cache: `(p, axis, log)` from `forward`.

    Returns:
        dx of the shape of x, and `{}` (no parameters).
    """
    p, axis, log = cache
    dy = check_float("dy", dy)
    check_same_shape("dy", dy, "y", p)
    if log:
        return dy - p * np.sum(dy, axis=axis, keepdims=True), {}
    return p * (dy - np.sum(dy * p, axis=axis, keepdims=True)), {}
