"""Pooling equals a torch autograd reference, forward and backward, and passes gradcheck."""

import numpy as np
import pytest
import torch

from minienc.gradcheck import assert_gradients
from minienc.numpy import pooling


def torch_pool(h, mask, mode, weight=None):
    real = ~mask
    if mode == "cls":
        return h[:, 0] * real[:, :1]
    if mode == "last":
        last = real.shape[1] - 1 - torch.argmax(real.flip(1).to(torch.int64), dim=1)
        return h[torch.arange(h.shape[0]), last] * real.any(1, keepdim=True)
    if mode == "mean":
        n = real.sum(1, keepdim=True).clamp(min=1)
        return (h * real[..., None]).sum(1) / n
    if mode == "max":
        y = h.masked_fill(mask[..., None], float("-inf")).amax(1)
        return torch.where(real.any(1, keepdim=True), y, torch.zeros_like(y))
    scores = (h @ weight.T)[..., 0].masked_fill(mask, float("-inf"))
    a = torch.nan_to_num(torch.softmax(scores, dim=1), nan=0.0)  # all-padding rows: 0/0
    return torch.einsum("bt,btd->bd", a, h)


def make_case(seed, B=4, T=7, D=5):
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((B, T, D))
    lengths = np.array([T, 1, 0, 3])[:B]
    mask = np.arange(T)[None, :] >= lengths[:, None]  # (B, T), row 2 is all padding
    params = {"weight": rng.standard_normal((1, D))}
    return h, mask, params


@pytest.mark.parametrize("mode", pooling.MODES)
@pytest.mark.parametrize("T", [1, 7, 17])
def test_pooling_equals_torch_float64(mode, T):
    h, mask, params = make_case(T, T=T)
    mask[:, 0] = mask[:, 0] & (np.arange(4) == 2)  # only row 2 is entirely padding
    p = params if mode == "weighted_mean" else None
    y, cache = pooling.forward(h, mask, mode, params=p)
    dy = np.random.default_rng(99).standard_normal(y.shape)
    dh, grads = pooling.backward(dy, cache)

    ht = torch.tensor(h, requires_grad=True)
    wt = torch.tensor(params["weight"], requires_grad=True)
    yt = torch_pool(ht, torch.tensor(mask), mode, wt)
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(dh, ht.grad.numpy(), rtol=0, atol=1e-9)
    if mode == "weighted_mean":
        np.testing.assert_allclose(grads["weight"], wt.grad.numpy(), rtol=0, atol=1e-9)
    assert np.all(y[2] == 0) and np.all(dh[2] == 0)  # the all-padding row


@pytest.mark.parametrize("mode", pooling.MODES)
def test_pooling_gradcheck(mode):
    h, mask, params = make_case(1)
    p = params if mode == "weighted_mean" else {}

    def fwd(p, h):
        return pooling.forward(h, mask, mode, params=p or None)

    assert_gradients(fwd, pooling.backward, p, h, tol=1e-7)


def test_padding_content_does_not_matter_and_float32_matches():
    h, mask, params = make_case(2)
    noisy = np.where(mask[..., None], 1e3, h)
    for mode in pooling.MODES:
        p = params if mode == "weighted_mean" else None
        y, _ = pooling.forward(h, mask, mode, params=p)
        y_noisy, _ = pooling.forward(noisy, mask, mode, params=p)
        np.testing.assert_allclose(y, y_noisy, atol=1e-12, err_msg=mode)
        p32 = {k: v.astype(np.float32) for k, v in params.items()} if p else None
        y32, _ = pooling.forward(h.astype(np.float32), mask, mode, params=p32)
        assert y32.dtype == np.float32
        np.testing.assert_allclose(y32, y, atol=1e-5 * max(1.0, np.abs(y).max()), err_msg=mode)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mode": "sum"}, ValueError, "mode must be one of"),
        ({"mask": np.zeros((4, 7), dtype=int)}, TypeError, "mask must be a bool array"),
        ({"mask": np.zeros((4, 6), dtype=bool)}, ValueError, r"mask has shape \(4, 6\)"),
        ({"h": np.zeros((4, 7))}, ValueError, r"h must have 3 dimensions"),
        ({"h": np.zeros((4, 7, 5), dtype=int)}, TypeError, "h must be a floating-point"),
        ({"mode": "weighted_mean"}, KeyError, "missing"),
        ({"mode": "weighted_mean", "params": {"weight": np.zeros((5,))}}, ValueError, "weight"),
        ({"params": {"weight": np.zeros((1, 5))}}, KeyError, r"unexpected keys \['weight'\]"),
    ],
)
def test_bad_input_is_named(kwargs, error, match):
    h, mask, _ = make_case(3)
    args = {"h": h, "mask": mask, "mode": "mean", "params": None, **kwargs}
    with pytest.raises(error, match=match):
        pooling.forward(**args)
