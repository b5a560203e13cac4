"""Softmax and log-softmax along one axis, numerically stable.

    softmax(x)_i     = e^{x_i - m} / Σ_j e^{x_j - m}
    log_softmax(x)_i = (x_i - m) - log Σ_j e^{x_j - m},     m = max_j x_j

Subtracting the row maximum changes nothing mathematically (it cancels) but keeps every exponent
≤ 0, so `x + 1000` gives the same, finite answer. Since m cancels, its gradient is zero: it is held
constant with `jax.lax.stop_gradient`, which also keeps -inf entries (masked scores) harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array
from jaxtyping import Float

from minienc._checks import as_float
from minienc._params import check_no_params

__all__ = ["softmax", "log_softmax", "forward"]


def _shifted(x: Array, axis: int) -> Array:
    x = as_float("x", x)
    if not -x.ndim <= axis < max(x.ndim, 1):
        raise ValueError(f"axis {axis} is out of range for x of shape {x.shape}")
    return x - jax.lax.stop_gradient(x.max(axis=axis, keepdims=True, initial=-jnp.inf))


def softmax(x: Float[Array, "..."], axis: int = -1) -> Float[Array, "..."]:
    """e^x / Σ e^x along `axis`; x of any shape, y of the same shape."""
    e = jnp.exp(_shifted(x, axis))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: Float[Array, "..."], axis: int = -1) -> Float[Array, "..."]:
    """log softmax(x) along `axis`, without forming softmax(x); x of any shape."""
    s = _shifted(x, axis)
    return s - jnp.log(jnp.exp(s).sum(axis=axis, keepdims=True))


def forward(
    params: Mapping[str, Any], x: Float[Array, "*B D"], axis: int = -1, log: bool = False
) -> Float[Array, "*B D"]:
    """The layer form: softmax (or log_softmax when `log`) of x (B, T, D) along `axis`."""
    check_no_params(params, "softmax")
    return log_softmax(x, axis) if log else softmax(x, axis)
