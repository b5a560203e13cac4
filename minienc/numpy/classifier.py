"""A text classifier in NumPy: embedding → encoder (LSTM or Transformer) → pooling → linear head.

    LSTM:         ids (B, T) → E[ids] (B, T, E) → dropout → LSTM (B, T, dirs·H)
    Transformer:  ids (B, T) → √D · E[ids] (B, T, D) → [c; ·] (B, 1+T, D) with pool="cls"
                  → + PE (sinusoidal) → dropout → encoder with key-padding mask (B, T', D)
    then, both:   → pool over the real positions (B, D') → dropout → logits = y Wᵀ + b (B, C)

Every step is a block of `minienc.numpy` with its own forward and backward; this file only wires
them together, so `backward` is the blocks' backward passes called in the reverse order. The one
new piece is the [CLS] token c, a learned vector (`cls_token`, shape (1, 1, D)) put in front of
every sentence, whose output state the `cls` pooling reads. The forward is a concatenation
x' = [c; x] along time, so its backward splits the gradient again:

    dc = Σ_b dx'[b, 0]   (the same c is used by every sentence),     dx = dx'[:, 1:].

Padding: position t of sentence b is padding when t ≥ lengths[b] (its id is `<pad>` = 0). The LSTM
carries its state over padding, attention never looks at it, and pooling leaves it out, so the
logits of a sentence do not depend on how much padding its batch has. The `<pad>` row of the
embedding is zero and gets no gradient (`padding_idx=0`).

Parameters are one flat dict with the torch names of the pieces: `embedding.weight` (V, E);
`lstm.weight_ih_l0`, ... (as `nn.LSTM`) or `encoder.layers.{i}.*` (as `nn.TransformerEncoder`,
plus `encoder.norm.*` when pre-LN) and `cls_token`; `pool.weight` (1, D') for `weighted_mean`;
`head.weight` (C, D'), `head.bias` (C,).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
from jaxtyping import Float, Int

from minienc._checks import check_batch
from minienc._params import sub_params
from minienc.numpy import dropout as dropout_layer
from minienc.numpy import embedding, encoder, linear, losses, lstm, pooling, positional
from minienc.numpy.optim import AdamW, clip_grad_norm
from minienc.train.config import ClassifierConfig, TrainConfig, decay_mask
from minienc.train.init import check_classifier_params, init_classifier

__all__ = [
    "PAD_TO",
    "ClassifierCache",
    "init",
    "padding_mask",
    "forward",
    "backward",
    "predict",
    "init_optimizer",
    "train_step",
]

PAD_TO = 1  # batches need no rounding up of their length: NumPy does not compile per shape


class ClassifierCache(NamedTuple):
    """The blocks' caches in the order the forward pass ran them (None for a block not used)."""

    config: ClassifierConfig
    embedding: tuple
    scale: tuple | None  # the Transformer's √D
    with_cls: bool
    positions: tuple | None
    input_dropout: tuple
    encoder: Any  # lstm's or encoder's cache
    pooling: tuple
    pooled_dropout: tuple
    head: tuple


def init(
    config: ClassifierConfig,
    rng: int | np.random.Generator = 0,
    embeddings: Float[np.ndarray, "V E"] | None = None,
    dtype: np.dtype | type = np.float32,
) -> dict[str, np.ndarray]:
    """Fresh parameters for `config`, drawn as torch draws them (`minienc.train.init`).

    `embeddings` (V, E), e.g. from `minienc.train.pretrained_embeddings`, replaces the random
    embedding; its `<pad>` row is zero.
    """
    return init_classifier(config, rng, embeddings, dtype)


# ------------------------------------------------------------------------------------ the model
def padding_mask(lengths: Int[np.ndarray, " B"], T: int) -> np.ndarray:
    """Bool (B, T), True where t ≥ lengths[b] (torch's key-padding convention)."""
    return np.arange(T)[None, :] >= lengths[:, None]  # (B, T)


def forward(
    params: Mapping[str, np.ndarray],
    ids: Int[np.ndarray, "B T"],
    lengths: Int[np.ndarray, " B"],
    config: ClassifierConfig,
    training: bool = False,
    rng: int | np.random.Generator | None = None,
) -> tuple[Float[np.ndarray, "B C"], ClassifierCache]:
    """Logits (B, C) for token ids (B, T) of which the first lengths[b] are real.

    Args:
        params: see the module docstring (`init` makes them).
        ids: integer token ids of shape (B, T), `<pad>` = 0 after each sentence's end.
        lengths: integer array (B,), 1 ≤ lengths[b] ≤ T.
        config: the `ClassifierConfig` the params were made for.
        training: apply dropout.
        rng: int seed or `np.random.Generator` for the dropout masks (one per step in training;
            a fixed int makes repeated calls agree, as a gradient check needs).

    Returns:
        logits of shape (B, C) in the params' dtype, and a `ClassifierCache`.
    """
    ids, lengths = check_batch(ids, lengths)
    check_classifier_params(params, config)
    p = config.dropout if training else 0.0
    gen = np.random.default_rng(rng) if p > 0 else None
    mask = padding_mask(lengths, ids.shape[1])  # (B, T)

    x, c_emb = embedding.forward(sub_params(params, "embedding."), ids, padding_idx=0)  # (B,T,E)
    c_scale = c_pos = None
    with_cls = config.encoder == "transformer" and config.pool == "cls"
    if config.encoder == "transformer":
        x, c_scale = positional.scale_forward({}, x)  # √D · E[ids]
        if with_cls:
            B, _, D = x.shape
            cls = np.broadcast_to(params["cls_token"], (B, 1, D)).astype(x.dtype)  # (B, 1, D)
            x = np.concatenate([cls, x], axis=1)  # (B, 1 + T, D)
            mask = np.concatenate([np.zeros((B, 1), dtype=bool), mask], axis=1)  # (B, 1 + T)
        x, c_pos = positional.sinusoidal_forward({}, x)
    x, c_in = dropout_layer.forward({}, x, p=p, training=training, rng=gen)
    if config.encoder == "lstm":
        (h, _), c_enc = lstm.forward(sub_params(params, "lstm."), x, lengths=lengths)
    else:
        h, c_enc = encoder.forward(
            sub_params(params, "encoder."),
            x,
            config.num_heads,
            key_padding_mask=mask,
            norm_first=config.norm_first,
            activation=config.activation,
            dropout=config.dropout,
            training=training,
            rng=gen,
        )  # (B, T', D)
    pool_params = sub_params(params, "pool.") if config.pool == "weighted_mean" else None
    y, c_pool = pooling.forward(h, mask, config.pool, params=pool_params)  # (B, D')
    y, c_out = dropout_layer.forward({}, y, p=p, training=training, rng=gen)
    logits, c_head = linear.forward(sub_params(params, "head."), y)  # (B, C)
    cache = ClassifierCache(
        config, c_emb, c_scale, with_cls, c_pos, c_in, c_enc, c_pool, c_out, c_head
    )
    return logits, cache


