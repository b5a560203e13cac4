"""LSTM encoder, like `nn.LSTM(batch_first=True)`, with `jax.lax.scan` over time.

Per layer and direction, for t = 0 .. T-1 (T-1 .. 0 in the reverse direction), with the four gates
stacked in torch's order i, f, g, o along the 4H columns:

    z_t = x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh        (B, 4H): one matmul for all gates
    i = σ(z_i),  f = σ(z_f),  g = tanh(z_g),  o = σ(z_o)
    c_t = f ⊙ c_{t-1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)

out is h_t at every step (directions concatenated, (B, T, dirs*H)); h_n and c_n are the last
states, (num_layers * dirs, B, H). The cell state's gradient passes from step to step through ⊙ f
only, which `jax.grad` finds by itself. Lengths, layers and directions: see `_recurrent`.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
from jax import Array
from jaxtyping import Float, Int

from minienc.jax import _recurrent
from minienc.jax.activations import sigmoid

__all__ = ["forward"]


def _step(z: Array, prev: tuple[Array, Array]) -> tuple[Array, Array]:
    _, c_prev = prev
    zi, zf, zg, zo = jnp.split(z, 4, axis=-1)  # (B, 4H) -> 4 x (B, H)
    c = sigmoid(zf) * c_prev + sigmoid(zi) * jnp.tanh(zg)
    h = sigmoid(zo) * jnp.tanh(c)
    return h, c


_CELL = _recurrent.Cell("lstm", 4, 2, _step)


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
    out, (h_n, c_n) = _recurrent.forward(_CELL, params, x, {"h0": h0, "c0": c0}, lengths)
    return out, (h_n, c_n)
