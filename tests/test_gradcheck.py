"""minienc.gradcheck passes correct backwards and catches planted bugs, naming the tensor."""

from __future__ import annotations

import numpy as np
import pytest

from minienc import gradcheck
from minienc.numpy import dropout, layernorm, linear, losses

rng = np.random.default_rng(0)
X = rng.standard_normal((2, 3, 4))
SQUARE = {"weight": rng.standard_normal((4, 4)), "bias": rng.standard_normal(4)}
WIDE = {"weight": rng.standard_normal((6, 4)), "bias": rng.standard_normal(6)}
LN = {"weight": 1 + 0.5 * rng.standard_normal(4), "bias": rng.standard_normal(4)}


def linear_backward_transposed(dy, cache):
    """Bug: dx uses Wᵀ instead of W (shapes still fit because W is square)."""
    x, w, _ = cache
    dx, grads = linear.backward(dy, cache)
    return dy @ w.T, grads


def linear_backward_no_bias_grad(dy, cache):
    """Bug: the bias gradient term Σ dy is dropped."""
    dx, grads = linear.backward(dy, cache)
    return dx, {**grads, "bias": np.zeros_like(grads["bias"])}


def layernorm_backward_no_mean_term(dy, cache):
    """Bug: dx forgets the `- mean(g)` term that comes from subtracting the mean."""
    xhat, rstd, w = cache
    _, grads = layernorm.backward(dy, cache)
    g = dy * w
    return rstd * (g - xhat * (g * xhat).mean(axis=-1, keepdims=True)), grads


@pytest.mark.parametrize("params", [SQUARE, WIDE], ids=["square", "wide"])
def test_correct_linear_passes(params):
    result = gradcheck.check(linear.forward, linear.backward, params, X)
    assert result.ok(1e-7), result.report()
    assert set(result) == {"x", "weight", "bias"}
    assert max(result.values()) < 1e-8
    gradcheck.assert_gradients(linear.forward, linear.backward, params, X)


@pytest.mark.parametrize(
    "forward, backward, params, culprit",
    [
        (linear.forward, linear_backward_transposed, SQUARE, "x"),
        (linear.forward, linear_backward_no_bias_grad, SQUARE, "bias"),
        (layernorm.forward, layernorm_backward_no_mean_term, LN, "x"),
    ],
    ids=["transposed-weight", "dropped-bias-grad", "layernorm-no-mean-term"],
)
def test_planted_bug_fails_and_names_the_tensor(forward, backward, params, culprit):
    result = gradcheck.check(forward, backward, params, X)
    assert not result.ok(1e-7)
    assert result.worst_name == culprit
    assert result[culprit] > 1e-2
    failing = [line for line in result.report(1e-7).splitlines() if line.startswith("FAIL")]
    assert failing and failing[0].split()[1] == culprit
    others = {k: v for k, v in result.items() if k != culprit}
    assert all(v < 1e-7 for v in others.values()), result.report()
    with pytest.raises(AssertionError, match=f"FAIL {culprit} "):
        gradcheck.assert_gradients(forward, backward, params, X)


def test_non_deterministic_forward_raises():
    gen = np.random.default_rng(0)  # a shared generator draws a new mask on every call
    with pytest.raises(ValueError, match="different outputs on two identical calls"):
        gradcheck.check(dropout.forward, dropout.backward, {}, X, p=0.5, rng=gen)


def test_seeded_randomness_is_fine():
    result = gradcheck.check(dropout.forward, dropout.backward, {}, X, p=0.5, rng=3)
    assert result.ok(1e-7), result.report()


def test_missing_grad_key_raises_key_error():
    def backward(dy, cache):
        dx, grads = linear.backward(dy, cache)
        return dx, {"weight": grads["weight"]}

    with pytest.raises(KeyError, match=r"no gradient for parameters \['bias'\]"):
        gradcheck.check(linear.forward, backward, SQUARE, X)


def test_wrong_shaped_grad_raises_value_error():
    def backward(dy, cache):
        dx, grads = linear.backward(dy, cache)
        return dx, {**grads, "weight": grads["weight"][:, :2]}

    with pytest.raises(ValueError, match=r"shape \(4, 2\) for weight, which has shape \(4, 4\)"):
        gradcheck.check(linear.forward, backward, SQUARE, X)


def bilinear_forward(params, a, b):
    """y = (a W) ⊙ b: two differentiable inputs and one parameter."""
    return (a @ params["weight"]) * b, (a, b, params["weight"])


def bilinear_backward(dy, cache):
    a, b, w = cache
    da = (dy * b) @ w.T
    db = dy * (a @ w)
    dw = a.reshape(-1, a.shape[-1]).T @ (dy * b).reshape(-1, b.shape[-1])  # (in, N) @ (N, out)
    return (da, db), {"weight": dw}


def test_tuple_inputs_are_checked_by_name():
    params = {"weight": rng.standard_normal((4, 5))}
    b = rng.standard_normal((2, 3, 5))
    result = gradcheck.check(bilinear_forward, bilinear_backward, params, (X, b))
    assert result.ok(1e-7), result.report()
    assert set(result) == {"x0", "x1", "weight"}

    def swapped(dy, cache):
        (da, db), grads = bilinear_backward(dy, cache)
        return (da, -db), grads

    bad = gradcheck.check(bilinear_forward, swapped, params, (X, b), input_names=("a", "b"))
    assert bad.worst_name == "b" and bad["a"] < 1e-7 and bad["b"] > 1


def test_integer_inputs_in_a_tuple_are_skipped():
    logits = rng.standard_normal((2, 3, 5))
    target = np.array([[0, 4, 2], [1, -100, 3]])

    def backward(dloss, cache):
        dlogits, grads = losses.backward(dloss, cache)
        return (dlogits, None), grads

    result = gradcheck.check(
        losses.forward,
        backward,
        {},
        (logits, target),
        input_names=("logits", "target"),
        label_smoothing=0.1,
    )
    assert result.ok(1e-7), result.report()
    assert set(result) == {"logits"}
