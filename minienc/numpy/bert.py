"""BERT (e.g. all-MiniLM-L6-v2), as `transformers.BertModel`, built from the blocks of this package.

Forward, for token ids (B, T), token types (B, T) and an attention mask (B, T), 1 = real token:

    x = LN(E_word[ids] + E_pos[0..T-1] + E_type[types])       embeddings, LayerNorm eps from config
    x = layer_i(x)   for i = 0 .. L-1                           post-LN encoder layers, erf GELU
    y = x                                                       last hidden states (B, T, D)

A BERT layer is `nn.TransformerEncoderLayer` with other tensor names (post-LN, FFN = F, the
config's activation and eps), so each layer runs `encoder_layer.forward` on its tensors renamed
(`minienc.bert_config.encoder_layer_params`); padding becomes the layer's key_padding_mask
(True = pad). Hugging Face adds a large negative number to the scores of padded keys where
`attention` writes -∞: both give them a weight of exactly 0. The pooler is tanh(dense(y[:, 0])),
and a sentence embedding the mean of y over the real tokens, L2-normalised (sentence-transformers).

Backward: the layers' backwards in reverse, their gradients renamed back (the packed in_proj
gradient split into query, key and value), then LayerNorm and the three embedding tables. The
position table gets dy summed over the batch; the word table's `pad_token_id` row gets none,
as torch's `padding_idx`. `backward(dy, cache, layers=k)` stops after the top k layers, enough
to fine-tune them without paying for the rest.

Dropout (training only) falls where `encoder_layer` puts it, with p = `hidden_dropout_prob`; that
layer adds one dropout after the activation that BERT does not have.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np
from jaxtyping import Float, Int

from minienc._checks import check_float, check_int
from minienc._params import sub_params
from minienc.bert_config import (
    LAYER_NAMES,
    QKV,
    BertConfig,
    check_bert_params,
    check_inputs,
    encoder_layer_params,
    load_config,
    read_params,
)
from minienc.numpy import activations, embedding, encoder_layer, layernorm, linear, pooling
from minienc.numpy import dropout as dropout_layer

__all__ = [
    "BertConfig",
    "BertCache",
    "load_config",
    "load_params",
    "forward",
    "backward",
    "pooler",
    "pooler_backward",
    "sentence_embedding",
]


class BertCache(NamedTuple):
    """The caches of the embeddings (word, position, type, LayerNorm, dropout) and each layer."""

    embeddings: tuple
    layers: tuple[encoder_layer.EncoderLayerCache, ...]


def load_params(folder: str | Path) -> dict[str, np.ndarray]:
    """The weights in `folder/model.safetensors`, keyed as `BertModel.state_dict()` (float32).

    Checked against `folder/config.json`: a missing tensor raises KeyError, a tensor whose shape
    the config contradicts ValueError, each naming the tensor.
    """
    return read_params(folder)


def _inputs(
    params: Mapping[str, np.ndarray],
    input_ids: object,
    attention_mask: object,
    token_type_ids: object,
    config: BertConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """input_ids, key_padding_mask (True = pad) and token_type_ids, checked."""
    check_bert_params(params, config)
    check_inputs(input_ids, attention_mask, token_type_ids, config)
    input_ids = check_int("input_ids", input_ids)
    if token_type_ids is None:
        token_type_ids = np.zeros_like(input_ids)
    return input_ids, np.asarray(attention_mask) == 0, check_int("token_type_ids", token_type_ids)


def forward(
    params: Mapping[str, np.ndarray],
    input_ids: Int[np.ndarray, "B T"],
    attention_mask: Int[np.ndarray, "B T"],
    token_type_ids: Int[np.ndarray, "B T"] | None = None,
    *,
    config: BertConfig,
    training: bool = False,
    rng: int | np.random.Generator | None = None,
) -> tuple[Float[np.ndarray, "B T D"], BertCache]:
    """The last hidden states of BERT.

    Args:
        params: the tensors of `BertModel.state_dict()` (see `minienc.bert_config`), one dtype.
        input_ids: token ids of shape (B, T), T ≤ `config.max_position_embeddings` (else
            ValueError).
        attention_mask: (B, T), 1 (or True) for a real token, 0 for padding.
        token_type_ids: segment ids of shape (B, T); None means all 0 (one segment).
        config: the model's `BertConfig` (keyword only).
        training: apply dropout with p = `config.hidden_dropout_prob`.
        rng: int seed or `np.random.Generator` for the dropout masks.

    Returns:
        y of shape (B, T, D), and a `BertCache`.
    """
    ids, pad, types = _inputs(params, input_ids, attention_mask, token_type_ids, config)
    T = ids.shape[1]
    p = config.hidden_dropout_prob if training else 0.0
    gen = np.random.default_rng(rng) if p > 0 else None
    word, c_word = embedding.forward(
        sub_params(params, "embeddings.word_embeddings."), ids, padding_idx=config.pad_token_id
    )
    positions = np.arange(T)[None, :]  # (1, T), the same for every row
    pos, c_pos = embedding.forward(sub_params(params, "embeddings.position_embeddings."), positions)
    typ, c_typ = embedding.forward(sub_params(params, "embeddings.token_type_embeddings."), types)
    x = word + pos + typ  # (B, T, D) + (1, T, D) + (B, T, D)
    x, c_ln = layernorm.forward(
        sub_params(params, "embeddings.LayerNorm."), x, config.layer_norm_eps
    )
    x, c_drop = dropout_layer.forward({}, x, p=p, training=training, rng=gen)
    layers = []
    for i in range(config.num_hidden_layers):
        x, c = encoder_layer.forward(
            encoder_layer_params(params, i, np.concatenate),
            x,
            config.num_attention_heads,
            key_padding_mask=pad,
            activation=config.hidden_act,
            eps=config.layer_norm_eps,
            dropout=p,
            training=training,
            rng=gen,
        )
        layers.append(c)
    return x, BertCache((c_word, c_pos, c_typ, c_ln, c_drop), tuple(layers))


def _bert_names(grads: Mapping[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    """One layer's gradients from `encoder_layer` keys back to BERT names."""
    pre = f"encoder.layer.{i}."
    out = {pre + name: grads[key] for key, name in LAYER_NAMES.items()}
    for p in ("weight", "bias"):
        for n, g in zip(QKV, np.split(grads[f"self_attn.in_proj_{p}"], 3)):  # (D, D) or (D,)
            out[f"{pre}attention.self.{n}.{p}"] = g
    return out


