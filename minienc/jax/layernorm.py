"""Layer normalisation over the last axis, as `torch.nn.LayerNorm(D)`.

μ = mean(x),   σ² = mean((x - μ)²)   (biased, as torch),   y = (x - μ) / √(σ² + eps) · w + b
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
from jax import Array
from jaxtyping import Float

from minienc._checks import as_float, check_last_dim, check_number
from minienc._params import check_keys, check_params, param_name

__all__ = ["forward"]


def forward(
    params: Mapping[str, Array], x: Float[Array, "*B D"], eps: float = 1e-5
) -> Float[Array, "*B D"]:
    """Normalise x over its last axis, then scale by `weight` and shift by `bias`.

    Args:
        params: `weight` and `bias`, each of shape (D,).
        x: input of shape (B, T, D), or any shape (..., D) with at least one axis.
        eps: added to the variance before the square root; must be ≥ 0.

    Returns:
        y of the shape of x.
    """
    x, w, b = _check(params, x, eps)  # keys, shapes, dtypes and eps: see the bottom of the file
    mu = x.mean(axis=-1, keepdims=True)  # (..., 1)
    xc = x - mu
    var = (xc * xc).mean(axis=-1, keepdims=True)  # (..., 1), biased
    return xc * jax.lax.rsqrt(var + eps) * w + b


def _check(params: Mapping[str, Array], x: object, eps: float) -> tuple[Array, Array, Array]:
    """x, the weight and the bias, once params, x and eps are checked."""
    x = as_float("x", x)
    if x.ndim == 0:
        raise ValueError("x must have at least one dimension (..., D), got shape ()")
    check_keys(params, ("weight", "bias"), "layernorm")
    p = check_params(params, {"weight": (None,), "bias": (None,)}, "layernorm", x.dtype)
    D = p["weight"].shape[0]
    check_params(params, {"bias": (D,)}, "layernorm")
    check_last_dim("x", x, D, f"{param_name(params, 'weight')} of shape {(D,)}")
    check_number("eps", eps, 0)
    return x, p["weight"], p["bias"]
