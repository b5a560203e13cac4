"""Machinery shared by the NumPy RNN and LSTM: a stack of recurrent layers run over time.

A recurrent layer differs from another only in its *cell*: how the gate pre-activations
z_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh (G blocks of H columns: G = 1 for the RNN, 4 for
the LSTM) and the previous state s_{t-1} (h, or (h, c)) give the new state s_t. Everything else
lives here, once:

- reading the stack from torch's keys (`weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`,
  `bias_hh_l{k}`, with `_reverse` for the backward direction), and checking the inputs;
- the input projection x W_ih^T + b_ih + b_hh for every time step at once, as one matmul;
- the time loop, which is sequential: one (B, H) @ (H, G*H) matmul per step, then the cell;
- the length mask, layers stacked on the concatenated directions, and backward through time.

Lengths. Sequence b is real for t < L_b. At a padding step the state is carried unchanged,

    s_t = m_t ⊙ cell(z_t, s_{t-1}) + (1 - m_t) ⊙ s_{t-1},      out_t = m_t ⊙ h_t,

with m_t = [t < L_b]. Going forward, the state after step T - 1 is then the state at the last real
step; going backward in time (the reverse direction), the state stays s_0 until t = L_b - 1, so
each sequence starts at its own last real step. Padded inputs are zeroed before use, so whatever
they hold (even NaN) changes nothing. This is what torch's `pack_padded_sequence` computes.

Backward through time (BPTT). Let δs_t be the gradient of the loss with respect to the carried state
s_t, everything later already accounted for. Walking the steps in the reverse of the order they ran:

    δh_t += dout_t ⊙ m_t                         (the output at step t reads h_t)
    δnew = m_t ⊙ δs_t                            (the part that reaches the cell)
    δz_t, δ(rest of s_{t-1}) = cell_backward(δnew)
    δh_{t-1} = δz_t W_hh + (1 - m_t) ⊙ δh_t      (through W_hh, plus the carried copy)
    δc_{t-1} = (cell's δc_{t-1}) + (1 - m_t) ⊙ δc_t

starting from δs_{last} = dh_n (and dc_n). The loop only produces δz_t; the parameter gradients are
then sums over time, each one matmul over all (t, b) rows at once:

    dW_ih = Σ_t δz_t^T x_t,    dW_hh = Σ_t δz_t^T h_{t-1},    db_ih = db_hh = Σ_t Σ_b δz_t,
    dx_t = δz_t W_ih.

In a stack, layer k + 1 reads the directions of layer k concatenated, so dx of layer k + 1 is the
`dout` of layer k; the gradient δs reaching the first step is dh0 (and dc0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from minienc._checks import (
    check_float,
    check_int,
    check_params,
    check_same_shape,
)
from minienc._recurrent_layout import Stack, check_input_shapes, read_stack

State = tuple[np.ndarray, ...]


@dataclass(frozen=True)
class Cell:
    """One recurrent cell, as the time loop sees it.

    `step(z, prev, new)`: z (B, G*H) holds the pre-activations and may be overwritten with what
    the backward needs; prev and new are state tuples of (B, H) arrays, h first; the new state is
    written into `new`.
    `step_backward(z, dnew, prev, new) -> (dz, drest)`: z as `step` left it, dnew the gradients
    of the new state; returns dz (B, G*H) and the gradients of prev *except* h, whose gradient
    dz @ W_hh the loop adds itself. At padding steps dnew is zero, and so must dz and drest be.
    """

    name: str
    gates: int
    num_states: int
    step: Callable[[np.ndarray, State, State], None]
    step_backward: Callable[[np.ndarray, State, State, State], tuple[np.ndarray, State]]


@dataclass(frozen=True)
class Cache:
    """What backward needs: the stack, the mask and, per layer and direction, its tape."""

    cell: Cell
    stack: Stack
    weights: dict[str, np.ndarray]  # the parameters, in the dtype of x
    mask: np.ndarray | None  # (T, B, 1) bool, True at real steps; None when no lengths
    inputs: list[np.ndarray]  # per layer: its input (T, B, D_k), padding zeroed
    tapes: list[list[tuple[np.ndarray, State, State]]]  # [layer][dir]: (z, states, state0)
    x_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    state_shape: tuple[int, int, int]


def parse_params(params: Mapping[str, Any], cell: Cell) -> Stack:
    """Read layers, directions, sizes and bias from torch's keys; check every shape."""
    stack, shapes = read_stack(params, cell.gates, cell.name, check_params)
    check_params(params, shapes, cell.name)
    return stack


