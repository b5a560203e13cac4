"""Gradient checking: compare a hand-written backward with central differences, in float64.

For a layer `y, cache = forward(params, x, **kwargs)` with `dx, grads = backward(dy, cache)`, pick a
random upstream gradient `dy` and look at the scalar

    L(params, x) = sum(dy * forward(params, x))

whose exact gradient is what `backward(dy, cache)` should return. Each entry of `x` and of every
parameter is nudged by ±h (the `step` argument) and

    dL/dθ_i ≈ (L(θ_i + h) − L(θ_i − h)) / (2h),

which is wrong by O(h²) (truncation) plus O(1e-16 / h) (rounding): about 1e-10 at h = 1e-6 in
float64. For each tensor the error reported is

    max_i |analytic_i − numeric_i| / max(max_i |analytic_i|, max_i |numeric_i|, 1e-8),

i.e. the worst entry relative to the tensor's own scale, so a correct backward scores ≲ 1e-8 and a
wrong one (a transposed weight, a dropped bias term) scores near 1.

Integer inputs (token ids, class targets) are not differentiated. Layers that draw random numbers
(dropout) must be given a seed, not a shared generator, so that every forward call agrees.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["GradcheckResult", "check", "assert_gradients"]

DEFAULT_TOL = 1e-7


@dataclass(frozen=True)
class Worst:
    """Where one tensor's analytic and numeric gradients differ most."""

    index: tuple[int, ...]
    analytic: float
    numeric: float


