"""Machinery shared by the JAX RNN and LSTM: a stack of recurrent layers run with `lax.scan`.

A recurrent layer differs from another only in its *cell*: how the gate pre-activations
z_t = x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh (G blocks of H columns: G = 1 for the RNN, 4 for
the LSTM) and the previous state s_{t-1} (h, or (h, c)) give the new state s_t. The rest is here:

- reading the stack from torch's keys (`weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`,
  `bias_hh_l{k}`, with `_reverse` for the backward direction), and checking the inputs;
- the input projection x W_ihᵀ + b_ih + b_hh for every time step at once, as one matmul;
- the time loop: `jax.lax.scan` carries the state through the steps (`reverse=True` walks
  T-1 .. 0 and still stacks the outputs in time order);
- the length mask, and layers stacked on the concatenated directions.

Lengths, by masking. Sequence b is real for t < L_b. At a padding step the state is carried over,

    s_t = m_t ⊙ cell(z_t, s_{t-1}) + (1 - m_t) ⊙ s_{t-1},      out_t = m_t ⊙ h_t,

with m_t = [t < L_b]. Going forward, the carry after step T - 1 is the state at the last real
step; going backward in time, the carry stays s_0 until t = L_b - 1, so the reverse direction
starts at each sequence's own last real step. This is what torch's `pack_padded_sequence`
computes, without packing. Padded inputs are zeroed first, so whatever they hold (even NaN) reaches
neither the output nor the gradients. Backward through time is `jax.grad` of the scan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array

from minienc._checks import (
    as_float,
    as_int,
    check_params,
    known_values,
)
from minienc._recurrent_layout import Stack, check_input_shapes, read_stack

State = tuple[Array, ...]


@dataclass(frozen=True)
class Cell:
    """One recurrent cell: `step(z, prev) -> new`, z (B, G*H) the full pre-activations, prev and
    new state tuples of (B, H) arrays, h first."""

    name: str
    gates: int
    num_states: int
    step: Callable[[Array, State], State]


def parse_params(
    params: Mapping[str, Any], cell: Cell, dtype: Any
) -> tuple[Stack, dict[str, Array]]:
    """Read layers, directions, sizes and bias from torch's keys; check every shape and dtype."""
    stack, shapes = read_stack(params, cell.gates, cell.name, check_params)
    return stack, check_params(params, shapes, cell.name, dtype)


def check_inputs(
    x: Any, states0: Mapping[str, Any], lengths: Any, stack: Stack
) -> tuple[Array, State, Array | None]:
    """Check x (B, T, I), the initial states (L*dirs, B, H) and lengths (B,); build the mask.

    Returns x, the initial states (zeros where None) and the mask (T, B, 1) or None.
    """
    x = as_float("x", x)
    states0 = {name: None if s is None else as_float(name, s) for name, s in states0.items()}
    if lengths is not None:
        lengths = as_int("lengths", lengths)
    shape = check_input_shapes(x, states0, lengths, stack)
    B, T, _ = x.shape
    for name, s in states0.items():
        if s is not None and s.dtype != x.dtype:
            raise TypeError(
                f"{name} has dtype {s.dtype} but x has dtype {x.dtype}: they must match"
            )
    states = tuple(jnp.zeros(shape, x.dtype) if s is None else s for s in states0.values())
    if lengths is None:
        return x, states, None
    values = known_values(lengths)
    if values is not None and B and (values.min() < 1 or values.max() > T):
        raise ValueError(
            f"lengths must lie in [1, T = {T}] (x has shape {x.shape}), got {values.tolist()}"
        )
    mask = (jnp.arange(T)[:, None] < lengths[None, :])[:, :, None]  # (T, B, 1)
    return x, states, mask


def run_direction(
    cell: Cell, z: Array, w_hh: Array, state0: State, mask: Array | None, reverse: bool
) -> tuple[Array, State]:
    """Run one direction of one layer over time.

    Args:
        z: (T, B, G*H) input projections with both biases. w_hh: (G*H, H).
        state0: the initial state, (B, H) each. mask: (T, B, 1) bool or None.

    Returns:
        h at every step (T, B, H), and the final carried state, (B, H) each.
    """

    def step(prev: State, inputs: tuple[Array, Array | None]) -> tuple[State, Array]:
        z_t, m_t = inputs  # (B, G*H), (B, 1) or None
        new = cell.step(z_t + prev[0] @ w_hh.T, prev)  # (B, H) @ (H, G*H)
        if m_t is not None:
            new = tuple(jnp.where(m_t, n, p) for n, p in zip(new, prev))
        return new, new[0]

    final, hs = jax.lax.scan(step, state0, (z, mask), reverse=reverse)
    return hs, final


def forward(
    cell: Cell, params: Mapping[str, Any], x: Any, states0: Mapping[str, Any], lengths: Any
) -> tuple[Array, State]:
    """Run the stack: returns out (B, T, dirs*H) and the final states (L*dirs, B, H) each.

    `states0` maps argument names ("h0", "c0") to initial states or None, in the cell's order.
    """
    x = as_float("x", x)
    stack, w = parse_params(params, cell, x.dtype)
    x, state0, mask = check_inputs(x, states0, lengths, stack)
    inp = x.transpose(1, 0, 2)  # (T, B, I), time-major for the scan
    if mask is not None:
        inp = jnp.where(mask, inp, 0)
    finals = []
    for layer in range(stack.num_layers):
        outs = []
        for d in range(stack.num_directions):
            w_ih, w_hh, b_ih, b_hh = stack.keys(layer, d)
            z = inp @ w[w_ih].T  # (T, B, D) @ (D, G*H): every step in one matmul
            if stack.bias:
                z = z + (w[b_ih] + w[b_hh])
            s0 = tuple(s[layer * stack.num_directions + d] for s in state0)
            hs, final = run_direction(cell, z, w[w_hh], s0, mask, reverse=d == 1)
            outs.append(hs)
            finals.append(final)
        inp = jnp.concatenate(outs, axis=2)  # (T, B, dirs*H)
        if mask is not None:
            inp = jnp.where(mask, inp, 0)
    out = inp.transpose(1, 0, 2)  # (B, T, dirs*H)
    state_n = tuple(jnp.stack(f) for f in zip(*finals))  # (L*dirs, B, H) each
    return out, state_n
