"""The encoder's input: scaled token embeddings plus positional encodings.

Attention treats its input as a set, so the position of each token is added to its embedding
(Vaswani et al., 2017):

    x = √D · E[ids] + PE[:T]

Sinusoidal encodings are fixed, with frequencies falling geometrically from 1 to 1/base:

    PE[t, 2i] = sin(t / base^{2i/D}),    PE[t, 2i+1] = cos(t / base^{2i/D})

Learned encodings are a table P of shape (T_max, D), looked up at positions 0..T-1 (BERT's
`position_embeddings`), with the `embedding` block.

Backward. Adding a constant passes the gradient through: dx = dy. Scaling by s gives dx = s·dy.
The learned table is looked up once per batch element, so dP[t] = Σ_b dy[b, t] for t < T and zero
for the rows never used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from jaxtyping import Float

from minienc._checks import check_float, check_ndim
from minienc._params import check_keys, check_params
from minienc.numpy import embedding

__all__ = [
    "sinusoidal",
    "sinusoidal_forward",
    "sinusoidal_backward",
    "learned_forward",
    "learned_backward",
    "scale_forward",
    "scale_backward",
]


def sinusoidal(
    T: int, D: int, base: float = 10000.0, dtype: np.dtype | type = np.float64
) -> Float[np.ndarray, "T D"]:
    """The sinusoidal table PE of shape (T, D); D may be odd (the last sine has no cosine)."""
    if T < 0 or D < 0:
        raise ValueError(f"T and D must be >= 0, got T = {T}, D = {D}")
    t = np.arange(T, dtype=np.float64)[:, None]  # (T, 1)
    freq = np.exp(np.arange(0, D, 2) * (-math.log(base) / max(D, 1)))  # (ceil(D/2),) = base^{-2i/D}
    angles = t * freq  # (T, ceil(D/2))
    pe = np.empty((T, D), dtype=np.float64)
    pe[:, 0::2] = np.sin(angles)
    pe[:, 1::2] = np.cos(angles[:, : D // 2])
    return pe.astype(dtype, copy=False)


def sinusoidal_forward(
    params: Mapping[str, Any], x: Float[np.ndarray, "B T D"], base: float = 10000.0
) -> tuple[Float[np.ndarray, "B T D"], tuple]:
    """x + PE[:T] with the sinusoidal table.

    Args:
        params: unused (the encoding is fixed); pass `{}`.
        x: input of shape (B, T, D) (or (T, D)).
        base: the longest wavelength is 2π·base.

    Returns:
        y of the shape and dtype of x, and the cache `(x.shape,)`.
    """
    check_params(params, {}, "sinusoidal positional encoding")
    x = check_float("x", x)
    check_ndim("x", x, (2, 3), "(B, T, D)")
    return x + sinusoidal(x.shape[-2], x.shape[-1], base, x.dtype), (x.shape,)


def sinusoidal_backward(dy: Float[np.ndarray, "B T D"], cache: tuple) -> tuple[np.ndarray, dict]:
    """dx = dy (PE is a constant), and `{}`."""
    (shape,) = cache
    dy = check_float("dy", dy)
    if dy.shape != shape:
        raise ValueError(f"dy has shape {dy.shape} but y has shape {shape}: they must match")
    return dy, {}


def learned_forward(
    params: Mapping[str, np.ndarray], x: Float[np.ndarray, "B T D"]
) -> tuple[Float[np.ndarray, "B T D"], tuple]:
    """x + P[:T] with a learned table P.

    Args:
        params: `weight` of shape (T_max, D), T_max ≥ T.
        x: input of shape (B, T, D).

    Returns:
        y of shape (B, T, D), and the cache `(embedding cache, x.shape)`.
    """
    check_keys(params, ("weight",), "learned positional encoding")
    check_params(params, {"weight": (None, None)}, "learned positional encoding")
    x = check_float("x", x)
    check_ndim("x", x, 3, "(B, T, D)")
    T_max, D = params["weight"].shape
    if x.shape[1] > T_max or x.shape[2] != D:
        raise ValueError(
            f"x has shape {x.shape} but params['weight'] has shape {(T_max, D)}: "
            f"need T <= {T_max} and D = {D}"
        )
    pos, c = embedding.forward(params, np.arange(x.shape[1]))  # (T, D)
    return x + pos, (c, x.shape)


def learned_backward(
    dy: Float[np.ndarray, "B T D"], cache: tuple
) -> tuple[Float[np.ndarray, "B T D"], dict[str, np.ndarray]]:
    """dx = dy, and `{"weight": dP}` with dP[t] = Σ_b dy[b, t] (zero for unused rows)."""
    c, shape = cache
    dy = check_float("dy", dy)
    if dy.shape != shape:
        raise ValueError(f"dy has shape {dy.shape} but y has shape {shape}: they must match")
    _, grads = embedding.backward(dy.sum(axis=0), c)  # (T, D) summed over the batch
    return dy, grads


def scale_forward(
    params: Mapping[str, Any], x: Float[np.ndarray, "*B D"], scale: float | None = None
) -> tuple[Float[np.ndarray, "*B D"], tuple]:
    """x · scale, by default √D: token embeddings scaled to the size of the encodings.

    Args:
        params: unused; pass `{}`.
        x: token embeddings of shape (B, T, D).
        scale: the factor; None means √D.

    Returns:
        y of the shape and dtype of x, and the cache `(scale, x.shape)`.
    """
    check_params(params, {}, "embedding scale")
    x = check_float("x", x)
    check_ndim("x", x, range(1, 33), "(..., D)")
    s = math.sqrt(x.shape[-1]) if scale is None else float(scale)
    return x * x.dtype.type(s), (s, x.shape)


def scale_backward(dy: Float[np.ndarray, "*B D"], cache: tuple) -> tuple[np.ndarray, dict]:
    """dx = scale · dy, and `{}`."""
    s, shape = cache
    dy = check_float("dy", dy)
    if dy.shape != shape:
        raise ValueError(f"dy has shape {dy.shape} but y has shape {shape}: they must match")
    return dy * dy.dtype.type(s), {}
