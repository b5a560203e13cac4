"""Shared cases for the RNN and LSTM tests: build the torch module, run both sides, compare.

`kind` is "tanh" or "relu" (an `nn.RNN` with that nonlinearity) or "lstm" (`nn.LSTM`). Both sides
are called the same way: inputs x, the initial states (h0, or h0 and c0), lengths, and the upstream
gradients dout and dstates (dh_n, or dh_n and dc_n); each returns the outputs and every gradient.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from minienc import gradcheck
from minienc.numpy import lstm, rnn

B, I, H = 3, 7, 5


@dataclass(frozen=True)
class Case:
    num_layers: int
    bidirectional: bool
    T: int
    ragged: bool
    bias: bool = True

    @property
    def id(self) -> str:
        dirs = "bi" if self.bidirectional else "uni"
        lengths = "ragged" if self.ragged else "full"
        bias = "" if self.bias else "-nobias"
        return f"L{self.num_layers}-{dirs}-T{self.T}-{lengths}{bias}"

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1


CASES = [
    Case(layers, bi, T, ragged)
    for layers, bi, T, ragged in itertools.product((1, 2), (False, True), (1, 17), (False, True))
] + [Case(2, True, 17, True, bias=False)]


def num_states(kind: str) -> int:
    return 2 if kind == "lstm" else 1


def torch_module(kind: str, case: Case, dtype: torch.dtype, seed: int = 0) -> torch.nn.Module:
    """The stock module with torch's init, whose biases are checked to be non-zero."""
    torch.manual_seed(seed)
    kw = dict(
        num_layers=case.num_layers,
        bidirectional=case.bidirectional,
        bias=case.bias,
        batch_first=True,
        dtype=dtype,
    )
    if kind == "lstm":
        module = torch.nn.LSTM(I, H, **kw)
    else:
        module = torch.nn.RNN(I, H, nonlinearity=kind, **kw)
    for name, p in module.named_parameters():
        assert (p != 0).all(), f"{name} has zero entries"
    return module


