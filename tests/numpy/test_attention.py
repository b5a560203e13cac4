"""Scaled dot-product attention against torch.nn.functional.scaled_dot_product_attention.

Shapes are odd on purpose (Tq ≠ Tk, T in {1, 7, 17, 129}, Dh not a power of two) and every padding
mask has one batch element whose keys are all padding: torch returns zeros there, and so must we.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from minienc import gradcheck
from minienc.numpy import attention

# (B, H, Tq, Tk, Dh)
SHAPES = [(2, 2, 1, 1, 3), (3, 2, 17, 7, 5), (3, 3, 7, 17, 4), (2, 2, 17, 17, 6)]


def make_inputs(shape, seed=0, dtype=np.float64, padded=True):
    B, H, Tq, Tk, Dh = shape
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((B, H, Tq, Dh)).astype(dtype)
    k = rng.standard_normal((B, H, Tk, Dh)).astype(dtype)
    v = rng.standard_normal((B, H, Tk, Dh)).astype(dtype)
    mask = None
    if padded:
        mask = rng.random((B, Tk)) < 0.4
        mask[0] = False  # one element without padding
        mask[-1] = True  # one element whose keys are all padding
    return q, k, v, mask


def torch_attention(q, k, v, mask, causal):
    """torch's SDPA with the padding and causal masks folded into one boolean attn_mask."""
    Tq, Tk = q.shape[2], k.shape[2]
    allowed = torch.ones(Tq, Tk, dtype=torch.bool)
    if causal:
        allowed = allowed.tril()  # top-left aligned, as is_causal
    if mask is not None:
        allowed = allowed & ~torch.from_numpy(mask)[:, None, None, :]
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)


def run_both(q, k, v, mask, causal, seed=1):
    """Our forward+backward and torch's, with the same random upstream gradient."""
    y, cache = attention.scaled_dot_product_attention(q, k, v, key_padding_mask=mask, causal=causal)
    dy = np.random.default_rng(seed).standard_normal(y.shape).astype(q.dtype)
    dxs, grads = attention.backward(dy, cache)
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    ty = torch_attention(tq, tk, tv, mask, causal)
    ty.backward(torch.from_numpy(dy))
    ref = (ty.detach().numpy(), tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy())
    return (y, *dxs), ref, grads, cache


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_matches_torch_float64(shape, causal, padded):
    q, k, v, mask = make_inputs(shape, padded=padded)
    ours, ref, grads, _ = run_both(q, k, v, mask, causal)
    assert grads == {}
    for name, a, b in zip(("y", "dq", "dk", "dv"), ours, ref):
        assert a.shape == b.shape and a.dtype == np.float64
        assert np.abs(a - b).max() <= 1e-9, name


def test_long_sequence_matches_torch():
    q, k, v, mask = make_inputs((2, 2, 129, 129, 5))
    ours, ref, _, _ = run_both(q, k, v, mask, causal=True)
    for name, a, b in zip(("y", "dq", "dk", "dv"), ours, ref):
        assert np.abs(a - b).max() <= 1e-9, name


def test_causal_is_top_left_aligned_like_is_causal():
    q, k, v, _ = make_inputs((2, 2, 5, 9, 4), padded=False)
    y, _ = attention.scaled_dot_product_attention(q, k, v, causal=True)
    ref = F.scaled_dot_product_attention(*map(torch.from_numpy, (q, k, v)), is_causal=True)
    assert np.abs(y - ref.numpy()).max() <= 1e-12


def test_all_padded_rows_give_zeros_and_zero_gradients():
    q, k, v, mask = make_inputs((3, 2, 7, 5, 4))
    (y, dq, dk, dv), _, _, cache = run_both(q, k, v, mask, causal=False)
    assert mask[-1].all()
    for a in (y, dq, dk, dv):
        assert np.isfinite(a).all()
        assert not a[-1].any()  # the fully padded batch element
    assert not cache.weights[-1].any()
    # Everywhere else the weights are a distribution over the visible keys.
    np.testing.assert_allclose(cache.weights[:-1].sum(axis=-1), 1.0, atol=1e-12)
    assert not cache.weights[:-1][np.broadcast_to(mask[:-1, None, None, :], (2, 2, 7, 5))].any()


def test_causal_with_leading_padding_leaves_first_queries_empty():
    q, k, v, _ = make_inputs((1, 2, 4, 4, 3), padded=False)
    mask = np.array([[True, True, False, False]])  # queries 0 and 1 see only padding
    ours, ref, _, _ = run_both(q, k, v, mask, causal=True)
    assert not ours[0][:, :, :2].any()
    for a, b in zip(ours, ref):
        assert np.abs(a - b).max() <= 1e-9


