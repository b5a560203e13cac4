"""Inverted dropout, as `torch.nn.functional.dropout`.

Forward, in training: draw u ~ Uniform[0, 1) for every entry, keep the entries with u ≥ p (each
kept with probability 1 - p) and scale the kept ones by 1/(1 - p), so that E[y] = x:

    m = [u ≥ p],     y = x ⊙ m · s,     s = 1/(1 - p)

In evaluation (`training=False`) and for p = 0, y = x. For p = 1 every entry is dropped: y = 0;
as p → 1, s may overflow (float16: 1/(1 - 0.9999999) = inf), so a dropped entry is set to 0, never
computed as 0 · s (which would be nan).
The mask is `rng.random(x.shape) >= p` with `rng = np.random.default_rng(seed)`, so a seed fixes it.

Backward. y is x times a constant, so dx = dy ⊙ m · s (dx = dy when y = x, and 0 when p = 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from jaxtyping import Float

from minienc._checks import check_float, check_number
from minienc._params import check_params

__all__ = ["forward", "backward"]


def forward(
    params: Mapping[str, Any],
    x: Float[np.ndarray, "*B D"],
    p: float = 0.5,
    training: bool = True,
    rng: int | np.random.Generator | None = None,
) -> tuple[Float[np.ndarray, "*B D"], tuple]:
    """Zero each entry of x with probability p and scale the rest by 1/(1 - p).

    Args:
        params: unused (the layer has no parameters); pass `{}`.
        x: input of shape (B, T, D), or any shape.
        p: the probability of dropping an entry, in [0, 1].
        training: dropout is applied only when True; otherwise y = x.
        rng: an int seed (the same seed gives the same mask), a `np.random.Generator` (advanced
            by each call), or None for fresh randomness.

    Returns:
        y of the shape and dtype of x, and the cache `(scaled_mask, x.shape)`, where scaled_mask
        is m · s of the shape of x (None when y = x).
    """
    check_params(params, {}, "dropout")
    x = check_float("x", x)
    check_number("p", p, 0, 1)
    if not (rng is None or isinstance(rng, np.random.Generator)):
        if isinstance(rng, bool) or not isinstance(rng, int | np.integer):
            raise TypeError(f"rng must be an int seed, a np.random.Generator or None, got {rng!r}")
    if not training or p == 0:
        return x, (None, x.shape)
    if p == 1:
        scaled_mask = np.zeros(x.shape, dtype=x.dtype)
    else:
        keep = np.random.default_rng(rng).random(x.shape) >= p
        scaled_mask = np.where(keep, x.dtype.type(1 / (1 - p)), x.dtype.type(0))  # no 0 · ∞
    return x * scaled_mask, (scaled_mask, x.shape)


def backward(dy: Float[np.ndarray, "*B D"], cache: tuple) -> tuple[Float[np.ndarray, "*B D"], dict]:
    """Gradient of dropout.

    Args:
        dy: upstream gradient of shape (B, T, D), the shape of y.
        cache: `(scaled_mask, x_shape)` from `forward`.

    Returns:
        dx of the shape of x, and `{}` (no parameters).
    """
    scaled_mask, x_shape = cache
    dy = check_float("dy", dy)
    if dy.shape != x_shape:
        raise ValueError(f"dy has shape {dy.shape} but y has shape {x_shape}: they must match")
    if scaled_mask is None:
        return dy, {}
    return dy * scaled_mask, {}