class GradcheckResult(dict):
    """`{tensor name: relative error}`, plus where each error is worst and a readable report."""

    def __init__(self, errors: dict[str, float], worst: dict[str, Worst]):
        super().__init__(errors)
        self.worst = worst

    @property
    def worst_name(self) -> str | None:
        """The tensor with the largest relative error (None if nothing was checked)."""
        return max(self, key=self.__getitem__) if self else None

    def ok(self, tol: float = DEFAULT_TOL) -> bool:
        """True when every tensor's relative error is at most `tol`."""
        return all(err <= tol for err in self.values())

    def report(self, tol: float = DEFAULT_TOL) -> str:
        """One line per tensor, worst first, each marked ok or FAIL against `tol`."""
        lines = []
        for name in sorted(self, key=self.__getitem__, reverse=True):
            w = self.worst[name]
            mark = "ok  " if self[name] <= tol else "FAIL"
            lines.append(
                f"{mark} {name:<20} rel err {self[name]:.2e}  worst at {w.index}: "
                f"analytic {w.analytic:+.6e} vs numeric {w.numeric:+.6e}"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()


def _to_float64(value: Any) -> Any:
    """Float arrays become float64 copies; anything else (ints, None, strings) passes through."""
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
        return value.astype(np.float64, copy=True)
    return value


def _inner(dy: Any, y: Any) -> float:
    """sum(dy * y), summed over every array of a (possibly nested) tuple output."""
    if isinstance(y, tuple | list):
        return float(sum(_inner(a, b) for a, b in zip(dy, y)))
    if y is None:
        return 0.0
    return float(np.sum(np.asarray(dy) * np.asarray(y)))


def _random_like(y: Any, rng: np.random.Generator) -> Any:
    if isinstance(y, tuple | list):
        return type(y)(_random_like(a, rng) for a in y)
    if y is None:
        return None
    return rng.standard_normal(np.shape(y))


def _numeric_grad(loss: Callable[[], float], t: np.ndarray, step: float) -> np.ndarray:
    """Central-difference gradient of `loss()` with respect to `t` (nudged in place, restored)."""
    grad = np.zeros_like(t)
    flat, gflat = t.reshape(-1), grad.reshape(-1)  # views: writing flat[i] writes t
    assert np.shares_memory(flat, t) or t.size == 0, "t must be contiguous"
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + step
        up = loss()
        flat[i] = orig - step
        down = loss()
        flat[i] = orig
        gflat[i] = (up - down) / (2 * step)
    return grad


def _compare(analytic: Any, numeric: np.ndarray, name: str) -> tuple[float, Worst]:
    if analytic is None:
        raise ValueError(f"backward returned None for the gradient of {name}")
    analytic = np.asarray(analytic, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(
            f"backward returned a gradient of shape {analytic.shape} for {name}, "
            f"which has shape {numeric.shape}"
        )
    if numeric.size == 0:
        return 0.0, Worst((), 0.0, 0.0)
    diff = np.abs(analytic - numeric)
    scale = max(np.abs(analytic).max(), np.abs(numeric).max(), 1e-8)
    idx = np.unravel_index(int(np.argmax(diff)), diff.shape)
    idx = tuple(int(i) for i in idx)
    return float(diff[idx] / scale), Worst(idx, float(analytic[idx]), float(numeric[idx]))


def check(
    forward: Callable[..., tuple[Any, Any]],
    backward: Callable[[Any, Any], tuple[Any, Mapping[str, np.ndarray]]],
    params: Mapping[str, np.ndarray],
    x: np.ndarray | tuple[np.ndarray, ...],
    *,
    step: float = 1e-6,
    seed: int = 0,
    input_names: tuple[str, ...] | None = None,
    **kwargs: Any,
) -> GradcheckResult:
    """Check `backward` against central differences of `forward` for `x` and every parameter.

    Args:
        forward: `forward(params, x, **kwargs) -> (y, cache)`; with a tuple `x`, it is called as
            `forward(params, *x, **kwargs)`. `y` may be an array, a scalar or a tuple of arrays.
        backward: `backward(dy, cache) -> (dx, grads)`, `dy` shaped like `y`, `grads` keyed like
            `params`; with a tuple `x`, `dx` is a tuple too. Wrap layers whose backward takes more
            arguments (e.g. `lambda dy, cache: rnn.backward(dy[0], cache, dh_n=dy[1])`).
        params: the parameters; copied to float64, never modified.
        x: the input, or a tuple of inputs. Integer inputs are not differentiated.
        step: the finite-difference step (named `step`, not `eps`, so that a layer's own `eps`
            keyword, e.g. layernorm's, passes through to `forward`).
        seed: seeds the random upstream gradient.
        input_names: names for the inputs in the report (default `x`, or `x0`, `x1`, ...).
        **kwargs: passed to `forward` unchanged except float arrays, which become float64.

    Returns:
        A `GradcheckResult`: `{name: relative error}` for each input and parameter.
    """
    params64 = {k: _to_float64(np.asarray(v)) for k, v in params.items()}
    multi = isinstance(x, tuple)
    xs = tuple(_to_float64(np.asarray(a)) for a in (x if multi else (x,)))
    kw = {k: _to_float64(v) for k, v in kwargs.items()}
    if input_names is None:
        input_names = tuple(f"x{i}" for i in range(len(xs))) if multi else ("x",)
    if len(input_names) != len(xs):
        raise ValueError(f"input_names has {len(input_names)} names for {len(xs)} inputs")

    def run() -> tuple[Any, Any]:
        return forward(params64, *xs, **kw)

    y, cache = run()
    dy = _random_like(y, np.random.default_rng(seed))
    y_again, _ = run()
    if _inner(dy, y) != _inner(dy, y_again):
        raise ValueError(
            "forward gave different outputs on two identical calls; pass a seed instead of a "
            "shared random generator so that every call draws the same numbers"
        )
    dx, grads = backward(dy, cache)
    dxs = dx if multi else (dx,)

    def loss() -> float:
        return _inner(dy, run()[0])

    errors: dict[str, float] = {}
    worst: dict[str, Worst] = {}
    for name, a, g in zip(input_names, xs, dxs):
        if np.issubdtype(a.dtype, np.floating):
            errors[name], worst[name] = _compare(g, _numeric_grad(loss, a, step), name)
    missing = sorted(set(params64) - set(grads))
    if missing:
        raise KeyError(f"backward returned no gradient for parameters {missing}")
    for name, p in params64.items():
        errors[name], worst[name] = _compare(grads[name], _numeric_grad(loss, p, step), name)
    return GradcheckResult(errors, worst)


def assert_gradients(
    forward: Callable[..., tuple[Any, Any]],
    backward: Callable[[Any, Any], tuple[Any, Mapping[str, np.ndarray]]],
    params: Mapping[str, np.ndarray],
    x: np.ndarray | tuple[np.ndarray, ...],
    *,
    tol: float = DEFAULT_TOL,
    **kwargs: Any,
) -> GradcheckResult:
    """Run `check`; raise AssertionError with the report if any tensor is off by more than tol."""
    result = check(forward, backward, params, x, **kwargs)
    if not result.ok(tol):
        raise AssertionError(f"gradient check failed (tol {tol:.0e}):\n{result.report(tol)}")
    return result