def params_of(module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def make_inputs(kind: str, case: Case, dtype=np.float64, seed: int = 1):
    """x (B, T, I), initial states (L*dirs, B, H) each, and lengths (B,) or None."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, case.T, I)).astype(dtype)
    shape = (case.num_layers * case.num_directions, B, H)
    states0 = tuple(rng.standard_normal(shape).astype(dtype) for _ in range(num_states(kind)))
    lengths = None
    if case.ragged:
        lengths = np.array([max(1, case.T - 6), case.T, max(1, case.T // 3)])
    return x, states0, lengths


def make_upstream(kind: str, case: Case, dtype=np.float64, seed: int = 2):
    """Random dout (B, T, dirs*H) and dstates (dh_n, or dh_n and dc_n)."""
    rng = np.random.default_rng(seed)
    dout = rng.standard_normal((B, case.T, case.num_directions * H)).astype(dtype)
    shape = (case.num_layers * case.num_directions, B, H)
    dstates = tuple(rng.standard_normal(shape).astype(dtype) for _ in range(num_states(kind)))
    return dout, dstates


def run_torch(kind, module, x, states0, lengths, dout, dstates):
    """out, states_n, dx, dstates0 and {key: grad} from torch autograd."""
    module.zero_grad()
    x_t = torch.tensor(x, requires_grad=True)
    s0 = [torch.tensor(s, requires_grad=True) for s in states0]
    inp = x_t
    if lengths is not None:
        inp = pack_padded_sequence(
            x_t, torch.tensor(lengths), batch_first=True, enforce_sorted=False
        )
    out, hidden = module(inp, tuple(s0) if kind == "lstm" else s0[0])
    if lengths is not None:
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    states_n = hidden if kind == "lstm" else (hidden,)
    loss = (out * torch.tensor(dout)).sum()
    for s, d in zip(states_n, dstates):
        loss = loss + (s * torch.tensor(d)).sum()
    loss.backward()
    grads = {k: p.grad.numpy() for k, p in module.named_parameters()}
    return (
        out.detach().numpy(),
        tuple(s.detach().numpy() for s in states_n),
        x_t.grad.numpy(),
        tuple(s.grad.numpy() for s in s0),
        grads,
    )


def forward_numpy(kind, params, x, states0=(), lengths=None):
    """(out, states_n tuple), cache."""
    if kind == "lstm":
        (out, (h_n, c_n)), cache = lstm.forward(params, x, *states0, lengths=lengths)
        return (out, (h_n, c_n)), cache
    (out, h_n), cache = rnn.forward(params, x, *states0, lengths=lengths, nonlinearity=kind)
    return (out, (h_n,)), cache


def backward_numpy(kind, dout, cache, dstates):
    """((dx, dstates0...), grads)."""
    if kind == "lstm":
        return lstm.backward(dout, cache, *dstates, return_initial=True)
    return rnn.backward(dout, cache, *dstates, return_initial=True)


def run_numpy(kind, params, x, states0, lengths, dout, dstates):
    """The same five results as `run_torch`, from minienc."""
    (out, states_n), cache = forward_numpy(kind, params, x, states0, lengths)
    (dx, *dstates0), grads = backward_numpy(kind, dout, cache, dstates)
    return out, states_n, dx, tuple(dstates0), grads


def named_diffs(ours, ref) -> dict[str, float]:
    """{tensor name: max abs diff} between two results of `run_numpy` / `run_torch`."""
    names = ("out", "states_n", "dx", "dstates0")
    diffs = {}
    for name, a, b in zip(names, ours[:4], ref[:4]):
        pairs = zip(a, b) if isinstance(a, tuple) else [(a, b)]
        for k, (u, v) in enumerate(pairs):
            assert u.shape == v.shape, f"{name}[{k}]: {u.shape} vs {v.shape}"
            diffs[f"{name}[{k}]" if isinstance(a, tuple) else name] = float(np.abs(u - v).max())
    assert set(ours[4]) == set(ref[4]), f"grad keys {sorted(ours[4])} vs {sorted(ref[4])}"
    for k in ref[4]:
        assert ours[4][k].shape == ref[4][k].shape, k
        diffs[k] = float(np.abs(ours[4][k] - ref[4][k]).max())
    return diffs


def relative_diffs(ours, ref) -> dict[str, float]:
    """{tensor name: max abs diff / max abs of the reference}, for float32 comparisons."""
    diffs = named_diffs(ours, ref)
    scales = named_diffs(tuple(_zeros_like(r) for r in ref), ref)
    return {k: v / max(scales[k], 1e-12) for k, v in diffs.items()}


def _zeros_like(r):
    if isinstance(r, dict):
        return {k: np.zeros_like(v) for k, v in r.items()}
    if isinstance(r, tuple):
        return tuple(np.zeros_like(v) for v in r)
    return np.zeros_like(r)


BAD_T = 6


def _drop(key):
    def edit(args):
        del args["params"][key]

    return edit


def _set(name, value):
    def edit(args):
        args[name] = value

    return edit


def _set_param(key, value):
    def edit(args):
        args["params"][key] = value

    return edit


def bad_input_cases(kind: str):
    """(id, edit, exception, match): `edit(args)` breaks one argument of a valid forward call.

    The call is a 2-layer bidirectional layer with T = BAD_T and
    args = {"params", "x", "lengths", "h0"[, "c0"]}.
    """
    T, G = BAD_T, 4 if kind == "lstm" else 1
    name = "lstm" if kind == "lstm" else "rnn"
    cases = [
        ("lengths-too-long", _set("lengths", np.array([6, 7, 2])), ValueError, "at most T = 6"),
        ("lengths-zero", _set("lengths", np.array([6, 0, 2])), ValueError, "at least 1, got 0"),
        ("lengths-negative", _set("lengths", np.array([-1, 3, 2])), ValueError, "least 1, got -1"),
        ("lengths-float", _set("lengths", np.array([6.0, 3, 2])), TypeError, "must be an integer"),
        ("lengths-list", _set("lengths", [6, 3, 2]), TypeError, "lengths must be a NumPy array"),
        ("lengths-batch", _set("lengths", np.array([6, 3])), ValueError, "batch size B = 3"),
        ("lengths-2d", _set("lengths", np.array([[6, 3, 2]])), ValueError, r"dimensions \(B,\)"),
        (
            "x-rank",
            _set("x", np.zeros((B, I))),
            ValueError,
            r"x must have 3 dimensions \(B, T, I\)",
        ),
        ("x-last-dim", _set("x", np.zeros((B, T, I + 1))), ValueError, "weight_ih_l0 expects"),
        ("x-int", _set("x", np.zeros((B, T, I), dtype=np.int64)), TypeError, "x must be a float"),
        ("missing-key", _drop("bias_hh_l1"), KeyError, r"missing \['bias_hh_l1'\]"),
        ("missing-reverse", _drop("weight_hh_l1_reverse"), KeyError, "weight_hh_l1_reverse"),
        ("missing-all", lambda args: args["params"].clear(), KeyError, "weight_ih_l0"),
        (
            "unexpected-key",
            _set_param("weight_hr_l0", np.zeros((H, 2))),
            KeyError,
            r"unexpected keys \['weight_hr_l0'\]",
        ),
        (
            "weight-shape",
            _set_param("weight_hh_l1", np.zeros((G * H, H + 1))),
            ValueError,
            rf"params\['weight_hh_l1'\] of {name} must have shape \({G * H}, {H}\)",
        ),
    ]
    for s in ["h0", "c0"][: num_states(kind)]:
        match = rf"{s} must have shape \(4, 3, 5\)"
        cases.append((f"{s}-shape", _set(s, np.zeros((2, B, H))), ValueError, match))
    return cases


# Checks shared by test_rnn.py and test_lstm.py; each takes the `kind` under test.

GRADCHECK_CASES = [Case(1, False, 4, False), Case(2, True, 4, True)]


def check_matches_torch_float64(kind: str, case: Case) -> None:
    module = torch_module(kind, case, torch.float64)
    x, states0, lengths = make_inputs(kind, case)
    dout, dstates = make_upstream(kind, case)
    ref = run_torch(kind, module, x, states0, lengths, dout, dstates)
    ours = run_numpy(kind, params_of(module), x, states0, lengths, dout, dstates)
    diffs = named_diffs(ours, ref)
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= 1e-9, f"{worst} differs from torch by {diffs[worst]:.2e}: {diffs}"


def check_matches_torch_float32(kind: str, case: Case) -> None:
    module = torch_module(kind, case, torch.float32)
    x, states0, lengths = make_inputs(kind, case, np.float32)
    dout, dstates = make_upstream(kind, case, np.float32)
    ref = run_torch(kind, module, x, states0, lengths, dout, dstates)
    ours = run_numpy(kind, params_of(module), x, states0, lengths, dout, dstates)
    dtypes = {a.dtype for a in (ours[0], *ours[1], ours[2], *ours[3], *ours[4].values())}
    assert dtypes == {np.dtype(np.float32)}, dtypes
    diffs = relative_diffs(ours, ref)
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= 1e-5, f"{worst} differs from torch by {diffs[worst]:.2e} (relative)"


def check_gradients(kind: str, case: Case, with_initial: bool) -> None:
    """gradcheck x, every parameter and (with_initial) the initial states."""
    module = torch_module(kind, case, torch.float64)
    x, states0, lengths = make_inputs(kind, case)
    if with_initial:
        inputs = (x, *states0)

        def fwd(params, x, *states0, lengths):
            return forward_numpy(kind, params, x, states0, lengths)

        def bwd(dy, cache):
            return backward_numpy(kind, dy[0], cache, dy[1])
    else:
        inputs = x

        def fwd(params, x, lengths):
            return forward_numpy(kind, params, x, (), lengths)

        module_ = lstm if kind == "lstm" else rnn

        def bwd(dy, cache):
            return module_.backward(dy[0], cache, *dy[1])

    gradcheck.assert_gradients(fwd, bwd, params_of(module), inputs, tol=1e-7, lengths=lengths)


def _pad_with(x: np.ndarray, lengths: np.ndarray, value: float) -> np.ndarray:
    x = x.copy()
    for b, n in enumerate(lengths):
        x[b, n:] = value
    return x


def check_padding_ignored(kind: str) -> None:
    """Whatever the padded steps hold (zeros, huge values, NaN), nothing changes."""
    case = Case(2, True, 17, True)
    module = torch_module(kind, case, torch.float64)
    params = params_of(module)
    x, states0, lengths = make_inputs(kind, case)
    dout, dstates = make_upstream(kind, case)
    results = [
        run_numpy(kind, params, _pad_with(x, lengths, v), states0, lengths, dout, dstates)
        for v in (0.0, 1e6, np.nan)
    ]
    out, _, dx, _, grads = results[0]
    pad = np.arange(case.T)[None, :] >= lengths[:, None]  # (B, T)
    assert (out[pad] == 0).all() and (dx[pad] == 0).all()
    assert np.isfinite(out).all() and np.isfinite(dx).all()
    for other in results[1:]:
        diffs = named_diffs(other, results[0])
        assert all(v == 0.0 for v in diffs.values()), diffs


def check_full_lengths_equal_none(kind: str) -> None:
    """lengths == T everywhere gives exactly the unmasked result; h0 = None means zeros."""
    case = Case(2, True, 7, False)
    params = params_of(torch_module(kind, case, torch.float64))
    x, states0, _ = make_inputs(kind, case)
    dout, dstates = make_upstream(kind, case)
    full = np.full(B, case.T)
    a = run_numpy(kind, params, x, states0, None, dout, dstates)
    b = run_numpy(kind, params, x, states0, full, dout, dstates)
    diffs = named_diffs(a, b)
    assert all(v == 0.0 for v in diffs.values()), diffs
    zeros = tuple(np.zeros_like(s) for s in states0)
    (out_none, states_none), _ = forward_numpy(kind, params, x, (), None)
    (out_zero, states_zero), _ = forward_numpy(kind, params, x, zeros, None)
    np.testing.assert_array_equal(out_none, out_zero)
    for s, t in zip(states_none, states_zero):
        np.testing.assert_array_equal(s, t)


def check_backward_twice(kind: str) -> None:
    """backward leaves the cache as it was: a second call gives the same numbers."""
    case = Case(2, True, 17, True)
    params = params_of(torch_module(kind, case, torch.float64))
    x, states0, lengths = make_inputs(kind, case)
    dout, dstates = make_upstream(kind, case)
    (out, _), cache = forward_numpy(kind, params, x, states0, lengths)
    (dx1, *ds1), g1 = backward_numpy(kind, dout, cache, dstates)
    (dx2, *ds2), g2 = backward_numpy(kind, dout, cache, dstates)
    np.testing.assert_array_equal(dx1, dx2)
    for a, b in zip(ds1, ds2):
        np.testing.assert_array_equal(a, b)
    assert set(g1) == set(params) == set(g2)
    for k in g1:
        np.testing.assert_array_equal(g1[k], g2[k])


def check_large_inputs_finite(kind: str) -> None:
    case = Case(2, True, 17, True)
    params = params_of(torch_module(kind, case, torch.float64))
    x, states0, lengths = make_inputs(kind, case)
    dout, dstates = make_upstream(kind, case)
    out, states_n, dx, dstates0, grads = run_numpy(
        kind, params, x + 100, states0, lengths, dout, dstates
    )
    for a in (out, *states_n, dx, *dstates0, *grads.values()):
        assert np.isfinite(a).all()


def check_bad_input(kind: str, edit, exc, match) -> None:
    case = Case(2, True, BAD_T, True)
    params = params_of(torch_module(kind, case, torch.float64))
    x, states0, _ = make_inputs(kind, case)
    args = {"params": params, "x": x, "lengths": np.array([6, 3, 2])}
    args.update(zip(["h0", "c0"], states0))
    forward_numpy(kind, **_call_args(kind, args))  # the unedited call is valid
    edit(args)
    with pytest.raises(exc, match=match):
        forward_numpy(kind, **_call_args(kind, args))


def _call_args(kind, args):
    states0 = tuple(args[s] for s in ["h0", "c0"][: num_states(kind)])
    return {
        "params": args["params"],
        "x": args["x"],
        "states0": states0,
        "lengths": args["lengths"],
    }


def check_bad_backward_input(kind: str) -> None:
    case = Case(1, True, 5, False)
    params = params_of(torch_module(kind, case, torch.float64))
    x, states0, _ = make_inputs(kind, case)
    dout, dstates = make_upstream(kind, case)
    _, cache = forward_numpy(kind, params, x, states0)
    with pytest.raises(ValueError, match=r"dout has shape \(3, 5, 5\) but out has shape"):
        backward_numpy(kind, dout[..., :H], cache, dstates)
    with pytest.raises(ValueError, match=r"dh_n must have shape \(2, 3, 5\), got \(1, 3, 5\)"):
        backward_numpy(kind, dout, cache, (dstates[0][:1], *dstates[1:]))
    with pytest.raises(TypeError, match="dout must be a floating-point array"):
        backward_numpy(kind, dout.astype(int), cache, dstates)
