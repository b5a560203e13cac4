"""JAX linear, embedding, layernorm, activations, softmax, dropout and cross-entropy equal torch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _torchref import assert_close, compare_with_torch, jax_params, randomize
from torch import nn

from minienc.jax import activations, dropout, embedding, layernorm, linear, losses, softmax

DTYPES = [np.float64, np.float32]
TORCH = {np.float64: torch.float64, np.float32: torch.float32}


def randn(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


F64, F32 = np.float64, np.float32


@pytest.mark.parametrize(
    "dtype, shape, bias",
    [(F64, (7,), True), (F64, (3, 1, 7), False), (F64, (2, 17, 7), True), (F32, (2, 17, 7), True)],
)
def test_linear_equals_torch(dtype, shape, bias):
    m = randomize(nn.Linear(7, 5, bias=bias).to(TORCH[dtype]), seed=1)
    compare_with_torch(linear.forward, m, jax_params(m), [randn(*shape, dtype=dtype)], m, dtype)


@pytest.mark.parametrize("dtype, padding_idx", [(F64, None), (F64, 2), (F64, -1), (F32, 2)])
def test_embedding_equals_torch(padding_idx, dtype):
    m = randomize(nn.Embedding(6, 5, padding_idx=padding_idx).to(TORCH[dtype]), seed=2)
    ids = np.random.default_rng(0).integers(0, 6, size=(3, 17))
    ids[0, :4] = [2, 5, 2, 5]  # the padding rows appear, some twice

    def ours(p, ids):
        return embedding.forward(p, ids, padding_idx=padding_idx)

    compare_with_torch(ours, m, jax_params(m), [ids], m, dtype)  # torch: pad row's grad is 0


@pytest.mark.parametrize(
    "dtype, shape", [(F64, (10,)), (F64, (2, 1, 10)), (F64, (3, 17, 10)), (F32, (3, 17, 10))]
)
def test_layernorm_equals_torch(dtype, shape):
    m = randomize(nn.LayerNorm(10, eps=1e-5).to(TORCH[dtype]), seed=3)
    x = randn(*shape, dtype=dtype) * 3 + 2

    def ours(p, x):
        return layernorm.forward(p, x, eps=1e-5)

    compare_with_torch(ours, m, jax_params(m), [x], m, dtype)


TORCH_ACTIVATIONS = {
    "relu": F.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
}


@pytest.mark.parametrize("dtype", DTYPES)
def test_activations_equal_torch(dtype):
    x = randn(3, 17, 5, dtype=dtype) * 4
    x[0, 0, :3] = [0.0, 40.0, -40.0]  # relu's kink and the saturated tails

    def ours(p, x):  # every kind at once (one compile); output n is KINDS[n]
        return tuple(activations.forward(p, x, kind=kind) for kind in activations.KINDS)

    def ref(x):
        return tuple(TORCH_ACTIVATIONS[kind](x) for kind in activations.KINDS)

    compare_with_torch(ours, ref, {}, [x], None, dtype)
    big = jax.jit(ours)({}, jnp.asarray(x * 100))
    assert all(np.all(np.isfinite(y)) for y in big)


@pytest.mark.parametrize("axis", [-1, 1])
def test_softmax_equals_torch(axis):
    x = randn(3, 17, 5)

    def ours(p, x):
        return softmax.forward(p, x, axis=axis), softmax.forward(p, x, axis=axis, log=True)

    def ref(x):
        return torch.softmax(x, dim=axis), torch.log_softmax(x, dim=axis)

    compare_with_torch(ours, ref, {}, [x], None)
    big = softmax.softmax(jnp.asarray(x + 1000), axis=axis)
    assert_close(big, torch.softmax(torch.tensor(x), dim=axis).numpy(), what="x + 1000")


def test_dropout_scales_kept_entries_and_is_fixed_by_the_rng():
    x = jnp.asarray(randn(64, 128) + 3)
    rng = jax.random.key(0)
    f = jax.jit(dropout.forward, static_argnames=("p", "training"))
    y = f({}, x, p=0.25, rng=rng)
    kept = np.asarray(y) != 0
    assert 0.7 < kept.mean() < 0.8
    np.testing.assert_allclose(np.asarray(y)[kept], np.asarray(x)[kept] / 0.75, rtol=1e-15)
    np.testing.assert_array_equal(y, f({}, x, p=0.25, rng=rng))
    assert np.any(y != f({}, x, p=0.25, rng=jax.random.key(1)))
    g = jax.jit(jax.grad(lambda x: f({}, x, p=0.25, rng=rng).sum()))(x)
    np.testing.assert_allclose(g, kept / 0.75, rtol=1e-15)
    np.testing.assert_array_equal(dropout.forward({}, x, p=0.25, rng=rng), y)  # eager = jit
    assert dropout.forward({}, x, p=0.25, training=False) is x
    assert dropout.forward({}, x, p=0.0) is x
    assert np.all(dropout.forward({}, x, p=1.0) == 0)


@pytest.mark.parametrize("dtype, label_smoothing", [(F64, 0.0), (F64, 0.2), (F32, 0.2)])
def test_cross_entropy_equals_torch(label_smoothing, dtype):
    logits = randn(3, 17, 5, dtype=dtype) * 3
    target = np.random.default_rng(1).integers(0, 5, size=(3, 17))
    target[0, :5] = -100  # some ignored positions

    def ours(p, logits, target):  # every reduction at once; output n is REDUCTIONS[n]
        return tuple(
            losses.forward(p, logits, target, -100, label_smoothing, reduction)
            for reduction in losses.REDUCTIONS
        )

    def ref(logits, target):  # torch puts the classes on axis 1
        return tuple(
            F.cross_entropy(
                logits.transpose(1, 2), target, label_smoothing=label_smoothing, reduction=r
            )
            for r in losses.REDUCTIONS
        )

    compare_with_torch(ours, ref, {}, [logits, target], None, dtype)


def test_cross_entropy_all_ignored_is_zero_not_nan():
    logits = jnp.asarray(randn(2, 4, 3))
    target = jnp.full((2, 4), -1)
    f = jax.jit(jax.value_and_grad(losses.cross_entropy), static_argnames=("ignore_index",))
    loss, g = f(logits, target, ignore_index=-1)
    assert loss == 0 and np.all(g == 0)


def test_layers_jit_equals_eager():
    x = jnp.asarray(randn(2, 17, 7))
    lin = jax_params(randomize(nn.Linear(7, 10).double(), seed=4))
    ln = jax_params(randomize(nn.LayerNorm(10).double(), seed=5))

    def net(lin, ln, x):
        h = activations.gelu(layernorm.forward(ln, linear.forward(lin, x)))
        return losses.cross_entropy(h, jnp.zeros(h.shape[:-1], jnp.int32), label_smoothing=0.1)

    assert_close(net(lin, ln, x), jax.jit(net)(lin, ln, x), what="jit vs eager")


W = np.ones((5, 7))
BAD_INPUTS = [
    (lambda: linear.forward({"weight": W}, jnp.ones((2, 6))), ValueError, r"x has shape \(2, 6\)"),
    (lambda: linear.forward({"weight": W}, jnp.ones((2, 7), jnp.int32)), TypeError, "floating"),
    (lambda: linear.forward({"weight": W}, [[1.0] * 7]), TypeError, "x must be a JAX or NumPy"),
    (lambda: linear.forward({"weigth": W}, jnp.ones(7)), KeyError, "unexpected keys"),
    (lambda: linear.forward({"bias": W[0]}, jnp.ones(7)), KeyError, r"missing \['weight'\]"),
    (
        lambda: linear.forward({"weight": W, "bias": jnp.ones(4)}, jnp.ones(7)),
        ValueError,
        r"params\['bias'\] of linear must have shape \(5,\), got \(4,\)",
    ),
    (
        lambda: linear.forward({"weight": W.astype(jnp.float32)}, jnp.ones(7)),
        TypeError,
        "has dtype float32 but the input has dtype float64",
    ),
    (
        lambda: embedding.forward({"weight": W}, jnp.array([0, 5])),
        ValueError,
        r"ids must lie in \[0, 5\)",
    ),
    (lambda: embedding.forward({"weight": W}, jnp.ones(2)), TypeError, "ids must be an integer"),
    (
        lambda: embedding.forward({"weight": W}, jnp.array([0]), padding_idx=5),
        ValueError,
        "padding_idx must lie in",
    ),
    (
        lambda: layernorm.forward({"weight": W[0], "bias": W[0]}, jnp.ones((2, 5))),
        ValueError,
        r"x has shape \(2, 5\) but params\['weight'\] of shape \(7,\)",
    ),
    (lambda: activations.forward({}, jnp.ones(3), kind="swish"), ValueError, "kind must be one"),
    (lambda: softmax.softmax(jnp.ones((2, 3)), axis=2), ValueError, "axis 2 is out of range"),
    (lambda: dropout.forward({}, jnp.ones(3), p=1.5), ValueError, r"p must lie in \[0, 1\]"),
    (lambda: dropout.forward({}, jnp.ones(3), p=0.5), ValueError, "needs a PRNG key"),
    (
        lambda: losses.cross_entropy(jnp.ones((2, 3)), jnp.zeros(3, jnp.int32)),
        ValueError,
        r"target has shape \(3,\) but logits has shape \(2, 3\)",
    ),
    (
        lambda: losses.cross_entropy(jnp.ones((2, 3)), jnp.array([0, 3])),
        ValueError,
        r"target values must lie in \[0, 3\)",
    ),
    (
        lambda: losses.cross_entropy(jnp.ones((2, 3)), jnp.zeros(2, jnp.int32), reduction="avg"),
        ValueError,
        "reduction must be one of",
    ),
]


@pytest.mark.parametrize("call, error, match", BAD_INPUTS)
def test_bad_inputs_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_shape_errors_are_raised_under_jit():
    f = jax.jit(linear.forward)
    with pytest.raises(ValueError, match=r"x has shape \(2, 6\)"):
        f({"weight": W}, jnp.ones((2, 6)))
