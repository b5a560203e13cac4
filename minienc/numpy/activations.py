"""Elementwise activations: ReLU, tanh, sigmoid, GELU (exact and tanh approximation).

Forward, elementwise, for any shape:

    relu(x)      = max(x, 0)
    tanh(x)      = (e^x - e^-x) / (e^x + e^-x)
    sigmoid(x)   = 1 / (1 + e^-x)
    gelu(x)      = x Φ(x) = x/2 (1 + erf(x / √2))
    gelu_tanh(x) = x/2 (1 + tanh(u)),  u = √(2/π) (x + 0.044715 x³)

Backward: an elementwise map has a diagonal Jacobian, so dx = dy ⊙ f'(x) with

    relu'(x)      = [x > 0]                          (0 at x = 0, as torch)
    tanh'(x)      = 1 - y²
    sigmoid'(x)   = y (1 - y)
    gelu'(x)      = Φ(x) + x φ(x),   φ(x) = e^{-x²/2} / √(2π)
    gelu_tanh'(x) = (1 + t)/2 + x/2 (1 - t²) √(2/π) (1 + 3·0.044715 x²),   t = tanh(u)

Sigmoid is evaluated through e^{-|x|}, which never overflows: for x ≥ 0 it is 1 / (1 + e^{-x}),
for x < 0 it is e^{x} / (1 + e^{x}).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from jaxtyping import Float
from scipy.special import erf

from minienc._checks import check_float, check_same_shape
from minienc._params import check_params

__all__ = ["KINDS", "relu", "tanh", "sigmoid", "gelu", "gelu_tanh", "forward", "backward"]

KINDS = ("relu", "tanh", "sigmoid", "gelu", "gelu_tanh")

_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_C = 0.044715


def relu(x: Float[np.ndarray, "..."]) -> Float[np.ndarray, "..."]:
    """max(x, 0), elementwise; x of any shape."""
    x = check_float("x", x)
    return np.maximum(x, 0)


def tanh(x: Float[np.ndarray, "..."]) -> Float[np.ndarray, "..."]:
    """tanh(x), elementwise; x of any shape."""
    x = check_float("x", x)
    return np.tanh(x)


def sigmoid(x: Float[np.ndarray, "..."]) -> Float[np.ndarray, "..."]:
    """1 / (1 + e^-x) = (1 + tanh(x/2)) / 2, elementwise and overflow-free; x of any shape.

    The tanh form costs one transcendental call and never overflows, but for very negative x
    the sum 1 + tanh(x/2) cancels and loses relative precision; there (x < -3, σ < 0.048)
    e^x / (1 + e^x) is used instead, which is exact to rounding and cannot overflow.
    """
    x = check_float("x", x)
    y = np.tanh(0.5 * x)
    y *= 0.5
    y += 0.5
    tail = x < -3.0
    if tail.any():
        z = np.exp(x[tail])
        y[tail] = z / (1 + z)
    return y


def gelu(x: Float[np.ndarray, "..."]) -> Float[np.ndarray, "..."]:
    """Exact GELU x Φ(x) with the error function; x of any shape."""
    x = check_float("x", x)
    return 0.5 * x * (1 + erf(x / _SQRT_2))


def gelu_tanh(x: Float[np.ndarray, "..."]) -> Float[np.ndarray, "..."]:
    """GELU with the tanh approximation (torch's `approximate="tanh"`); x of any shape."""
    x = check_float("x", x)
    return 0.5 * x * (1 + np.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x**3)))


_FUNCTIONS = {"relu": relu, "tanh": tanh, "sigmoid": sigmoid, "gelu": gelu, "gelu_tanh": gelu_tanh}


def _derivative(kind: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """f'(x) for the activation `kind`, given its input x and output y = f(x)."""
    if kind == "relu":
        return (x > 0).astype(x.dtype)
    if kind == "tanh":
        return 1 - y * y
    if kind == "sigmoid":
        return y * (1 - y)
    if kind == "gelu":
        cdf = 0.5 * (1 + erf(x / _SQRT_2))
        pdf = _INV_SQRT_2PI * np.exp(-0.5 * x * x)
        return cdf + x * pdf
    # gelu_tanh
    t = np.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x**3))
    du_dx = _SQRT_2_OVER_PI * (1 + 3 * _GELU_C * x * x)
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du_dx


def forward(
    params: Mapping[str, Any], x: Float[np.ndarray, "*B D"], kind: str = "relu"
) -> tuple[Float[np.ndarray, "*B D"], tuple]:
    """Apply the activation `kind` elementwise.

    Args:
        params: unused (the layer has no parameters); pass `{}`.
        x: input of shape (B, T, D), or any shape.
        kind: one of "relu", "tanh", "sigmoid", "gelu", "gelu_tanh".

    Returns:
        y of the shape and dtype of x, and the cache `(kind, x, y)`.
    """
    check_params(params, {}, f"activation {kind!r}")
    if kind not in _FUNCTIONS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    x = check_float("x", x)
    y = _FUNCTIONS[kind](x)
    return y, (kind, x, y)


def backward(dy: Float[np.ndarray, "*B D"], cache: tuple) -> tuple[Float[np.ndarray, "*B D"], dict]:
    """Gradient of the activation.

    Args:
        dy: upstream gradient, of the shape of y, e.g. (B, T, D).
        cache: `(kind, x, y)` from `forward`.

    Returns:
        dx of the shape of x, and `{}` (no parameters).
    """
    kind, x, y = cache
    dy = check_float("dy", dy)
    check_same_shape("dy", dy, "y", y)
    return dy * _derivative(kind, x, y), {}
