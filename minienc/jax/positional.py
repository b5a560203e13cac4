"""The encoder's input: scaled token embeddings plus positional encodings.

    x = √D · E[ids] + PE[:T]

The sinusoidal table PE (see `minienc.numpy.positional`) is a constant of T and D, so it is the
NumPy table itself, computed once while tracing and converted with `jnp.asarray`. Learned
encodings are a table P of shape (T_max, D) looked up at positions 0..T-1 with `embedding`, so
`jax.grad` gives dP[t] = Σ_b dy[b, t] for t < T and zero for the rows never used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import Array
from jaxtyping import Float

from minienc._checks import as_float, check_ndim
from minienc._params import check_keys, check_no_params, check_params
from minienc.jax import embedding
from minienc.numpy import positional as np_positional

__all__ = ["sinusoidal", "sinusoidal_forward", "learned_forward", "scale_forward"]


def sinusoidal(
    T: int, D: int, base: float = 10000.0, dtype: np.dtype | type = np.float64
) -> Float[Array, "T D"]:
    """The sinusoidal table PE of shape (T, D), NumPy's, as a JAX array of `dtype`."""
    return jnp.asarray(np_positional.sinusoidal(T, D, base, dtype))


def sinusoidal_forward(
    params: Mapping[str, Any], x: Float[Array, "B T D"], base: float = 10000.0
) -> Float[Array, "B T D"]:
    """x + PE[:T] with the sinusoidal table.

    Args:
        params: unused (the encoding is fixed); pass `{}`.
        x: input of shape (B, T, D) (or (T, D)).
        base: the longest wavelength is 2π·base (static under jit).

    Returns:
        y of the shape and dtype of x.
    """
    check_no_params(params, "sinusoidal positional encoding")
    x = as_float("x", x)
    check_ndim("x", x, (2, 3), "(B, T, D)")
    return x + sinusoidal(x.shape[-2], x.shape[-1], base, x.dtype)


def learned_forward(params: Mapping[str, Array], x: Float[Array, "B T D"]) -> Float[Array, "B T D"]:
    """x + P[:T] with a learned table P.

    Args:
        params: `weight` of shape (T_max, D), T_max ≥ T.
        x: input of shape (B, T, D).

    Returns:
        y of shape (B, T, D).
    """
    x = as_float("x", x)
    check_ndim("x", x, 3, "(B, T, D)")
    check_keys(params, ("weight",), "learned positional encoding")
    w = check_params(params, {"weight": (None, None)}, "learned positional encoding", x.dtype)
    T_max, D = w["weight"].shape
    if x.shape[1] > T_max or x.shape[2] != D:
        raise ValueError(
            f"x has shape {x.shape} but params['weight'] has shape {(T_max, D)}: "
            f"need T <= {T_max} and D = {D}"
        )
    return x + embedding.forward(w, jnp.arange(x.shape[1]))  # (B, T, D) + (T, D)


def scale_forward(
    params: Mapping[str, Any], x: Float[Array, "*B D"], scale: float | None = None
) -> Float[Array, "*B D"]:
    """x · scale, by default √D: token embeddings scaled to the size of the encodings.

    Args:
        params: unused; pass `{}`.
        x: token embeddings of shape (B, T, D).
        scale: the factor, a Python float; None means √D.

    Returns:
        y of the shape and dtype of x.
    """
    check_no_params(params, "embedding scale")
    x = as_float("x", x)
    check_ndim("x", x, range(1, 33), "(..., D)")
    s = math.sqrt(x.shape[-1]) if scale is None else float(scale)
    return x * jnp.asarray(s, dtype=x.dtype)
