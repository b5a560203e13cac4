"""Inverted dropout, as `torch.nn.functional.dropout`.

In training, each entry is kept with probability 1 - p and the kept ones are scaled by
1/(1 - p), so that E[y] = x:  m ~ Bernoulli(1 - p),  y = x ⊙ m / (1 - p). In evaluation
(`training=False`) and for p = 0, y = x; for p = 1, y = 0. The randomness `rng` is a JAX PRNG key:
the same key gives the same mask, and a training loop splits a fresh key for every call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array
from jaxtyping import Float

from minienc._checks import as_float, check_number
from minienc._params import check_no_params

__all__ = ["forward"]


def forward(
    params: Mapping[str, Any],
    x: Float[Array, "*B D"],
    p: float = 0.5,
    training: bool = True,
    rng: Array | None = None,
) -> Float[Array, "*B D"]:
    """Zero each entry of x with probability p and scale the rest by 1/(1 - p).

    Args:
        params: unused (the layer has no parameters); pass `{}`.
        x: input of shape (B, T, D), or any shape.
        p: the probability of dropping an entry, a Python float in [0, 1] (static under jit).
        training: dropout is applied only when True; otherwise y = x.
        rng: a JAX PRNG key (`jax.random.key(seed)`); required when 0 < p < 1 in training.

    Returns:
        y of the shape and dtype of x.
    """
    check_no_params(params, "dropout")
    x = as_float("x", x)
    check_number("p", p, 0, 1)
    if not training or p == 0:
        return x
    if p == 1:
        return jnp.zeros_like(x)
    if rng is None:
        raise ValueError(
            "dropout in training with 0 < p < 1 needs a PRNG key: rng=jax.random.key(0)"
        )
    keep = jax.random.bernoulli(rng, 1 - p, x.shape)  # (..., D) bool
    return jnp.where(keep, x / (1 - p), 0).astype(x.dtype)
