"""Embedding lookup, as `torch.nn.Embedding(V, D, padding_idx=...)`: y[..., :] = W[ids[...], :].

`jax.grad` of a gather is a scatter-add: dW[v] = Σ_{n : ids[n] = v} dy[n]. As in torch, the
`padding_idx` row gets a zero gradient, so training never changes it: the row is read through
`jax.lax.stop_gradient`, which passes its value and blocks its gradient.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
from jax import Array
from jaxtyping import Float, Int

from minienc._checks import as_int, known_values
from minienc._params import check_keys, check_params, param_name

__all__ = ["forward"]


def forward(
    params: Mapping[str, Array], ids: Int[Array, "*B"], padding_idx: int | None = None
) -> Float[Array, "*B D"]:
    """Look up the rows of `weight` named by `ids`.

    Args:
        params: `weight` of shape (V, D).
        ids: integer array of shape (B, T), or any shape, with values in [0, V) (checked when
            the values are known, i.e. outside jit).
        padding_idx: a row in [-V, V) whose gradient is kept at zero (negative counts from the
            end, as torch); None for no padding row. A Python int (static under jit).

    Returns:
        y of shape (B, T, D) (ids.shape + (D,)).
    """
    check_keys(params, ("weight",), "embedding")
    w = jnp.asarray(check_params(params, {"weight": (None, None)}, "embedding")["weight"])
    V = w.shape[0]
    ids = as_int("ids", ids)
    values = known_values(ids)
    if values is not None and values.size and (values.min() < 0 or values.max() >= V):
        raise ValueError(
            f"ids must lie in [0, {V}) for {param_name(params, 'weight')} of shape {w.shape}, "
            f"got values from {values.min()} to {values.max()}"
        )
    if padding_idx is not None:
        if isinstance(padding_idx, bool) or not isinstance(padding_idx, int):
            raise TypeError(f"padding_idx must be an int or None, got {padding_idx!r}")
        if not -V <= padding_idx < V:
            raise ValueError(
                f"padding_idx must lie in [-{V}, {V}) for {param_name(params, 'weight')} of "
                f"shape {w.shape}, got {padding_idx}"
            )
        w = w.at[padding_idx].set(jax.lax.stop_gradient(w[padding_idx]))
    return jnp.take(w, ids, axis=0)  # (V, D)[(...)] -> (..., D)
