"""Elementwise activations: ReLU, tanh, sigmoid, GELU (exact and tanh approximation).

    relu(x)      = max(x, 0)                 (gradient 0 at x = 0, as torch)
    tanh(x)      = (e^x - e^-x) / (e^x + e^-x)
    sigmoid(x)   = 1 / (1 + e^-x)            (through e^{-|x|}, which never overflows)
    gelu(x)      = x Φ(x) = x/2 (1 + erf(x / √2))
    gelu_tanh(x) = x/2 (1 + tanh(√(2/π) (x + 0.044715 x³)))

`jax.grad` gives the derivatives the NumPy module writes out by hand.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
from jax import Array
from jax.scipy.special import erf
from jaxtyping import Float

from minienc._checks import as_float
from minienc._params import check_no_params

__all__ = ["KINDS", "relu", "tanh", "sigmoid", "gelu", "gelu_tanh", "forward"]

KINDS = ("relu", "tanh", "sigmoid", "gelu", "gelu_tanh")

_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_C = 0.044715


def relu(x: Float[Array, "..."]) -> Float[Array, "..."]:
    """max(x, 0); x of any shape. The gradient at 0 is 0, as torch's."""
    x = as_float("x", x)
    return jnp.where(x > 0, x, 0)


def tanh(x: Float[Array, "..."]) -> Float[Array, "..."]:
    """Hyperbolic tangent; x of any shape."""
    return jnp.tanh(as_float("x", x))


def sigmoid(x: Float[Array, "..."]) -> Float[Array, "..."]:
    """1 / (1 + e^-x), evaluated through e^{-|x|} so that it never overflows; x of any shape."""
    x = as_float("x", x)
    z = jnp.exp(-jnp.abs(x))  # in (0, 1]
    return jnp.where(x >= 0, 1 / (1 + z), z / (1 + z))


def gelu(x: Float[Array, "..."]) -> Float[Array, "..."]:
    """Exact GELU x Φ(x) with the error function; x of any shape."""
    x = as_float("x", x)
    return 0.5 * x * (1 + erf(x / _SQRT_2))


def gelu_tanh(x: Float[Array, "..."]) -> Float[Array, "..."]:
    """GELU with the tanh approximation (torch's `approximate="tanh"`); x of any shape."""
    x = as_float("x", x)
    return 0.5 * x * (1 + jnp.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x**3)))


_FUNCTIONS = {"relu": relu, "tanh": tanh, "sigmoid": sigmoid, "gelu": gelu, "gelu_tanh": gelu_tanh}


def forward(
    params: Mapping[str, Any], x: Float[Array, "*B D"], kind: str = "relu"
) -> Float[Array, "*B D"]:
    """Apply the activation `kind` elementwise.

    Args:
        params: unused (the layer has no parameters); pass `{}`.
        x: input of shape (B, T, D), or any shape.
        kind: one of "relu", "tanh", "sigmoid", "gelu", "gelu_tanh" (static under jit).

    Returns:
        y of the shape and dtype of x.
    """
    check_no_params(params, f"activation {kind!r}")
    if kind not in _FUNCTIONS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return _FUNCTIONS[kind](x)
