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

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from jaxtyping import Float, Int

from minienc._checks import check_int, check_ndim
from minienc.numpy import dropout as dropout_layer
from minienc.numpy import embedding, encoder, linear, lstm, pooling, positional
from minienc.numpy.encoder_layer import ACTIVATIONS, sub_params

__all__ = [
    "ENCODERS",
    "ClassifierConfig",
    "ClassifierCache",
    "init",
    "pretrained_embeddings",
    "padding_mask",
    "forward",
    "backward",
    "predict",
]

ENCODERS = ("lstm", "transformer")


@dataclass(frozen=True)
class ClassifierConfig:
    """The shape of the model; the parameters live in a separate dict (see `init`).

    embed_dim: E, the embedding width; for the Transformer it is the model width D.
    hidden_size: H, the LSTM's state size per direction (the LSTM only).
    num_layers: LSTM layers or encoder layers.
    num_heads, ffn_dim, norm_first, activation: the encoder layers' (the Transformer only);
        ffn_dim None means 4D.
    pool: one of `pooling.MODES`; for the Transformer, "cls" adds the learned `cls_token`.
    dropout: the rate on the encoder's input, inside the encoder and on the pooled vector.
    """

    encoder: str
    vocab_size: int
    num_classes: int = 2
    embed_dim: int = 64
    hidden_size: int = 64
    num_layers: int = 1
    bidirectional: bool = True
    num_heads: int = 4
    ffn_dim: int | None = None
    norm_first: bool = False
    activation: str = "relu"
    pool: str = "mean"
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {self.encoder!r}")
        if self.pool not in pooling.MODES:
            raise ValueError(f"pool must be one of {pooling.MODES}, got {self.pool!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        for name in ("vocab_size", "num_classes", "embed_dim", "hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if self.vocab_size < 2:
            raise ValueError(f"vocab_size must be ≥ 2 (<pad> and <unk>), got {self.vocab_size}")
        if self.encoder == "transformer" and self.embed_dim % self.num_heads:
            raise ValueError(
                f"num_heads = {self.num_heads} must divide the model width "
                f"embed_dim = {self.embed_dim}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")

    @property
    def pooled_dim(self) -> int:
        """D', the width of the pooled vector the head reads."""
        if self.encoder == "lstm":
            return self.hidden_size * (2 if self.bidirectional else 1)
        return self.embed_dim

    @property
    def ffn(self) -> int:
        return 4 * self.embed_dim if self.ffn_dim is None else self.ffn_dim


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


# ------------------------------------------------------------------------------------ parameters
def _uniform(rng: np.random.Generator, shape: tuple[int, ...], bound: float) -> np.ndarray:
    return rng.uniform(-bound, bound, shape)


def _linear(rng: np.random.Generator, n_in: int, n_out: int, prefix: str) -> dict:
    """nn.Linear's initialisation: weight and bias ~ U(±1/√n_in)."""
    bound = 1 / math.sqrt(n_in)
    return {
        f"{prefix}weight": _uniform(rng, (n_out, n_in), bound),
        f"{prefix}bias": _uniform(rng, (n_out,), bound),
    }


def _lstm_params(rng: np.random.Generator, cfg: ClassifierConfig) -> dict:
    """nn.LSTM's initialisation: every weight and bias ~ U(±1/√H)."""
    E, H, dirs = cfg.embed_dim, cfg.hidden_size, 2 if cfg.bidirectional else 1
    params = {}
    for layer in range(cfg.num_layers):
        n_in = E if layer == 0 else dirs * H
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            for name, shape in (
                (f"weight_ih{sfx}", (4 * H, n_in)),
                (f"weight_hh{sfx}", (4 * H, H)),
                (f"bias_ih{sfx}", (4 * H,)),
                (f"bias_hh{sfx}", (4 * H,)),
            ):
                params[f"lstm.{name}"] = _uniform(rng, shape, 1 / math.sqrt(H))
    return params


def _encoder_params(rng: np.random.Generator, cfg: ClassifierConfig) -> dict:
    """nn.TransformerEncoderLayer's initialisation (Xavier-uniform in_proj, zero biases)."""
    D, F = cfg.embed_dim, cfg.ffn
    params = {}
    for i in range(cfg.num_layers):
        p = f"encoder.layers.{i}."
        params[p + "self_attn.in_proj_weight"] = _uniform(rng, (3 * D, D), math.sqrt(6 / (4 * D)))
        params[p + "self_attn.in_proj_bias"] = np.zeros(3 * D)
        params[p + "self_attn.out_proj.weight"] = _uniform(rng, (D, D), 1 / math.sqrt(D))
        params[p + "self_attn.out_proj.bias"] = np.zeros(D)
        params |= _linear(rng, D, F, p + "linear1.") | _linear(rng, F, D, p + "linear2.")
        for norm in ("norm1.", "norm2."):
            params[p + norm + "weight"], params[p + norm + "bias"] = np.ones(D), np.zeros(D)
    if cfg.norm_first:  # pre-LN leaves the residual stream unnormalised: one final LayerNorm
        params["encoder.norm.weight"], params["encoder.norm.bias"] = np.ones(D), np.zeros(D)
    return params


def init(
    config: ClassifierConfig,
    seed: int = 0,
    embeddings: Float[np.ndarray, "V E"] | None = None,
    dtype: np.dtype | type = np.float32,
) -> dict[str, np.ndarray]:
    """Fresh parameters for `config`, drawn as torch draws them, in `dtype`.

    The embedding is N(0, 1) for the LSTM (nn.Embedding's default) and N(0, 1/D) for the
    Transformer, so that √D · E[ids] has unit-size entries like the positional encodings; the
    `<pad>` row is zero. `embeddings` (V, E), e.g. from `pretrained_embeddings`, replaces it.
    """
    rng = np.random.default_rng(seed)
    V, E = config.vocab_size, config.embed_dim
    std = 1.0 if config.encoder == "lstm" else 1 / math.sqrt(E)
    emb = std * rng.standard_normal((V, E))
    if embeddings is not None:
        if np.shape(embeddings) != (V, E):
            raise ValueError(
                f"embeddings must have shape (vocab_size, embed_dim) = {(V, E)}, "
                f"got {np.shape(embeddings)}"
            )
        emb = np.array(embeddings, dtype=np.float64)
    emb[0] = 0.0  # <pad>
    params = {"embedding.weight": emb}
    if config.encoder == "lstm":
        params |= _lstm_params(rng, config)
    else:
        if config.pool == "cls":
            params["cls_token"] = std * rng.standard_normal((1, 1, E))
        params |= _encoder_params(rng, config)
    if config.pool == "weighted_mean":
        params["pool.weight"] = _uniform(
            rng, (1, config.pooled_dim), 1 / math.sqrt(config.pooled_dim)
        )
    params |= _linear(rng, config.pooled_dim, config.num_classes, "head.")
    return {k: np.asarray(v, dtype=dtype) for k, v in params.items()}


def pretrained_embeddings(
    tokens: Sequence[str],
    vectors: Float[np.ndarray, "N E"],
    words: Sequence[str],
    seed: int = 0,
) -> tuple[Float[np.ndarray, "V E"], float]:
    """An embedding matrix for a vocabulary from pretrained word vectors, e.g. GloVe.

    Row i is the vector of `tokens[i]` when `words` has it; the other rows are drawn from
    N(0, s²) with s the standard deviation of the pretrained entries, so they look alike. Row 0
    (`<pad>`) is zero. Returns the (V, E) float64 matrix and the coverage: the fraction of the
    tokens after `<pad>` and `<unk>` that were found.
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    check_ndim("vectors", vectors, 2, "(N, E)")
    if len(words) != len(vectors):
        raise ValueError(f"vectors has {len(vectors)} rows but there are {len(words)} words")
    index = {w: i for i, w in enumerate(words)}
    rows = np.array([index.get(t, -1) for t in tokens])  # (V,) row of each token, -1 if missing
    rng = np.random.default_rng(seed)
    out = vectors.std() * rng.standard_normal((len(tokens), vectors.shape[1]))
    found = rows >= 0
    out[found] = vectors[rows[found]]
    out[0] = 0.0
    coverage = float(found[2:].mean()) if len(tokens) > 2 else 0.0
    return out, coverage


# ------------------------------------------------------------------------------------ the model
def padding_mask(lengths: Int[np.ndarray, " B"], T: int) -> np.ndarray:
    """Bool (B, T), True where t ≥ lengths[b] (torch's key-padding convention)."""
    return np.arange(T)[None, :] >= lengths[:, None]  # (B, T)


def _check_batch(ids: object, lengths: object) -> tuple[np.ndarray, np.ndarray]:
    ids = check_int("ids", ids)
    check_ndim("ids", ids, 2, "(B, T)")
    lengths = check_int("lengths", lengths)
    if lengths.shape != ids.shape[:1]:
        raise ValueError(
            f"lengths has shape {lengths.shape} but ids of shape {ids.shape} needs {ids.shape[:1]}"
        )
    if lengths.size and (lengths.min() < 1 or lengths.max() > ids.shape[1]):
        raise ValueError(
            f"lengths must lie in [1, T = {ids.shape[1]}], got {lengths.min()} to {lengths.max()}"
        )
    return ids, lengths


def _check_params(params: Mapping[str, np.ndarray], config: ClassifierConfig) -> None:
    want = {"embedding.weight", "head.weight", "head.bias"}
    if config.encoder == "transformer" and config.pool == "cls":
        want.add("cls_token")
    if config.pool == "weighted_mean":
        want.add("pool.weight")
    missing = sorted(want - set(params))
    if missing:
        raise KeyError(f"params of the {config.encoder} classifier is missing {missing}")
    V, E = params["embedding.weight"].shape
    if (V, E) != (config.vocab_size, config.embed_dim):
        raise ValueError(
            f"params['embedding.weight'] has shape {(V, E)} but the config needs "
            f"(vocab_size, embed_dim) = {(config.vocab_size, config.embed_dim)}"
        )


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
    ids, lengths = _check_batch(ids, lengths)
    _check_params(params, config)
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
