"""JAX Transformer encoder layer and stack equal torch's stock modules (both norm_first).

Dropout (training only) is reproducible from its key and keeps the expected value. The inputs of
the stack, positional encodings and the embedding scale, equal their NumPy twins and torch.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _torchref import assert_close, compare_with_torch, jax_params, randomize
from torch import nn

from minienc.jax import encoder, encoder_layer, positional
from minienc.numpy import positional as np_positional

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


def dropout_layer_params(zero=()):
    """Random pre-LN layer params, with the tensors named in `zero` set to zero."""
    p = jax_params(randomize(torch_layer(True, "relu", F64), seed=14))
    return p | {k: jnp.zeros_like(p[k]) for k in zero}


@partial(jax.jit, static_argnames="stack")
def with_dropout(p, x, mask, rng, stack=False):
    """The layer (or a stack of it) in training with dropout 0.3, pre-LN, for one PRNG key."""
    f = encoder.forward if stack else encoder_layer.forward
    return f(p, x, H, mask, norm_first=True, dropout=0.3, training=True, rng=rng)


@pytest.mark.parametrize("stack", [False, True])
def test_dropout_is_fixed_by_rng_and_off_in_evaluation(stack):
    p = dropout_layer_params()
    if stack:
        p = {f"layers.{i}.{k}": v for i in range(2) for k, v in p.items()}
    f = encoder.forward if stack else encoder_layer.forward
    x, mask = jnp.asarray(randn(B, 7, D)), jnp.asarray(padding_mask(7))
    r0, r1 = jax.random.key(0), jax.random.key(1)
    y = with_dropout(p, x, mask, r0, stack)
    np.testing.assert_array_equal(y, with_dropout(p, x, mask, r0, stack))
    assert np.any(y != with_dropout(p, x, mask, r1, stack))
    y_eval = f(p, x, H, mask, norm_first=True)
    for kw in ({"dropout": 0.3, "training": False, "rng": r0}, {"dropout": 0.0, "training": True}):
        np.testing.assert_array_equal(f(p, x, H, mask, norm_first=True, **kw), y_eval)
    with pytest.raises(ValueError, match=r"needs a PRNG key: rng=jax.random.key\(0\)"):
        f(p, x, H, mask, dropout=0.3, training=True)
    with pytest.raises(ValueError, match=r"dropout must lie in \[0, 1\], got 1.5"):
        f(p, x, H, mask, dropout=1.5, training=True, rng=r0)


@pytest.mark.parametrize(
    "zero",
    [
        ("linear2.weight", "linear2.bias"),  # feed-forward off: y = x + d(mha(LN1(x)))
        ("self_attn.out_proj.weight", "self_attn.out_proj.bias"),  # attention off: x + FF(LN2(x))
    ],
    ids=["attention", "feed-forward"],
)
def test_each_dropout_site_keeps_the_expected_value(zero):
    """Pre-LN with one branch zeroed, y - x is that branch, linear in each of its dropout masks:
    its mean over many keys is the evaluation value, and its last dropout zeroes a fraction 0.3
    of the entries; the kept ones differ from the evaluation value / 0.7 because of the dropout
    further in (on the attention weights, or after the activation)."""
    p = dropout_layer_params(zero)
    x, mask = jnp.asarray(randn(B, 7, D)), jnp.asarray(padding_mask(7))
    rngs = jax.random.split(jax.random.key(2), 2000)
    delta = np.asarray(jax.vmap(lambda r: with_dropout(p, x, mask, r))(rngs) - x)
    eval_delta = np.asarray(encoder_layer.forward(p, x, H, mask, norm_first=True) - x)
    err = np.abs(delta.mean(axis=0) - eval_delta)
    assert np.all(err <= 5 * delta.std(axis=0) / np.sqrt(len(rngs)) + 1e-12), err.max()
    kept = delta != 0
    assert abs(1 - kept.mean() - 0.3) < 0.01
    scaled = np.broadcast_to(eval_delta / 0.7, delta.shape)[kept]
    assert not np.allclose(delta[kept], scaled)


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
    (
        lambda: positional.learned_forward({"weight": np.ones((9, D))}, np.ones((1, 10, D))),
        ValueError,
        r"need T <= 9 and D = 10",
    ),
    (lambda: positional.sinusoidal_forward({}, np.ones(D)), ValueError, "x must have 2 or 3"),
    (
        lambda: positional.sinusoidal_forward([], X),
        TypeError,
        r"params of sinusoidal positional encoding must be a dict \(pass \{\}\)",
    ),
]


@pytest.mark.parametrize("call, error, match", BAD_INPUTS)
def test_bad_inputs_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("T, D, dtype", [(1, 4, F64), (17, 10, F64), (129, 7, F32)])
def test_sinusoidal_is_the_numpy_table(T, D, dtype):
    pe = positional.sinusoidal(T, D, dtype=dtype)
    assert pe.dtype == dtype
    np.testing.assert_array_equal(pe, np_positional.sinusoidal(T, D, dtype=dtype))
    x = randn(2, T, D, dtype=dtype)
    y = jax.jit(positional.sinusoidal_forward)({}, x)
    np.testing.assert_array_equal(y, x + np_positional.sinusoidal(T, D, dtype=dtype))
    g = jax.grad(lambda x: jnp.sum(positional.sinusoidal_forward({}, x, base=100.0) ** 2))(x)
    expect = 2 * (x + np_positional.sinusoidal(T, D, 100.0))
    np.testing.assert_allclose(g, expect, rtol=1e-5, atol=1e-5)


def test_learned_positions_equal_torch_embedding():
    table = randomize(nn.Embedding(9, D).double(), seed=15)

    def ref(x):
        return x + table(torch.arange(5))

    compare_with_torch(positional.learned_forward, ref, jax_params(table), [randn(3, 5, D)], table)


@pytest.mark.parametrize("scale", [None, 0.5])
def test_embedding_scale(scale):
    x = randn(2, 3, 9)
    y = positional.scale_forward({}, x, scale=scale)
    np.testing.assert_allclose(y, x * (3.0 if scale is None else 0.5), rtol=1e-15)
    g = jax.grad(lambda x: positional.scale_forward({}, x, scale=scale).sum())(x)
    np.testing.assert_allclose(g, np.full_like(x, 3.0 if scale is None else 0.5), rtol=1e-15)
    assert positional.scale_forward({}, x.astype(F32)).dtype == F32
