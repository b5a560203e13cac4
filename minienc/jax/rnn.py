"""Elman RNN encoder, like `nn.RNN(batch_first=True)`, with `jax.lax.scan` over time.

Per layer and direction, for t = 0 .. T-1 (T-1 .. 0 in the reverse direction):

    h_t = φ(x_t W_ihᵀ + b_ih + b_hh + h_{t-1} W_hhᵀ),     φ = tanh or relu

The input part xw_t = x_t W_ihᵀ + b_ih + b_hh is one matmul over all steps before the scan. out
is h_t at every step (directions concatenated, (B, T, dirs*H)); h_n is the last state of every
layer and direction, (num_layers * dirs, B, H). Layer k + 1 reads the outputs of layer k.

Lengths, by masking, as in `minienc.jax.lstm`: at a padding step t >= L_b the state is carried
unchanged and the output is zero (torch's `pack_padded_sequence`, without packing); padded inputs
are zeroed first. Backward through time is `jax.grad` of the scan.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
from jax import Array
from jaxtyping import Bool, Float, Int

from minienc._recurrent_layout import check_inputs

__all__ = ["NONLINEARITIES", "rnn_step_forward", "rnn_time_forward", "forward"]

NONLINEARITIES = ("tanh", "relu")


def rnn_step_forward(
    xw: Float[Array, "B H"], h_prev: Float[Array, "B H"], w_hh_t: Array, nonlinearity: str
) -> Float[Array, "B H"]:
    """One RNN step: xw = x_t W_ihᵀ + b_ih + b_hh, w_hh_t = W_hhᵀ (H, H) -> h_t."""
    z = xw + h_prev @ w_hh_t  # (B, H)
    return jnp.tanh(z) if nonlinearity == "tanh" else jnp.where(z > 0, z, 0)


def rnn_time_forward(
    xw: Float[Array, "T B H"],
    h0: Float[Array, "B H"],
    w_hh: Array,
    mask: Bool[Array, "T B 1"] | None,
    reverse: bool,
    nonlinearity: str,
) -> Float[Array, "T B H"]:
    """One direction over time: h after every step (T, B, H)."""

    w_hh_t = w_hh.T  # (H, H): transposed once, not in every step

    def step(h, inputs):
        xw_t, m_t = inputs  # (B, H), (B, 1) or None
        h_t = rnn_step_forward(xw_t, h, w_hh_t, nonlinearity)
        if m_t is not None:  # padding: carry the state unchanged
            h_t = jnp.where(m_t, h_t, h)
        return h_t, h_t

    _, hs = jax.lax.scan(step, h0, (xw, mask), reverse=reverse)
    return hs


def forward(
    params: Mapping[str, Array],
    x: Float[Array, "B T I"],
    h0: Float[Array, "LD B H"] | None = None,
    lengths: Int[Array, " B"] | None = None,
    nonlinearity: str = "tanh",
) -> tuple[Float[Array, "B T DH"], Float[Array, "LD B H"]]:
    """Run a (multi-layer, optionally bidirectional) RNN over a batch of sequences.

    Args:
        params: torch's `nn.RNN` keys: `weight_ih_l{k}` (H, I or dirs*H), `weight_hh_l{k}` (H, H),
            optional `bias_ih_l{k}`, `bias_hh_l{k}` (H,), each also with `_reverse` when
            bidirectional. Layers, directions and sizes are read from the keys.
        x: input of shape (B, T, I).
        h0: initial state of shape (num_layers * dirs, B, H); zeros when None.
        lengths: integer array (B,), 1 <= lengths <= T; steps t >= lengths[b] are padding: their
            output is zero and they change nothing (as with `pack_padded_sequence`).
        nonlinearity: "tanh" or "relu" (static under jit).

    Returns:
        `(out, h_n)` with out (B, T, dirs*H) and h_n (num_layers * dirs, B, H).
    """
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
    stack, w, x, (h0,), mask = check_inputs(params, x, {"h0": h0}, lengths, 1, "rnn", "jax")
    inp = x.transpose(1, 0, 2)  # (T, B, I), time-major for the scan
    if mask is not None:
        inp = jnp.where(mask, inp, 0)
    h_n = []
    for layer in range(stack.num_layers):
        outs = []
        for d in range(stack.num_directions):
            w_ih, w_hh, b_ih, b_hh = stack.keys(layer, d)
            xw = inp @ w[w_ih].T  # (T, B, D) @ (D, H): every step in one matmul
            if stack.bias:
                xw = xw + (w[b_ih] + w[b_hh])
            k = layer * stack.num_directions + d
            hs = rnn_time_forward(xw, h0[k], w[w_hh], mask, d == 1, nonlinearity)
            outs.append(hs)
            h_n.append(hs[0] if d == 1 else hs[-1])  # the state after the last step
        inp = jnp.concatenate(outs, axis=2)  # (T, B, dirs*H)
        if mask is not None:
            inp = jnp.where(mask, inp, 0)
    return inp.transpose(1, 0, 2), jnp.stack(h_n)  # (B, T, dirs*H)
