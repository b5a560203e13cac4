"""Layer normalisation over the last axis, as `torch.nn.LayerNorm(D)`.

Forward, for each row x of D entries (the leading axes are independent rows):

    μ = (1/D) Σ_i x_i,     σ² = (1/D) Σ_i (x_i - μ)²     (biased variance, as torch)
    r = 1 / √(σ² + eps),   x̂_i = (x_i - μ) r,           y_i = w_i x̂_i + b_i

Backward. dw = Σ_rows dy ⊙ x̂ and db = Σ_rows dy. For x, let g = dy ⊙ w (the gradient reaching x̂).
Using ∂μ/∂x_j = 1/D and ∂r/∂x_j = -r³ (x_j - μ)/D = -r x̂_j / D,

    ∂x̂_i/∂x_j = r (δ_ij - 1/D) - x̂_i r x̂_j / D

so

    dx_j = Σ_i g_i ∂x̂_i/∂x_j = r (g_j - mean(g) - x̂_j mean(g ⊙ x̂)).

The `- mean(g)` term comes from μ, the `- x̂_j mean(g ⊙ x̂)` term from σ².
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from jaxtyping import Float

from minienc._checks import check_float, check_last_dim, check_number, check_same_shape
from minienc._params import check_keys, check_params, param_name

__all__ = ["forward", "backward"]


def forward(
    params: Mapping[str, np.ndarray], x: Float[np.ndarray, "*B D"], eps: float = 1e-5
) -> tuple[Float[np.ndarray, "*B D"], tuple]:
    """Normalise x over its last axis, then scale by `weight` and shift by `bias`.

    Args:
        params: `weight` and `bias`, each of shape (D,).
        x: input of shape (B, T, D), or any shape (..., D) with at least one axis.
        eps: added to the variance before the square root; must be ≥ 0.

    Returns:
        y of the shape of x, and the cache `(xhat, rstd, weight)`: the normalised input (B, T, D),
        1/√(σ² + eps) of shape (B, T, 1), and the weight (D,).
    """
    x, w, b = _check(params, x, eps)  # keys, shapes, dtypes and eps: see the bottom of the file
    mu = x.mean(axis=-1, keepdims=True)  # (..., 1)
    xc = x - mu
    var = (xc * xc).mean(axis=-1, keepdims=True)  # (..., 1), biased
    rstd = 1 / np.sqrt(var + eps)
    xhat = xc
    xhat *= rstd  # in place: xc is a fresh array that nothing else reads
    y = xhat * w
    y += b
    return y, (xhat, rstd, w)


def backward(
    dy: Float[np.ndarray, "*B D"], cache: tuple
) -> tuple[Float[np.ndarray, "*B D"], dict[str, np.ndarray]]:
    """Gradients of layer normalisation.

    Args:
        dy: upstream gradient of shape (B, T, D), the shape of y.
        cache: `(xhat, rstd, weight)` from `forward`.

    Returns:
        dx of shape (B, T, D), and grads `{"weight": (D,), "bias": (D,)}`.
    """
    xhat, rstd, w = cache
    dy = check_float("dy", dy)
    check_same_shape("dy", dy, "y", xhat)
    lead = tuple(range(dy.ndim - 1))  # every axis but the last
    grads = {"weight": (dy * xhat).sum(axis=lead), "bias": dy.sum(axis=lead)}
    g = dy * w
    dx = rstd * (
        g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True)
    )
    return dx, grads


def _check(
    params: Mapping[str, np.ndarray], x: object, eps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, the weight and the bias, once params, x and eps are checked."""
    check_keys(params, ("weight", "bias"), "layernorm")
    check_params(params, {"weight": (None,), "bias": (None,)}, "layernorm")
    w, b = np.asarray(params["weight"]), np.asarray(params["bias"])
    check_same_shape(param_name(params, "bias"), b, param_name(params, "weight"), w)
    x = check_float("x", x)
    check_last_dim("x", x, w.shape[0], f"{param_name(params, 'weight')} of shape {w.shape}")
    for key, p in (("weight", w), ("bias", b)):
        if p.dtype != x.dtype:
            raise TypeError(
                f"x has dtype {x.dtype} but {param_name(params, key)} has dtype {p.dtype}: "
                "they must match"
            )
    check_number("eps", eps, 0)
    return x, w, b