def backward(
    dy: Float[np.ndarray, "B T D"], cache: BertCache, layers: int | None = None
) -> tuple[None, dict[str, np.ndarray]]:
    """Gradients of BERT.

    Args:
        dy: upstream gradient of shape (B, T, D).
        cache: the `BertCache` from `forward`.
        layers: backpropagate through the top `layers` layers only (their tensors get gradients,
            nothing below them); None (the default) for the whole model, embeddings included.

    Returns:
        None (token ids are not differentiable), and grads keyed like params (without the pooler).
    """
    L = len(cache.layers)
    top = L if layers is None else layers
    if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= L:
        raise ValueError(f"layers must be an int in [0, {L}] or None, got {layers!r}")
    dx = check_float("dy", dy)
    grads = {}
    for i in reversed(range(L - top, L)):
        dx, g = encoder_layer.backward(dx, cache.layers[i])
        grads |= _bert_names(g, i)
    if top < L:
        return None, grads
    c_word, c_pos, c_typ, c_ln, c_drop = cache.embeddings
    dx, _ = dropout_layer.backward(dx, c_drop)
    dx, g = layernorm.backward(dx, c_ln)
    grads |= {f"embeddings.LayerNorm.{k}": v for k, v in g.items()}
    for name, c, d in (
        ("word_embeddings", c_word, dx),
        ("position_embeddings", c_pos, dx.sum(axis=0, keepdims=True)),  # (1, T, D)
        ("token_type_embeddings", c_typ, dx),
    ):
        _, g = embedding.backward(d, c)
        grads[f"embeddings.{name}.weight"] = g["weight"]
    return None, grads


def pooler(
    params: Mapping[str, np.ndarray], hidden_states: Float[np.ndarray, "B T D"]
) -> tuple[Float[np.ndarray, "B D"], tuple]:
    """BERT's pooler: tanh(dense(hidden_states[:, 0])), the [CLS] position; needs `pooler.dense.*`.

    Returns y of shape (B, D) and the cache `(hidden_states.shape, dense cache, tanh cache)`.
    """
    if "pooler.dense.weight" not in params:
        raise KeyError("params has no 'pooler.dense.weight': this BERT was saved without a pooler")
    h = check_float("hidden_states", hidden_states)
    if h.ndim != 3:
        raise ValueError(f"hidden_states must have 3 dimensions (B, T, D), got shape {h.shape}")
    z, c_dense = linear.forward(sub_params(params, "pooler.dense."), h[:, 0])  # (B, D)
    y, c_tanh = activations.forward({}, z, kind="tanh")
    return y, (h.shape, c_dense, c_tanh)


def pooler_backward(
    dy: Float[np.ndarray, "B D"], cache: tuple
) -> tuple[Float[np.ndarray, "B T D"], dict[str, np.ndarray]]:
    """Gradients of `pooler`: dh of shape (B, T, D) (zero but at position 0), `pooler.dense.*`."""
    shape, c_dense, c_tanh = cache
    dz, _ = activations.backward(dy, c_tanh)
    d0, g = linear.backward(dz, c_dense)
    dh = np.zeros(shape, dtype=d0.dtype)
    dh[:, 0] = d0
    return dh, {f"pooler.dense.{k}": v for k, v in g.items()}


def sentence_embedding(
    params: Mapping[str, np.ndarray],
    input_ids: Int[np.ndarray, "B T"],
    attention_mask: Int[np.ndarray, "B T"],
    config: BertConfig,
    normalize: bool = True,
) -> Float[np.ndarray, "B D"]:
    """The mean of the last hidden states over the real tokens, L2-normalised when `normalize`.

    This is how sentence-transformers embeds with all-MiniLM-L6-v2: mean pooling, then
    y / max(‖y‖, 1e-12). Returns the embeddings (B, D) only (no cache: for inference).
    """
    h, _ = forward(params, input_ids, attention_mask, config=config)
    y, _ = pooling.forward(h, np.asarray(attention_mask) == 0, "mean")  # (B, D)
    if normalize:
        y /= np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    return y
