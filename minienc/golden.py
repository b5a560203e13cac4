"""Golden references: check a layer against numbers torch computed, without importing torch.

`tests/golden/<name>.npz` files are written by `tests/golden/make_golden.py` from torch in float64.
Each holds

    inputs        the names of the positional inputs, in order (a string array)
    <input name>  each input, e.g. `x`, `ids`, `logits`, `target`
    param.<key>   the parameters, keyed like torch's `state_dict()`
    kwarg.<name>  the keyword arguments, as 0-d arrays
    y             torch's output
    dy            a random upstream gradient, shaped like y
    dx            the gradient of sum(dy * y) with respect to the first input (absent for ids)
    grad.<key>    the same for each parameter

`check_against_golden(name, forward, backward)` calls `forward(params, *inputs, **kwargs)` and
`backward(dy, cache)` on the stored numbers and compares y, dx and every gradient by their largest
absolute difference. The dropout reference uses the mask `rng.random(x.shape) >= p` with
`rng = np.random.default_rng(seed)`, the convention of `minienc.numpy.dropout`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["GOLDEN_DIR", "NAMES", "DEFAULT_TOL", "GoldenResult", "load", "check_against_golden"]

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "tests" / "golden"

NAMES = (
    "linear",
    "embedding",
    "layernorm",
    "activations_relu",
    "activations_tanh",
    "activations_sigmoid",
    "activations_gelu",
    "activations_gelu_tanh",
    "softmax",
    "log_softmax",
    "dropout",
    "cross_entropy",
    "attention",
)

DEFAULT_TOL = 1e-9


def load(name: str, folder: str | Path | None = None) -> dict[str, np.ndarray]:
    """Read `tests/golden/<name>.npz` (or `<folder>/<name>.npz`) into a dict of arrays."""
    folder = GOLDEN_DIR if folder is None else Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"golden folder {folder} not found: minienc.golden reads tests/golden/ of a minienc "
            "repository checkout (install minienc from a clone with `pip install -e .`), or "
            "regenerate it with `python tests/golden/make_golden.py`"
        )
    path = folder / f"{name}.npz"
    if not path.is_file():
        have = sorted(p.stem for p in folder.glob("*.npz"))
        raise FileNotFoundError(f"no golden file {path}; available names: {have}")
    with np.load(path) as f:
        return {key: f[key] for key in f.files}


@dataclass
class GoldenResult:
    """The outcome of `check_against_golden`: max abs error per tensor, and what went wrong."""

    name: str
    tol: float
    errors: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every tensor is within `tol` of the reference."""
        return all(err <= self.tol for err in self.errors.values())

    @property
    def worst_name(self) -> str | None:
        """The tensor furthest from the reference, e.g. "y", "dx" or "grad weight"."""
        return max(self.errors, key=self.errors.__getitem__) if self.errors else None

    @property
    def error(self) -> float:
        """The largest max-abs error over all tensors (inf for a missing or wrong-shaped one)."""
        return max(self.errors.values(), default=0.0)

    def __str__(self) -> str:
        worst = self.worst_name
        if worst is None:
            return f"{self.name}: nothing compared"
        if self.ok:
            return f"{self.name}: PASS (worst: {worst}, max abs err {self.error:.1e})"
        detail = self.notes.get(worst, f"max abs err {self.error:.1e} > tol {self.tol:.0e}")
        others = [k for k, e in self.errors.items() if e > self.tol and k != worst]
        also = f"; also failing: {', '.join(others)}" if others else ""
        return f"{self.name}: FAIL (worst: {worst}, {detail}{also})"

    def __bool__(self) -> bool:
        return self.ok


def _compare(result: GoldenResult, label: str, got: Any, want: np.ndarray) -> None:
    """Record the max abs error of `got` against `want` under `label`, or why it can't be had."""
    if got is None:
        result.errors[label] = float("inf")
        result.notes[label] = f"got None instead of an array of shape {want.shape}"
        return
    got = np.asarray(got)
    if got.shape != want.shape:
        result.errors[label] = float("inf")
        result.notes[label] = f"got shape {got.shape} but the reference has shape {want.shape}"
        return
    if want.size == 0:
        result.errors[label] = 0.0
        return
    err = float(np.max(np.abs(got.astype(np.float64) - want)))
    if not np.isfinite(err):
        result.errors[label] = float("inf")
        result.notes[label] = "got nan or inf"
        return
    result.errors[label] = err


def check_against_golden(
    name: str,
    forward: Callable[..., Any],
    backward: Callable[[Any, Any], tuple[Any, Mapping[str, Any]]] | None = None,
    tol: float | None = None,
) -> GoldenResult:
    """Run a layer on the stored inputs and compare its outputs and gradients with torch's.

    Args:
        name: a golden name, one of `NAMES` (e.g. "layernorm", "activations_gelu").
        forward: `forward(params, *inputs, **kwargs)`, called with the stored inputs, parameters
            and keyword arguments (see `load(name)`). It returns `(y, cache)`, or just `y` when
            `backward` is None.
        backward: `backward(dy, cache) -> (dx, grads)`, or None to check the forward only. A
            tuple dx (one entry per input) is compared entry by entry where the file holds
            `dx.<name>` for each input, else by its first entry.
        tol: the largest max-abs difference allowed per tensor (default 1e-9, for float64).

    Returns:
        A `GoldenResult`: `.ok`, `.worst_name`, `.error`, and `str()` a one-line verdict.
    """
    ref = load(name)
    tol = DEFAULT_TOL if tol is None else tol
    inputs = [ref[str(n)].copy() for n in ref["inputs"]]
    params = {k.removeprefix("param."): v.copy() for k, v in ref.items() if k.startswith("param.")}
    kwargs = {
        k.removeprefix("kwarg."): v.item() if v.ndim == 0 else v.copy()  # masks stay arrays
        for k, v in ref.items()
        if k.startswith("kwarg.")
    }
    result = GoldenResult(name, tol)

    out = forward(params, *inputs, **kwargs)
    if backward is None:
        y = out[0] if isinstance(out, tuple) else out
    else:
        y, cache = out
    _compare(result, "y", y, ref["y"])
    if backward is None:
        return result

    dx, grads = backward(ref["dy"].copy(), cache)
    names = [str(n) for n in ref["inputs"]]
    if isinstance(dx, tuple | list) and any(f"dx.{n}" in ref for n in names):
        for n, d in zip(names, dx):  # one gradient per input, e.g. (dq, dk, dv)
            if f"dx.{n}" in ref:
                _compare(result, f"dx.{n}", d, ref[f"dx.{n}"])
    elif "dx" in ref:
        _compare(result, "dx", dx[0] if isinstance(dx, tuple | list) else dx, ref["dx"])
    grads = {} if grads is None else grads
    for key in [k.removeprefix("grad.") for k in ref if k.startswith("grad.")]:
        label = f"grad {key}"
        if key not in grads:
            result.errors[label] = float("inf")
            result.notes[label] = f"backward returned no gradient for {key!r}"
        else:
            _compare(result, label, grads[key], ref[f"grad.{key}"])
    return result
