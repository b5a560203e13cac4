"""Two text classifiers as pure functions over torch-keyed parameter dicts: LSTM and Transformer.

    LSTM:         ids (B, T) → embedding (B, T, E) → LSTM (B, T, dirs·H) → pool (B, dirs·H) → head
    Transformer:  ids (B, T) → √D · embedding + positions (B, T, D) → encoder (B, T, D)
                  → pool (B, D) → head

Both end in a linear `head` giving logits (B, C), with dropout on the embeddings and before the
head while training. `init_*` returns the parameters, `*_apply` maps ids and lengths to logits;
the keys are those of the torch modules the pieces mirror (`embedding.weight`, `lstm.weight_ih_l0`,
`encoder.layers.0.self_attn.in_proj_weight`, `head.weight`, ...), and the initial values are drawn
as torch draws them:

- `nn.Linear` (in → out): weight and bias ~ U(-1/√in, 1/√in);
- `nn.Embedding`: weight ~ N(0, 1), the `<pad>` row (id 0) zero;
- `nn.LSTM`: every weight and bias ~ U(-1/√H, 1/√H);
- `nn.MultiheadAttention`: in_proj_weight Xavier-uniform, U(±√(6 / (D + 3D))), biases zero,
  out_proj.weight U(-1/√D, 1/√D); LayerNorm weight one, bias zero.

Padding: position t of row b is padding when t ≥ lengths[b]. The LSTM steps over it (its state is
carried unchanged), attention never looks at it, and pooling leaves it out, so the logits of a
sentence do not depend on how much padding its batch has.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jaxtyping import Float, Int

from minienc._checks import as_int, check_ndim, sub_params
from minienc.jax import dropout, embedding, encoder, linear, losses, lstm, pooling

__all__ = [
    "LSTM_POOLS",
    "TRANSFORMER_POOLS",
    "sinusoidal",
    "init_lstm_classifier",
    "lstm_classifier_apply",
    "init_transformer_classifier",
    "transformer_classifier_apply",
    "classifier_loss",
]

LSTM_POOLS = ("final", "last", "mean", "max")
TRANSFORMER_POOLS = ("cls", "mean", "max")
Params = dict[str, Array]


# ---------------------------------------------------------------- torch's default initialisation
def _uniform(key: Array, shape: tuple[int, ...], bound: float, dtype: Any) -> Array:
    return jax.random.uniform(key, shape, dtype, -bound, bound)


def _linear(key: Array, n_in: int, n_out: int, dtype: Any) -> Params:
    kw, kb = jax.random.split(key)
    bound = 1 / math.sqrt(n_in)
    return {
        "weight": _uniform(kw, (n_out, n_in), bound, dtype),
        "bias": _uniform(kb, (n_out,), bound, dtype),
    }


def _embedding(key: Array, V: int, D: int, dtype: Any) -> Params:
    w = jax.random.normal(key, (V, D), dtype)
    return {"weight": w.at[0].set(0)}  # row 0 is <pad>


def _lstm(key: Array, I: int, H: int, num_layers: int, bidirectional: bool, dtype: Any) -> Params:
    dirs = 2 if bidirectional else 1
    params = {}
    for layer in range(num_layers):
        n_in = I if layer == 0 else dirs * H
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            shapes = {
                f"weight_ih{sfx}": (4 * H, n_in),
                f"weight_hh{sfx}": (4 * H, H),
                f"bias_ih{sfx}": (4 * H,),
                f"bias_hh{sfx}": (4 * H,),
            }
            for name, shape in shapes.items():
                key, sub = jax.random.split(key)
                params[name] = _uniform(sub, shape, 1 / math.sqrt(H), dtype)
    return params


def _encoder_layer(key: Array, D: int, ffn: int, dtype: Any) -> Params:
    k_in, k_out, k1, k2 = jax.random.split(key, 4)
    return {
        "self_attn.in_proj_weight": _uniform(k_in, (3 * D, D), math.sqrt(6 / (4 * D)), dtype),
        "self_attn.in_proj_bias": jnp.zeros(3 * D, dtype),
        "self_attn.out_proj.weight": _uniform(k_out, (D, D), 1 / math.sqrt(D), dtype),
        "self_attn.out_proj.bias": jnp.zeros(D, dtype),
        **_prefixed("linear1.", _linear(k1, D, ffn, dtype)),
        **_prefixed("linear2.", _linear(k2, ffn, D, dtype)),
        **_prefixed("norm1.", _layernorm(D, dtype)),
        **_prefixed("norm2.", _layernorm(D, dtype)),
    }


def _layernorm(D: int, dtype: Any) -> Params:
    return {"weight": jnp.ones(D, dtype), "bias": jnp.zeros(D, dtype)}


def _prefixed(prefix: str, params: Mapping[str, Array]) -> Params:
    return {prefix + k: v for k, v in params.items()}


# ---------------------------------------------------------------- shared pieces of the forward
def _padding_mask(ids: Array, lengths: Array) -> Array:
    """True where t >= lengths[b]: (B, T) bool, torch's key-padding convention."""
    ids = as_int("ids", ids)
    check_ndim("ids", ids, 2, "(B, T)")
    lengths = as_int("lengths", lengths)
    if lengths.shape != ids.shape[:1]:
        raise ValueError(
            f"lengths has shape {lengths.shape} but ids of shape {ids.shape} needs {ids.shape[:1]}"
        )
    return jnp.arange(ids.shape[1])[None, :] >= lengths[:, None]  # (B, T)


