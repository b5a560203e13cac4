"""Cross-entropy over logits, as `torch.nn.functional.cross_entropy` (classes on the LAST axis).

For position n with logits z_n (C classes), target t_n and label smoothing ε:

    l_n = v_n [(1 - ε)(-log p_{n, t_n}) + (ε / C) Σ_c (-log p_{n, c})],   log p_n = log_softmax(z_n)

with v_n = [t_n ≠ ignore_index]. "none" returns l (the shape of target), "sum" Σ_n l_n, "mean"
Σ_n l_n / Σ_n v_n. `jax.grad` gives ∂l_n/∂z_n = v_n (p_n - q_n), q_n the smoothed one-hot target.

Infinite logits give torch's numbers: -∞ on a wrong class a finite loss (without smoothing the
Σ_c log p_{n, c} term is not formed, so no 0 · ∞), -∞ on the target +∞, +∞ anywhere nan
(tests/test_edges.py compares every case with torch, smoothing and ignore_index included).

Difference from torch: when every target is ignored and reduction="mean", torch returns nan
(0/0); here the loss is 0.0 and the gradient is zero (as the NumPy version).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
from jax import Array
from jaxtyping import Float, Int

from minienc._checks import REDUCTIONS, as_float, as_int, check_cross_entropy_args, known_values
from minienc._params import check_no_params
from minienc.jax.softmax import log_softmax

__all__ = ["REDUCTIONS", "cross_entropy", "forward"]


def cross_entropy(
    logits: Float[Array, "*B C"],
    target: Int[Array, "*B"],
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Float[Array, "*R"]:
    """Cross-entropy between softmax(logits) and integer class targets.

    Args:
        logits: unnormalised scores of shape (B, T, C), or any shape (..., C), classes last.
        target: integer classes of shape (B, T), i.e. logits.shape[:-1], with values in [0, C)
            or equal to `ignore_index` (the range is checked when the values are known).
        ignore_index: positions whose target equals it add nothing to the loss or its gradient.
        label_smoothing: ε in [0, 1], the weight moved from the target to the uniform distribution.
        reduction: "mean" (over the positions not ignored), "sum", or "none" (static under jit).

    Returns:
        The loss: a scalar for "mean"/"sum", of shape (B, T) for "none".
    """
    logits = as_float("logits", logits)
    target = as_int("target", target)
    check_cross_entropy_args(logits, target, reduction, label_smoothing)
    C = logits.shape[-1]
    values = known_values(target)
    if values is not None:
        bad = (values != ignore_index) & ((values < 0) | (values >= C))
        if bad.any():
            raise ValueError(
                f"target values must lie in [0, {C}) for logits of shape {logits.shape} (or "
                f"equal ignore_index={ignore_index}), got {values[bad].ravel()[0]}"
            )
    valid = target != ignore_index
    safe = jnp.where(valid, target, 0)  # ignored positions look up class 0, then are masked out
    logp = log_softmax(logits)  # (..., C)
    nll = -logp[(*jnp.indices(safe.shape, sparse=True), safe)]  # (...): log p at the target

    smooth = -logp.sum(axis=-1)  # (...)
    eps = label_smoothing
    mixed = (1 - eps) * nll + (eps / C) * smooth if eps else nll  # not 0 · ∞ = nan when ε = 0
    losses = jnp.where(valid, mixed, 0).astype(logits.dtype)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / jnp.maximum(valid.sum(), 1).astype(logits.dtype)


def forward(
    params: Mapping[str, Any],
    logits: Float[Array, "*B C"],
    target: Int[Array, "*B"],
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Float[Array, "*R"]:
    """The layer form of `cross_entropy`, taking `params={}` like the NumPy `forward`."""
    check_no_params(params, "cross_entropy")
    return cross_entropy(logits, target, ignore_index, label_smoothing, reduction)
