"""One Transformer encoder layer, as `torch.nn.TransformerEncoderLayer(batch_first=True)`.

Two sublayers, self-attention (SA) and a feed-forward network (FF), each wrapped in a residual
connection and a LayerNorm (LN). With dropout d (identity in evaluation):

    SA(x) = d(mha(x, x, x))
    FF(x) = d(linear2(d(act(linear1(x)))))          act = relu or gelu (exact, erf)

    post-LN (norm_first=False, the default):   h = LN1(x + SA(x));      y = LN2(h + FF(h))
    pre-LN  (norm_first=True):                 h = x + SA(LN1(x));      y = h + FF(LN2(h))

The attention weights get dropout d too (inside mha), as torch does.

Backward is the chain rule through those lines, each block with its own backward. A residual
x + f(x) passes the gradient along both branches and adds them: dx = dr + df/dx(dr). Self-attention
sees x three times (query, key, value), so its input gradient is dquery + dkey + dvalue
(`mha.self_attention_backward` returns that sum).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from jaxtyping import Bool, Float

from minienc._checks import check_float, check_last_dim, check_mask, check_ndim, check_number
from minienc._params import ENCODER_LAYER_KEYS, check_keys, check_params, param_name, sub_params
from minienc.numpy import activations, layernorm, linear, mha
from minienc.numpy import dropout as dropout_layer

__all__ = ["ACTIVATIONS", "KEYS", "EncoderLayerCache", "forward", "backward", "sub_params"]

ACTIVATIONS = ("relu", "gelu")

KEYS = ENCODER_LAYER_KEYS  # torch's names, with every bias

# Ranks only: the blocks check the sizes against x.
_SHAPES = {k: (None, None) if k.endswith("weight") and "norm" not in k else (None,) for k in KEYS}


class EncoderLayerCache(NamedTuple):
    """The caches of every block, in the order the forward pass ran them."""

    norm_first: bool
    attn: mha.MHACache
    attn_drop: tuple
    ff: tuple  # (linear1, activation, dropout, linear2, dropout) caches
    norm1: tuple
    norm2: tuple


def _feed_forward(
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    activation: str,
    p: float,
    training: bool,
    rng: np.random.Generator | None,
) -> tuple[np.ndarray, tuple]:
    """d(linear2(d(act(linear1(x))))) and its caches."""
    h, c1 = linear.forward(sub_params(params, "linear1."), x)
    h, ca = activations.forward({}, h, kind=activation)
    h, cd1 = dropout_layer.forward({}, h, p=p, training=training, rng=rng)
    h, c2 = linear.forward(sub_params(params, "linear2."), h)
    h, cd2 = dropout_layer.forward({}, h, p=p, training=training, rng=rng)
    return h, (c1, ca, cd1, c2, cd2)


def _feed_forward_backward(dy: np.ndarray, caches: tuple) -> tuple[np.ndarray, dict]:
    c1, ca, cd1, c2, cd2 = caches
    dh, _ = dropout_layer.backward(dy, cd2)
    dh, g2 = linear.backward(dh, c2)
    dh, _ = dropout_layer.backward(dh, cd1)
    dh, _ = activations.backward(dh, ca)
    dx, g1 = linear.backward(dh, c1)
    grads = {f"linear1.{k}": v for k, v in g1.items()} | {f"linear2.{k}": v for k, v in g2.items()}
    return dx, grads


def _self_attention_backward(dy: np.ndarray, cache: EncoderLayerCache) -> tuple[np.ndarray, dict]:
    da, _ = dropout_layer.backward(dy, cache.attn_drop)
    dx, g = mha.self_attention_backward(da, cache.attn)
    return dx, {f"self_attn.{k}": v for k, v in g.items()}


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
) -> tuple[Float[np.ndarray, "B T D"], EncoderLayerCache]:
    """One encoder layer: self-attention and feed-forward, each with residual and LayerNorm.

    Args:
        params: the keys of `nn.TransformerEncoderLayer` (`KEYS`): `self_attn.in_proj_weight`
            (3D, D), `self_attn.in_proj_bias` (3D,), `self_attn.out_proj.weight` (D, D),
            `self_attn.out_proj.bias` (D,), `linear1.weight` (F, D), `linear1.bias` (F,),
            `linear2.weight` (D, F), `linear2.bias` (D,), `norm1.*`, `norm2.*` (D,); exactly
            these (torch's `bias=False` layer is not supported: a missing bias is a KeyError).
        x: input of shape (B, T, D).
        num_heads: H; D must be divisible by it.
        key_padding_mask: bool of shape (B, T), True where a token is padding.
        norm_first: pre-LN when True, post-LN (torch's default) when False.
        activation: "relu" or "gelu" (exact).
        eps: the LayerNorms' eps.
        dropout: dropout probability (attention weights, after attention, inside and after the
            feed-forward), used only when `training`.
        training: apply dropout.
        rng: int seed or `np.random.Generator` for the dropout masks.

    Returns:
        y of shape (B, T, D), and an `EncoderLayerCache`.
    """
    x = check_float("x", x)
    check_ndim("x", x, 3, "(B, T, D)")
    check_mask(key_padding_mask, "x", x)
    check_keys(params, KEYS, "encoder layer")
    check_params(params, _SHAPES, "encoder layer")
    w_shape = params["norm1.weight"].shape
    check_last_dim("x", x, w_shape[0], f"{param_name(params, 'norm1.weight')} of shape {w_shape}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    check_number("dropout", dropout, 0, 1)
    use_dropout = training and dropout > 0
    gen = np.random.default_rng(rng) if use_dropout else None
    p = dropout if use_dropout else 0.0
    attn_params = sub_params(params, "self_attn.")
    norm1, norm2 = sub_params(params, "norm1."), sub_params(params, "norm2.")

    def self_attention(h: np.ndarray) -> tuple[np.ndarray, mha.MHACache, tuple]:
        a, c = mha.self_attention_forward(
            attn_params, h, num_heads, key_padding_mask, dropout=p, training=training, rng=gen
        )
        a, cd = dropout_layer.forward({}, a, p=p, training=training, rng=gen)
        return a, c, cd

    if norm_first:
        h, cn1 = layernorm.forward(norm1, x, eps)
        a, ca, cad = self_attention(h)
        h = x + a
        n, cn2 = layernorm.forward(norm2, h, eps)
        f, cf = _feed_forward(params, n, activation, p, training, gen)
        y = h + f
    else:
        a, ca, cad = self_attention(x)
        h, cn1 = layernorm.forward(norm1, x + a, eps)
        f, cf = _feed_forward(params, h, activation, p, training, gen)
        y, cn2 = layernorm.forward(norm2, h + f, eps)
    return y, EncoderLayerCache(norm_first, ca, cad, cf, cn1, cn2)


def backward(
    dy: Float[np.ndarray, "B T D"], cache: EncoderLayerCache
) -> tuple[Float[np.ndarray, "B T D"], dict[str, np.ndarray]]:
    """Gradients of one encoder layer.

    Args:
        dy: upstream gradient of shape (B, T, D).
        cache: the `EncoderLayerCache` from `forward`.

    Returns:
        dx of shape (B, T, D), and grads with the keys of params (`KEYS`).
    """
    dy = check_float("dy", dy)
    if cache.norm_first:
        # y = h + FF(LN2(h)),  h = x + SA(LN1(x))
        df, g_ff = _feed_forward_backward(dy, cache.ff)
        dn2, g_n2 = layernorm.backward(df, cache.norm2)
        dh = dy + dn2
        da, g_sa = _self_attention_backward(dh, cache)
        dn1, g_n1 = layernorm.backward(da, cache.norm1)
        dx = dh + dn1
    else:
        # y = LN2(h + FF(h)),  h = LN1(x + SA(x))
        dr, g_n2 = layernorm.backward(dy, cache.norm2)
        df, g_ff = _feed_forward_backward(dr, cache.ff)
        dh = dr + df
        dr, g_n1 = layernorm.backward(dh, cache.norm1)
        da, g_sa = _self_attention_backward(dr, cache)
        dx = dr + da
    grads = g_sa | g_ff
    grads |= {f"norm1.{k}": v for k, v in g_n1.items()} | {f"norm2.{k}": v for k, v in g_n2.items()}
    return dx, grads