def _prefixed(prefix: str, grads: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {prefix + k: v for k, v in grads.items()}


def backward(
    dlogits: Float[np.ndarray, "B C"], cache: ClassifierCache
) -> tuple[None, dict[str, np.ndarray]]:
    """Gradients of every parameter from dlogits (B, C): the blocks' backward, in reverse.

    Returns None (token ids have no gradient) and grads with the keys of params.
    """
    cfg = cache.config
    dy, grads = linear.backward(dlogits, cache.head)
    grads = _prefixed("head.", grads)
    dy, _ = dropout_layer.backward(dy, cache.pooled_dropout)
    dh, g = pooling.backward(dy, cache.pooling)  # (B, T', D')
    grads |= _prefixed("pool.", g)
    if cfg.encoder == "lstm":
        dx, g = lstm.backward(dh, cache.encoder)
        grads |= _prefixed("lstm.", g)
    else:
        dx, g = encoder.backward(dh, cache.encoder)
        grads |= _prefixed("encoder.", g)
    dx, _ = dropout_layer.backward(dx, cache.input_dropout)
    if cfg.encoder == "transformer":
        dx, _ = positional.sinusoidal_backward(dx, cache.positions)
        if cache.with_cls:
            grads["cls_token"] = dx[:, :1].sum(axis=0, keepdims=True)  # (1, 1, D)
            dx = dx[:, 1:]  # (B, T, D)
        dx, _ = positional.scale_backward(dx, cache.scale)
    _, g = embedding.backward(dx, cache.embedding)
    grads |= _prefixed("embedding.", g)
    return None, grads


def predict(
    params: Mapping[str, np.ndarray],
    ids: Int[np.ndarray, "B T"],
    lengths: Int[np.ndarray, " B"],
    config: ClassifierConfig,
) -> Float[np.ndarray, "B C"]:
    """Logits (B, C) in evaluation mode (no dropout), without keeping a cache."""
    logits, _ = forward(params, ids, lengths, config, training=False)
    return logits


# ------------------------------------------------------------------------------------ training
def _trainable(tensors: Mapping[str, np.ndarray], settings: TrainConfig) -> dict[str, np.ndarray]:
    unknown = sorted(set(settings.frozen) - set(tensors))
    if unknown:
        raise KeyError(f"TrainConfig.frozen names unknown parameters {unknown}")
    return {k: v for k, v in tensors.items() if k not in settings.frozen}


def _optimizer(params: Mapping[str, np.ndarray], settings: TrainConfig, lr: float):
    no_decay = frozenset(k for k, decays in decay_mask(params).items() if not decays)
    return AdamW(lr=lr, weight_decay=settings.weight_decay, no_decay=no_decay)


def init_optimizer(params: Mapping[str, np.ndarray], settings: TrainConfig) -> dict:
    """The AdamW state of the parameters that `settings` trains (all but `settings.frozen`)."""
    trainable = _trainable(params, settings)
    return _optimizer(trainable, settings, settings.lr).init(trainable)


def train_step(
    params: Mapping[str, np.ndarray],
    opt_state: dict,
    batch: Mapping[str, np.ndarray],
    config: ClassifierConfig,
    settings: TrainConfig,
    lr: float,
    rng: int | tuple[int, int] | np.random.Generator | None = None,
) -> tuple[dict[str, np.ndarray], dict, float, Float[np.ndarray, "B C"]]:
    """One AdamW update on `batch` {"ids", "lengths", "labels"}: forward, loss, the hand-written
    backward, clipping to `settings.clip_norm`, then the step with learning rate `lr`.

    Returns the new params and optimizer state, the batch's mean loss and its logits (B, C).
    `rng` (a seed, a (seed, step) pair or a Generator) draws this step's dropout masks.
    """
    logits, cache = forward(params, batch["ids"], batch["lengths"], config, True, rng)
    loss, loss_cache = losses.forward(
        {}, logits, batch["labels"], label_smoothing=settings.label_smoothing
    )
    dlogits, _ = losses.backward(np.asarray(1.0, dtype=logits.dtype), loss_cache)
    _, grads = backward(dlogits, cache)
    grads = _trainable(grads, settings)
    if settings.clip_norm is not None:
        grads, _ = clip_grad_norm(grads, settings.clip_norm)
    trainable = {k: params[k] for k in grads}
    new, opt_state = _optimizer(trainable, settings, lr).step(trainable, grads, opt_state)
    return dict(params) | new, opt_state, float(loss), logits
