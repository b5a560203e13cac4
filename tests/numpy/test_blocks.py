"""Every NumPy building block against its stock torch counterpart, on odd shapes.

Each case builds random non-zero parameters, an input and the torch function that the block must
equal. For every case: float64 forward and every gradient within 1e-9 (max abs), float32 within
1e-5 of the output's scale, gradcheck within 1e-7, `x + 100` finite and still equal to torch, and
backward repeatable without touching its inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from minienc import gradcheck
from minienc.numpy import activations, dropout, embedding, layernorm, linear, losses, softmax


@dataclass
class Case:
    """A block, its float64 inputs, and the torch function y = torch_fn(params, x) it must equal."""

    layer: ModuleType
    params: dict[str, np.ndarray]
    x: np.ndarray
    torch_fn: Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]
    kwargs: dict[str, Any] = field(default_factory=dict)


def rng_for(case_id: str) -> np.random.Generator:
    return np.random.default_rng(sum(map(ord, case_id)))


def linear_case(lead: tuple[int, ...], n_in: int, n_out: int, bias: bool = True):
    def make(rng: np.random.Generator) -> Case:
        module = nn.Linear(n_in, n_out, bias=bias)
        params = {"weight": rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)}
        if bias:
            params["bias"] = rng.standard_normal(n_out)
        x = rng.standard_normal((*lead, n_in))
        return Case(linear, params, x, lambda p, x: functional_call(module, p, (x,)))

    return make


def embedding_case(lead: tuple[int, ...], V: int, D: int, padding_idx: int | None = None):
    def make(rng: np.random.Generator) -> Case:
        module = nn.Embedding(V, D, padding_idx=padding_idx)
        ids = rng.integers(0, V, size=lead)
        if padding_idx is not None:
            ids.reshape(-1)[::3] = padding_idx % V  # the padding row is used, and so are others
        ids.reshape(-1)[-1] = ids.reshape(-1)[0]  # a repeated id sums two gradients
        params = {"weight": rng.standard_normal((V, D))}  # the padding row is non-zero too
        kwargs = {} if padding_idx is None else {"padding_idx": padding_idx}
        return Case(embedding, params, ids, lambda p, x: functional_call(module, p, (x,)), kwargs)

    return make


def layernorm_case(shape: tuple[int, ...], eps: float = 1e-5):
    def make(rng: np.random.Generator) -> Case:
        D = shape[-1]
        module = nn.LayerNorm(D, eps=eps)
        params = {"weight": 1 + 0.5 * rng.standard_normal(D), "bias": rng.standard_normal(D)}
        x = 2 * rng.standard_normal(shape) + 0.5
        kwargs = {"eps": eps}
        return Case(layernorm, params, x, lambda p, x: functional_call(module, p, (x,)), kwargs)

    return make


TORCH_ACTIVATIONS = {
    "relu": F.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
}


def activation_case(kind: str, shape: tuple[int, ...]):
    def make(rng: np.random.Generator) -> Case:
        x = 2 * rng.standard_normal(shape)
        fn = TORCH_ACTIVATIONS[kind]
        return Case(activations, {}, x, lambda p, x: fn(x), {"kind": kind})

    return make


def softmax_case(shape: tuple[int, ...], axis: int = -1, log: bool = False):
    def make(rng: np.random.Generator) -> Case:
        x = 3 * rng.standard_normal(shape)
        fn = F.log_softmax if log else F.softmax
        kwargs = {"axis": axis, "log": log}
        return Case(softmax, {}, x, lambda p, x: fn(x, dim=axis), kwargs)

    return make


def cross_entropy_case(
    lead: tuple[int, ...],
    C: int,
    reduction: str = "mean",
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
):
    def make(rng: np.random.Generator) -> Case:
        logits = 2 * rng.standard_normal((*lead, C))
        target = rng.integers(0, C, size=lead)
        options: dict[str, Any] = {"reduction": reduction, "label_smoothing": label_smoothing}
        if ignore_index is not None:
            options["ignore_index"] = ignore_index
            target.reshape(-1)[1::3] = ignore_index  # some ignored, most not
            target.reshape(-1)[0] = (ignore_index + 1) % C  # at least one counted
        target_t = torch.tensor(target)

        def torch_fn(p, x):
            x = x.movedim(-1, 1) if x.ndim > 1 else x  # torch wants classes on axis 1
            return F.cross_entropy(x, target_t, **options)

        return Case(losses, {}, logits, torch_fn, {"target": target, **options})

    return make


def dropout_case(shape: tuple[int, ...], p: float, seed: int = 7):
    def make(rng: np.random.Generator) -> Case:
        keep = torch.tensor(np.random.default_rng(seed).random(shape) >= p)  # dropout's mask
        x = rng.standard_normal(shape)
        kwargs = {"p": p, "training": True, "rng": seed}
        return Case(dropout, {}, x, lambda params, x: x * keep * (1 / (1 - p)), kwargs)

    return make


CASES = {
    "linear-B2T7-5to3": linear_case((2, 7), 5, 3),
    "linear-B2T1-5to9": linear_case((2, 1), 5, 9),
    "linear-nobias-B3T17-4to6": linear_case((3, 17), 4, 6, bias=False),
    "linear-2d-square-6to6": linear_case((4,), 6, 6),
    "linear-1d-3to2": linear_case((), 3, 2),
    "embedding-B2T7": embedding_case((2, 7), 11, 6),
    "embedding-pad0-B3T17": embedding_case((3, 17), 13, 5, padding_idx=0),
    "embedding-pad-neg-B2T1": embedding_case((2, 1), 5, 3, padding_idx=-1),
    "layernorm-B2T7D5": layernorm_case((2, 7, 5)),
    "layernorm-B3T1D8": layernorm_case((3, 1, 8)),
    "layernorm-eps1e-12-B2T17D6": layernorm_case((2, 17, 6), eps=1e-12),
    "layernorm-1d-D7": layernorm_case((7,)),
    **{
        f"{kind}-{'x'.join(map(str, shape))}": activation_case(kind, shape)
        for kind in activations.KINDS
        for shape in ((2, 7, 5), (3, 1, 4))
    },
    "softmax-B2T7D5": softmax_case((2, 7, 5)),
    "softmax-axis1-B2T7D5": softmax_case((2, 7, 5), axis=1),
    "softmax-B3T1D4": softmax_case((3, 1, 4)),
    "log_softmax-B2T7D5": softmax_case((2, 7, 5), log=True),
    "log_softmax-axis0-B3T1D4": softmax_case((3, 1, 4), axis=0, log=True),
    **{
        f"cross_entropy-{reduction}-{label}": cross_entropy_case((2, 7), 5, reduction, **options)
        for reduction in losses.REDUCTIONS
        for label, options in {
            "plain": {},
            "ignore-100": {"ignore_index": -100},
            "ignore-class1": {"ignore_index": 1},
            "smooth0.1": {"label_smoothing": 0.1},
            "ignore-smooth0.2": {"ignore_index": -100, "label_smoothing": 0.2},
        }.items()
    },
    "cross_entropy-mean-2d-ignore-smooth": cross_entropy_case(
        (17,), 3, ignore_index=-100, label_smoothing=0.3
    ),
    "cross_entropy-none-T1-C9": cross_entropy_case((3, 1), 9, "none", label_smoothing=0.1),
    "cross_entropy-sum-unbatched": cross_entropy_case((), 4, "sum", label_smoothing=0.1),
    "dropout-p0.3-B2T7D5": dropout_case((2, 7, 5), 0.3),
    "dropout-p0.5-B3T1D4": dropout_case((3, 1, 4), 0.5),
}
FLOAT_CASES = [k for k in CASES if not k.startswith("embedding")]


def build(case_id: str) -> Case:
    return CASES[case_id](rng_for(case_id))


def as_dtype(a: Any, dtype: type) -> Any:
    """Float arrays converted to `dtype`; anything else unchanged."""
    if isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating):
        return a.astype(dtype)
    return a


def run_numpy(case: Case, params: dict, x: np.ndarray, dy: np.ndarray, kwargs: dict):
    y, cache = case.layer.forward(params, x, **kwargs)
    dx, grads = case.layer.backward(dy, cache)
    return y, dx, grads


def run_torch(case: Case, params: dict, x: np.ndarray, dy: np.ndarray):
    p_t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    x_t = torch.tensor(x, requires_grad=np.issubdtype(x.dtype, np.floating))
    y_t = case.torch_fn(p_t, x_t)
    y_t.backward(torch.tensor(dy))
    dx = None if x_t.grad is None else x_t.grad.numpy()
    return y_t.detach().numpy(), dx, {k: v.grad.numpy() for k, v in p_t.items()}


def upstream(case: Case, x: np.ndarray, dtype: type) -> np.ndarray:
    """A random dy shaped like the block's output."""
    y, _ = case.layer.forward(case.params, x, **case.kwargs)
    return np.random.default_rng(1).standard_normal(np.shape(y)).astype(dtype)


