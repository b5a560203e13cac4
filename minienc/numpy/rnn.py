"""Elman RNN encoder, like `nn.RNN(batch_first=True)`, with a hand-written backward through time.

Forward, per layer and direction, for t = 0 .. T-1 (T-1 .. 0 in the reverse direction):

    z_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh        (B, H)
    h_t = φ(z_t),   φ = tanh or relu

The input part x W_ih^T + b_ih + b_hh is one matmul over all time steps; only h_{t-1} W_hh^T waits
for the previous step. out is h_t at every step (both directions concatenated, (B, T, dirs*H)) and
h_n the last state of every layer and direction, (num_layers * dirs, B, H). A stacked layer reads
the outputs of the layer below.

Backward through time. h_t feeds out_t and the next step, so its gradient is the sum of both:

    δh_t = dout_t + δz_{t+1} W_hh          (δh_{T-1} also gets dh_n)
    δz_t = δh_t ⊙ φ'(z_t),   φ' = 1 - h_t² (tanh) or [h_t > 0] (relu)

and then, summed over time (one matmul each over all (t, b) rows):

    dW_ih = Σ_t δz_t^T x_t,   dW_hh = Σ_t δz_t^T h_{t-1},   db_ih = db_hh = Σ_{t,b} δz_t,
    dx_t = δz_t W_ih,         dh0 = δz_0 W_hh.

With `lengths`, padded steps carry the state unchanged and output zeros; how the mask enters the
recursions (and how layers stack) is derived once for the RNN and the LSTM in `_recurrent`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from jaxtyping import Float, Int

from minienc.numpy import _recurrent
from minienc.numpy._recurrent import Cache, State
from minienc.numpy.activations import relu, tanh

__all__ = ["forward", "backward"]

NONLINEARITIES = ("tanh", "relu")


def _tanh_step(z: np.ndarray, prev: State, new: State) -> None:
    new[0][...] = tanh(z)  # h_t (B, H)


def _tanh_step_backward(
    z: np.ndarray, dnew: State, prev: State, new: State
) -> tuple[np.ndarray, State]:
    h = new[0]
    return dnew[0] * (1 - h * h), ()  # δz_t = δh_t ⊙ (1 - h_t²)


def _relu_step(z: np.ndarray, prev: State, new: State) -> None:
    new[0][...] = relu(z)  # h_t (B, H)


def _relu_step_backward(
    z: np.ndarray, dnew: State, prev: State, new: State
) -> tuple[np.ndarray, State]:
    return dnew[0] * (new[0] > 0), ()  # δz_t = δh_t ⊙ [h_t > 0]


_CELLS = {
    "tanh": _recurrent.Cell("rnn", 1, 1, _tanh_step, _tanh_step_backward),
    "relu": _recurrent.Cell("rnn", 1, 1, _relu_step, _relu_step_backward),
}


def forward(
    params: Mapping[str, np.ndarray],
    x: Float[np.ndarray, "B T I"],
    h0: Float[np.ndarray, "LD B H"] | None = None,
    lengths: Int[np.ndarray, " B"] | None = None,
    nonlinearity: str = "tanh",
) -> tuple[tuple[Float[np.ndarray, "B T DH"], Float[np.ndarray, "LD B H"]], Cache]:
    """Run a (multi-layer, optionally bidirectional) RNN over a batch of sequences.

    Args:
        params: torch's `nn.RNN` keys: `weight_ih_l{k}` (H, I or dirs*H), `weight_hh_l{k}` (H, H),
            optional `bias_ih_l{k}`, `bias_hh_l{k}` (H,), each also with `_reverse` when
            bidirectional. Layers, directions and sizes are read from the keys.
        x: input of shape (B, T, I).
        h0: initial state of shape (num_layers * dirs, B, H); zeros when None.
        lengths: integer array (B,), 1 <= lengths <= T; steps t >= lengths[b] are padding: their
            output is zero and they change nothing (as with `pack_padded_sequence`).
        nonlinearity: "tanh" or "relu".

    Returns:
        `(out, h_n)` with out (B, T, dirs*H) and h_n (num_layers * dirs, B, H), in x's dtype; and
        the cache: weights, mask, each layer's input and, per direction, the pre-activations z_t,
        the states h_t and the initial state.
    """
    if nonlinearity not in _CELLS:
        raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
    out, (h_n,), cache = _recurrent.forward(_CELLS[nonlinearity], params, x, {"h0": h0}, lengths)
    return (out, h_n), cache


def backward(
    dout: Float[np.ndarray, "B T DH"],
    cache: Cache,
    dh_n: Float[np.ndarray, "LD B H"] | None = None,
    return_initial: bool = False,
) -> tuple[Float[np.ndarray, "B T I"] | tuple[np.ndarray, np.ndarray], dict[str, np.ndarray]]:
    """Backward through time.

    Args:
        dout: gradient of out, of shape (B, T, dirs*H).
        cache: from `forward`.
        dh_n: gradient of h_n, of shape (num_layers * dirs, B, H); zeros when None.
        return_initial: also return dh0, the gradient of the initial state.

    Returns:
        dx (B, T, I) — or `(dx, dh0)` when return_initial — and grads with the keys of params.
    """
    dx, grads, (dh0,) = _recurrent.backward(dout, cache, {"dh_n": dh_n})
    return ((dx, dh0) if return_initial else dx), grads
