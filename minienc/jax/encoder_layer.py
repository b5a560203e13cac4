"""One Transformer encoder layer, as `torch.nn.TransformerEncoderLayer(batch_first=True)`.

With dropout d (identity in evaluation), where torch puts it:

    SA(x) = d(mha(x, x, x))                         d also on the attention weights, inside mha
    FF(x) = d(linear2(d(act(linear1(x)))))

Post-LN (`norm_first=False`, torch's default and BERT's):

    x = norm1(x + SA(x))
    x = norm2(x + FF(x))

Pre-LN (`norm_first=True`):

    x = x + SA(norm1(x))
    x = x + FF(norm2(x))

Keys: `self_attn.in_proj_weight`, `self_attn.in_proj_bias`, `self_attn.out_proj.weight`,
`self_attn.out_proj.bias`, `linear1.weight` (F, D), `linear1.bias`, `linear2.weight` (D, F),
`linear2.bias`, `norm1.weight`, `norm1.bias`, `norm2.weight`, `norm2.bias`, exactly these
(torch's `bias=False` layer, whose LayerNorms have no bias either, is not supported). The four
dropouts draw their masks from four keys split from `rng`.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
from jax import Array
from jaxtyping import Bool, Float

from minienc._checks import as_float, check_last_dim, check_mask, check_ndim, check_number
from minienc._params import ENCODER_LAYER_KEYS, check_keys, param_name, sub_params
from minienc.jax import activations, layernorm, linear, mha
from minienc.jax import dropout as dropout_layer

__all__ = ["ACTIVATIONS", "forward"]

ACTIVATIONS = ("relu", "gelu", "gelu_tanh")


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
    """Self-attention then a position-wise feed-forward network, each with a residual and a norm.

    Args:
        params: the keys of `nn.TransformerEncoderLayer` (see the module docstring).
        x: input of shape (B, T, D).
        num_heads: H, which must divide D (static under jit).
        key_padding_mask: bool (B, T), True where a token is padding. Padded positions are still
            computed (as torch does outside its fast path); compare only the real ones.
        norm_first: pre-LN when True, post-LN when False (static).
        activation: "relu", "gelu" (exact, erf) or "gelu_tanh" (static).
        eps: the LayerNorm epsilon.
        dropout: dropout probability (attention weights, after attention, inside and after the
            feed-forward), used only when `training` (static).
        training: apply dropout (static).
        rng: a JAX PRNG key for the dropout masks; needed when training with 0 < dropout < 1.

    Returns:
        y of shape (B, T, D).
    """
    x = as_float("x", x)
    check_ndim("x", x, 3, "(B, T, D)")
    check_mask(key_padding_mask, "x", x)
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    check_keys(params, ENCODER_LAYER_KEYS, "encoder layer")  # nn.TransformerEncoderLayer's
    w = params["norm1.weight"]
    check_last_dim("x", x, w.shape[0], f"{param_name(params, 'norm1.weight')} of shape {w.shape}")
    check_number("dropout", dropout, 0, 1)
    p = dropout if training else 0.0
    rngs = [None] * 4  # no dropout, or no key (the first dropout then asks for one)
    if p > 0 and rng is not None:  # a key per site: attention weights, after attention, FF x2
        rngs = jax.random.split(rng, 4)
    attn, ln1, ln2 = (sub_params(params, pre) for pre in ("self_attn.", "norm1.", "norm2."))

    def drop(h: Array, r: Array | None) -> Array:
        return dropout_layer.forward({}, h, p=p, training=training, rng=r)

    def self_attn(h: Array) -> Array:
        a = mha.self_attention_forward(
            attn, h, num_heads, key_padding_mask, dropout=p, training=training, rng=rngs[0]
        )
        return drop(a, rngs[1])

    def feed_forward(h: Array) -> Array:
        h = linear.forward(sub_params(params, "linear1."), h)  # (B, T, F)
        h = drop(activations.forward({}, h, kind=activation), rngs[2])
        return drop(linear.forward(sub_params(params, "linear2."), h), rngs[3])  # (B, T, D)

    if norm_first:
        x = x + self_attn(layernorm.forward(ln1, x, eps))
        return x + feed_forward(layernorm.forward(ln2, x, eps))
    x = layernorm.forward(ln1, x + self_attn(x), eps)
    return layernorm.forward(ln2, x + feed_forward(x), eps)
