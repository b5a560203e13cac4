"""Cross-entropy corner cases beyond the parametrized torch comparisons in test_blocks.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from minienc.numpy import losses

LOGITS = np.random.default_rng(0).standard_normal((2, 3, 4))


def test_all_ignored_mean_is_zero_not_nan():
    target = np.full((2, 3), -100)
    with np.errstate(all="raise"):
        loss, cache = losses.forward({}, LOGITS, target)
        dlogits, _ = losses.backward(np.float64(1.0), cache)
    assert loss == 0.0
    assert np.all(dlogits == 0)
    ref = F.cross_entropy(torch.tensor(LOGITS).movedim(-1, 1), torch.tensor(target))
    assert torch.isnan(ref)  # the documented difference from torch


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_all_ignored_sum_and_none_match_torch(reduction):
    target = np.full((2, 3), 2)
    loss, cache = losses.forward({}, LOGITS, target, ignore_index=2, reduction=reduction)
    ref = F.cross_entropy(
        torch.tensor(LOGITS).movedim(-1, 1),
        torch.tensor(target),
        ignore_index=2,
        reduction=reduction,
    )
    np.testing.assert_array_equal(loss, ref.numpy())
    dlogits, _ = losses.backward(np.ones(np.shape(loss)), cache)
    assert np.all(dlogits == 0)


def test_none_is_zero_at_ignored_positions_and_mean_averages_the_rest():
    target = np.array([[0, -100, 3], [2, 2, -100]])
    per_pos, _ = losses.forward({}, LOGITS, target, reduction="none", label_smoothing=0.2)
    mean, _ = losses.forward({}, LOGITS, target, label_smoothing=0.2)
    assert per_pos[0, 1] == 0 and per_pos[1, 2] == 0
    np.testing.assert_allclose(mean, per_pos.sum() / 4, rtol=1e-15)


def test_full_smoothing_is_cross_entropy_with_the_uniform_distribution():
    target = np.array([[0, 1, 3], [2, 2, 1]])
    loss, _ = losses.forward({}, LOGITS, target, label_smoothing=1.0, reduction="none")
    logp = LOGITS - np.log(np.exp(LOGITS).sum(-1, keepdims=True))
    np.testing.assert_allclose(loss, -logp.mean(-1), rtol=1e-13)


def test_gradient_rows_sum_to_zero():
    """p - q sums to 0 over classes: the gradient never shifts all logits of a row together."""
    target = np.array([[0, 1, 3], [2, -100, 1]])
    _, cache = losses.forward({}, LOGITS, target, label_smoothing=0.1, reduction="sum")
    dlogits, _ = losses.backward(np.float64(1.0), cache)
    np.testing.assert_allclose(dlogits.sum(-1), 0, atol=1e-15)
