"""JAX RNN and LSTM equal torch's nn.RNN / nn.LSTM, with pack_padded_sequence for ragged lengths."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _torchref import assert_close, compare_with_torch, jax_params, randomize
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from minienc.jax import lstm, rnn

F64, F32 = np.float64, np.float32
B, I, H = 3, 7, 5


def randn(*shape, seed=0, dtype=F64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def torch_module(cell, num_layers, bidirectional, dtype):
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=True)
    if cell == "lstm":
        m = nn.LSTM(I, H, **kw)
    else:
        m = nn.RNN(I, H, nonlinearity=cell.removeprefix("rnn_"), **kw)
    return randomize(m.to(torch.float64 if dtype == F64 else torch.float32), seed=21)


def ours_and_ref(cell, m, lengths):
    """The two functions to compare, each taking (x, h0[, c0]) and returning out and the states."""
    T_lengths = None if lengths is None else torch.tensor(lengths)

    def ref(x, *states):
        T = x.shape[1]
        inp = x if lengths is None else pack_padded_sequence(x, T_lengths, True, False)
        out, s_n = m(inp, states[0] if len(states) == 1 else states)
        if lengths is not None:
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
        return out, s_n

    j_lengths = None if lengths is None else jnp.asarray(lengths)
    if cell == "lstm":

        def ours(p, x, h0, c0):
            return lstm.forward(p, x, h0, c0, lengths=j_lengths)
    else:

        def ours(p, x, h0):
            return rnn.forward(p, x, h0, lengths=j_lengths, nonlinearity=cell.removeprefix("rnn_"))

    return ours, ref


CASES = [  # cell, num_layers, bidirectional, T, ragged, dtype
    ("lstm", 1, False, 1, False, F64),
    ("lstm", 2, True, 17, True, F64),
    ("lstm", 1, False, 17, True, F64),
    ("rnn_tanh", 2, True, 17, True, F64),
    ("rnn_relu", 1, False, 17, False, F64),
    ("lstm", 2, True, 17, True, F32),
]


@pytest.mark.parametrize("cell, num_layers, bidirectional, T, ragged, dtype", CASES)
def test_recurrent_equals_torch(cell, num_layers, bidirectional, T, ragged, dtype):
    m = torch_module(cell, num_layers, bidirectional, dtype)
    lengths = np.array([T, 1, T // 2 + 1]) if ragged else None  # unsorted, one of length 1
    ours, ref = ours_and_ref(cell, m, lengths)
    states = num_layers * (2 if bidirectional else 1), B, H
    n_states = 2 if cell == "lstm" else 1
    x = randn(B, T, I, dtype=dtype)
    if ragged:  # padded inputs must not matter: make them huge
        x[np.arange(T)[None, :] >= lengths[:, None]] = 1e6
    args = [x] + [0.5 * randn(*states, seed=s + 1, dtype=dtype) for s in range(n_states)]
    compare_with_torch(ours, ref, jax_params(m), args, m, dtype)


def test_nan_padding_changes_nothing_and_jit_equals_eager():
    m = torch_module("lstm", 2, True, F64)
    params, lengths = jax_params(m), jnp.array([17, 1, 9])
    x = randn(B, 17, I)
    x_nan = np.where(np.arange(17)[None, :, None] >= np.asarray(lengths)[:, None, None], np.nan, x)

    def loss(p, x):
        out, (h_n, c_n) = lstm.forward(p, x, lengths=lengths)
        return out.sum() + (h_n * c_n).sum(), (out, h_n, c_n)

    f = jax.jit(jax.value_and_grad(loss, has_aux=True))
    (_, clean), g_clean = f(params, jnp.asarray(x))
    (_, noisy), g_noisy = f(params, jnp.asarray(x_nan))
    for a, b in zip(
        jax.tree_util.tree_leaves((clean, g_clean)), jax.tree_util.tree_leaves((noisy, g_noisy))
    ):
        assert np.all(np.isfinite(b))
        np.testing.assert_array_equal(a, b)
    eager = lstm.forward(params, jnp.asarray(x), lengths=lengths)
    for a, b in zip(jax.tree_util.tree_leaves(eager), clean):
        assert_close(a, b, what="eager vs jit")


def test_lstm_vmaps_over_a_leading_axis():
    params = jax_params(torch_module("lstm", 1, True, F64))
    x = jnp.asarray(randn(2, B, 4, I))  # (N, B, T, I)
    lengths = jnp.array([[4, 1, 2], [3, 3, 4]])  # (N, B)

    def f(x, lengths):
        return lstm.forward(params, x, lengths=lengths)[0]

    batched = jax.jit(jax.vmap(f))(x, lengths)
    for n in range(2):
        assert_close(batched[n], jax.jit(f)(x[n], lengths[n]), what=f"vmap slice {n}")


P = {k: v.numpy() for k, v in nn.LSTM(I, H, bidirectional=True).double().state_dict().items()}
X = np.ones((B, 4, I))
BAD_INPUTS = [
    (
        lambda: lstm.forward(P, X[..., :6]),
        ValueError,
        r"x has shape \(3, 4, 6\) but weight_ih_l0 expects a last dimension of 7",
    ),
    (lambda: lstm.forward(P, X[0]), ValueError, r"x must have 3 dimensions \(B, T, I\)"),
    (
        lambda: lstm.forward(P, X, h0=np.ones((1, B, H))),
        ValueError,
        r"h0 must have shape \(2, 3, 5\)",
    ),
    (
        lambda: lstm.forward(P, X, lengths=np.array([4, 0, 2])),
        ValueError,
        r"lengths must lie in \[1, T = 4\]",
    ),
    (
        lambda: lstm.forward(P, X, lengths=np.array([4, 5, 2])),
        ValueError,
        r"lengths must lie in \[1, T = 4\]",
    ),
    (
        lambda: lstm.forward(P, X, lengths=np.array([4.0, 1, 2])),
        TypeError,
        "lengths must be an integer array",
    ),
    (lambda: lstm.forward(P, X, lengths=np.array([4, 1])), ValueError, "lengths has shape"),
    (
        lambda: lstm.forward(P | {"weight_hr_l0": P["weight_hh_l0"]}, X),
        KeyError,
        r"unexpected keys \['weight_hr_l0'\]",
    ),
    (
        lambda: lstm.forward({k: v for k, v in P.items() if k != "weight_hh_l0_reverse"}, X),
        KeyError,
        "weight_hh_l0_reverse",
    ),
    (
        lambda: lstm.forward(P, X.astype(F32)),
        TypeError,
        "has dtype float64 but the input has dtype float32",
    ),
    (
        lambda: rnn.forward(
            {"weight_ih_l0": np.ones((5, 7)), "weight_hh_l0": np.ones((5, 5))},
            X,
            nonlinearity="gelu",
        ),
        ValueError,
        "nonlinearity must be one of",
    ),
    (
        lambda: rnn.forward({"weight_ih_l0": np.ones((5, 7)), "weight_hh_l0": np.ones((4, 5))}, X),
        ValueError,
        r"weight_hh_l0'\] of rnn must have shape \(4, 4\)",
    ),
]


@pytest.mark.parametrize("call, error, match", BAD_INPUTS)
def test_bad_inputs_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
