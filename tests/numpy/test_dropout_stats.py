"""Dropout: its statistics, its evaluation mode and seeds, and torch's kernels on the same mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from minienc.numpy import dropout

X = np.random.default_rng(0).standard_normal((4, 17, 33)) + 3  # no zeros: y == 0 means dropped


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_fraction_kept_and_scale(p):
    x = np.ones((200, 500))
    y, _ = dropout.forward({}, x, p=p, rng=0)
    kept = y != 0
    n = x.size
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)  # 5 standard deviations
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-15)
    assert abs(y.mean() - 1) < 5 * np.sqrt(p / (1 - p) / n)  # inverted dropout keeps E[y] = x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [0.2, 0.7])
def test_kept_entries_are_scaled_and_the_rest_zero(p, dtype):
    x = X.astype(dtype)
    y, cache = dropout.forward({}, x, p=p, rng=3)
    dy = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
    dx, grads = dropout.backward(dy, cache)
    kept = y != 0
    assert y.dtype == dx.dtype == dtype and grads == {}
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-6)
    np.testing.assert_allclose(dx[kept], dy[kept] / (1 - p), rtol=1e-6)
    assert np.all(dx[~kept] == 0)


@pytest.mark.parametrize("kwargs", [{"training": False}, {"p": 0.0}], ids=["eval", "p0"])
def test_identity_in_eval_and_at_p0(kwargs):
    y, cache = dropout.forward({}, X, **{"p": 0.5, "rng": 0, **kwargs})
    np.testing.assert_array_equal(y, X)
    dy = np.ones_like(X)
    np.testing.assert_array_equal(dropout.backward(dy, cache)[0], dy)


def test_p1_drops_everything_without_nan():
    with np.errstate(all="raise"):
        y, cache = dropout.forward({}, X, p=1.0, rng=0)
        dx, _ = dropout.backward(np.ones_like(X), cache)
    assert np.all(y == 0) and np.all(dx == 0)


def test_same_seed_same_mask_other_seed_other_mask():
    y1, _ = dropout.forward({}, X, p=0.5, rng=42)
    y2, _ = dropout.forward({}, X, p=0.5, rng=42)
    y3, _ = dropout.forward({}, X, p=0.5, rng=43)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(y1 != 0, y3 != 0)


def test_generator_advances_between_calls():
    gen = np.random.default_rng(0)
    y1, _ = dropout.forward({}, X, p=0.5, rng=gen)
    y2, _ = dropout.forward({}, X, p=0.5, rng=gen)
    assert not np.array_equal(y1 != 0, y2 != 0)
    y3, _ = dropout.forward({}, X, p=0.5, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(y1, y3)


def test_mask_is_the_documented_draw():
    p, seed = 0.3, 5
    y, _ = dropout.forward({}, X, p=p, rng=seed)
    keep = np.random.default_rng(seed).random(X.shape) >= p
    np.testing.assert_array_equal(y != 0, keep)


@pytest.mark.parametrize("p", [0.25, 0.6])
def test_torch_kernels_agree_on_the_same_mask(p):
    """torch's native dropout forward and backward kernels, fed our mask, give our numbers."""
    y, cache = dropout.forward({}, X, p=p, rng=11)
    dy = np.random.default_rng(2).standard_normal(X.shape)
    dx, _ = dropout.backward(dy, cache)
    mask = torch.tensor(y != 0)
    scale = 1 / (1 - p)
    dx_torch = torch.ops.aten.native_dropout_backward(torch.tensor(dy), mask, scale)
    np.testing.assert_allclose(dx, dx_torch.numpy(), rtol=0, atol=1e-15)

    # torch's own forward draws its own mask, but scales what it keeps exactly as we do
    y_torch, mask_torch = torch.native_dropout(torch.tensor(X), p, True)
    both = mask_torch.numpy() & (y != 0)
    assert both.any()
    np.testing.assert_allclose(y[both], y_torch.numpy()[both], rtol=0, atol=1e-15)
    assert np.all(y_torch.numpy()[~mask_torch.numpy()] == 0)
