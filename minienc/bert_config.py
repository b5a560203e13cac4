"""What the NumPy and JAX BERT twins share: the config, the tensor names and reading a folder.

A BERT folder in the Hugging Face layout holds `config.json` (the sizes) and `model.safetensors`
(the weights, named as `transformers.BertModel.state_dict()`). The reading is written once, here,
and hands back NumPy arrays; `minienc.jax.bert` converts them.

Names: `embeddings.{word,position,token_type}_embeddings.weight`, `embeddings.LayerNorm.*`, then
per layer i, under `encoder.layer.{i}.`:

    attention.self.{query,key,value}.{weight,bias}    three (D, D) projections
    attention.output.dense.*, attention.output.LayerNorm.*
    intermediate.dense.* (F, D),  output.dense.* (D, F),  output.LayerNorm.*

and optionally `pooler.dense.*`. A BERT layer is `nn.TransformerEncoderLayer` (post-LN) under other
names, so `encoder_layer_params` renames one layer's tensors to the keys of `encoder_layer`, with
the three projections stacked into torch's packed `in_proj_weight` = [W_q; W_k; W_v].
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BertConfig",
    "load_config",
    "read_params",
    "expected_shapes",
    "check_bert_params",
    "check_inputs",
    "encoder_layer_params",
    "LAYER_NAMES",
    "QKV",
]

ACTIVATIONS = ("gelu", "relu")  # Hugging Face's "gelu" is the exact (erf) GELU

# encoder_layer key -> BERT name under `encoder.layer.{i}.`; the packed projection is built apart.
LAYER_NAMES = {
    "self_attn.out_proj.weight": "attention.output.dense.weight",
    "self_attn.out_proj.bias": "attention.output.dense.bias",
    "norm1.weight": "attention.output.LayerNorm.weight",
    "norm1.bias": "attention.output.LayerNorm.bias",
    "linear1.weight": "intermediate.dense.weight",
    "linear1.bias": "intermediate.dense.bias",
    "linear2.weight": "output.dense.weight",
    "linear2.bias": "output.dense.bias",
    "norm2.weight": "output.LayerNorm.weight",
    "norm2.bias": "output.LayerNorm.bias",
}
QKV = ("query", "key", "value")  # the order of the packed in_proj_weight


@dataclass(frozen=True)
class BertConfig:
    """The sizes of a BERT model, as in its `config.json` (hashable: static under `jax.jit`)."""

    vocab_size: int = 30522
    hidden_size: int = 384  # D
    num_hidden_layers: int = 6
    num_attention_heads: int = 12  # H
    intermediate_size: int = 1536  # F
    hidden_act: str = "gelu"
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1

    def __post_init__(self) -> None:
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"hidden_act must be one of {ACTIVATIONS}, got {self.hidden_act!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size = {self.hidden_size} must be divisible by "
                f"num_attention_heads = {self.num_attention_heads}"
            )


def load_config(folder: str | Path) -> BertConfig:
    """The `BertConfig` of `folder/config.json`; keys that BertConfig lacks are ignored."""
    path = Path(folder) / "config.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(f"{path}: only absolute position embeddings are supported")
    return BertConfig(**{f.name: raw[f.name] for f in fields(BertConfig) if f.name in raw})


def expected_shapes(config: BertConfig) -> dict[str, tuple[int, ...]]:
    """BERT tensor name -> shape for `config` (without the optional `pooler.dense.*`)."""
    D, F = config.hidden_size, config.intermediate_size
    shapes = {
        "embeddings.word_embeddings.weight": (config.vocab_size, D),
        "embeddings.position_embeddings.weight": (config.max_position_embeddings, D),
        "embeddings.token_type_embeddings.weight": (config.type_vocab_size, D),
        "embeddings.LayerNorm.weight": (D,),
        "embeddings.LayerNorm.bias": (D,),
    }
    per_layer = {}
    for n in QKV:
        per_layer |= {f"attention.self.{n}.weight": (D, D), f"attention.self.{n}.bias": (D,)}
    per_layer |= {
        "attention.output.dense.weight": (D, D),
        "attention.output.dense.bias": (D,),
        "attention.output.LayerNorm.weight": (D,),
        "attention.output.LayerNorm.bias": (D,),
        "intermediate.dense.weight": (F, D),
        "intermediate.dense.bias": (F,),
        "output.dense.weight": (D, F),
        "output.dense.bias": (D,),
        "output.LayerNorm.weight": (D,),
        "output.LayerNorm.bias": (D,),
    }
    for i in range(config.num_hidden_layers):
        shapes |= {f"encoder.layer.{i}.{name}": s for name, s in per_layer.items()}
    return shapes


def check_bert_params(params: Mapping[str, Any], config: BertConfig) -> None:
    """KeyError naming a missing tensor, ValueError naming one whose shape `config` contradicts."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params of bert must be a dict of arrays, got {type(params).__name__}")
    if not isinstance(config, BertConfig):
        raise TypeError(f"config must be a BertConfig, got {type(config).__name__}")
    shapes = expected_shapes(config)
    if "pooler.dense.weight" in params or "pooler.dense.bias" in params:
        D = config.hidden_size
        shapes |= {"pooler.dense.weight": (D, D), "pooler.dense.bias": (D,)}
    for name, shape in shapes.items():
        if name not in params:
            raise KeyError(f"params of bert is missing the tensor {name!r} of shape {shape}")
        if tuple(params[name].shape) != shape:
            raise ValueError(
                f"params[{name!r}] has shape {tuple(params[name].shape)} but the config expects "
                f"{shape}"
            )
    unknown = sorted(set(params) - set(shapes))
    if unknown:
        raise KeyError(f"params of bert has unknown tensors {unknown[:5]}")


