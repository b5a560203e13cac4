"""Elman RNN encoder, like `nn.RNN(batch_first=True)`, with `jax.lax.scan` over time.

Per layer and direction, for t = 0 .. T-1 (T-1 .. 0 in the reverse direction):

    h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh)        (relu with nonlinearity="relu")

out is h_t at every step (directions concatenated, (B, T, dirs*H)); h_n is the last state of every
layer and direction, (num_layers * dirs, B, H). Lengths, layers and directions: see `_recurrent`.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
from jax import Array
from jaxtyping import Float, Int

from minienc.jax import _recurrent

__all__ = ["NONLINEARITIES", "forward"]

NONLINEARITIES = ("tanh", "relu")

_CELLS = {
    "tanh": _recurrent.Cell("rnn", 1, 1, lambda z, prev: (jnp.tanh(z),)),
    "relu": _recurrent.Cell("rnn", 1, 1, lambda z, prev: (jnp.where(z > 0, z, 0),)),
}


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
    if nonlinearity not in _CELLS:
        raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
    out, (h_n,) = _recurrent.forward(_CELLS[nonlinearity], params, x, {"h0": h0}, lengths)
    return out, h_n