def compare_all(ours, ref, error: Callable[[np.ndarray, np.ndarray], float], tol: float) -> None:
    y, dx, grads = ours
    y_ref, dx_ref, grads_ref = ref
    assert np.shape(y) == y_ref.shape
    assert error(y, y_ref) <= tol, f"y off by {error(y, y_ref):.2e}"
    if dx_ref is None:
        assert dx is None
    else:
        assert dx.shape == dx_ref.shape
        assert error(dx, dx_ref) <= tol, f"dx off by {error(dx, dx_ref):.2e}"
    assert set(grads) == set(grads_ref)
    for k in grads_ref:
        assert grads[k].shape == grads_ref[k].shape
        assert error(grads[k], grads_ref[k]) <= tol, (
            f"grad {k} off by {error(grads[k], grads_ref[k]):.2e}"
        )


def max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - b), initial=0.0))


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return max_abs(a, b) / max(float(np.max(np.abs(b), initial=0.0)), 1e-30)


@pytest.mark.parametrize("case_id", CASES)
def test_float64_matches_torch(case_id):
    case = build(case_id)
    dy = upstream(case, case.x, np.float64)
    ours = run_numpy(case, case.params, case.x, dy, case.kwargs)
    compare_all(ours, run_torch(case, case.params, case.x, dy), max_abs, 1e-9)
    assert np.asarray(ours[0]).dtype == np.float64


