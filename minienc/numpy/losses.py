"""Cross-entropy over logits, as `torch.nn.functional.cross_entropy` (classes on the LAST axis).

Forward. For each position n with logits z_n (C classes) and target t_n, let
log p_n = log_softmax(z_n). With label smoothing ε the target distribution is

    q_n = (1 - ε) onehot(t_n) + ε / C      (sums to 1)

and the loss of position n is, exactly as torch computes it,

    l_n = v_n [(1 - ε)(-log p_{n, t_n}) + (ε / C) Σ_c (-log p_{n, c})]
        = -v_n Σ_c q_{n, c} log p_{n, c}

where v_n = [t_n ≠ ignore_index]. Reduction: "none" returns l (the shape of target), "sum" returns
Σ_n l_n and "mean" returns Σ_n l_n / Σ_n v_n, the mean over the positions that are not ignored
(the smoothing term is averaged over the same count, as torch does).

Backward. Since Σ_c q_{n, c} = 1 and ∂ log p_{n, c}/∂z_{n, k} = δ_ck - p_{n, k},

    ∂l_n/∂z_{n, k} = -v_n Σ_c q_{n, c} (δ_ck - p_{n, k}) = v_n (p_{n, k} - q_{n, k})

then multiplied by dloss ("sum"), dloss / Σ_n v_n ("mean") or dloss_n ("none").

`cross_entropy(logits, target, ...)` is the loss alone, without the cache and params, as in JAX.

Infinite logits give torch's numbers: -∞ on a wrong class a finite loss (without smoothing the
Σ_c log p_{n, c} term is not formed, so no 0 · ∞), -∞ on the target +∞, +∞ anywhere nan
(tests/test_edges.py compares every case with torch, smoothing and ignore_index included).

Difference from torch: when every target is ignored and reduction="mean", torch returns nan
(0/0); here the loss is 0.0 and the gradient is zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from jaxtyping import Float, Int

from minienc._checks import REDUCTIONS, check_cross_entropy_args, check_float, check_int
from minienc._params import check_params
from minienc.numpy.softmax import log_softmax

__all__ = ["REDUCTIONS", "cross_entropy", "forward", "backward"]


def forward(
    params: Mapping[str, Any],
    logits: Float[np.ndarray, "*B C"],
    target: Int[np.ndarray, "*B"],
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> tuple[Float[np.ndarray, "*R"], tuple]:
    """Cross-entropy between softmax(logits) and integer class targets.

    Args:
        params: unused (no parameters); pass `{}`.
        logits: unnormalised scores of shape (B, T, C), or any shape (..., C), classes last.
        target: integer classes of shape (B, T), i.e. logits.shape[:-1], with values in [0, C) or
            equal to `ignore_index`.
        ignore_index: positions whose target equals it add nothing to the loss or its gradient.
        label_smoothing: ε in [0, 1], the weight moved from the target to the uniform distribution.
        reduction: "mean" (over the positions not ignored), "sum", or "none".

    Returns:
        The loss (a scalar for "mean"/"sum", shape (B, T) for "none"), and the cache
        `(p, target, valid, label_smoothing, reduction, count)`: softmax(logits) (B, T, C), the
        targets with ignored ones set to 0 (B, T), the not-ignored mask v (B, T), ε, the reduction,
        and the number of positions not ignored.
    """
    check_params(params, {}, "cross_entropy")
    logits = check_float("logits", logits)
    target = check_int("target", target)
    check_cross_entropy_args(logits, target, reduction, label_smoothing)
    C = logits.shape[-1]
    valid = target != ignore_index
    bad = valid & ((target < 0) | (target >= C))
    if bad.any():
        raise ValueError(
            f"target values must lie in [0, {C}) for logits of shape {logits.shape} (or equal "
            f"ignore_index={ignore_index}), got {target[bad].ravel()[0]}"
        )
    safe = np.where(valid, target, 0)  # ignored positions look up class 0, then are masked out
    logp = log_softmax(logits)  # (..., C)
    nll = -np.take_along_axis(logp, safe[..., None], axis=-1)[..., 0]  # (...)
    smooth = -logp.sum(axis=-1)  # (...)
    eps = label_smoothing
    mixed = (1 - eps) * nll + (eps / C) * smooth if eps else nll  # not 0 · ∞ = nan when ε = 0
    losses = np.where(valid, mixed, 0).astype(logits.dtype)
    count = int(valid.sum())
    if reduction == "none":
        loss = losses
    elif reduction == "sum":
        loss = losses.sum()
    else:
        loss = losses.sum() / count if count else logits.dtype.type(0)
    return loss, (np.exp(logp), safe, valid, eps, reduction, count)


def backward(
    dloss: Float[np.ndarray, "*R"], cache: tuple
) -> tuple[Float[np.ndarray, "*B C"], dict]:
    """Gradient of the cross-entropy with respect to the logits.

    Args:
        dloss: upstream gradient: a scalar for "mean"/"sum", of the shape of target (B, T) for
            "none".
        cache: from `forward`.

    Returns:
        dlogits of shape (B, T, C), the shape of logits, and `{}` (no parameters).
    """
    p, safe, valid, eps, reduction, count = cache
    dloss = check_float("dloss", np.asarray(dloss))
    want = safe.shape if reduction == "none" else ()
    if dloss.shape != want:
        raise ValueError(
            f"dloss has shape {dloss.shape} but the loss (reduction={reduction!r}) has shape "
            f"{want}: they must match"
        )
    C = p.shape[-1]
    g = p - p.dtype.type(eps / C)  # p - ε/C everywhere ...
    np.put_along_axis(  # ... and a further -(1 - ε) at the target: p - q
        g, safe[..., None], np.take_along_axis(g, safe[..., None], axis=-1) - (1 - eps), axis=-1
    )
    g *= valid[..., None]
    if reduction == "none":
        scale = dloss[..., None]
    elif reduction == "sum":
        scale = dloss
    else:
        scale = dloss / max(count, 1)  # g is already 0 everywhere when count == 0
    return (g * scale).astype(p.dtype), {}


def cross_entropy(
    logits: Float[np.ndarray, "*B C"],
    target: Int[np.ndarray, "*B"],
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Float[np.ndarray, "*R"]:
    """The loss alone, `forward({}, logits, target, ...)` without the cache (same arguments)."""
    loss, _ = forward({}, logits, target, ignore_index, label_smoothing, reduction)
    return loss
