"""JAX Transformer encoder layer and stack equal torch's stock modules (both norm_first)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _torchref import assert_close, compare_with_torch, jax_params, randomize
from torch import nn

from minienc.jax import encoder, encoder_layer

F64, F32 = np.float64, np.float32
B, D, H, FF = 3, 10, 2, 12


def randn(*shape, seed=0, dtype=F64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def padding_mask(T):
    """(B, T) True = padding: row 0 full, row 1 all padding, row 2 padded at the end."""
    mask = np.zeros((B, T), dtype=bool)
    mask[1] = True
    mask[2, T // 2 + 1 :] = True
    return mask


def torch_layer(norm_first, activation, dtype):
    layer = nn.TransformerEncoderLayer(
        D, H, FF, dropout=0.0, activation=activation, batch_first=True, norm_first=norm_first
    )
    return layer.to(torch.float64 if dtype == F64 else torch.float32)


CASES = [  # dtype, T, norm_first, activation
    (F64, 17, False, "relu"),
    (F64, 17, True, "gelu"),
    (F64, 1, False, "gelu"),
    (F64, 1, True, "relu"),
    (F32, 17, True, "relu"),
]


@pytest.mark.parametrize("dtype, T, norm_first, activation", CASES)
def test_encoder_layer_equals_torch(dtype, T, norm_first, activation):
    m = randomize(torch_layer(norm_first, activation, dtype), seed=11)  # train mode: no fast path
    mask = padding_mask(T)
    real = ~mask[:, :, None]  # compare the real positions only (DESIGN §3)

    def ours(p, x):
        return encoder_layer.forward(
            p, x, H, jnp.asarray(mask), norm_first=norm_first, activation=activation
        )

    def ref(x):
        return m(x, src_key_padding_mask=torch.tensor(mask))

    x = randn(B, T, D, dtype=dtype)
    compare_with_torch(ours, ref, jax_params(m), [x], m, dtype, masks=[real])


@pytest.mark.parametrize(
    "dtype, norm_first, final_norm", [(F64, False, False), (F64, True, True), (F32, True, True)]
)
def test_encoder_equals_torch(dtype, norm_first, final_norm):
    norm = nn.LayerNorm(D) if final_norm else None
    m = nn.TransformerEncoder(
        torch_layer(norm_first, "relu", dtype), 2, norm=norm, enable_nested_tensor=False
    )
    m = randomize(m.to(torch.float64 if dtype == F64 else torch.float32), seed=12)
    mask = padding_mask(17)

    def ours(p, x):
        return encoder.forward(p, x, H, jnp.asarray(mask), norm_first=norm_first)

    def ref(x):
        return m(x, src_key_padding_mask=torch.tensor(mask))

    x = randn(B, 17, D, dtype=dtype)
    compare_with_torch(ours, ref, jax_params(m), [x], m, dtype, masks=[~mask[:, :, None]])


def test_encoder_jit_equals_eager_and_padding_stays_finite():
    m = randomize(
        nn.TransformerEncoder(torch_layer(True, "gelu", F64), 2, enable_nested_tensor=False), 13
    )
    params, mask = jax_params(m), jnp.asarray(padding_mask(17))
    x = jnp.asarray(randn(B, 17, D))
    eager = encoder.forward(params, x, H, mask, norm_first=True, activation="gelu")
    f = jax.jit(encoder.forward, static_argnames=("num_heads", "norm_first", "activation"))
    assert_close(
        f(params, x, num_heads=H, key_padding_mask=mask, norm_first=True, activation="gelu"),
        eager,
        what="jit vs eager",
    )
    assert np.all(np.isfinite(eager))  # the all-padding row too


P = {k: v.numpy() for k, v in torch_layer(False, "relu", F64).state_dict().items()}
X = np.ones((2, 3, D))
BAD_INPUTS = [
    (lambda: encoder_layer.forward(P, X, 3), ValueError, "num_heads = 3 must divide"),
    (
        lambda: encoder_layer.forward(P, X[0], 2),
        ValueError,
        r"x must have 3 dimensions \(B, T, D\)",
    ),
    (
        lambda: encoder_layer.forward(P, X, 2, activation="swish"),
        ValueError,
        "activation must be one of",
    ),
    (
        lambda: encoder_layer.forward({k: v for k, v in P.items() if k != "linear2.weight"}, X, 2),
        KeyError,
        r"missing \['linear2.weight'\]",
    ),
    (
        lambda: encoder_layer.forward(P | {"norm3.weight": P["norm1.weight"]}, X, 2),
        KeyError,
        r"unexpected keys \['norm3.weight'\]",
    ),
    (
        lambda: encoder_layer.forward(P, X, 2, key_padding_mask=np.zeros((2, 4), bool)),
        ValueError,
        r"key_padding_mask must have shape",
    ),
    (
        lambda: encoder.forward({f"layers.1.{k}": v for k, v in P.items()}, X, 2),
        KeyError,
        "number its layers 0 .. L-1",
    ),
    (lambda: encoder.forward(P, X, 2), KeyError, r"no 'layers.0.\*' keys"),
]


@pytest.mark.parametrize("call, error, match", BAD_INPUTS)
def test_bad_inputs_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
