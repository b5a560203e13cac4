"""What to build and how to train it: `ClassifierConfig`, `TrainConfig`, and the weight-decay rule.

Both are frozen dataclasses of plain values, shared by the NumPy and the JAX backend: the same
`ClassifierConfig` gives parameters with the same keys and shapes in both, and the same
`TrainConfig` drives the one `fit` loop (`minienc.train.loop`) whichever backend takes the steps.
Being hashable, they can be static arguments of `jax.jit`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ENCODERS", "POOLS", "ClassifierConfig", "TrainConfig", "decay_mask"]

ENCODERS = ("lstm", "transformer")
POOLS = ("cls", "last", "mean", "max", "weighted_mean")
MONITORS = ("accuracy", "f1", "loss")


@dataclass(frozen=True)
class ClassifierConfig:
    """The shape of a text classifier; the parameters live in a separate dict.

    LSTM:         ids (B, T) → E[ids] (B, T, E) → dropout → LSTM (B, T, dirs·hidden)
    Transformer:  ids (B, T) → √D · E[ids] → [CLS] in front when pool="cls" → + sinusoidal PE
                  → dropout → encoder layers with a key-padding mask (B, T', D)
    then, both:   → pool over the real positions (B, D') → dropout → linear head (B, C)

    embed_dim: E, the embedding width; for the Transformer it is the model width D.
    hidden_size: the LSTM's state size per direction (the LSTM only).
    num_layers: LSTM layers or encoder layers.
    num_heads, ffn_dim, norm_first, activation: the encoder layers' (the Transformer only);
        ffn_dim None means 4D.
    pool: one of `POOLS`; for the Transformer, "cls" adds the learned `cls_token`.
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
        if self.pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {self.pool!r}")
        if self.activation not in ("relu", "gelu"):
            raise ValueError(f"activation must be 'relu' or 'gelu', got {self.activation!r}")
        for name in ("num_classes", "embed_dim", "hidden_size", "num_layers", "num_heads"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int ≥ 1, got {value!r}")
        if not isinstance(self.vocab_size, int) or self.vocab_size < 2:
            raise ValueError(f"vocab_size must be ≥ 2 (<pad> and <unk>), got {self.vocab_size!r}")
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


@dataclass(frozen=True)
class TrainConfig:
    """How `fit` trains, the same for both backends.

    Up to `epochs` epochs of `batch_size` rows (the last batch of an epoch may be smaller), with
    AdamW (`lr`, `weight_decay` on the weights only: see `decay_mask`), gradients clipped to a
    global norm of `clip_norm` (None: no clipping), and a learning rate that rises linearly over
    the first `warmup` fraction of all steps, then falls along half a cosine to 0 (`decay=False`:
    stays at `lr`). After every epoch the validation set is scored; training stops after
    `patience` epochs without a better `monitor` ("accuracy", "f1" or "loss"; None: never) and
    the best epoch's parameters are kept.

    `bucket` > 0 draws `bucket` batches' worth of rows at a time, sorts them by length and cuts
    them into batches (in random order), so that a batch holds sentences of similar length and
    little padding; 0 draws plain random batches. `frozen` names parameters that are never
    updated. `seed` fixes the batches and the dropout masks. `blas_threads` caps the threads of
    NumPy's matrix products while training (None: no cap; one is fastest for small matrices).
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    warmup: float = 0.0
    decay: bool = True
    weight_decay: float = 0.01
    clip_norm: float | None = 1.0
    patience: int | None = 3
    monitor: str = "accuracy"
    label_smoothing: float = 0.0
    bucket: int = 0
    frozen: tuple[str, ...] = ()
    seed: int = 0
    eval_batch_size: int = 256
    blas_threads: int | None = 1

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int ≥ 1, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"warmup is a fraction of the steps in [0, 1), got {self.warmup}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be ≥ 0, got {self.weight_decay}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f"clip_norm must be > 0 or None, got {self.clip_norm}")
        if self.monitor not in MONITORS:
            raise ValueError(f"monitor must be one of {MONITORS}, got {self.monitor!r}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be ≥ 1 or None, got {self.patience}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {self.label_smoothing}")
        if self.bucket < 0:
            raise ValueError(f"bucket must be ≥ 0, got {self.bucket}")
        if isinstance(self.frozen, str):
            raise TypeError(f"frozen must be a tuple of parameter names, got {self.frozen!r}")


# A LayerNorm's module name: norm, norm1, norm2, LayerNorm, layer_norm, ln, ln_f, ln1, ...
_NORM = re.compile(r"(norm|^ln(_\w+|\d*)$)", re.IGNORECASE)


def _decays(key: str) -> bool:
    *modules, leaf = key.split(".")
    if "bias" in leaf.split("_"):  # bias, in_proj_bias, and the LSTM's bias_ih_l0, ...
        return False
    return not (modules and _NORM.search(modules[-1]))


def decay_mask(params: Mapping[str, Any]) -> dict[str, bool]:
    """{key: True if weight decay applies}: False for biases and LayerNorm weights and biases.

    Weight decay pulls weights towards zero; biases and LayerNorm parameters shift and scale, and
    pulling a LayerNorm gain towards 0 would fight the normalisation. Which tensor is which is
    read from its torch key.

    >>> decay_mask({"linear1.weight": 0, "linear1.bias": 0, "norm1.weight": 0})
    {'linear1.weight': True, 'linear1.bias': False, 'norm1.weight': False}
    """
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict keyed by torch names, got {type(params).__name__}")
    return {k: _decays(k) for k in params}