def check_inputs(
    x: Any, states0: Mapping[str, Any], lengths: Any, stack: Stack
) -> tuple[np.ndarray, State, np.ndarray | None]:
    """Check x (B, T, I), the initial states (L*dirs, B, H) and lengths (B,); build the mask.

    Returns x, the initial states in x's dtype (zeros where None) and the mask (T, B, 1) or None.
    """
    x = check_float("x", x)
    states0 = {name: None if s is None else check_float(name, s) for name, s in states0.items()}
    if lengths is not None:
        lengths = check_int("lengths", lengths)
    shape = check_input_shapes(x, states0, lengths, stack)
    T = x.shape[1]
    states = tuple(
        np.zeros(shape, x.dtype) if s is None else s.astype(x.dtype, copy=False)
        for s in states0.values()
    )
    if lengths is None:
        return x, states, None
    if lengths.min() < 1:
        raise ValueError(f"lengths must be at least 1, got {lengths.min()} in {lengths.tolist()}")
    if lengths.max() > T:
        raise ValueError(
            f"lengths must be at most T = {T} (x has shape {x.shape}), "
            f"got {lengths.max()} in {lengths.tolist()}"
        )
    mask = (np.arange(T)[:, None] < lengths[None, :])[:, :, None]  # (T, B, 1)
    return x, states, mask


def _order(T: int, reverse: bool) -> range:
    return range(T - 1, -1, -1) if reverse else range(T)


def _previous(states: State, state0: State, reverse: bool) -> State:
    """The state entering each step, (T, B, H) each: `states` shifted by one in time."""
    if reverse:
        return tuple(np.concatenate([s[1:], s0[None]]) for s, s0 in zip(states, state0))
    return tuple(np.concatenate([s0[None], s[:-1]]) for s, s0 in zip(states, state0))


def run_direction(
    cell: Cell,
    z: np.ndarray,
    w_hh: np.ndarray,
    state0: State,
    mask: np.ndarray | None,
    reverse: bool,
) -> State:
    """Run one direction of one layer over time.

    Args:
        z: (T, B, G*H) input projections with both biases; the cell may overwrite it.
        w_hh: (G*H, H). state0: the initial state, (B, H) each. mask: (T, B, 1) or None.

    Returns:
        The carried state after each step, (T, B, H) each, h first.
    """
    T, B, _ = z.shape
    states = tuple(np.empty((T, B, w_hh.shape[1]), z.dtype) for _ in range(cell.num_states))
    recurrent = np.empty(z.shape[1:], z.dtype)  # (B, G*H), reused every step
    w_hh_t = np.ascontiguousarray(w_hh.T)  # (H, G*H); row-major makes each step's matmul faster
    pad = None if mask is None else ~mask
    prev = state0
    for t in _order(T, reverse):
        np.matmul(prev[0], w_hh_t, out=recurrent)
        z[t] += recurrent
        new = tuple(s[t] for s in states)
        cell.step(z[t], prev, new)
        if pad is not None:
            for n, p in zip(new, prev):
                np.copyto(n, p, where=pad[t])  # padding: carry the state unchanged
        prev = new
    return states


def run_direction_backward(
    cell: Cell,
    dh: np.ndarray,
    dstate_n: State,
    tape: tuple[np.ndarray, State, State],
    w_hh: np.ndarray,
    mask: np.ndarray | None,
    reverse: bool,
) -> tuple[np.ndarray, np.ndarray, State]:
    """Backward through time of one direction.

    Args:
        dh: (T, B, H) gradient of this direction's outputs (zero at padding).
        dstate_n: gradient of the final state, (B, H) each.
        tape: (z, states, state0) from `run_direction`.

    Returns:
        dz (T, B, G*H), the hidden state entering each step (T, B, H), and dstate0.
    """
    z, states, state0 = tape
    prev_all = _previous(states, state0, reverse)
    dz = np.empty_like(z)
    ds = tuple(dstate_n)
    for t in reversed(_order(z.shape[0], reverse)):
        ds = (ds[0] + dh[t], *ds[1:])
        dnew = ds if mask is None else tuple(d * mask[t] for d in ds)
        prev = tuple(p[t] for p in prev_all)
        dz[t], drest = cell.step_backward(z[t], dnew, prev, tuple(s[t] for s in states))
        ds_prev = (dz[t] @ w_hh, *drest)
        if mask is not None:
            ds_prev = tuple(a + d * ~mask[t] for a, d in zip(ds_prev, ds))
        ds = ds_prev
    return dz, prev_all[0], ds


