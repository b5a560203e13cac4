"""torch's numeric behaviour at the edges, in both backends: infinite logits in the cross-entropy,
dropout at p → 1, empty batches and sequences, float16 inputs.

Where torch gives a result we give the same one (inf and nan included); where torch has none (an
RNN over zero steps, pooling over no positions) we raise a ValueError naming the argument. The one
documented difference: a "mean" cross-entropy whose every target is ignored is 0 here, nan in
torch (the gradient is zero in both).
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from minienc.jax import attention as j_attention
from minienc.jax import dropout as j_dropout
from minienc.jax import embedding as j_embedding
from minienc.jax import encoder_layer as j_encoder_layer
from minienc.jax import layernorm as j_layernorm
from minienc.jax import linear as j_linear
from minienc.jax import losses as j_losses
from minienc.jax import lstm as j_lstm
from minienc.jax import mha as j_mha
from minienc.jax import pooling as j_pooling
from minienc.jax import rnn as j_rnn
from minienc.jax import softmax as j_softmax
from minienc.numpy import attention as n_attention
from minienc.numpy import dropout as n_dropout
from minienc.numpy import embedding as n_embedding
from minienc.numpy import encoder_layer as n_encoder_layer
from minienc.numpy import layernorm as n_layernorm
from minienc.numpy import linear as n_linear
from minienc.numpy import losses as n_losses
from minienc.numpy import lstm as n_lstm
from minienc.numpy import mha as n_mha
from minienc.numpy import pooling as n_pooling
from minienc.numpy import rnn as n_rnn
from minienc.numpy import softmax as n_softmax

pytestmark = [
    pytest.mark.usefixtures("jax_x64"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),  # inf - inf inside NumPy, on purpose
]

INF, NAN = np.inf, np.nan
LOGITS = {
    "-inf on a wrong class": ([[0.0, -INF, 1.0]], [0]),
    "-inf on the target": ([[0.0, -INF, 1.0]], [1]),
    "+inf on the target": ([[0.0, INF, 1.0]], [1]),
    "+inf on a wrong class": ([[0.0, INF, 1.0]], [0]),
    "two +inf": ([[INF, INF, 1.0]], [0]),
    "all -inf": ([[-INF, -INF, -INF]], [0]),
    "nan": ([[NAN, 0.0, 1.0]], [0]),
    "mixed rows": ([[0.0, -INF, 1.0], [2.0, 1.0, -INF]], [0, 1]),
}


def numpy_ce(z, t, kw):
    loss, cache = n_losses.forward({}, z, t, **kw)
    dz, _ = n_losses.backward(np.ones_like(loss), cache)
    return loss, dz


def jax_ce(z, t, kw):
    def f(z):
        return j_losses.cross_entropy(z, jnp.asarray(t), **kw).sum()

    loss = j_losses.cross_entropy(jnp.asarray(z), jnp.asarray(t), **kw)
    return np.asarray(loss), np.asarray(jax.grad(f)(jnp.asarray(z)))


@pytest.mark.parametrize("ce", [numpy_ce, jax_ce], ids=["numpy", "jax"])
@pytest.mark.parametrize("case", LOGITS)
@pytest.mark.parametrize(
    ("smoothing", "ignore", "reduction"),
    list(itertools.product((0.0, 0.1), (None, 1), ("mean", "sum", "none"))),
)
def test_cross_entropy_with_infinite_logits_is_torchs(ce, case, smoothing, ignore, reduction):
    z, t = np.array(LOGITS[case][0]), np.array(LOGITS[case][1])
    kw = {"label_smoothing": smoothing, "reduction": reduction}
    if ignore is not None:
        kw["ignore_index"] = ignore
    zt = torch.tensor(z, requires_grad=True)
    want = torch.nn.functional.cross_entropy(zt, torch.tensor(t), **kw)
    want.sum().backward()
    loss, dz = ce(z, t, kw)
    all_ignored = ignore is not None and (t == ignore).all()
    if all_ignored and reduction == "mean":
        assert np.isnan(want.item()) and loss == 0.0  # the documented difference
    else:
        np.testing.assert_allclose(loss, want.detach().numpy(), rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(dz, zt.grad.numpy(), rtol=1e-12, atol=1e-15, equal_nan=True)


def test_minus_inf_on_a_wrong_class_gives_a_finite_loss():
    z, t = np.array([[0.0, -INF, 1.0]]), np.array([0])
    for ce in (numpy_ce, jax_ce):
        loss, dz = ce(z, t, {})
        assert np.isfinite(loss) and np.isfinite(dz).all()


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("p", [0.9999999, 1.0])
def test_dropout_near_one_gives_zeros_never_nan(dtype, p):
    x = np.ones((64, 33), dtype)
    y, cache = n_dropout.forward({}, x, p=p, training=True, rng=0)
    dx, _ = n_dropout.backward(np.ones_like(x), cache)
    yj = j_dropout.forward({}, jnp.asarray(x), p=p, training=True, rng=jax.random.key(0))
    yt = torch.nn.functional.dropout(torch.tensor(x), p=p, training=True)
    for a in (y, dx, np.asarray(yj), yt.numpy()):
        assert a.dtype == dtype and not np.isnan(a).any() and (a == 0).all()


# ------------------------------------------------------------------ empty batches and sequences
torch.manual_seed(0)
D = 6
LIN = torch.nn.Linear(D, 3).double()
NORM = torch.nn.LayerNorm(D).double()
MHA = torch.nn.MultiheadAttention(D, 2, batch_first=True).double()
LAYER = torch.nn.TransformerEncoderLayer(D, 2, 8, dropout=0.0, batch_first=True).double().eval()
LSTM = torch.nn.LSTM(D, 4, batch_first=True).double()
RNN = torch.nn.RNN(D, 4, batch_first=True).double()


def state(m):
    return {k: v.detach().numpy() for k, v in m.state_dict().items()}


def first(y):
    return y[0] if isinstance(y, tuple) else y


SHAPES = [(0, 5), (2, 0), (0, 0)]


@pytest.mark.parametrize(("B", "T"), SHAPES)
@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_empty_inputs_give_torchs_empty_result(backend, B, T):
    x = np.random.default_rng(0).standard_normal((B, T, D))
    xt = torch.tensor(x)
    q = np.ones((B, 3, D))
    m = {
        "numpy": (n_linear, n_layernorm, n_mha, n_encoder_layer, n_softmax, n_losses, n_embedding),
        "jax": (j_linear, j_layernorm, j_mha, j_encoder_layer, j_softmax, j_losses, j_embedding),
    }[backend]
    lin, norm, mha, layer, softmax, losses, emb = m
    with torch.no_grad():
        cases = [
            (first(lin.forward(state(LIN), x)), LIN(xt)),
            (first(norm.forward(state(NORM), x)), NORM(xt)),
            (first(mha.forward(state(MHA), x, x, x, 2)), MHA(xt, xt, xt)[0]),
            (first(mha.forward(state(MHA), q, x, x, 2)), MHA(torch.tensor(q), xt, xt)[0]),
            (first(layer.forward(state(LAYER), x, 2)), LAYER(xt)),
            (first(softmax.forward({}, x)), torch.softmax(xt, -1)),
            (
                first(losses.forward({}, x.reshape(-1, D), np.zeros(B * T, int), reduction="sum")),
                torch.nn.functional.cross_entropy(
                    xt.reshape(-1, D), torch.zeros(B * T, dtype=torch.long), reduction="sum"
                ),
            ),
            (first(emb.forward({"weight": np.ones((4, D))}, np.zeros((B, T), int))), xt * 0 + 1),
        ]
    for got, want in cases:
        assert np.shape(got) == tuple(want.shape)
        np.testing.assert_allclose(np.asarray(got), want.numpy(), atol=1e-12)


@pytest.mark.parametrize("B", [0, 2])
@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_attention_over_no_keys_is_zeros_as_torch(backend, B):
    sdpa = (n_attention if backend == "numpy" else j_attention).scaled_dot_product_attention
    q, kv = np.ones((B, 2, 3, 4)), np.ones((B, 2, 0, 4))
    want = torch.nn.functional.scaled_dot_product_attention(*map(torch.tensor, (q, kv, kv)))
    got = first(sdpa(q, kv, kv))
    np.testing.assert_array_equal(np.asarray(got), want.numpy())
    got = first(sdpa(q, kv, kv, key_padding_mask=np.zeros((B, 0), bool)))
    np.testing.assert_array_equal(np.asarray(got), want.numpy())


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_recurrent_layers_take_an_empty_batch_and_refuse_zero_steps(backend):
    lstm, rnn = (n_lstm, n_rnn) if backend == "numpy" else (j_lstm, j_rnn)
    x = np.ones((0, 5, D))
    with torch.no_grad():
        out, (h, c) = j_lstm.forward(state(LSTM), x) if backend == "jax" else n_lstm_run(x)
        want, (hw, cw) = LSTM(torch.tensor(x))
    assert out.shape == tuple(want.shape) and h.shape == tuple(hw.shape)
    for module, params in ((lstm, state(LSTM)), (rnn, state(RNN))):
        with pytest.raises(
            ValueError, match=r"x must have at least one step, got shape \(2, 0, 6\)"
        ):
            module.forward(params, np.ones((2, 0, D)))
    with pytest.raises(RuntimeError, match="sequence length"):  # torch refuses it too
        LSTM(torch.ones(2, 0, D, dtype=torch.float64))


def n_lstm_run(x):
    (out, (h, c)), cache = n_lstm.forward(state(LSTM), x)
    dx, grads = n_lstm.backward(np.ones_like(out), cache)
    assert dx.shape == x.shape and all((g == 0).all() for g in grads.values())
    return out, (h, c)


@pytest.mark.parametrize("backend", ["numpy", "jax"])
@pytest.mark.parametrize("mode", ["cls", "last", "mean", "max", "weighted_mean"])
def test_pooling_over_no_positions_is_a_clear_error(backend, mode):
    forward = (n_pooling if backend == "numpy" else j_pooling).forward
    params = {"weight": np.ones((1, D))} if mode == "weighted_mean" else None
    with pytest.raises(ValueError, match=r"h must have at least one position, got shape"):
        forward(np.ones((2, 0, D)), np.zeros((2, 0), bool), mode, params)
    y = first(forward(np.ones((0, 3, D)), np.zeros((0, 3), bool), mode, params))
    assert np.shape(y) == (0, D)


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_cross_entropy_without_classes_is_a_clear_error(backend):
    ce = (n_losses if backend == "numpy" else j_losses).cross_entropy
    with pytest.raises(ValueError, match=r"logits must have .* C ≥ 1 classes, got shape \(2, 0\)"):
        ce(np.ones((2, 0)), np.zeros(2, int))


# ------------------------------------------------------------------------------------ float16
@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_float16_layers_follow_torch(backend):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, D)).astype(np.float16)
    t = rng.integers(0, 3, (2, 5))
    lin = {k: v.astype(np.float16) for k, v in state(LIN).items()}
    norm = {k: v.astype(np.float16) for k, v in state(NORM).items()}
    m = {
        "numpy": (n_linear, n_layernorm, n_softmax, n_losses),
        "jax": (j_linear, j_layernorm, j_softmax, j_losses),
    }[backend]
    xt = torch.tensor(x)
    with torch.no_grad():
        y_lin = torch.nn.functional.linear(xt, *(torch.tensor(lin[k]) for k in ("weight", "bias")))
        cases = [
            (first(m[0].forward(lin, x)), y_lin),
            (
                first(m[1].forward(norm, x)),
                torch.nn.functional.layer_norm(xt, (D,), *map(torch.tensor, norm.values())),
            ),
            (first(m[2].forward({}, x)), torch.softmax(xt, -1)),
            (
                first(m[3].forward({}, first(m[0].forward(lin, x)), t)),
                torch.nn.functional.cross_entropy(
                    y_lin.reshape(-1, 3), torch.tensor(t).reshape(-1)
                ),
            ),
        ]
    for got, want in cases:
        got = np.asarray(got)
        assert got.dtype == np.float16 and np.isfinite(got).all()
        np.testing.assert_allclose(got.astype(float), want.float().numpy(), rtol=2e-2, atol=5e-3)
