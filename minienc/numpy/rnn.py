"""Elman RNN encoder, like `nn.RNN(batch_first=True)`, with a hand-written backward through time.

Forward, per layer and direction, for t = 0 .. T-1 (T-1 .. 0 in the reverse direction):

    z_t = x_t W_ih^T + b_ih + b_hh + h_{t-1} W_hh^T        (B, H)
    h_t = φ(z_t),   φ = tanh or relu

The input part xw_t = x_t W_ih^T + b_ih + b_hh is one matmul over all time steps before the loop;
only h_{t-1} W_hh^T waits for the previous step. out is h_t at every step (both directions
concatenated, (B, T, dirs*H)) and h_n the last state of every layer and direction,
(num_layers * dirs, B, H). A stacked layer reads the outputs of the layer below.

Backward through time. h_t feeds out_t and the next step, so its gradient is the sum of both:

    δh_t = dout_t + δz_{t+1} W_hh          (δh_{T-1} also gets dh_n)
    δz_t = δh_t ⊙ φ'(z_t),   φ' = 1 - h_t² (tanh) or [h_t > 0] (relu)

and then, summed over time (one matmul each over all (t, b) rows):

    dW_ih = Σ_t δz_t^T x_t,   dW_hh = Σ_t δz_t^T h_{t-1},   db_ih = db_hh = Σ_{t,b} δz_t,
    dx_t = δz_t W_ih,         dh0 = δz_0 W_hh.

Lengths (as torch's `pack_padded_sequence`): sequence b is real for t < L_b; at a padding step
h_t = h_{t-1} and out_t = 0, so backward gives δz_t = 0 there and passes δh_t on unchanged.
Padded inputs are zeroed first, so whatever they hold (even NaN) changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from jaxtyping import Bool, Float, Int

from minienc._recurrent_layout import Cache, check_inputs, check_upstream, entering
from minienc.numpy.activations import relu, tanh

__all__ = [
    "NONLINEARITIES",
    "rnn_step_forward",
    "rnn_step_backward",
    "rnn_time_forward",
    "rnn_time_backward",
    "forward",
    "backward",
]

NONLINEARITIES = ("tanh", "relu")


def rnn_step_forward(
    xw: Float[np.ndarray, "B H"],
    h_prev: Float[np.ndarray, "B H"],
    w_hh_t: Float[np.ndarray, "H H"],
    nonlinearity: str,
) -> Float[np.ndarray, "B H"]:
    """One RNN step: xw = x_t W_ih^T + b_ih + b_hh -> h_t (also all its backward needs).

    w_hh_t is W_hh^T, made contiguous once before the loop (each step's matmul is faster).
    """
    z = xw + h_prev @ w_hh_t  # (B, H) @ (H, H)
    return tanh(z) if nonlinearity == "tanh" else relu(z)


def rnn_step_backward(
    dh: Float[np.ndarray, "B H"],
    h: Float[np.ndarray, "B H"],
    w_hh: Float[np.ndarray, "H H"],
    nonlinearity: str,
) -> tuple[Float[np.ndarray, "B H"], Float[np.ndarray, "B H"]]:
    """Backward of one step: δh_t and h_t -> δz_t, δh_{t-1} (without dout_{t-1})."""
    dz = dh * (1 - h * h) if nonlinearity == "tanh" else dh * (h > 0)
    return dz, dz @ w_hh


def rnn_time_forward(
    xw: Float[np.ndarray, "T B H"],
    h0: Float[np.ndarray, "B H"],
    w_hh: Float[np.ndarray, "H H"],
    mask: Bool[np.ndarray, "T B 1"] | None,
    reverse: bool,
    nonlinearity: str,
) -> Float[np.ndarray, "T B H"]:
    """One direction over time: xw (T, B, H), h0 (B, H), mask (T, B, 1) or None.

    Returns h after every step (T, B, H).
    """
    hs = np.empty_like(xw)
    h, w_hh_t = h0, np.ascontiguousarray(w_hh.T)  # (H, H)
    for t in reversed(range(xw.shape[0])) if reverse else range(xw.shape[0]):
        h_t = rnn_step_forward(xw[t], h, w_hh_t, nonlinearity)
        h = h_t if mask is None else np.where(mask[t], h_t, h)  # padding: carry h unchanged
        hs[t] = h
    return hs


def rnn_time_backward(
    dhs: Float[np.ndarray, "T B H"],
    dh_n: Float[np.ndarray, "B H"],
    hs: Float[np.ndarray, "T B H"],
    w_hh: Float[np.ndarray, "H H"],
    mask: Bool[np.ndarray, "T B 1"] | None,
    reverse: bool,
    nonlinearity: str,
) -> tuple[Float[np.ndarray, "T B H"], Float[np.ndarray, "B H"]]:
    """Backward through time of one direction: dhs (T, B, H) the outputs' gradient, dh_n (B, H)
    the final state's. Returns δz (T, B, H) and dh0 (B, H)."""
    dz = np.empty_like(dhs)
    dh = dh_n
    for t in range(dhs.shape[0]) if reverse else reversed(range(dhs.shape[0])):
        dh = dh + dhs[t]
        dz[t], dh_prev = rnn_step_backward(dh, hs[t], w_hh, nonlinearity)
        if mask is not None:  # padding: no gradient to the step, h's passes through
            dz[t] *= mask[t]
            dh_prev = np.where(mask[t], dh_prev, dh)
        dh = dh_prev
    return dz, dh


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
        the cache: the weights, the mask, each layer's input and, per layer and direction, h after
        every step and the initial state.
    """
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
    stack, w, x, (h0,), mask = check_inputs(params, x, {"h0": h0}, lengths, 1, "rnn")
    B, T, _ = x.shape
    dirs, H = stack.num_directions, stack.hidden_size
    inp = x.transpose(1, 0, 2)  # (T, B, I), time-major
    inp = np.ascontiguousarray(inp if mask is None else np.where(mask, inp, 0))
    inputs, tapes, h_n = [], [], []
    for layer in range(stack.num_layers):
        inputs.append(inp)
        outs = []
        for d in range(dirs):
            w_ih, w_hh, b_ih, b_hh = stack.keys(layer, d)
            xw = (inp.reshape(T * B, inp.shape[2]) @ w[w_ih].T).reshape(
                T, B, H
            )  # all steps at once
            if stack.bias:
                xw += w[b_ih] + w[b_hh]
            k = layer * dirs + d
            hs = rnn_time_forward(xw, h0[k], w[w_hh], mask, d == 1, nonlinearity)
            tapes.append((hs, h0[k]))
            outs.append(hs)
            h_n.append(hs[0] if d == 1 else hs[-1])  # the state after the last step
        inp = outs[0] if dirs == 1 else np.concatenate(outs, axis=2)  # (T, B, dirs*H)
        if mask is not None:
            inp = inp * mask
    out = np.ascontiguousarray(inp.transpose(1, 0, 2))  # (B, T, dirs*H)
    cache = Cache(f"rnn {nonlinearity}", stack, w, mask, inputs, tapes, out.shape)
    return (out, np.stack(h_n)), cache


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
    dcur, (dh_n,) = check_upstream(dout, cache, "rnn", {"dh_n": dh_n})
    stack, w, mask = cache.stack, cache.weights, cache.mask
    nonlinearity = cache.layer.split()[1]
    T, B, _ = dcur.shape
    dirs, H = stack.num_directions, stack.hidden_size
    grads: dict[str, np.ndarray] = {}
    dh0 = np.empty_like(dh_n)
    for layer in reversed(range(stack.num_layers)):
        if mask is not None:
            dcur = dcur * mask
        rows = cache.inputs[layer].reshape(T * B, cache.inputs[layer].shape[2])  # (T*B, D)
        drows = np.zeros_like(rows)
        for d in range(dirs):
            w_ih, w_hh, b_ih, b_hh = stack.keys(layer, d)
            k = layer * dirs + d
            hs, h0 = cache.tapes[k]
            dhs = dcur[:, :, d * H : (d + 1) * H]  # (T, B, H)
            dz, dh0[k] = rnn_time_backward(dhs, dh_n[k], hs, w[w_hh], mask, d == 1, nonlinearity)
            dz = dz.reshape(T * B, H)
            grads[w_ih] = dz.T @ rows
            grads[w_hh] = dz.T @ entering(hs, h0, d == 1).reshape(T * B, H)
            if stack.bias:
                grads[b_ih] = dz.sum(axis=0)
                grads[b_hh] = grads[b_ih].copy()
            drows += dz @ w[w_ih]
        dcur = drows.reshape(
            T, B, drows.shape[1]
        )  # (T, B, D): the gradient of the layer below's output
    dx = np.ascontiguousarray(dcur.transpose(1, 0, 2))  # (B, T, I)
    grads = {k: grads[k] for k in w}
    return ((dx, dh0) if return_initial else dx), grads
