"""The layout of a stack of recurrent layers, for the NumPy and JAX RNN and LSTM: keys and checks.

`nn.RNN`/`nn.LSTM` name the weights of layer k `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`,
`bias_hh_l{k}`, with `_reverse` appended for the backward direction; each weight stacks G gate
blocks of H rows (G = 1 for the RNN, 4 for the LSTM), and layer k > 0 reads both directions of
layer k − 1. This module reads that layout and checks the inputs; the mathematics (the cell, the
loop over time, the loop over layers) is in each layer's own file.

Lengths become a mask m (T, B, 1), m_t = [t < L_b], True at real steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from minienc._checks import (
    as_float,
    as_int,
    check_float,
    check_int,
    check_last_dim,
    check_ndim,
    known_values,
)
from minienc._params import check_keys, check_params

__all__ = ["Stack", "Cache", "read_stack", "check_inputs", "check_upstream", "entering"]


class Stack(NamedTuple):
    """The shape of a stack of recurrent layers, read from its parameter keys."""

    num_layers: int
    num_directions: int
    input_size: int
    hidden_size: int
    bias: bool

    def keys(self, layer: int, direction: int) -> tuple[str, str, str, str]:
        """Names of W_ih, W_hh, b_ih, b_hh of one layer and direction (0 forward, 1 reverse)."""
        sfx = f"_l{layer}" + ("_reverse" if direction else "")
        return f"weight_ih{sfx}", f"weight_hh{sfx}", f"bias_ih{sfx}", f"bias_hh{sfx}"


class Cache(NamedTuple):
    """What a NumPy recurrent backward needs (built by `forward` of `rnn` or `lstm`)."""

    layer: str  # "lstm", "rnn tanh" or "rnn relu"
    stack: Stack
    weights: dict[str, np.ndarray]  # the parameters, in the dtype of x
    mask: np.ndarray | None  # (T, B, 1) bool, True at real steps; None without lengths
    inputs: list[np.ndarray]  # per layer: its input (T, B, D), padding zeroed
    tapes: list[Any]  # per layer * dirs + direction: what the time loop's backward needs
    out_shape: tuple[int, int, int]  # (B, T, dirs*H)


def read_stack(
    params: Mapping[str, Any], gates: int, name: str, dtype: Any = None
) -> tuple[Stack, dict[str, Any]]:
    """Read layers, directions, sizes and bias from the keys; check every key and shape.

    With `dtype` (JAX) every parameter must have it. Returns the stack and the checked params.
    """
    check_params(params, {"weight_ih_l0": (None, None), "weight_hh_l0": (None, None)}, name)
    rows, H = params["weight_hh_l0"].shape  # (G·H, H): H from the rows when they divide by G,
    H = rows // gates if rows % gates == 0 else H  # so a wrong W_hh is the one reported
    I = params["weight_ih_l0"].shape[1]
    L = 1
    while f"weight_ih_l{L}" in params or f"weight_hh_l{L}" in params:
        L += 1
    dirs = 2 if any(k.endswith("_reverse") for k in params) else 1
    bias = any(k.startswith("bias_") for k in params)  # torch's bias=False drops every bias
    stack = Stack(L, dirs, I, H, bias)
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in range(L):
        for d in range(dirs):
            w_ih, w_hh, b_ih, b_hh = stack.keys(layer, d)
            shapes[w_hh] = (gates * H, H)
            shapes[w_ih] = (gates * H, I if layer == 0 else dirs * H)
            if bias:
                shapes[b_ih] = shapes[b_hh] = (gates * H,)
    check_keys(params, shapes, f"{name} ({L} layer(s), {dirs} direction(s), bias={bias})")
    return stack, check_params(params, shapes, name, dtype)


def check_inputs(
    params: Mapping[str, Any],
    x: Any,
    states0: Mapping[str, Any],
    lengths: Any,
    gates: int,
    name: str,
    backend: str = "numpy",
) -> tuple[Stack, dict[str, Any], Any, tuple[Any, ...], Any]:
    """Check params, x (B, T, I), the initial states (L*dirs, B, H) and lengths (B,).

    `states0` maps argument names ("h0", "c0") to arrays or None. NumPy casts the parameters and
    states to x's dtype; JAX requires them to have it. Returns the stack, the parameters, x, the
    initial states (zeros where None) and the mask (T, B, 1), True at real steps, or None.
    """
    jax = backend == "jax"
    if jax:
        import jax.numpy as xp
    else:
        xp = np
    to_float, to_int = (as_float, as_int) if jax else (check_float, check_int)
    x = to_float("x", x)
    stack, weights = read_stack(params, gates, name, x.dtype if jax else None)
    if not jax:
        weights = {k: np.asarray(weights[k], dtype=x.dtype) for k in params}
    check_ndim("x", x, 3, "(B, T, I)")
    check_last_dim("x", x, stack.input_size, "weight_ih_l0")
    B, T, _ = x.shape
    if T == 0:  # as torch: there is no last state to return
        raise ValueError(f"x must have at least one step, got shape {x.shape} (B, T, I) with T = 0")
    shape = (stack.num_layers * stack.num_directions, B, stack.hidden_size)
    states = []
    for s_name, s in states0.items():
        s = xp.zeros(shape, x.dtype) if s is None else to_float(s_name, s)
        if s.shape != shape:
            raise ValueError(
                f"{s_name} must have shape {shape} (num_layers * num_directions, B, H) for x of "
                f"shape {x.shape}, got {s.shape}"
            )
        if jax and s.dtype != x.dtype:
            raise TypeError(
                f"{s_name} has dtype {s.dtype} but x has dtype {x.dtype}: they must match"
            )
        states.append(s if jax else s.astype(x.dtype, copy=False))
    if lengths is None:
        return stack, weights, x, tuple(states), None
    lengths = to_int("lengths", lengths)
    check_ndim("lengths", lengths, 1, "(B,)")
    if lengths.shape[0] != B:
        raise ValueError(f"lengths has shape {lengths.shape} but x has batch size B = {B}")
    values = known_values(lengths)  # None under jit: the values are not known
    if values is not None and values.size and values.min() < 1:
        raise ValueError(
            f"lengths must lie in [1, T = {T}]: at least 1, got {values.min()} in {values.tolist()}"
        )
    if values is not None and values.size and values.max() > T:
        raise ValueError(
            f"lengths must lie in [1, T = {T}]: at most T = {T} (x has shape {x.shape}), "
            f"got {values.max()} in {values.tolist()}"
        )
    mask = (xp.arange(T)[:, None] < lengths[None, :])[:, :, None]  # (T, B, 1)
    return stack, weights, x, tuple(states), mask


def check_upstream(
    dout: Any, cache: Cache, layer: str, dstates_n: Mapping[str, Any]
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Check a NumPy backward's arguments: dout (B, T, dirs*H), dh_n (and dc_n) (L*dirs, B, H).

    Returns dout time-major (T, B, dirs*H) and the final-state gradients, zeros where None, all
    in the dtype of the forward pass.
    """
    if not isinstance(cache, Cache) or not cache.layer.startswith(layer):
        raise TypeError(f"cache must be the cache returned by {layer}.forward")
    dout = check_float("dout", dout)
    if dout.shape != cache.out_shape:
        raise ValueError(
            f"dout has shape {dout.shape} but out has shape {cache.out_shape}: they must match"
        )
    dtype = cache.inputs[0].dtype
    stack, B = cache.stack, cache.out_shape[0]
    shape = (stack.num_layers * stack.num_directions, B, stack.hidden_size)
    ds = []
    for name, d in dstates_n.items():
        d = np.zeros(shape, dtype) if d is None else check_float(name, d)
        if d.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {d.shape}")
        ds.append(d.astype(dtype, copy=False))
    return dout.astype(dtype, copy=False).transpose(1, 0, 2), tuple(ds)


def entering(hs: np.ndarray, h0: np.ndarray, reverse: bool) -> np.ndarray:
    """The state entering each step (T, B, H): the states after each step, shifted by one."""
    if reverse:
        return np.concatenate([hs[1:], h0[None]])
    return np.concatenate([h0[None], hs[:-1]])
