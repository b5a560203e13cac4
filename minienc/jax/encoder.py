"""A stack of Transformer encoder layers, as `torch.nn.TransformerEncoder(layer, num_layers, norm)`.

    x = layer_{L-1}( ... layer_1(layer_0(x)) ... ),   then   y = norm(x)  when a final norm is given

Keys: `layers.{i}.<encoder layer key>` for i = 0 .. L-1 (see `encoder_layer`) and, optionally,
`norm.weight`, `norm.bias` (the final LayerNorm that pre-LN stacks usually carry). The number of
layers is read from the keys. With dropout, each layer gets its own key split from `rng`.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
from jax import Array
from jaxtyping import Bool, Float

from minienc._params import check_keys, check_mapping, encoder_keys, sub_params
from minienc.jax import encoder_layer, layernorm

__all__ = ["num_layers", "forward"]


def num_layers(params: Mapping[str, Array]) -> int:
    """L, the number of `layers.{i}.` groups in `params` (they must be numbered 0 .. L-1)."""
    check_mapping(params, "encoder")
    found = {k.split(".")[1] for k in params if k.startswith("layers.") and k.count(".") >= 2}
    L = len(found)
    if found != {str(i) for i in range(L)}:
        raise KeyError(
            f"params of encoder must number its layers 0 .. L-1, got layers {sorted(found)}"
        )
    if L == 0:
        raise KeyError(
            "params of encoder has no 'layers.0.*' keys (as nn.TransformerEncoder), "
            f"got {sorted(params)}"
        )
    return L


def forward(
    params: Mapping[str, Array],
    x: Float[Array, "B T D"],
    num_heads: int,
    key_padding_mask: Bool[Array, "B T"] | None = None,
    norm_first: bool = False,
    activation: str = "relu",
    eps: float = 1e-5,
    dropout: float = 0.0,
    training: bool = False,
    rng: Array | None = None,
) -> Float[Array, "B T D"]:
    """Run x (B, T, D) through every layer (same arguments as `encoder_layer.forward`, the same
    for every layer; eps also for the final norm), then the optional final norm.

    `rng` is a JAX PRNG key split into one key per layer. Returns y of shape (B, T, D).
    """
    L = num_layers(params)
    norm_keys, layers = encoder_keys(params, L)
    check_keys(params, norm_keys, "encoder", nested=layers)
    rngs = [None] * L  # no dropout, or no key (the first dropout then asks for one)
    if training and dropout > 0 and rng is not None:
        rngs = jax.random.split(rng, L)
    for i in range(L):
        x = encoder_layer.forward(
            sub_params(params, f"layers.{i}."),
            x,
            num_heads,
            key_padding_mask=key_padding_mask,
            norm_first=norm_first,
            activation=activation,
            eps=eps,
            dropout=dropout,
            training=training,
            rng=rngs[i],
        )
    if norm_keys:
        x = layernorm.forward(sub_params(params, "norm."), x, eps)
    return x