def test_weights_match_softmax_reference():
    q, k, v, mask = make_inputs((2, 3, 7, 17, 4))
    _, cache = attention.scaled_dot_product_attention(q, k, v, key_padding_mask=mask)
    scores = torch.from_numpy(q) @ torch.from_numpy(k).transpose(-1, -2) / np.sqrt(4)
    scores = scores.masked_fill(torch.from_numpy(mask)[:, None, None, :], -torch.inf)
    ref = torch.softmax(scores, dim=-1).nan_to_num(0.0).numpy()  # all-padded rows: 0 (not NaN)
    assert cache.weights.shape == (2, 3, 7, 17)
    assert np.abs(cache.weights - ref).max() <= 1e-12


@pytest.mark.parametrize("causal", [False, True])
def test_gradcheck(causal):
    q, k, v, mask = make_inputs((2, 2, 3, 4, 3))
    mask[0, 1] = True  # padding in the first element as well

    def fwd(params, q, k, v, **kw):
        return attention.scaled_dot_product_attention(q, k, v, **kw)

    gradcheck.assert_gradients(
        fwd,
        attention.backward,
        {},
        (q, k, v),
        tol=1e-7,
        input_names=("q", "k", "v"),
        key_padding_mask=mask,
        causal=causal,
    )


def test_gradcheck_with_dropout_on_the_weights():
    q, k, v, mask = make_inputs((2, 2, 3, 4, 3))

    def fwd(params, q, k, v, **kw):
        return attention.scaled_dot_product_attention(q, k, v, **kw)

    kw = {"key_padding_mask": mask, "dropout_p": 0.3, "rng": 7}
    y1, _ = fwd({}, q, k, v, **kw)
    y0, _ = fwd({}, q, k, v, key_padding_mask=mask)
    assert np.array_equal(y1, fwd({}, q, k, v, **kw)[0])  # a seed fixes the mask
    assert not np.allclose(y1, y0)  # and dropout did something
    gradcheck.assert_gradients(fwd, attention.backward, {}, (q, k, v), tol=1e-7, **kw)


@pytest.mark.parametrize("causal", [False, True])
def test_float32_matches_torch(causal):
    q, k, v, mask = make_inputs((3, 2, 17, 7, 5), dtype=np.float32)
    ours, ref, _, _ = run_both(q, k, v, mask, causal)
    for name, a, b in zip(("y", "dq", "dk", "dv"), ours, ref):
        assert a.dtype == np.float32
        assert np.abs(a - b).max() <= 1e-5 * np.abs(b).max(), name


@pytest.mark.parametrize("shift, scale", [(100.0, 1.0), (0.0, 1e3), (0.0, 1e6)])
def test_large_scores_stay_finite(shift, scale):
    q, k, v, mask = make_inputs((2, 2, 7, 5, 4))
    q, k = (q + shift) * scale, (k + shift) * scale
    y, cache = attention.scaled_dot_product_attention(q, k, v, key_padding_mask=mask)
    (dq, dk, dv), _ = attention.backward(np.ones_like(y), cache)
    for a in (y, dq, dk, dv, cache.weights):
        assert np.isfinite(a).all()
    ref = torch_attention(*map(torch.from_numpy, (q, k, v)), mask, causal=False).numpy()
    assert np.abs(y - ref).max() <= 1e-9


def test_backward_twice_gives_the_same_and_leaves_cache_alone():
    q, k, v, mask = make_inputs((2, 2, 5, 6, 3))
    y, cache = attention.scaled_dot_product_attention(q, k, v, key_padding_mask=mask)
    dy = np.random.default_rng(3).standard_normal(y.shape)
    first, _ = attention.backward(dy, cache)
    second, _ = attention.backward(dy, cache)
    for a, b in zip(first, second):
        assert np.array_equal(a, b)


def test_bad_inputs_raise_clear_errors():
    q, k, v, mask = make_inputs((2, 2, 5, 6, 3))
    sdpa = attention.scaled_dot_product_attention
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(B, Tk\) = \(2, 6\)"):
        sdpa(q, k, v, key_padding_mask=mask[:, :5])
    with pytest.raises(TypeError, match="key_padding_mask must be a bool array.*float64"):
        sdpa(q, k, v, key_padding_mask=mask.astype(np.float64))
    with pytest.raises(ValueError, match=r"q has shape \(2, 2, 5, 3\) but k has shape .*last"):
        sdpa(q, k[..., :2], v)
    with pytest.raises(ValueError, match="must share"):
        sdpa(q, k, v[:, :, :4])
    with pytest.raises(ValueError, match=r"q must have 4 dimensions \(B, H, T, Dh\)"):
        sdpa(q[0], k, v)
    with pytest.raises(TypeError, match="k has dtype float32"):
        sdpa(q, k.astype(np.float32), v)
    with pytest.raises(TypeError, match="floating-point"):
        sdpa(q.astype(np.int64), k, v)
    _, cache = sdpa(q, k, v)
    with pytest.raises(ValueError, match="dy has shape"):
        attention.backward(np.ones((2, 2, 5, 4)), cache)
