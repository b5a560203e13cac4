"""Linear layer, as `torch.nn.Linear`: y = x Wᵀ + b over the last axis.

`jax.grad` derives what the NumPy version writes by hand: dx = dy W, dW = Σ dyᵀ x, db = Σ dy.
"""

from __future__ import annotations

from collections.abc import Mapping

from jax import Array
from jaxtyping import Float

from minienc._checks import as_float, check_last_dim
from minienc._params import all_or_none, check_keys, check_params, param_name

__all__ = ["forward"]


def forward(params: Mapping[str, Array], x: Float[Array, "*B in"]) -> Float[Array, "*B out"]:
    """Apply y = x Wᵀ + b.

    Args:
        params: `weight` of shape (out, in) and, optionally, `bias` of shape (out,).
        x: input of shape (B, T, in), or any shape (..., in) with at least one axis.

    Returns:
        y of shape (B, T, out) (the leading axes of x).
    """
    x = as_float("x", x)
    check_keys(params, ("weight",) + all_or_none(params, ("bias",)), "linear")
    w = check_params(params, {"weight": (None, None)}, "linear", x.dtype)["weight"]
    check_last_dim("x", x, w.shape[1], f"{param_name(params, 'weight')} of shape {w.shape}")
    y = x @ w.T  # (..., in) @ (in, out) -> (..., out)
    if "bias" in params:
        y = y + check_params(params, {"bias": (w.shape[0],)}, "linear", x.dtype)["bias"]
    return y
