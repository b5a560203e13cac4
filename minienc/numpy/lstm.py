"""LSTM encoder, like `nn.LSTM(batch_first=True)`, with a hand-written backward through time.

Forward, per layer and direction, for t = 0 .. T-1 (T-1 .. 0 in the reverse direction), with the
four gates stacked in torch's order i, f, g, o along the 4H columns:

    z_t = x_t W_ih^T + b_ih + b_hh + h_{t-1} W_hh^T        (B, 4H): one matmul for all gates
    i = σ(z_i),  f = σ(z_f),  g = tanh(z_g),  o = σ(z_o)
    c_t = f ⊙ c_{t-1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)

The input part xw_t = x_t W_ih^T + b_ih + b_hh does not wait for the previous step, so it is one
matmul over all steps before the loop. out is h_t at every step (directions concatenated,
(B, T, dirs*H)); h_n and c_n are the last states, (num_layers * dirs, B, H). Layer k + 1 reads
the outputs of layer k.

Step backward. Given δh_t (from out_t and from step t+1 through W_hh) and δc_t (from step t+1):

    δc   = δc_t + δh_t ⊙ o ⊙ (1 - tanh²(c_t))        (c_t reaches h_t through tanh)
    δz_o = δh_t ⊙ tanh(c_t) ⊙ o (1 - o)
    δz_i = δc ⊙ g ⊙ i (1 - i)
    δz_f = δc ⊙ c_{t-1} ⊙ f (1 - f)
    δz_g = δc ⊙ i ⊙ (1 - g²)
    δc_{t-1} = δc ⊙ f,     δh_{t-1} = δz_t W_hh (+ dout_{t-1})

The cell state's gradient passes from step to step through ⊙ f only, with no matmul and no
squashing: that is why gradients survive long sequences better than in the plain RNN. The loop
over time only produces δz_t; then, summed over time, one matmul each over all (t, b) rows:
dW_ih = Σ_t δz_t^T x_t, dW_hh = Σ_t δz_t^T h_{t-1}, db_ih = db_hh = Σ_{t,b} δz_t, dx_t = δz_t W_ih.

Lengths (as torch's `pack_padded_sequence`). Sequence b is real for t < L_b; at a padding step
the state is carried unchanged and the output is zero:

    (h_t, c_t) = m_t ? cell(...) : (h_{t-1}, c_{t-1}),      out_t = m_t ⊙ h_t,     m_t = [t < L_b].

So the forward direction ends at each sequence's last real step, and the reverse direction keeps
its initial state until t = L_b - 1. Backward, a padding step passes δh and δc on unchanged and
gives δz_t = 0. Padded inputs are zeroed first, so whatever they hold (even NaN) changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from jaxtyping import Bool, Float, Int

from minienc._recurrent_layout import Cache, check_inputs, check_upstream, entering
from minienc.numpy.activations import sigmoid, tanh

__all__ = [
    "lstm_step_forward",
    "lstm_step_backward",
    "lstm_time_forward",
    "lstm_time_backward",
    "forward",
    "backward",
]

StepCache = tuple[np.ndarray, ...]


def lstm_step_forward(
    xw: Float[np.ndarray, "B 4H"],
    h_prev: Float[np.ndarray, "B H"],
    c_prev: Float[np.ndarray, "B H"],
    w_hh_t: Float[np.ndarray, "H 4H"],
) -> tuple[Float[np.ndarray, "B H"], Float[np.ndarray, "B H"], StepCache]:
    """One LSTM step: xw = x_t W_ih^T + b_ih + b_hh -> h_t, c_t and the step's cache.

    w_hh_t is W_hh^T, made contiguous once before the loop (each step's matmul is faster).
    """
    H = h_prev.shape[1]
    z = xw + h_prev @ w_hh_t  # (B, H) @ (H, 4H) -> (B, 4H), gates i, f, g, o
    i, f = sigmoid(z[:, :H]), sigmoid(z[:, H : 2 * H])
    g, o = tanh(z[:, 2 * H : 3 * H]), sigmoid(z[:, 3 * H :])
    c = f * c_prev + i * g
    tanh_c = tanh(c)
    h = o * tanh_c
    return h, c, (i, f, g, o, c_prev, tanh_c)


def lstm_step_backward(
    dh: Float[np.ndarray, "B H"],
    dc: Float[np.ndarray, "B H"],
    cache: StepCache,
    w_hh: Float[np.ndarray, "4H H"],
) -> tuple[Float[np.ndarray, "B 4H"], Float[np.ndarray, "B H"], Float[np.ndarray, "B H"]]:
    """Backward of one step: δh_t, δc_t -> δz_t (B, 4H), δh_{t-1}, δc_{t-1}."""
    i, f, g, o, c_prev, tanh_c = cache
    dc = dc + dh * o * (1 - tanh_c * tanh_c)  # c_t reaches h_t through tanh
    dz = np.concatenate(
        [
            dc * g * i * (1 - i),
            dc * c_prev * f * (1 - f),
            dc * i * (1 - g * g),
            dh * tanh_c * o * (1 - o),
        ],
        axis=1,
    )  # (B, 4H), in torch's gate order
    return dz, dz @ w_hh, dc * f


def lstm_time_forward(
    xw: Float[np.ndarray, "T B 4H"],
    h0: Float[np.ndarray, "B H"],
    c0: Float[np.ndarray, "B H"],
    w_hh: Float[np.ndarray, "4H H"],
    mask: Bool[np.ndarray, "T B 1"] | None,
    reverse: bool,
) -> tuple[Float[np.ndarray, "T B H"], tuple[np.ndarray, np.ndarray], list[StepCache]]:
    """One direction over time: xw (T, B, 4H), h0, c0 (B, H), mask (T, B, 1) or None.

    Returns h after every step (T, B, H), the final (h, c), and the step caches in time order.
    """
    T = xw.shape[0]
    hs = np.empty((T, *h0.shape), h0.dtype)
    caches: list[StepCache] = [()] * T
    h, c, w_hh_t = h0, c0, np.ascontiguousarray(w_hh.T)  # (H, 4H)
    for t in reversed(range(T)) if reverse else range(T):
        h_t, c_t, caches[t] = lstm_step_forward(xw[t], h, c, w_hh_t)
        if mask is not None:  # padding: carry the state unchanged
            h_t, c_t = np.where(mask[t], h_t, h), np.where(mask[t], c_t, c)
        h, c = h_t, c_t
        hs[t] = h
    return hs, (h, c), caches


def lstm_time_backward(
    dhs: Float[np.ndarray, "T B H"],
    dh_n: Float[np.ndarray, "B H"],
    dc_n: Float[np.ndarray, "B H"],
    caches: list[StepCache],
    w_hh: Float[np.ndarray, "4H H"],
    mask: Bool[np.ndarray, "T B 1"] | None,
    reverse: bool,
) -> tuple[Float[np.ndarray, "T B 4H"], np.ndarray, np.ndarray]:
    """Backward through time of one direction: dhs (T, B, H) the outputs' gradient, dh_n, dc_n
    (B, H) the final state's. Returns δz (T, B, 4H), dh0 and dc0 (B, H)."""
    T = dhs.shape[0]
    dz = np.empty((T, dhs.shape[1], w_hh.shape[0]), dhs.dtype)
    dh, dc = dh_n, dc_n
    for t in range(T) if reverse else reversed(range(T)):
        dh = dh + dhs[t]
        dz[t], dh_prev, dc_prev = lstm_step_backward(dh, dc, caches[t], w_hh)
        if mask is not None:  # padding: no gradient to the step, the state's passes through
            dz[t] *= mask[t]
            dh_prev, dc_prev = np.where(mask[t], dh_prev, dh), np.where(mask[t], dc_prev, dc)
        dh, dc = dh_prev, dc_prev
    return dz, dh, dc


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
        dtype; and the cache: the weights, the mask, each layer's input and, per layer and
        direction, h after every step, the initial states and the step caches.
    """
    stack, w, x, (h0, c0), mask = check_inputs(params, x, {"h0": h0, "c0": c0}, lengths, 4, "lstm")
    B, T, _ = x.shape
    dirs, H = stack.num_directions, stack.hidden_size
    inp = x.transpose(1, 0, 2)  # (T, B, I), time-major
    inp = np.ascontiguousarray(inp if mask is None else np.where(mask, inp, 0))
    inputs, tapes, h_n, c_n = [], [], [], []
    for layer in range(stack.num_layers):
        inputs.append(inp)
        outs = []
        for d in range(dirs):
            w_ih, w_hh, b_ih, b_hh = stack.keys(layer, d)
            xw = (inp.reshape(T * B, inp.shape[2]) @ w[w_ih].T).reshape(
                T, B, 4 * H
            )  # all steps at once
            if stack.bias:
                xw += w[b_ih] + w[b_hh]
            k = layer * dirs + d
            hs, (h, c), caches = lstm_time_forward(xw, h0[k], c0[k], w[w_hh], mask, d == 1)
            tapes.append((hs, h0[k], caches))
            outs.append(hs)
            h_n.append(h)
            c_n.append(c)
        inp = outs[0] if dirs == 1 else np.concatenate(outs, axis=2)  # (T, B, dirs*H)
        if mask is not None:
            inp = inp * mask
    out = np.ascontiguousarray(inp.transpose(1, 0, 2))  # (B, T, dirs*H)
    cache = Cache("lstm", stack, w, mask, inputs, tapes, out.shape)
    return (out, (np.stack(h_n), np.stack(c_n))), cache


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
    dcur, (dh_n, dc_n) = check_upstream(dout, cache, "lstm", {"dh_n": dh_n, "dc_n": dc_n})
    stack, w, mask = cache.stack, cache.weights, cache.mask
    T, B, _ = dcur.shape
    dirs, H = stack.num_directions, stack.hidden_size
    grads: dict[str, np.ndarray] = {}
    dh0, dc0 = np.empty_like(dh_n), np.empty_like(dc_n)
    for layer in reversed(range(stack.num_layers)):
        if mask is not None:
            dcur = dcur * mask
        rows = cache.inputs[layer].reshape(T * B, cache.inputs[layer].shape[2])  # (T*B, D)
        drows = np.zeros_like(rows)
        for d in range(dirs):
            w_ih, w_hh, b_ih, b_hh = stack.keys(layer, d)
            k = layer * dirs + d
            hs, h0, caches = cache.tapes[k]
            dhs = dcur[:, :, d * H : (d + 1) * H]  # (T, B, H)
            dz, dh0[k], dc0[k] = lstm_time_backward(
                dhs, dh_n[k], dc_n[k], caches, w[w_hh], mask, d == 1
            )
            dz = dz.reshape(T * B, 4 * H)
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
    return ((dx, dh0, dc0) if return_initial else dx), grads
