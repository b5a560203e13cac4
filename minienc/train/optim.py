"""The optimizer: AdamW with decoupled weight decay, a warmup + cosine schedule, gradient clipping.

One update, for each parameter θ with gradient g (after clipping), at step t:

    g ← g · min(1, c / ‖g_all‖₂)                     global-norm clipping over every tensor at once
    m ← β₁ m + (1 - β₁) g,   v ← β₂ v + (1 - β₂) g²  moment estimates
    θ ← θ - η_t (m̂ / (√v̂ + ε) + λ · mask(θ) · θ)      m̂, v̂ bias-corrected; λ the weight decay

Weight decay pulls weights towards zero; it is not applied to biases and LayerNorm parameters,
whose job is to shift and scale (pulling a LayerNorm gain towards 0 would fight the normalisation).
Which tensor is which is read from its torch key (`decay_mask`).

The learning rate η_t rises linearly from 0 to `lr` over `warmup_steps`, then follows half a cosine
down to `end_lr` at `total_steps` (`optax.warmup_cosine_decay_schedule`):

    η_t = lr · t / warmup                                        t < warmup
    η_t = end + (lr - end) · ½ (1 + cos(π (t - warmup) / (total - warmup)))    after
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import optax

__all__ = ["decay_mask", "make_optimizer"]

# A LayerNorm's module name: norm, norm1, norm2, LayerNorm, layer_norm, ln, ln_f, ln1, ...
_NORM = re.compile(r"(norm|^ln(_\w+|\d*)$)", re.IGNORECASE)


def _decays(key: str) -> bool:
    *modules, leaf = key.split(".")
    if "bias" in leaf.split("_"):  # bias, in_proj_bias, and the LSTM's bias_ih_l0, ...
        return False
    return not (modules and _NORM.search(modules[-1]))


def decay_mask(params: Mapping[str, Any]) -> dict[str, bool]:
    """{key: True if weight decay applies}: False for biases and LayerNorm weights and biases.

    >>> decay_mask({"linear1.weight": 0, "linear1.bias": 0, "norm1.weight": 0})
    {'linear1.weight': True, 'linear1.bias': False, 'norm1.weight': False}
    """
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict keyed by torch names, got {type(params).__name__}")
    return {k: _decays(k) for k in params}


def make_optimizer(
    lr: float,
    total_steps: int,
    warmup_steps: int = 0,
    weight_decay: float = 0.01,
    clip_norm: float | None = 1.0,
    end_lr: float = 0.0,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """AdamW with `decay_mask`, a warmup + cosine schedule and global-norm clipping.

    Args:
        lr: the peak learning rate, reached after `warmup_steps`.
        total_steps: the step at which the cosine reaches `end_lr` (it stays there after).
        warmup_steps: steps of linear warmup from 0, 0 ≤ warmup_steps < total_steps.
        weight_decay: λ, the decoupled weight decay (not applied to biases and norms).
        clip_norm: the largest global gradient norm; None for no clipping.
        end_lr, b1, b2, eps: as in `optax.warmup_cosine_decay_schedule` and `optax.adamw`.

    Returns:
        `(optimizer, schedule)`: the optax transformation and the schedule, step -> learning rate
        (for plots, and to log the learning rate of each step).
    """
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(
            f"need 0 <= warmup_steps < total_steps, got warmup_steps = {warmup_steps}, "
            f"total_steps = {total_steps}"
        )
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    if clip_norm is not None and not clip_norm > 0:
        raise ValueError(f"clip_norm must be > 0 or None, got {clip_norm}")
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=lr,
        warmup_steps=warmup_steps,
        decay_steps=total_steps,
        end_value=end_lr,
    )
    adamw = optax.adamw(schedule, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay, mask=decay_mask)
    if clip_norm is None:
        return adamw, schedule
    return optax.chain(optax.clip_by_global_norm(clip_norm), adamw), schedule
