"""A text classifier in JAX: the twin of `minienc.numpy.classifier`, with autodiff and optax.

    LSTM:         ids (B, T) → E[ids] (B, T, E) → dropout → LSTM (B, T, dirs·hidden)
    Transformer:  ids (B, T) → √D · E[ids] (B, T, D) → [c; ·] (B, 1+T, D) with pool="cls"
                  → + PE (sinusoidal) → dropout → encoder with key-padding mask (B, T', D)
    then, both:   → pool over the real positions (B, D') → dropout → logits = y Wᵀ + b (B, C)

Same `ClassifierConfig`, same parameter keys, same initial values (`init` draws them in NumPy,
`minienc.train.init`), same dropout sites. Where the NumPy twin calls each block's backward in
reverse, `train_step` asks `jax.value_and_grad` for the gradients and optax for AdamW's
direction, and `jax.jit` compiles the whole step once per batch shape (the data path pads
lengths to a multiple of `PAD_TO`, so there are few shapes; `minienc.debug.checks()` adds the
value checks that jit cannot run).

The update is the NumPy one: clip the gradients to a global norm c as torch does (scale by
c / (‖g‖ + 10⁻⁶) when that is below 1), Adam's direction m̂ / (√v̂ + ε), plus λθ for the tensors
`decay_mask` picks, times the learning rate the loop passes in.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jaxtyping import Float, Int

from minienc import debug
from minienc._checks import check_batch
from minienc._params import sub_params
from minienc.jax import dropout as dropout_layer
from minienc.jax import embedding, encoder, linear, losses, lstm, pooling, positional
from minienc.train.config import ClassifierConfig, TrainConfig
from minienc.train.init import check_classifier_params, init_classifier
from minienc.train.optim import adamw, clip

__all__ = [
    "PAD_TO",
    "init",
    "padding_mask",
    "forward",
    "predict",
    "init_optimizer",
    "train_step",
]

PAD_TO = 16  # jit compiles once per shape: batch lengths are rounded up to a multiple of this


def init(
    config: ClassifierConfig,
    rng: int | np.random.Generator = 0,
    embeddings: Float[np.ndarray, "V E"] | None = None,
    dtype: Any = jnp.float32,
) -> dict[str, Array]:
    """Fresh parameters for `config`: the NumPy twin's numbers, as JAX arrays of `dtype`.

    `rng` is a seed (or NumPy Generator), not a JAX key: both backends draw the same values.
    """
    params = init_classifier(config, rng, embeddings, np.float64)
    return {k: jnp.asarray(v, dtype=dtype) for k, v in params.items()}


def padding_mask(lengths: Int[Array, " B"], T: int) -> Array:
    """Bool (B, T), True where t ≥ lengths[b] (torch's key-padding convention)."""
    return jnp.arange(T)[None, :] >= jnp.asarray(lengths)[:, None]  # (B, T)


def forward(
    params: Mapping[str, Array],
    ids: Int[Array, "B T"],
    lengths: Int[Array, " B"],
    config: ClassifierConfig,
    training: bool = False,
    rng: Array | None = None,
) -> Float[Array, "B C"]:
    """Logits (B, C) for token ids (B, T) of which the first lengths[b] are real.

    `training` applies dropout with masks drawn from the key `rng`; `config` and `training`
    are static under jit.
    """
    check_classifier_params(params, config)
    ids, lengths = check_batch(ids, lengths, "jax")
    p = config.dropout if training else 0.0
    if p > 0 and rng is None:
        raise ValueError(f"training with dropout {p} needs rng, a key: jax.random.key(0)")
    k_in, k_enc, k_out = jax.random.split(rng, 3) if p > 0 else (None, None, None)
    mask = padding_mask(lengths, ids.shape[1])  # (B, T)

    x = embedding.forward(sub_params(params, "embedding."), ids, padding_idx=0)  # (B, T, E)
    if config.encoder == "transformer":
        B, _, D = x.shape
        x = positional.scale_forward({}, x)  # √D · E[ids]
        if config.pool == "cls":
            cls = jnp.broadcast_to(params["cls_token"], (B, 1, D)).astype(x.dtype)  # (B, 1, D)
            x = jnp.concatenate([cls, x], axis=1)  # (B, 1 + T, D)
            mask = jnp.concatenate([jnp.zeros((B, 1), bool), mask], axis=1)  # (B, 1 + T)
        x = positional.sinusoidal_forward({}, x)  # + PE (T', D), broadcast over B
    x = dropout_layer.forward({}, x, p=p, training=training, rng=k_in)
    if config.encoder == "lstm":
        h, _ = lstm.forward(sub_params(params, "lstm."), x, lengths=lengths)  # (B, T, dirs·hid)
    else:
        h = encoder.forward(
            sub_params(params, "encoder."),
            x,
            config.num_heads,
            key_padding_mask=mask,
            norm_first=config.norm_first,
            activation=config.activation,
            dropout=p,
            training=training,
            rng=k_enc,
        )  # (B, T', D)
    pool_params = sub_params(params, "pool.") if config.pool == "weighted_mean" else None
    y = pooling.forward(h, mask, config.pool, params=pool_params)  # (B, D')
    y = dropout_layer.forward({}, y, p=p, training=training, rng=k_out)
    return linear.forward(sub_params(params, "head."), y)  # (B, C)


def predict(
    params: Mapping[str, Array],
    ids: Int[Array, "B T"],
    lengths: Int[Array, " B"],
    config: ClassifierConfig,
) -> Float[Array, "B C"]:
    """Logits (B, C) in evaluation mode (no dropout), compiled once per batch shape."""
    return _predict(params, ids, lengths, config=config)


_predict = debug.jit(partial(forward, training=False), static_argnames=("config",))


# ------------------------------------------------------------------------------------ training
def _split(params: Mapping[str, Array], settings: TrainConfig) -> tuple[dict, dict]:
    unknown = sorted(set(settings.frozen) - set(params))
    if unknown:
        raise KeyError(f"TrainConfig.frozen names unknown parameters {unknown}")
    trainable = {k: v for k, v in params.items() if k not in settings.frozen}
    return trainable, {k: params[k] for k in settings.frozen}


def init_optimizer(params: Mapping[str, Array], settings: TrainConfig) -> Any:
    """The optax state of the parameters that `settings` trains (all but `settings.frozen`)."""
    trainable, _ = _split(params, settings)
    return adamw(settings).init(trainable)


def _step_fn(params, opt_state, batch, lr, rng, *, config, settings):
    """The training step as a plain function of arrays, before `jax.jit` (`train_step` compiles
    it; `minienc.train.parallel` compiles it for several devices)."""
    trainable, frozen = _split(params, settings)

    def loss_fn(trainable):
        logits = forward(trainable | frozen, batch["ids"], batch["lengths"], config, True, rng)
        loss = losses.forward({}, logits, batch["labels"], label_smoothing=settings.label_smoothing)
        return loss, logits

    (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(trainable)
    grads = clip(grads, settings.clip_norm)
    updates, opt_state = adamw(settings).update(grads, opt_state, trainable)
    trainable = jax.tree.map(lambda p, u: p - (lr * u).astype(p.dtype), trainable, updates)
    return trainable | frozen, opt_state, loss, logits


def train_step(
    params: Mapping[str, Array],
    opt_state: Any,
    batch: Mapping[str, np.ndarray],
    config: ClassifierConfig,
    settings: TrainConfig,
    lr: float,
    rng: Array | int | tuple[int, int] | None = None,
) -> tuple[dict[str, Array], Any, Array, Float[Array, "B C"]]:
    """One AdamW update on `batch` {"ids", "lengths", "labels"}, compiled with `jax.jit`.

    Returns the new params and optimizer state, the batch's mean loss and its logits (B, C).
    `rng` is a key, a seed or a (seed, step) pair (the key `fold_in(key(seed), step)`).
    """
    if rng is not None and not isinstance(rng, jax.Array):
        seed, step = rng if isinstance(rng, tuple) else (rng, 0)
        rng = jax.random.fold_in(jax.random.key(seed), step)
    if rng is None:
        rng = jax.random.key(0)
    batch = {k: jnp.asarray(v) for k, v in batch.items()}
    return _step(dict(params), opt_state, batch, lr, rng, config=config, settings=settings)


_step = debug.jit(_step_fn, static_argnames=("config", "settings"))
