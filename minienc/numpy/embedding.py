"""Embedding lookup, as `torch.nn.Embedding(V, D, padding_idx=...)`.

Forward: row lookup in the table W of shape (V, D), for integer ids of any shape:

    y[..., :] = W[ids[...], :]

Backward. Each y[n] is a copy of one row of W, so the gradient of row v is the sum of dy over
every position that looked it up (a row used twice gets both contributions, an unused row zero):

    dW[v] = Σ_{n : ids[n] = v} dy[n]

As in torch, the `padding_idx` row gets a zero gradient, so it never changes in training. The ids
are integers, so there is no dx.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from jaxtyping import Float, Int

from minienc._checks import check_float, check_int
from minienc._params import check_keys, check_params, param_name

__all__ = ["forward", "backward"]


def forward(
    params: Mapping[str, np.ndarray], ids: Int[np.ndarray, "*B"], padding_idx: int | None = None
) -> tuple[Float[np.ndarray, "*B D"], tuple]:
    """Look up the rows of `weight` named by `ids`.

    Args:
        params: `weight` of shape (V, D).
        ids: integer array of shape (B, T), or any shape, with values in [0, V).
        padding_idx: a row in [-V, V) whose gradient is kept at zero (negative counts from the
            end, as torch); None for no padding row.

    Returns:
        y of shape (B, T, D) (ids.shape + (D,)), and the cache `(ids, weight, padding_idx)` with
        padding_idx made non-negative.
    """
    ids, w, padding_idx = _check(params, ids, padding_idx)  # see the bottom of the file
    return w[ids], (ids, w, padding_idx)


def backward(dy: Float[np.ndarray, "*B D"], cache: tuple) -> tuple[None, dict[str, np.ndarray]]:
    """Gradient of the embedding table.

    Args:
        dy: upstream gradient of shape (B, T, D), i.e. ids.shape + (D,).
        cache: `(ids, weight, padding_idx)` from `forward`.

    Returns:
        None (ids are not differentiable), and grads `{"weight": (V, D)}`.
    """
    ids, w, padding_idx = cache
    dy = check_float("dy", dy)
    y_shape = ids.shape + (w.shape[1],)
    if dy.shape != y_shape:
        raise ValueError(f"dy has shape {dy.shape} but y has shape {y_shape}: they must match")
    dw = np.zeros(w.shape, dtype=w.dtype)
    np.add.at(dw, ids.reshape(-1), dy.reshape(-1, w.shape[1]))  # (N,) ids, (N, D) rows
    if padding_idx is not None:
        dw[padding_idx] = 0
    return None, {"weight": dw}


def _check(
    params: Mapping[str, np.ndarray], ids: object, padding_idx: int | None
) -> tuple[np.ndarray, np.ndarray, int | None]:
    """ids, the weight and padding_idx made non-negative, once all three are checked."""
    check_keys(params, ("weight",), "embedding")
    check_params(params, {"weight": (None, None)}, "embedding")
    w = np.asarray(params["weight"])
    V = w.shape[0]
    ids = check_int("ids", ids)
    if ids.size and (ids.min() < 0 or ids.max() >= V):
        raise ValueError(
            f"ids must lie in [0, {V}) for {param_name(params, 'weight')} of shape {w.shape}, "
            f"got values from {ids.min()} to {ids.max()}"
        )
    if padding_idx is not None:
        if isinstance(padding_idx, bool) or not isinstance(padding_idx, int | np.integer):
            raise TypeError(f"padding_idx must be an int or None, got {padding_idx!r}")
        if not -V <= padding_idx < V:
            raise ValueError(
                f"padding_idx must lie in [-{V}, {V}) for {param_name(params, 'weight')} of "
                f"shape {w.shape}, got {padding_idx}"
            )
        padding_idx = int(padding_idx) % V
    return ids, w, padding_idx
