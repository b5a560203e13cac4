"""BERT (e.g. all-MiniLM-L6-v2), as `transformers.BertModel`, built from the blocks of this package.

    x = LN(E_word[ids] + E_pos[0..T-1] + E_type[types])       embeddings, LayerNorm eps from config
    x = layer_i(x)   for i = 0 .. L-1                           post-LN encoder layers, erf GELU
    y = x                                                       last hidden states (B, T, D)

Each BERT layer is `encoder_layer.forward` on its tensors renamed to the keys of
`nn.TransformerEncoderLayer` (`minienc.bert_config.encoder_layer_params`); the attention mask
(1 = real token) becomes the key_padding_mask (True = pad). The pooler is tanh(dense(y[:, 0])); a
sentence embedding is the mean of y over the real tokens, L2-normalised. `jax.grad` gives what the
NumPy twin writes by hand. Everything is jittable with `config` (and `normalize`, `training`)
static: `jax.jit(bert.forward, static_argnames=("config", "training"))`.

Dropout (training only) falls where `encoder_layer` puts it, with p = `hidden_dropout_prob`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import jax
import jax.numpy as jnp
from jax import Array
from jaxtyping import Float, Int

from minienc._checks import as_int
from minienc._params import sub_params
from minienc.bert_config import (
    BertConfig,
    check_bert_params,
    check_inputs,
    encoder_layer_params,
    load_config,
    read_params,
)
from minienc.jax import activations, embedding, encoder_layer, layernorm, linear, pooling
from minienc.jax import dropout as dropout_layer

__all__ = ["BertConfig", "load_config", "load_params", "forward", "pooler", "sentence_embedding"]


def load_params(folder: str | Path) -> dict[str, Array]:
    """The weights in `folder/model.safetensors` as JAX arrays, keyed as `BertModel.state_dict()`.

    Checked against `folder/config.json` (KeyError for a missing tensor, ValueError for a shape
    the config contradicts, each naming the tensor).
    """
    return {k: jnp.asarray(v) for k, v in read_params(folder).items()}


def forward(
    params: Mapping[str, Array],
    input_ids: Int[Array, "B T"],
    attention_mask: Int[Array, "B T"],
    token_type_ids: Int[Array, "B T"] | None = None,
    *,
    config: BertConfig,
    training: bool = False,
    rng: Array | None = None,
) -> Float[Array, "B T D"]:
    """The last hidden states of BERT.

    Args:
        params: the tensors of `BertModel.state_dict()` (see `minienc.bert_config`), one dtype.
        input_ids: token ids of shape (B, T), T ≤ `config.max_position_embeddings` (else
            ValueError).
        attention_mask: (B, T), 1 (or True) for a real token, 0 for padding.
        token_type_ids: segment ids of shape (B, T); None means all 0 (one segment).
        config: the model's `BertConfig` (keyword only; static under jit).
        training: apply dropout with p = `config.hidden_dropout_prob` (static).
        rng: a JAX PRNG key for the dropout masks.

    Returns:
        y of shape (B, T, D).
    """
    check_bert_params(params, config)
    check_inputs(input_ids, attention_mask, token_type_ids, config)
    ids = as_int("input_ids", input_ids)
    types = (
        jnp.zeros_like(ids) if token_type_ids is None else as_int("token_type_ids", token_type_ids)
    )
    pad = jnp.asarray(attention_mask) == 0  # (B, T), True = padding
    T, L = ids.shape[1], config.num_hidden_layers
    p = config.hidden_dropout_prob if training else 0.0
    rngs = [None] * (L + 1)
    if p > 0 and rng is not None:
        rngs = jax.random.split(rng, L + 1)  # one key for the embeddings, one per layer

    word = embedding.forward(
        sub_params(params, "embeddings.word_embeddings."), ids, padding_idx=config.pad_token_id
    )
    positions = jnp.arange(T)[None, :]  # (1, T), the same for every row
    pos = embedding.forward(sub_params(params, "embeddings.position_embeddings."), positions)
    typ = embedding.forward(sub_params(params, "embeddings.token_type_embeddings."), types)
    x = word + pos + typ  # (B, T, D) + (1, T, D) + (B, T, D)
    x = layernorm.forward(sub_params(params, "embeddings.LayerNorm."), x, config.layer_norm_eps)
    x = dropout_layer.forward({}, x, p=p, training=training, rng=rngs[0])
    for i in range(L):
        x = encoder_layer.forward(
            encoder_layer_params(params, i, jnp.concatenate),
            x,
            config.num_attention_heads,
            key_padding_mask=pad,
            activation=config.hidden_act,
            eps=config.layer_norm_eps,
            dropout=p,
            training=training,
            rng=rngs[i + 1],
        )
    return x


def pooler(
    params: Mapping[str, Array], hidden_states: Float[Array, "B T D"]
) -> Float[Array, "B D"]:
    """BERT's pooler: tanh(dense(hidden_states[:, 0])) at [CLS]; needs `pooler.dense.*`."""
    if "pooler.dense.weight" not in params:
        raise KeyError("params has no 'pooler.dense.weight': this BERT was saved without a pooler")
    if hidden_states.ndim != 3:
        raise ValueError(
            f"hidden_states must have 3 dimensions (B, T, D), got shape {hidden_states.shape}"
        )
    z = linear.forward(sub_params(params, "pooler.dense."), hidden_states[:, 0])  # (B, D)
    return activations.forward({}, z, kind="tanh")


def sentence_embedding(
    params: Mapping[str, Array],
    input_ids: Int[Array, "B T"],
    attention_mask: Int[Array, "B T"],
    config: BertConfig,
    normalize: bool = True,
) -> Float[Array, "B D"]:
    """The mean of the last hidden states over the real tokens, L2-normalised when `normalize`.

    This is how sentence-transformers embeds with all-MiniLM-L6-v2: mean pooling, then
    y / max(‖y‖, 1e-12). Returns the embeddings (B, D).
    """
    h = forward(params, input_ids, attention_mask, config=config)
    y = pooling.forward(h, jnp.asarray(attention_mask) == 0, "mean")  # (B, D)
    if normalize:
        y = y / jnp.maximum(jnp.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    return y
