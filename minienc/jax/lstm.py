"""LSTM encoder, like `nn.LSTM(batch_first=True)`, with `jax.lax.scan` over time.

Per layer and direction, for t = 0 .. T-1 (T-1 .. 0 in the reverse direction), with the four gates
stacked in torch's order i, f, g, o along the 4H columns:

    z_t = x_t W_ihᵀ + b_ih + b_hh + h_{t-1} W_hhᵀ        (B, 4H): one matmul for all gates
    i = σ(z_i),  f = σ(z_f),  g = tanh(z_g),  o = σ(z_o)
    c_t = f ⊙ c_{t-1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)

The input part xw_t = x_t W_ihᵀ + b_ih + b_hh is one matmul over all steps before the scan. out
is h_t at every step (directions concatenated, (B, T, dirs*H)); h_n and c_n are the last states,
(num_layers * dirs, B, H). Layer k + 1 reads the outputs of layer k.

Lengths, by masking (what torch's `pack_padded_sequence` computes, without packing): at a padding
step t >= L_b the state is carried unchanged and the output is zero. So the forward direction
ends at each sequence's last real step, and the reverse direction (`scan(reverse=True)` walks
T-1 .. 0 and still stacks the outputs in time order) keeps its initial state until t = L_b - 1.
Padded inputs are zeroed first, so whatever they hold (even NaN) reaches neither the output nor
the gradients. Backward through time, including the cell state's path through ⊙ f, is `jax.grad`
of the scan; `minienc.numpy.lstm` writes it by hand.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
from jax import Array
from jaxtyping import Bool, Float, Int

from minienc._recurrent_layout import check_inputs
from minienc.jax.activations import sigmoid

__all__ = ["lstm_step_forward", "lstm_time_forward", "forward"]


def lstm_step_forward(
    xw: Float[Array, "B 4H"],
    h_prev: Float[Array, "B H"],
    c_prev: Float[Array, "B H"],
    w_hh_t: Float[Array, "H 4H"],
) -> tuple[Float[Array, "B H"], Float[Array, "B H"]]:
    """One LSTM step: xw = x_t W_ihᵀ + b_ih + b_hh, w_hh_t = W_hhᵀ (H, 4H) -> h_t, c_t."""
    z = xw + h_prev @ w_hh_t  # (B, H) @ (H, 4H) -> (B, 4H)
    zi, zf, zg, zo = jnp.split(z, 4, axis=-1)  # 4 x (B, H)
    c = sigmoid(zf) * c_prev + sigmoid(zi) * jnp.tanh(zg)
    h = sigmoid(zo) * jnp.tanh(c)
    return h, c


def lstm_time_forward(
    xw: Float[Array, "T B 4H"],
    h0: Float[Array, "B H"],
    c0: Float[Array, "B H"],
    w_hh: Array,
    mask: Bool[Array, "T B 1"] | None,
    reverse: bool,
) -> tuple[Float[Array, "T B H"], tuple[Array, Array]]:
    """One direction over time: h after every step (T, B, H) and the final (h, c) (B, H)."""

    w_hh_t = w_hh.T  # (H, 4H): transposed once, not in every step

    def step(carry, inputs):
        h, c = carry
        xw_t, m_t = inputs  # (B, 4H), (B, 1) or None
        h_t, c_t = lstm_step_forward(xw_t, h, c, w_hh_t)
        if m_t is not None:  # padding: carry the state unchanged
            h_t, c_t = jnp.where(m_t, h_t, h), jnp.where(m_t, c_t, c)
        return (h_t, c_t), h_t

    (h, c), hs = jax.lax.scan(step, (h0, c0), (xw, mask), reverse=reverse)
    return hs, (h, c)


def forward(
    params: Mapping[str, Array],
    x: Float[Array, "B T I"],
    h0: Float[Array, "LD B H"] | None = None,
    c0: Float[Array, "LD B H"] | None = None,
    lengths: Int[Array, " B"] | None = None,
) -> tuple[Float[Array, "B T DH"], tuple[Float[Array, "LD B H"], Float[Array, "LD B H"]]]:
    """Run a (multi-layer, optionally bidirectional) LSTM over a batch of sequences.

    Args:
        params: torch's `nn.LSTM` keys: `weight_ih_l{k}` (4H, I or dirs*H), `weight_hh_l{k}`
            (4H, H), optional `bias_ih_l{k}`, `bias_hh_l{k}` (4H,) (two biases, as torch), each
            also with `_reverse` when bidirectional. Layers, directions, sizes come from the keys.
        x: input of shape (B, T, I).
        h0, c0: initial states of shape (num_layers * dirs, B, H); zeros when None.
        lengths: integer array (B,), 1 <= lengths <= T; steps t >= lengths[b] are padding: their
            output is zero and they change nothing (as with `pack_padded_sequence`).

    Returns:
        `(out, (h_n, c_n))` with out (B, T, dirs*H) and h_n, c_n (num_layers * dirs, B, H).
    """
    states0 = {"h0": h0, "c0": c0}
    stack, w, x, (h0, c0), mask = check_inputs(params, x, states0, lengths, 4, "lstm", "jax")
    inp = x.transpose(1, 0, 2)  # (T, B, I), time-major for the scan
    if mask is not None:
        inp = jnp.where(mask, inp, 0)
    h_n, c_n = [], []
    for layer in range(stack.num_layers):
        outs = []
        for d in range(stack.num_directions):
            w_ih, w_hh, b_ih, b_hh = stack.keys(layer, d)
            xw = inp @ w[w_ih].T  # (T, B, D) @ (D, 4H): every step in one matmul
            if stack.bias:
                xw = xw + (w[b_ih] + w[b_hh])
            k = layer * stack.num_directions + d
            hs, (h, c) = lstm_time_forward(xw, h0[k], c0[k], w[w_hh], mask, reverse=d == 1)
            outs.append(hs)
            h_n.append(h)
            c_n.append(c)
        inp = jnp.concatenate(outs, axis=2)  # (T, B, dirs*H)
        if mask is not None:
            inp = jnp.where(mask, inp, 0)
    return inp.transpose(1, 0, 2), (jnp.stack(h_n), jnp.stack(c_n))  # (B, T, dirs*H)