def forward(
    cell: Cell,
    params: Mapping[str, Any],
    x: Any,
    states0: Mapping[str, Any],
    lengths: Any,
) -> tuple[np.ndarray, State, Cache]:
    """Run the stack: returns out (B, T, dirs*H), the final states (L*dirs, B, H) each, the cache.

    `states0` maps argument names ("h0", "c0") to initial states or None, in the cell's order.
    """
    stack = parse_params(params, cell)
    x, state0, mask = check_inputs(x, states0, lengths, stack)
    B, T, _ = x.shape
    H, G, dirs = stack.hidden_size, cell.gates, stack.num_directions
    weights = {k: np.asarray(v, dtype=x.dtype) for k, v in params.items()}
    inp = np.ascontiguousarray(x.transpose(1, 0, 2))  # (T, B, I), time-major
    if mask is not None:
        inp = np.where(mask, inp, 0)
    inputs, tapes, finals = [], [], []
    for layer in range(stack.num_layers):
        inputs.append(inp)
        rows = inp.reshape(T * B, inp.shape[2])  # (T*B, D)
        layer_tapes, outs = [], []
        for d in range(dirs):
            w_ih, w_hh, b_ih, b_hh = stack.keys(layer, d)
            z = (rows @ weights[w_ih].T).reshape(T, B, G * H)  # all steps, one matmul
            if stack.bias:
                z += weights[b_ih] + weights[b_hh]
            s0 = tuple(s[layer * dirs + d] for s in state0)
            states = run_direction(cell, z, weights[w_hh], s0, mask, reverse=d == 1)
            layer_tapes.append((z, states, s0))
            finals.append(tuple(s[0 if d else T - 1] for s in states))
            outs.append(states[0])
        tapes.append(layer_tapes)
        inp = outs[0] if dirs == 1 else np.concatenate(outs, axis=2)  # (T, B, dirs*H)
        if mask is not None:
            inp = inp * mask
    out = np.ascontiguousarray(inp.transpose(1, 0, 2))  # (B, T, dirs*H)
    state_n = tuple(np.stack(f) for f in zip(*finals))  # (L*dirs, B, H) each
    cache = Cache(cell, stack, weights, mask, inputs, tapes, x.shape, out.shape, state_n[0].shape)
    return out, state_n, cache


def backward(
    dout: Any, cache: Cache, dstates_n: Mapping[str, Any]
) -> tuple[np.ndarray, dict[str, np.ndarray], State]:
    """Gradients of the stack: dx (B, T, I), grads for every key, and dstate0 (h0 first).

    `dstates_n` maps argument names ("dh_n", "dc_n") to upstream gradients or None.
    """
    if not isinstance(cache, Cache) or len(dstates_n) != cache.cell.num_states:
        raise TypeError("cache must be the cache returned by the same layer's forward")
    cell, stack, mask = cache.cell, cache.stack, cache.mask
    dout = check_float("dout", dout)
    check_same_shape("dout", dout, "out", np.empty(cache.out_shape))
    dtype = cache.inputs[0].dtype
    ds_n = []
    for name, d in dstates_n.items():
        if d is None:
            ds_n.append(np.zeros(cache.state_shape, dtype))
            continue
        d = check_float(name, d)
        if d.shape != cache.state_shape:
            raise ValueError(f"{name} must have shape {cache.state_shape}, got {d.shape}")
        ds_n.append(d.astype(dtype, copy=False))
    T, B = cache.x_shape[1], cache.x_shape[0]
    H, G, dirs = stack.hidden_size, cell.gates, stack.num_directions
    dcur = dout.astype(dtype, copy=False).transpose(1, 0, 2)  # (T, B, dirs*H)
    grads: dict[str, np.ndarray] = {}
    dstate0 = tuple(np.empty(cache.state_shape, dtype) for _ in ds_n)  # (L*dirs, B, H) each
    for layer in reversed(range(stack.num_layers)):
        if mask is not None:
            dcur = dcur * mask
        inp = cache.inputs[layer]
        rows = inp.reshape(T * B, inp.shape[2])  # (T*B, D)
        dinp = np.zeros((T * B, inp.shape[2]), dtype)
        for d in range(dirs):
            w_ih, w_hh, b_ih, b_hh = stack.keys(layer, d)
            idx = layer * dirs + d
            dz, h_prev, ds0 = run_direction_backward(
                cell,
                dcur[:, :, d * H : (d + 1) * H],
                tuple(s[idx] for s in ds_n),
                cache.tapes[layer][d],
                cache.weights[w_hh],
                mask,
                reverse=d == 1,
            )
            dz = dz.reshape(T * B, G * H)  # (T*B, G*H)
            grads[w_ih] = dz.T @ rows
            grads[w_hh] = dz.T @ h_prev.reshape(T * B, H)
            if stack.bias:
                grads[b_ih] = dz.sum(axis=0)
                grads[b_hh] = grads[b_ih].copy()
            dinp += dz @ cache.weights[w_ih]
            for k, ds in enumerate(ds0):
                dstate0[k][idx] = ds
        dcur = dinp.reshape(T, B, inp.shape[2])  # (T, B, D)
    dx = np.ascontiguousarray(dcur.transpose(1, 0, 2))  # (B, T, I)
    return dx, {k: grads[k] for k in cache.weights}, dstate0