@pytest.mark.parametrize("case_id", CASES)
def test_float32_matches_torch(case_id):
    case = build(case_id)
    params = {k: v.astype(np.float32) for k, v in case.params.items()}
    x = as_dtype(case.x, np.float32)
    kwargs = {k: as_dtype(v, np.float32) for k, v in case.kwargs.items()}
    dy = upstream(case, case.x, np.float32)
    ours = run_numpy(case, params, x, dy, kwargs)
    compare_all(ours, run_torch(case, params, x, dy), relative, 1e-5)
    y, dx, grads = ours
    assert np.asarray(y).dtype == np.float32
    assert dx is None or dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())


@pytest.mark.parametrize("case_id", CASES)
def test_gradcheck(case_id):
    case = build(case_id)
    # The padding row's zero gradient is torch's convention, not the derivative, so central
    # differences would disagree there by design; torch parity covers it. Check the rest.
    kwargs = {k: v for k, v in case.kwargs.items() if k != "padding_idx"}
    result = gradcheck.check(case.layer.forward, case.layer.backward, case.params, case.x, **kwargs)
    assert result.ok(1e-7), result.report(1e-7)
    expected = set(case.params) | ({"x"} if np.issubdtype(case.x.dtype, np.floating) else set())
    assert set(result) == expected


@pytest.mark.parametrize("case_id", FLOAT_CASES)
def test_large_offset_stays_finite_and_exact(case_id):
    case = build(case_id)
    x = case.x + 100
    dy = upstream(case, x, np.float64)
    ours = run_numpy(case, case.params, x, dy, case.kwargs)
    ref = run_torch(case, case.params, x, dy)
    scale = max(1.0, float(np.max(np.abs(ref[0]))))
    compare_all(ours, ref, lambda a, b: max_abs(a, b) / scale, 1e-9)
    params32 = {k: v.astype(np.float32) for k, v in case.params.items()}
    kwargs32 = {k: as_dtype(v, np.float32) for k, v in case.kwargs.items()}
    y, dx, grads = run_numpy(case, params32, x.astype(np.float32), dy.astype(np.float32), kwargs32)
    for a in (y, dx, *grads.values()):
        assert np.all(np.isfinite(a))


@pytest.mark.parametrize("case_id", CASES)
def test_backward_is_repeatable_and_leaves_inputs_alone(case_id):
    case = build(case_id)
    x = case.x.copy()
    params = {k: v.copy() for k, v in case.params.items()}
    dy = upstream(case, x, np.float64)
    dy_copy = dy.copy()
    y, cache = case.layer.forward(params, x, **case.kwargs)
    first = case.layer.backward(dy, cache)
    second = case.layer.backward(dy, cache)
    np.testing.assert_array_equal(x, case.x)
    for k in params:
        np.testing.assert_array_equal(params[k], case.params[k])
    np.testing.assert_array_equal(dy, dy_copy)
    if first[0] is not None:
        np.testing.assert_array_equal(first[0], second[0])
    for k in first[1]:
        np.testing.assert_array_equal(first[1][k], second[1][k])
    assert set(first[1]) == set(params)


@pytest.mark.parametrize("fn", [softmax.softmax, softmax.log_softmax], ids=["softmax", "log"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_is_shift_invariant_at_large_offsets(fn, dtype):
    x = np.random.default_rng(0).standard_normal((3, 7, 5)).astype(dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        shifted = fn(x + dtype(1000))
    np.testing.assert_allclose(
        shifted, fn(x), rtol=1e-4 if dtype == np.float32 else 1e-9, atol=1e-4
    )


@pytest.mark.parametrize("kind", activations.KINDS)
def test_activations_do_not_overflow(kind):
    x = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y, cache = activations.forward({}, x, kind=kind)
        dx, _ = activations.backward(np.ones_like(x), cache)
    y_ref = TORCH_ACTIVATIONS[kind](torch.tensor(x)).numpy()
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-300)
    assert np.all(np.isfinite(dx))


def test_plain_functions_equal_the_layer():
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    for kind in activations.KINDS:
        np.testing.assert_array_equal(
            getattr(activations, kind)(x), activations.forward({}, x, kind)[0]
        )
    np.testing.assert_array_equal(softmax.softmax(x, axis=1), softmax.forward({}, x, axis=1)[0])
    np.testing.assert_array_equal(softmax.log_softmax(x), softmax.forward({}, x, log=True)[0])
    logits, target = x.reshape(6, 4), np.array([0, 3, -100, 1, 2, 2])
    for reduction in losses.REDUCTIONS:
        np.testing.assert_array_equal(
            losses.cross_entropy(logits, target, label_smoothing=0.1, reduction=reduction),
            losses.forward({}, logits, target, label_smoothing=0.1, reduction=reduction)[0],
        )