def check_inputs(
    input_ids: Any, attention_mask: Any, token_type_ids: Any, config: BertConfig
) -> None:
    """Check the shapes and dtypes of BERT's inputs (NumPy or JAX arrays, or JAX tracers).

    input_ids and token_type_ids are integer (B, T); attention_mask is (B, T), integer or bool,
    1 = a real token, 0 = padding. T may not exceed `config.max_position_embeddings`: there is no
    position embedding beyond it (Hugging Face truncates longer texts when tokenizing).
    """
    for name, a in (("input_ids", input_ids), ("attention_mask", attention_mask)):
        if not hasattr(a, "shape") or not hasattr(a, "dtype"):
            raise TypeError(f"{name} must be an array of shape (B, T), got {type(a).__name__}")
    if input_ids.ndim != 2:
        raise ValueError(f"input_ids must have 2 dimensions (B, T), got shape {input_ids.shape}")
    named = [("input_ids", input_ids), ("attention_mask", attention_mask)]
    if token_type_ids is not None:
        named.append(("token_type_ids", token_type_ids))
    for name, a in named[1:]:
        if not hasattr(a, "shape") or a.shape != input_ids.shape:
            raise ValueError(
                f"{name} has shape {getattr(a, 'shape', None)} but input_ids has shape "
                f"{input_ids.shape}: they must match"
            )
    for name, a in named:
        ok = np.issubdtype(a.dtype, np.integer) or (
            name == "attention_mask" and np.issubdtype(a.dtype, np.bool_)
        )
        if not ok:
            raise TypeError(f"{name} must be an integer array, got dtype {a.dtype}")
    T, P = input_ids.shape[1], config.max_position_embeddings
    if T > P:
        raise ValueError(
            f"input_ids has {T} positions but the model has position embeddings for "
            f"max_position_embeddings = {P}: truncate the sequences to at most {P} tokens"
        )


def read_params(folder: str | Path, config: BertConfig | None = None) -> dict[str, np.ndarray]:
    """The BertModel tensors of `folder/model.safetensors` as NumPy arrays, checked against config.

    Names may carry the `bert.` prefix of BertFor* models (stripped). Tensors outside BertModel
    (task heads such as `cls.*` or `classifier.*`) and the `embeddings.position_ids` buffer
    (0, 1, 2, ..., not a weight) are left out.
    """
    from safetensors.numpy import load_file

    config = load_config(folder) if config is None else config
    raw = load_file(Path(folder) / "model.safetensors")
    wanted = set(expected_shapes(config)) | {"pooler.dense.weight", "pooler.dense.bias"}
    params = {}
    for name, array in raw.items():
        name = name.removeprefix("bert.")
        if name in wanted:
            params[name] = array
    check_bert_params(params, config)
    return params


def encoder_layer_params(
    params: Mapping[str, Any], i: int, concatenate: Callable[[list], Any]
) -> dict[str, Any]:
    """Layer i's tensors under the keys of `encoder_layer` (`concatenate`: np's or jnp's)."""
    pre = f"encoder.layer.{i}."
    layer = {key: params[pre + name] for key, name in LAYER_NAMES.items()}
    for p in ("weight", "bias"):
        parts = [params[f"{pre}attention.self.{n}.{p}"] for n in QKV]
        layer[f"self_attn.in_proj_{p}"] = concatenate(parts)  # (3D, D) or (3D,)
    return layer
