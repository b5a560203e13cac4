"""The layout of a stack of recurrent layers: its parameter keys and the shapes of its inputs.

Shared by the NumPy and JAX builds: it looks only at key names and shapes, never at values.
`nn.RNN`/`nn.LSTM` name the weights of layer k `weight_ih_l{k}`, `weight_hh_l{k}`,
`bias_ih_l{k}`, `bias_hh_l{k}`, with `_reverse` appended for the backward direction; each
weight stacks G gate blocks of H rows (G = 1 for the RNN, 4 for the LSTM), and layer k > 0
reads both directions of layer k − 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from minienc._checks import check_last_dim, check_ndim

__all__ = ["Stack", "read_stack", "check_input_shapes"]


@dataclass(frozen=True)
class Stack:
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


def read_stack(
    params: Mapping[str, Any], gates: int, name: str, check_params: Callable[..., Any]
) -> tuple[Stack, dict[str, tuple[int, ...]]]:
    """Read layers, directions, sizes and bias from the keys; return the stack and key shapes.

    `check_params(params, shapes, name)` is the backend's own check (NumPy or JAX); it is used on
    the two weights the sizes are read from. Keys that belong to no layer raise ValueError.
    """
    check_params(params, {"weight_ih_l0": (None, None), "weight_hh_l0": (None, None)}, name)
    H = params["weight_hh_l0"].shape[1]
    I = params["weight_ih_l0"].shape[1]
    num_layers = 1
    while f"weight_ih_l{num_layers}" in params or f"weight_hh_l{num_layers}" in params:
        num_layers += 1
    num_dirs = 2 if any(k.endswith("_reverse") for k in params) else 1
    bias = "bias_ih_l0" in params or "bias_hh_l0" in params
    stack = Stack(num_layers, num_dirs, I, H, bias)
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in range(num_layers):
        for d in range(num_dirs):
            w_ih, w_hh, b_ih, b_hh = stack.keys(layer, d)
            shapes[w_ih] = (gates * H, I if layer == 0 else num_dirs * H)
            shapes[w_hh] = (gates * H, H)
            if bias:
                shapes[b_ih] = shapes[b_hh] = (gates * H,)
    unexpected = sorted(set(params) - set(shapes))
    if unexpected:
        raise ValueError(
            f"params of {name} has unexpected keys {unexpected}; for {num_layers} layer(s), "
            f"{num_dirs} direction(s), bias={bias} the keys are {sorted(shapes)}"
        )
    return stack, shapes


def check_input_shapes(
    x: Any, states0: Mapping[str, Any], lengths: Any, stack: Stack
) -> tuple[int, ...]:
    """Check the shapes of x (B, T, I), each given initial state and lengths (B,).

    `states0` maps names ("h0", "c0") to arrays or None. Returns the shape every initial state
    has, (num_layers * num_directions, B, H). Dtype and value checks stay with each build.
    """
    check_ndim("x", x, 3, "(B, T, I)")
    check_last_dim("x", x, stack.input_size, "weight_ih_l0")
    B = x.shape[0]
    shape = (stack.num_layers * stack.num_directions, B, stack.hidden_size)
    for name, s in states0.items():
        if s is not None and s.shape != shape:
            raise ValueError(
                f"{name} must have shape {shape} (num_layers * num_directions, B, H), got {s.shape}"
            )
    if lengths is not None:
        check_ndim("lengths", lengths, 1, "(B,)")
        if lengths.shape[0] != B:
            raise ValueError(f"lengths has shape {lengths.shape} but x has batch size B = {B}")
    return shape
