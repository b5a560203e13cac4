"""AdamW in optax for the JAX backend, with the same weight-decay rule and clipping as NumPy's.

One update, for each parameter θ with gradient g, at step t with learning rate η_t (the loop's
`learning_rate`):

    g ← g · min(1, c / (‖g_all‖₂ + 10⁻⁶))           global-norm clipping, as torch's clip_grad_norm_
    m ← β₁ m + (1 - β₁) g,   v ← β₂ v + (1 - β₂) g²  moment estimates
    θ ← θ - η_t (m̂ / (√v̂ + ε) + λ · mask(θ) · θ)      m̂, v̂ bias-corrected; λ the weight decay

`adamw` is the optax transformation of the bracket (the direction), so the learning rate stays a
plain number that the one training loop passes to both backends; `clip` is the first line.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from minienc.train.config import TrainConfig, decay_mask

__all__ = ["adamw", "clip"]


def adamw(settings: TrainConfig) -> optax.GradientTransformation:
    """Adam's m̂ / (√v̂ + ε) plus λθ on the tensors `decay_mask` picks; the step multiplies by −η."""
    return optax.chain(
        optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8),
        optax.add_decayed_weights(settings.weight_decay, mask=decay_mask),
    )


def clip(grads: dict[str, jax.Array], max_norm: float | None) -> dict[str, jax.Array]:
    """Scale every gradient by min(1, max_norm / (‖g‖ + 10⁻⁶)), ‖g‖ over all of them at once."""
    if max_norm is None:
        return grads
    norm = optax.tree.norm(grads)
    scale = jnp.minimum(1.0, max_norm / (norm + 1e-6))
    return jax.tree.map(lambda g: g * scale.astype(g.dtype), grads)
