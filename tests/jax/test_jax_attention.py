"""JAX attention and multi-head attention equal torch; padding, causal masks, jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _torchref import assert_close, compare_with_torch, jax_params, randomize
from torch import nn

from minienc.jax import mha
from minienc.jax.attention import scaled_dot_product_attention as sdpa

F64, F32 = np.float64, np.float32


def randn(*shape, seed=0, dtype=F64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def padding_mask(B, T):
    """(B, T) True = padding: row 0 full, row 1 all padding, row 2 padded at both ends."""
    mask = np.zeros((B, T), dtype=bool)
    mask[1] = True
    if B > 2:
        mask[2, 0] = True  # with causal, query 0 of row 2 sees no key at all
        mask[2, T // 2 + 1 :] = True
    return mask


def torch_sdpa(q, k, v, mask, causal):
    allowed = torch.ones(q.shape[0], 1, q.shape[2], k.shape[2], dtype=torch.bool)
    if mask is not None:
        allowed = allowed & ~mask[:, None, None, :]
    if causal:
        allowed = allowed & torch.ones(q.shape[2], k.shape[2], dtype=torch.bool).tril()
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)


CASES = [  # dtype, Tq, Tk, padding, causal
    (F64, 1, 1, False, False),
    (F64, 17, 17, True, False),
    (F64, 17, 17, False, True),
    (F64, 17, 17, True, True),
    (F64, 5, 17, True, True),
    (F32, 17, 17, True, True),
]


@pytest.mark.parametrize("dtype, Tq, Tk, padding, causal", CASES)
def test_attention_equals_torch(dtype, Tq, Tk, padding, causal):
    B, H, Dh = 3, 2, 5
    q, k, v = (randn(B, H, T, Dh, seed=s, dtype=dtype) for s, T in ((0, Tq), (1, Tk), (2, Tk)))
    mask = padding_mask(B, Tk) if padding else None

    def ours(p, q, k, v):
        return sdpa(
            q, k, v, key_padding_mask=None if mask is None else jnp.asarray(mask), causal=causal
        )

    def ref(q, k, v):
        return torch_sdpa(q, k, v, None if mask is None else torch.tensor(mask), causal)

    compare_with_torch(ours, ref, {}, [q, k, v], None, dtype)


def test_fully_masked_queries_give_zeros_and_zero_gradients():
    q, k, v = (jnp.asarray(randn(3, 2, 6, 4, seed=s)) for s in range(3))
    mask = jnp.asarray(padding_mask(3, 6))

    def loss(q, k, v):
        y = sdpa(q, k, v, key_padding_mask=mask, causal=True)
        return jnp.sum(y * jnp.arange(1.0, 5.0)), y

    (dq, dk, dv), y = jax.jit(jax.grad(loss, argnums=(0, 1, 2), has_aux=True))(q, k, v)
    for a in (y, dq, dk, dv):
        assert np.all(np.isfinite(a))
    assert np.all(y[1] == 0) and np.all(dq[1] == 0)  # every key of row 1 is padding
    assert np.all(y[2, :, 0] == 0) and np.all(dq[2, :, 0] == 0)  # query 0 of row 2 sees none
    dk = np.asarray(dk).transpose(0, 2, 1, 3)  # (B, T, H, Dh)
    dv = np.asarray(dv).transpose(0, 2, 1, 3)  # (B, T, H, Dh)
    mask = np.asarray(mask)
    assert np.all(dk[mask] == 0) and np.all(dv[mask] == 0)  # padded keys get no gradient


def test_attention_jit_and_vmap():
    x = jnp.asarray(randn(4, 2, 2, 17, 5))  # (N, B, H, T, Dh): vmap over N
    mask = jnp.asarray(np.stack([padding_mask(2, 17)] * 4))  # (N, B, T)

    def f(x, mask):
        return sdpa(x, x * 0.5, x, key_padding_mask=mask, causal=True)

    jitted = jax.jit(f)
    assert_close(jitted(x[0], mask[0]), f(x[0], mask[0]), what="jit vs eager")
    one_by_one = np.stack([jitted(x[n], mask[n]) for n in range(4)])
    batched = jax.jit(jax.vmap(f))(x, mask)
    assert_close(batched, one_by_one, what="vmap vs one by one")


MHA_CASES = [  # dtype, Tq, Tk, bias, padding
    (F64, 17, 17, True, True),
    (F64, 1, 1, True, False),
    (F64, 5, 17, True, True),
    (F64, 17, 17, False, True),
    (F32, 17, 17, True, True),
]


@pytest.mark.parametrize("dtype, Tq, Tk, bias, padding", MHA_CASES)
def test_mha_equals_torch(dtype, Tq, Tk, bias, padding):
    B, D, H = 3, 10, 2
    m = nn.MultiheadAttention(D, H, bias=bias, batch_first=True).to(
        torch.float64 if dtype == F64 else torch.float32
    )
    randomize(m, seed=7)
    mask = padding_mask(B, Tk) if padding else None
    kpm_j = None if mask is None else jnp.asarray(mask)
    kpm_t = None if mask is None else torch.tensor(mask)
    query = randn(B, Tq, D, seed=1, dtype=dtype)
    if Tq == Tk:  # self-attention: the same tensor three times

        def ours(p, x):
            return mha.forward(p, x, x, x, num_heads=H, key_padding_mask=kpm_j)

        def ref(x):
            return m(x, x, x, key_padding_mask=kpm_t, need_weights=False)[0]

        compare_with_torch(ours, ref, jax_params(m), [query], m, dtype)
        return
    key, value = randn(B, Tk, D, seed=2, dtype=dtype), randn(B, Tk, D, seed=3, dtype=dtype)

    def ours(p, query, key, value):
        return mha.forward(p, query, key, value, num_heads=H, key_padding_mask=kpm_j)

    def ref(query, key, value):
        return m(query, key, value, key_padding_mask=kpm_t, need_weights=False)[0]

    compare_with_torch(ours, ref, jax_params(m), [query, key, value], m, dtype)


def test_self_attention_forward_equals_torch_and_forward():
    B, T, D, H = 3, 17, 10, 2
    m = randomize(nn.MultiheadAttention(D, H, batch_first=True).double(), seed=8)
    mask = padding_mask(B, T)
    x = randn(B, T, D, seed=4)

    def ours(p, x):
        return mha.self_attention_forward(p, x, H, key_padding_mask=jnp.asarray(mask))

    def ref(x):
        return m(x, x, x, key_padding_mask=torch.tensor(mask), need_weights=False)[0]

    compare_with_torch(ours, ref, jax_params(m), [x], m)
    p, xj = jax_params(m), jnp.asarray(x)
    assert_close(ours(p, xj), mha.forward(p, xj, xj, xj, H, jnp.asarray(mask)), what="vs forward")


def test_need_weights_equals_torch_head_average():
    B, Tq, Tk, D, H = 3, 7, 17, 10, 2
    m = randomize(nn.MultiheadAttention(D, H, batch_first=True).double(), seed=9)
    mask = padding_mask(B, Tk)
    query, key, value = (randn(B, T, D, seed=s) for s, T in ((1, Tq), (2, Tk), (3, Tk)))
    out, weights = mha.forward(
        jax_params(m), query, key, value, H, key_padding_mask=mask, need_weights=True
    )
    with torch.no_grad():
        ref_out, ref_w = m(
            *map(torch.from_numpy, (query, key, value)),
            key_padding_mask=torch.from_numpy(mask),
            need_weights=True,
        )
    real = ~mask.all(axis=1)  # torch gives NaN for the fully padded element; we give zeros
    assert weights.shape == (B, Tq, Tk)
    assert_close(weights[real], ref_w.numpy()[real], what="weights")
    assert_close(out[real], ref_out.numpy()[real], what="out")
    assert not np.asarray(weights)[~real].any()


def mha_with_dropout(p, query, key, value, rng, need_weights=False):
    """mha.forward in training with attention-weight dropout 0.3, for one PRNG key."""
    return mha.forward(
        p, query, key, value, 2, need_weights=need_weights, dropout=0.3, training=True, rng=rng
    )


def test_mha_dropout_is_fixed_by_rng_and_off_in_evaluation():
    B, Tq, Tk, D = 2, 5, 7, 6
    m = randomize(nn.MultiheadAttention(D, 2, batch_first=True).double(), seed=10)
    p = jax_params(m)
    query, key, value = (
        jnp.asarray(randn(B, T, D, seed=s)) for s, T in ((1, Tq), (2, Tk), (3, Tk))
    )
    r0, r1 = jax.random.key(0), jax.random.key(1)
    f = jax.jit(mha_with_dropout, static_argnames="need_weights")
    y = f(p, query, key, value, r0)
    np.testing.assert_array_equal(y, f(p, query, key, value, r0))
    assert np.any(y != f(p, query, key, value, r1))
    y_eval, w_eval = mha.forward(p, query, key, value, 2, need_weights=True)
    for kw in ({"dropout": 0.3, "training": False, "rng": r0}, {"dropout": 0.0, "training": True}):
        np.testing.assert_array_equal(mha.forward(p, query, key, value, 2, **kw), y_eval)
    with pytest.raises(ValueError, match=r"needs a PRNG key: rng=jax.random.key\(0\)"):
        mha.forward(p, query, key, value, 2, dropout=0.3, training=True)

    # out and the head-averaged weights are linear in the dropped weights, so their means over
    # many keys are the evaluation values (within 5 standard errors).
    rngs = jax.random.split(jax.random.key(2), 2000)
    outs, weights = jax.jit(jax.vmap(lambda r: f(p, query, key, value, r, need_weights=True)))(rngs)
    for name, samples, ref in (("out", outs, y_eval), ("weights", weights, w_eval)):
        err = np.abs(np.asarray(samples.mean(axis=0) - ref))
        bound = 5 * np.asarray(samples.std(axis=0)) / np.sqrt(len(rngs)) + 1e-12
        assert np.all(err <= bound), f"{name}: mean over keys is off by {err.max():.3g}"


def test_attention_dropout_drops_weights_and_scales_the_rest():
    """With v = I (Dh = Tk), y = P: the dropped weights themselves."""
    B, H, Tq, Tk, p_drop = 2, 3, 5, 8, 0.3
    q, k = jnp.asarray(randn(B, H, Tq, Tk, seed=1)), jnp.asarray(randn(B, H, Tk, Tk, seed=2))
    v = jnp.broadcast_to(jnp.eye(Tk), (B, H, Tk, Tk))
    mask = np.zeros((B, Tk), bool)
    mask[1, 5:] = True
    w_eval = np.asarray(sdpa(q, k, v, key_padding_mask=mask))
    rngs = jax.random.split(jax.random.key(3), 500)
    w = np.asarray(
        jax.jit(jax.vmap(lambda r: sdpa(q, k, v, key_padding_mask=mask, dropout_p=p_drop, rng=r)))(
            rngs
        )
    )
    visible = np.broadcast_to(w_eval > 0, w.shape)
    dropped = (w == 0) & visible
    assert abs(dropped.sum() / visible.sum() - p_drop) < 0.01
    kept = ~dropped & visible
    np.testing.assert_allclose(w[kept], np.broadcast_to(w_eval / (1 - p_drop), w.shape)[kept])
    assert not w[~visible].any()  # padded keys stay at zero
    np.testing.assert_array_equal(sdpa(q, k, v, key_padding_mask=mask, rng=rngs[0]), w_eval)


X = np.ones((2, 3, 4, 5))
MHA_PARAMS = {"in_proj_weight": np.ones((30, 10)), "out_proj.weight": np.ones((10, 10))}
BAD_INPUTS = [
    (
        lambda: sdpa(X, X[..., :4], X),
        ValueError,
        r"q has shape \(2, 3, 4, 5\) but k has shape \(2, 3, 4, 4\)",
    ),
    (lambda: sdpa(X[0], X[0], X[0]), ValueError, "q must have 4 dimensions"),
    (lambda: sdpa(X, X[:, :, :2], X), ValueError, "k and v must share Tk"),
    (lambda: sdpa(X, X, X.astype(F32)), TypeError, "q has dtype float64 but v has dtype float32"),
    (
        lambda: sdpa(X, X, X, key_padding_mask=np.zeros((2, 4))),
        TypeError,
        "key_padding_mask must be a bool",
    ),
    (
        lambda: sdpa(X, X, X, key_padding_mask=np.zeros((2, 5), bool)),
        ValueError,
        r"key_padding_mask must have shape \(B, Tk\) = \(2, 4\), got \(2, 5\)",
    ),
    (
        lambda: mha.forward(
            MHA_PARAMS, np.ones((2, 3, 10)), np.ones((2, 3, 10)), np.ones((2, 3, 10)), 3
        ),
        ValueError,
        "num_heads = 3 must divide",
    ),
    (
        lambda: mha.forward(
            MHA_PARAMS, np.ones((2, 3, 10)), np.ones((2, 4, 8)), np.ones((2, 4, 8)), 2
        ),
        ValueError,
        "must share B and D",
    ),
    (
        lambda: mha.forward(
            MHA_PARAMS | {"q_proj_weight": np.ones((10, 10))},
            np.ones((2, 3, 10)),
            np.ones((2, 3, 10)),
            np.ones((2, 3, 10)),
            2,
        ),
        KeyError,
        r"unexpected keys \['q_proj_weight'\]",
    ),
    (
        lambda: mha.forward(
            {"in_proj_weight": np.ones((30, 10)), "out_proj.weight": np.ones((10, 9))},
            np.ones((2, 3, 10)),
            np.ones((2, 3, 10)),
            np.ones((2, 3, 10)),
            2,
        ),
        ValueError,
        r"params\['out_proj.weight'\] of multi-head attention must have shape \(10, 10\), "
        r"got \(10, 9\)",
    ),
]


@pytest.mark.parametrize("call, error, match", BAD_INPUTS)
def test_bad_inputs_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
