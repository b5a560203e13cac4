"""A stack of encoder layers, as `torch.nn.TransformerEncoder(layer, N, norm=...)`.

Forward: N encoder layers in a row (keys `layers.{i}.*`, each those of
`nn.TransformerEncoderLayer`), then an optional final LayerNorm (keys `norm.weight`, `norm.bias`;
pre-LN stacks usually have one, since their layers leave the residual stream unnormalised):

    h_0 = x,   h_{i+1} = layer_i(h_i),   y = LN(h_N)  (or h_N without `norm.*`)

Backward runs the layers' backward passes in reverse order, each gradient flowing into the layer
below. The inputs of the stack (token embeddings, positional encodings) are in `positional.py`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from jaxtyping import Bool, Float

from minienc._checks import check_float
from minienc._params import check_keys, check_mapping, encoder_keys
from minienc.numpy import encoder_layer, layernorm

__all__ = ["EncoderCache", "num_layers", "forward", "backward"]

_LAYER_KEY = re.compile(r"layers\.(\d+)\.")


class EncoderCache(NamedTuple):
    """The layers' caches, bottom first, and the final norm's cache (None without `norm.*`)."""

    layers: tuple[encoder_layer.EncoderLayerCache, ...]
    norm: tuple | None


def num_layers(params: Mapping[str, np.ndarray]) -> int:
    """N, read from the `layers.{i}.` keys; raises KeyError unless they run 0..N-1."""
    check_mapping(params, "encoder")
    found = {int(m.group(1)) for k in params if (m := _LAYER_KEY.match(k))}
    if not found or found != set(range(len(found))):
        raise KeyError(
            f"params of encoder must hold layers.0. ... layers.{{N-1}}. keys, "
            f"got layer indices {sorted(found)}"
        )
    return len(found)


def forward(
    params: Mapping[str, np.ndarray],
    x: Float[np.ndarray, "B T D"],
    num_heads: int,
    key_padding_mask: Bool[np.ndarray, "B T"] | None = None,
    norm_first: bool = False,
    activation: str = "relu",
    eps: float = 1e-5,
    dropout: float = 0.0,
    training: bool = False,
    rng: int | np.random.Generator | None = None,
) -> tuple[Float[np.ndarray, "B T D"], EncoderCache]:
    """Run N encoder layers, then the final LayerNorm if params has `norm.weight`/`norm.bias`.

    Args:
        params: `layers.{i}.<key>` for each key of `encoder_layer.KEYS` and i in 0..N-1, and
            optionally `norm.weight`, `norm.bias` (D,).
        x: input of shape (B, T, D).
        num_heads, key_padding_mask, norm_first, activation, eps, dropout, training: as for
            `encoder_layer.forward`, the same for every layer (eps also for the final norm).
        rng: int seed or `np.random.Generator`; one generator feeds every layer's dropout.

    Returns:
        y of shape (B, T, D), and an `EncoderCache`.
    """
    x = check_float("x", x)
    n = num_layers(params)
    norm_keys, layers = encoder_keys(params, n)
    check_keys(params, norm_keys, "encoder", nested=layers)
    gen = np.random.default_rng(rng) if training and dropout > 0 else None
    caches = []
    for i in range(n):
        x, c = encoder_layer.forward(
            encoder_layer.sub_params(params, f"layers.{i}."),
            x,
            num_heads,
            key_padding_mask,
            norm_first=norm_first,
            activation=activation,
            eps=eps,
            dropout=dropout,
            training=training,
            rng=gen,
        )
        caches.append(c)
    norm_cache = None
    if norm_keys:
        x, norm_cache = layernorm.forward(encoder_layer.sub_params(params, "norm."), x, eps)
    return x, EncoderCache(tuple(caches), norm_cache)


def backward(
    dy: Float[np.ndarray, "B T D"], cache: EncoderCache
) -> tuple[Float[np.ndarray, "B T D"], dict[str, np.ndarray]]:
    """Gradients of the encoder stack.

    Args:
        dy: upstream gradient of shape (B, T, D).
        cache: the `EncoderCache` from `forward`.

    Returns:
        dx of shape (B, T, D), and grads with the keys of params.
    """
    dx = check_float("dy", dy)
    grads = {}
    if cache.norm is not None:
        dx, g = layernorm.backward(dx, cache.norm)
        grads |= {f"norm.{k}": v for k, v in g.items()}
    for i in reversed(range(len(cache.layers))):
        dx, g = encoder_layer.backward(dx, cache.layers[i])
        grads |= {f"layers.{i}.{k}": v for k, v in g.items()}
    return dx, grads
