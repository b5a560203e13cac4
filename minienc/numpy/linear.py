"""Linear (affine) layer, as `torch.nn.Linear`: y = x Wᵀ + b.

Forward, with W of shape (out, in) and b of shape (out,), for x of shape (..., in):

    y[..., o] = Σ_i x[..., i] W[o, i] + b[o]

Backward. Flatten the leading axes into N rows, so x is (N, in), y and dy are (N, out). Since
∂y[n, o]/∂x[n, i] = W[o, i] and ∂y[n, o]/∂W[o, i] = x[n, i]:

    dx = dy W              (N, out) @ (out, in) -> (N, in)
    dW = dyᵀ x             (out, N) @ (N, in)   -> (out, in)
    db = Σ_n dy[n, :]      every row adds the same b
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from jaxtyping import Float

from minienc._checks import check_float, check_last_dim
from minienc._params import all_or_none, check_keys, check_params, param_name

__all__ = ["forward", "backward"]

_KEYS = ("weight", "bias")


def forward(
    params: Mapping[str, np.ndarray], x: Float[np.ndarray, "*B in"]
) -> tuple[Float[np.ndarray, "*B out"], tuple]:
    """Apply y = x Wᵀ + b over the last axis of x.

    Args:
        params: `weight` of shape (out, in) and, optionally, `bias` of shape (out,).
        x: input of shape (B, T, in), or any shape (..., in) with at least one axis.

    Returns:
        y of shape (B, T, out) (the leading axes of x), and the cache `(x, weight, has_bias)`.
    """
    x, w = _check(params, x)  # keys, shapes and dtypes: see the bottom of the file
    has_bias = "bias" in params
    # One (N, in) @ (in, out) matrix product over all leading axes at once: NumPy would otherwise
    # run one smaller product per batch element, which is slower.
    y = (x.reshape(-1, w.shape[1]) @ w.T).reshape(*x.shape[:-1], w.shape[0])  # (..., out)
    if has_bias:
        y += params["bias"]  # in place: y is a fresh array, and this saves a full-size temporary
    return y, (x, w, has_bias)


def backward(
    dy: Float[np.ndarray, "*B out"], cache: tuple
) -> tuple[Float[np.ndarray, "*B in"], dict[str, np.ndarray]]:
    """Gradients of the linear layer.

    Args:
        dy: upstream gradient of shape (B, T, out), the shape of y.
        cache: `(x, weight, has_bias)` from `forward`.

    Returns:
        dx of shape (B, T, in), and grads `{"weight": (out, in), "bias": (out,)}` (bias only if
        params had one).
    """
    x, w, has_bias = cache
    dy = check_float("dy", dy)
    y_shape = x.shape[:-1] + (w.shape[0],)
    if dy.shape != y_shape:
        raise ValueError(f"dy has shape {dy.shape} but y has shape {y_shape}: they must match")
    dx = dy @ w  # (..., out) @ (out, in) -> (..., in)
    x2 = x.reshape(-1, x.shape[-1])  # (N, in)
    dy2 = dy.reshape(-1, dy.shape[-1])  # (N, out)
    grads = {"weight": dy2.T @ x2}  # (out, N) @ (N, in) -> (out, in)
    if has_bias:
        grads["bias"] = dy2.sum(axis=0)
    return dx, grads


def _check(params: Mapping[str, np.ndarray], x: object) -> tuple[np.ndarray, np.ndarray]:
    """x and the weight, once the keys, shapes and dtypes of params and x are checked."""
    check_keys(params, _keys(params), "linear")
    check_params(params, {"weight": (None, None)}, "linear")
    w = np.asarray(params["weight"])
    if "bias" in params:
        check_params(params, {"bias": (w.shape[0],)}, "linear")
    x = check_float("x", x)
    check_last_dim("x", x, w.shape[1], f"{param_name(params, 'weight')} of shape {w.shape}")
    for key in [k for k in _KEYS if k in params]:
        if np.asarray(params[key]).dtype != x.dtype:
            raise TypeError(
                f"x has dtype {x.dtype} but {param_name(params, key)} has dtype "
                f"{np.asarray(params[key]).dtype}: they must match"
            )
    return x, w


def _keys(params: Mapping[str, np.ndarray]) -> tuple[str, ...]:
    """The keys of `nn.Linear`: with a bias, or without (`bias=False`)."""
    return ("weight",) + all_or_none(params, ("bias",))
