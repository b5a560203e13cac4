"""Optimizers over parameter dicts: SGD with momentum, Adam, AdamW, and global-norm clipping.

Each optimizer is a pair of pure functions on plain dicts, so nothing is hidden:

    opt = AdamW(lr=1e-3, weight_decay=0.01)
    state = opt.init(params)
    params, state = opt.step(params, grads, state)

Updates follow torch.optim step for step (same order of operations, same epsilon placement):

SGD:    g ← g + λθ;  b ← g (first step) or μb + (1 − τ)g;  g ← g + μb (Nesterov) or b;  θ ← θ − ηg
Adam:   g ← g + λθ;  m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²;
        θ ← θ − η/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
AdamW:  θ ← θ(1 − ηλ) first (decoupled weight decay), then Adam with λ = 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["SGD", "Adam", "AdamW", "clip_grad_norm"]

Params = dict[str, np.ndarray]


def _check_grads(params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
    missing, extra = sorted(set(params) - set(grads)), sorted(set(grads) - set(params))
    if missing or extra:
        raise KeyError(f"grads must have the keys of params; missing {missing}, unexpected {extra}")
    for k, p in params.items():
        if np.shape(grads[k]) != np.shape(p):
            raise ValueError(
                f"grads[{k!r}] has shape {np.shape(grads[k])} but params[{k!r}] has {np.shape(p)}"
            )


@dataclass(frozen=True)
class SGD:
    """Stochastic gradient descent with optional momentum, dampening, Nesterov and L2 decay."""

    lr: float
    momentum: float = 0.0
    dampening: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False

    def init(self, params: Mapping[str, np.ndarray]) -> dict:
        return {"step": 0, "momentum": {k: None for k in params}}

    def step(
        self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray], state: dict
    ) -> tuple[Params, dict]:
        _check_grads(params, grads)
        new_params, bufs = {}, {}
        for k, p in params.items():
            g = grads[k] + self.weight_decay * p if self.weight_decay else grads[k]
            buf = state["momentum"][k]
            if self.momentum:
                buf = g.copy() if buf is None else self.momentum * buf + (1 - self.dampening) * g
                g = g + self.momentum * buf if self.nesterov else buf
            bufs[k] = buf
            new_params[k] = p - self.lr * g
        return new_params, {"step": state["step"] + 1, "momentum": bufs}


@dataclass(frozen=True)
class Adam:
    """Adam with bias correction; `weight_decay` adds λθ to the gradient (L2, like torch Adam)."""

    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    decoupled: bool = False  # True: AdamW's decay θ ← θ(1 − ηλ) instead of L2
    no_decay: frozenset[str] = frozenset()  # keys left out of the weight decay (biases, norms)

    def init(self, params: Mapping[str, np.ndarray]) -> dict:
        zeros = {k: np.zeros_like(p) for k, p in params.items()}
        return {"step": 0, "m": zeros, "v": {k: np.zeros_like(p) for k, p in params.items()}}

    def step(
        self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray], state: dict
    ) -> tuple[Params, dict]:
        _check_grads(params, grads)
        b1, b2 = self.betas
        t = state["step"] + 1
        step_size = self.lr / (1 - b1**t)
        sqrt_bc2 = math.sqrt(1 - b2**t)  # a Python float: a NumPy float64 would promote float32
        new_params, ms, vs = {}, {}, {}
        for k, p in params.items():
            g = grads[k]
            decay = self.weight_decay if k not in self.no_decay else 0.0
            if decay and self.decoupled:
                p = p * (1 - self.lr * decay)
            elif decay:
                g = g + decay * p
            ms[k] = b1 * state["m"][k] + (1 - b1) * g
            vs[k] = b2 * state["v"][k] + (1 - b2) * g * g
            new_params[k] = p - step_size * ms[k] / (np.sqrt(vs[k]) / sqrt_bc2 + self.eps)
        return new_params, {"step": t, "m": ms, "v": vs}


def AdamW(  # noqa: N802 - reads as the class it builds, like torch.optim.AdamW
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.01,
    no_decay: frozenset[str] = frozenset(),
) -> Adam:
    """Adam with decoupled weight decay (torch.optim.AdamW's defaults); the parameters named in
    `no_decay` are not decayed (see `minienc.train.config.decay_mask`)."""
    return Adam(lr, betas, eps, weight_decay, decoupled=True, no_decay=frozenset(no_decay))


def clip_grad_norm(
    grads: Mapping[str, np.ndarray], max_norm: float
) -> tuple[dict[str, np.ndarray], float]:
    """Scale all gradients together so their global L2 norm is at most `max_norm`.

    Returns the clipped grads and the norm before clipping, like torch.nn.utils.clip_grad_norm_
    (which scales by max_norm / (norm + 1e-6) when that is below 1).
    """
    if max_norm <= 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    total = float(np.sqrt(sum(float(np.sum(np.square(g))) for g in grads.values())))
    scale = min(1.0, max_norm / (total + 1e-6))  # Python floats keep float32 grads float32
    return {k: g * scale for k, g in grads.items()}, total