def _dropout(x: Array, p: float, train: bool, key: Array | None) -> Array:
    return dropout.forward({}, x, p=p, training=train, rng=key)


def _keys(key: Array | None, train: bool, p: float) -> tuple[Array | None, Array | None]:
    """Two dropout keys; a key is needed only when dropout is active."""
    if not train or p == 0:
        return None, None
    if key is None:
        raise ValueError(f"training with dropout {p} needs a PRNG key: key=jax.random.key(0)")
    k1, k2 = jax.random.split(key)
    return k1, k2


# ---------------------------------------------------------------- LSTM classifier
def init_lstm_classifier(
    key: Array,
    vocab_size: int,
    D: int,
    H: int,
    num_classes: int,
    bidirectional: bool = True,
    num_layers: int = 1,
    embeddings: Float[np.ndarray, "V D"] | None = None,
    dtype: Any = jnp.float32,
) -> Params:
    """Parameters of the LSTM classifier: `embedding.weight` (V, D), `lstm.*` (hidden size H),
    `head.weight` (C, dirs·H) and `head.bias` (C,).

    `embeddings` (V, D), e.g. GloVe vectors for the vocabulary, replaces the random embedding.
    """
    k_emb, k_lstm, k_head = jax.random.split(key, 3)
    emb = _embedding(k_emb, vocab_size, D, dtype)
    if embeddings is not None:
        if np.shape(embeddings) != (vocab_size, D):
            raise ValueError(
                f"embeddings must have shape (vocab_size, D) = {(vocab_size, D)}, "
                f"got {np.shape(embeddings)}"
            )
        emb = {"weight": jnp.asarray(embeddings, dtype)}
    dirs = 2 if bidirectional else 1
    return {
        **_prefixed("embedding.", emb),
        **_prefixed("lstm.", _lstm(k_lstm, D, H, num_layers, bidirectional, dtype)),
        **_prefixed("head.", _linear(k_head, dirs * H, num_classes, dtype)),
    }


