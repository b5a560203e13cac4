"""LSTM encoder, like `nn.LSTM(batch_first=True)`, with a hand-written backward through time.

Forward, per layer and direction, for t = 0 .. T-1 (T-1 .. 0 in the reverse direction), with the
four gates stacked in torch's order i, f, g, o along the G*H = 4H columns:

    z_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh        (B, 4H): one matmul for all gates
    i = σ(z_i),  f = σ(z_f),  g = tanh(z_g),  o = σ(z_o)
    c_t = f ⊙ c_{t-1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)

The input part x W_ih^T + b_ih + b_hh is one matmul over all time steps. out is h_t at every
step (directions concatenated, (B, T, dirs*H)); h_n and c_n are the last states,
(num_layers * dirs, B, H).

Cell backward. Given δh_t (from out_t and from step t+1 through W_hh) and δc_t (from step t+1):

    δc   = δc_t + δh_t ⊙ o ⊙ (1 - tanh²(c_t))        (c_t reaches h_t through tanh)
    δz_o = δh_t ⊙ tanh(c_t) ⊙ o (1 - o)
    δz_i = δc ⊙ g ⊙ i (1 - i)
    δz_f = δc ⊙ c_{t-1} ⊙ f (1 - f)
    δz_g = δc ⊙ i ⊙ (1 - g²)
    δc_{t-1} = δc ⊙ f,     δh_{t-1} = δz_t W_hh (+ dout_{t-1})

The cell state's gradient passes from step to step through ⊙ f only, with no matmul and no
squashing: that is why gradients survive long sequences better than in the plain RNN. Summed over
time: dW_ih = Σ_t δz_t^T x_t, dW_hh = Σ_t δz_t^T h_{t-1}, db_ih = db_hh = Σ_{t,b} δz_t,
dx_t = δz_t W_ih; the gradients reaching the first step are dh0 and dc0. How `lengths` masks the
recursions and how layers stack is derived once for the RNN and the LSTM in `_recurrent`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from jaxtyping import Float, Int

from minienc.numpy import _recurrent
from minienc.numpy._recurrent import Cache, State
from minienc.numpy.activations import sigmoid, tanh

__all__ = ["forward", "backward"]


def _step(z: np.ndarray, prev: State, new: State) -> None:
    """z (B, 4H): pre-activations, replaced by the gates i, f, g, o; writes h_t, c_t into new."""
    c_prev, (h, c) = prev[1], new
    H = c.shape[1]
    z[:, : 2 * H] = sigmoid(z[:, : 2 * H])  # i, f
    z[:, 2 * H : 3 * H] = tanh(z[:, 2 * H : 3 * H])  # g
    z[:, 3 * H :] = sigmoid(z[:, 3 * H :])  # o
    i, f, g, o = z[:, :H], z[:, H : 2 * H], z[:, 2 * H : 3 * H], z[:, 3 * H :]
    np.multiply(f, c_prev, out=c)
    c += i * g
    np.multiply(o, tanh(c), out=h)


def _step_backward(z: np.ndarray, dnew: State, prev: State, new: State) -> tuple[np.ndarray, State]:
    """dz (B, 4H) and dc_{t-1} from dh_t, dc_t (the cell backward of the module docstring)."""
    dh, dc = dnew
    c_prev, c = prev[1], new[1]
    H = c.shape[1]
    i, f, g, o = z[:, :H], z[:, H : 2 * H], z[:, 2 * H : 3 * H], z[:, 3 * H :]
    tc = tanh(c)
    dc = dc + dh * o * (1 - tc * tc)
    dz = np.empty_like(z)  # (B, 4H)
    dz[:, :H] = dc * g * i * (1 - i)
    dz[:, H : 2 * H] = dc * c_prev * f * (1 - f)
    dz[:, 2 * H : 3 * H] = dc * i * (1 - g * g)
    dz[:, 3 * H :] = dh * tc * o * (1 - o)
    return dz, (dc * f,)


CELL = _recurrent.Cell("lstm", 4, 2, _step, _step_backward)


def forward(
    params: Mapping[str, np.ndarray],
    x: Float[np.ndarray, "B T I"],
    h0: Float[np.ndarray, "LD B H"] | None = None,
    c0: Float[np.ndarray, "LD B H"] | None = None,
    lengths: Int[np.ndarray, " B"] | None = None,
) -> tuple[
    tuple[Float[np.ndarray, "B T DH"], tuple[Float[np.ndarray, "LD B H"], np.ndarray]], Cache
]:
    """Run a (multi-layer, optionally bidirectional) LSTM over a batch of sequences.

    Args:
        params: torch's `nn.LSTM` keys: `weight_ih_l{k}` (4H, I or dirs*H), `weight_hh_l{k}`
            (4H, H), optional `bias_ih_l{k}`, `bias_hh_l{k}` (4H,), each also with `_reverse` when
            bidirectional; gate order i, f, g, o. Layers, directions, sizes are read from the keys.
        x: input of shape (B, T, I).
        h0, c0: initial states of shape (num_layers * dirs, B, H); zeros when None.
        lengths: integer array (B,), 1 <= lengths <= T; steps t >= lengths[b] are padding: their
            output is zero and they change nothing (as with `pack_padded_sequence`).

    Returns:
        `(out, (h_n, c_n))` with out (B, T, dirs*H) and h_n, c_n (num_layers * dirs, B, H), in x's
        dtype; and the cache: weights, mask, each layer's input and, per direction, the gate
        activations, the h and c after every step and the initial states.
    """
    out, (h_n, c_n), cache = _recurrent.forward(CELL, params, x, {"h0": h0, "c0": c0}, lengths)
    return (out, (h_n, c_n)), cache


def backward(
    dout: Float[np.ndarray, "B T DH"],
    cache: Cache,
    dh_n: Float[np.ndarray, "LD B H"] | None = None,
    dc_n: Float[np.ndarray, "LD B H"] | None = None,
    return_initial: bool = False,
) -> tuple[Float[np.ndarray, "B T I"] | tuple[np.ndarray, ...], dict[str, np.ndarray]]:
    """Backward through time.

    Args:
        dout: gradient of out, of shape (B, T, dirs*H).
        cache: from `forward`.
        dh_n, dc_n: gradients of h_n and c_n, of shape (num_layers * dirs, B, H); zeros when None.
        return_initial: also return dh0 and dc0, the gradients of the initial states.

    Returns:
        dx (B, T, I) — or `(dx, dh0, dc0)` when return_initial — and grads with the keys of params.
    """
    dx, grads, (dh0, dc0) = _recurrent.backward(dout, cache, {"dh_n": dh_n, "dc_n": dc_n})
    return ((dx, dh0, dc0) if return_initial else dx), grads