def lstm_classifier_apply(
    params: Mapping[str, Array],
    ids: Int[Array, "B T"],
    lengths: Int[Array, " B"],
    train: bool = False,
    key: Array | None = None,
    *,
    pool: str = "max",
    dropout: float = 0.0,
) -> Float[Array, "B C"]:
    """Logits (B, C) of the LSTM classifier for ids (B, T) whose first lengths[b] are real.

    `pool` is "final" (the last states h_n of the top layer, both directions: the usual choice),
    "last" (the output at the last real step), "mean" or "max" over the real steps. `dropout` is
    the rate on the embeddings and on the pooled vector while `train` (needs `key`).
    """
    if pool not in LSTM_POOLS:
        raise ValueError(f"pool must be one of {LSTM_POOLS}, got {pool!r}")
    mask = _padding_mask(ids, lengths)  # (B, T)
    k_emb, k_head = _keys(key, train, dropout)
    x = embedding.forward(sub_params(params, "embedding."), ids, padding_idx=0)  # (B, T, D)
    x = _dropout(x, dropout, train, k_emb)
    rnn = sub_params(params, "lstm.")
    out, (h_n, _) = lstm.forward(rnn, x, lengths=lengths)  # (B, T, dirs*H), (L*dirs, B, H)
    if pool == "final":
        dirs = 2 if "weight_ih_l0_reverse" in rnn else 1
        h = jnp.concatenate(list(h_n[-dirs:]), axis=-1)  # (B, dirs*H)
    else:
        h = pooling.forward(out, mask, pool)  # (B, dirs*H)
    h = _dropout(h, dropout, train, k_head)
    return linear.forward(sub_params(params, "head."), h)  # (B, C)


# ---------------------------------------------------------------- Transformer classifier
def sinusoidal(T: int, D: int, base: float = 10000.0) -> Float[np.ndarray, "T D"]:
    """PE[t, 2i] = sin(t / base^(2i/D)), PE[t, 2i+1] = cos(t / base^(2i/D)): (T, D) float32."""
    t = np.arange(T)[:, None]  # (T, 1)
    freq = np.exp(np.arange(0, D, 2) * (-math.log(base) / D))  # (ceil(D/2),)
    pe = np.zeros((T, D))
    pe[:, 0::2] = np.sin(t * freq)
    pe[:, 1::2] = np.cos(t * freq[: D // 2])
    return pe.astype(np.float32)


def init_transformer_classifier(
    key: Array,
    vocab_size: int,
    D: int,
    H: int,
    num_classes: int,
    num_layers: int = 2,
    ffn: int | None = None,
    pool: str = "mean",
    positions: str = "sinusoidal",
    max_len: int = 512,
    norm_first: bool = False,
    embeddings: Float[np.ndarray, "V D"] | None = None,
    dtype: Any = jnp.float32,
) -> Params:
    """Parameters of the Transformer classifier, model width D with H heads.

    Keys: `embedding.weight` (V, D); `pos_embedding.weight` (max_len, D) with learned positions
    (none with sinusoidal ones); `cls_token` (1, 1, D) with `pool="cls"`, a learned vector put in
    front of every sentence; `encoder.layers.{i}.*` as `nn.TransformerEncoder` (FFN width `ffn`,
    4D by default) plus `encoder.norm.*` when `norm_first`; `head.weight` (C, D), `head.bias` (C,).
    """
    if D % H:
        raise ValueError(f"the number of heads H = {H} must divide the model width D = {D}")
    if pool not in TRANSFORMER_POOLS:
        raise ValueError(f"pool must be one of {TRANSFORMER_POOLS}, got {pool!r}")
    if positions not in ("sinusoidal", "learned"):
        raise ValueError(f"positions must be 'sinusoidal' or 'learned', got {positions!r}")
    ffn = 4 * D if ffn is None else ffn
    k_emb, k_pos, k_cls, k_head, *k_layers = jax.random.split(key, 4 + num_layers)
    params = _prefixed("embedding.", _embedding(k_emb, vocab_size, D, dtype))
    if embeddings is not None:
        if np.shape(embeddings) != (vocab_size, D):
            raise ValueError(
                f"embeddings must have shape (vocab_size, D) = {(vocab_size, D)}, "
                f"got {np.shape(embeddings)}"
            )
        params["embedding.weight"] = jnp.asarray(embeddings, dtype)
    if positions == "learned":
        params["pos_embedding.weight"] = jax.random.normal(k_pos, (max_len, D), dtype)
    if pool == "cls":
        params["cls_token"] = jax.random.normal(k_cls, (1, 1, D), dtype)
    for i, k in enumerate(k_layers):
        params |= _prefixed(f"encoder.layers.{i}.", _encoder_layer(k, D, ffn, dtype))
    if norm_first:
        params |= _prefixed("encoder.norm.", _layernorm(D, dtype))
    params |= _prefixed("head.", _linear(k_head, D, num_classes, dtype))
    return params


def transformer_classifier_apply(
    params: Mapping[str, Array],
    ids: Int[Array, "B T"],
    lengths: Int[Array, " B"],
    train: bool = False,
    key: Array | None = None,
    *,
    num_heads: int,
    pool: str = "mean",
    norm_first: bool = False,
    activation: str = "relu",
    dropout: float = 0.0,
) -> Float[Array, "B C"]:
    """Logits (B, C) of the Transformer classifier for ids (B, T) whose first lengths[b] are real.

    Positions are learned when `params` has `pos_embedding.weight`, sinusoidal otherwise.
    `pool="cls"` needs `cls_token`; `norm_first`, `activation` as in `encoder_layer.forward`.
    `dropout` is the rate on the input of the encoder and on the pooled vector while `train`.
    """
    if pool not in TRANSFORMER_POOLS:
        raise ValueError(f"pool must be one of {TRANSFORMER_POOLS}, got {pool!r}")
    if (pool == "cls") != ("cls_token" in params):
        raise KeyError(
            f"pool={pool!r} {'needs' if pool == 'cls' else 'does not use'} params['cls_token'] "
            "(init_transformer_classifier adds it when pool='cls')"
        )
    mask = _padding_mask(ids, lengths)  # (B, T)
    k_in, k_head = _keys(key, train, dropout)
    emb = sub_params(params, "embedding.")
    D = emb["weight"].shape[1]
    x = embedding.forward(emb, ids, padding_idx=0) * math.sqrt(D)  # (B, T, D)
    B = x.shape[0]
    if pool == "cls":
        cls = jnp.broadcast_to(params["cls_token"], (B, 1, D)).astype(x.dtype)  # (B, 1, D)
        x = jnp.concatenate([cls, x], axis=1)  # (B, 1 + T, D)
        mask = jnp.concatenate([jnp.zeros((B, 1), bool), mask], axis=1)  # (B, 1 + T)
    T = x.shape[1]
    if "pos_embedding.weight" in params:
        table = params["pos_embedding.weight"]
        if T > table.shape[0]:
            raise ValueError(
                f"the input has {T} positions but pos_embedding.weight has {table.shape[0]}"
            )
        x = x + table[:T]  # (T, D) broadcast over B
    else:
        x = x + jnp.asarray(sinusoidal(T, D), x.dtype)
    x = _dropout(x, dropout, train, k_in)
    h = encoder.forward(
        sub_params(params, "encoder."),
        x,
        num_heads,
        key_padding_mask=mask,
        norm_first=norm_first,
        activation=activation,
    )  # (B, T, D)
    y = pooling.forward(h, mask, pool)  # (B, D)
    y = _dropout(y, dropout, train, k_head)
    return linear.forward(sub_params(params, "head."), y)  # (B, C)


# ---------------------------------------------------------------- the loss
def classifier_loss(
    apply: Callable[..., Array], label_smoothing: float = 0.0, **config: Any
) -> Callable[[Mapping[str, Array], Mapping[str, Array], Array | None, bool], tuple[Array, Array]]:
    """`loss_fn(params, batch, key, train) -> (loss, logits)` for the training loop: mean
    cross-entropy of `apply(params, batch["ids"], batch["lengths"], train, key, **config)` against
    `batch["labels"]`."""

    def loss_fn(
        params: Mapping[str, Array], batch: Mapping[str, Array], key: Array | None, train: bool
    ) -> tuple[Array, Array]:
        logits = apply(params, batch["ids"], batch["lengths"], train, key, **config)
        loss = losses.cross_entropy(logits, batch["labels"], label_smoothing=label_smoothing)
        return loss, logits

    return loss_fn
