"""JAX pooling equals a torch autograd reference and the NumPy twin, every mode at once."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _torchref import assert_close, compare_with_torch, jax_params, randomize
from torch import nn

from minienc.jax import pooling
from minienc.numpy import pooling as np_pooling

F64, F32 = np.float64, np.float32
B, D = 4, 5


def make_mask(T):
    """(B, T) True = padding: row 0 full, row 1 padded at the end, row 2 all padding, row 3
    padded at the start (its position 0, the "cls" slot, is padding)."""
    mask = np.zeros((B, T), dtype=bool)
    mask[1, T // 2 + 1 :] = True
    mask[2] = True
    mask[3, : max(T - 2, 1)] = True
    return mask


def torch_pool(h, mask, mode, weight):
    real = ~mask
    has_any = real.any(1, keepdim=True)
    if mode == "cls":
        return h[:, 0] * real[:, :1]
    if mode == "last":
        last = real.shape[1] - 1 - torch.argmax(real.flip(1).to(torch.int64), dim=1)
        return h[torch.arange(h.shape[0]), last] * has_any
    if mode == "mean":
        return (h * real[..., None]).sum(1) / real.sum(1, keepdim=True).clamp(min=1)
    if mode == "max":
        y = h.masked_fill(mask[..., None], float("-inf")).amax(1)
        return torch.where(has_any, y, torch.zeros_like(y))
    scores = (h @ weight.T)[..., 0].masked_fill(mask, float("-inf"))
    return torch.einsum("bt,btd->bd", torch.softmax(scores, 1).nan_to_num(0.0), h)


@pytest.mark.parametrize("dtype, T", [(F64, 1), (F64, 17), (F32, 17)])
def test_pooling_equals_torch(dtype, T):
    scorer = randomize(nn.Linear(D, 1, bias=False), seed=31).to(
        torch.float64 if dtype == F64 else torch.float32
    )
    mask = make_mask(T)

    def ours(p, h):  # every mode at once (one compile); output n is MODES[n]
        return tuple(
            pooling.forward(h, jnp.asarray(mask), mode, p if mode == "weighted_mean" else None)
            for mode in pooling.MODES
        )

    def ref(h):
        return tuple(
            torch_pool(h, torch.tensor(mask), mode, scorer.weight) for mode in pooling.MODES
        )

    h = np.random.default_rng(T).standard_normal((B, T, D)).astype(dtype)
    compare_with_torch(ours, ref, jax_params(scorer), [h], scorer, dtype)
    ys = jax.jit(ours)(jax_params(scorer), jnp.asarray(h))
    for mode, y in zip(pooling.MODES, ys):
        assert np.all(y[2] == 0), mode  # the all-padding row
        p = {"weight": scorer.weight.detach().numpy()} if mode == "weighted_mean" else None
        y_np, _ = np_pooling.forward(h, mask, mode, params=p)  # the NumPy twin agrees
        assert_close(y, y_np, dtype, what=f"{mode}: JAX vs NumPy")


def test_pooling_vmaps_and_ignores_padding_content():
    h = np.random.default_rng(0).standard_normal((3, B, 6, D))  # (N, B, T, D)
    mask = make_mask(6)
    noisy = np.where(mask[None, :, :, None], 1e3, h)
    f = jax.jit(jax.vmap(lambda h: pooling.forward(h, jnp.asarray(mask), "max")))
    np.testing.assert_array_equal(f(jnp.asarray(h)), f(jnp.asarray(noisy)))
    assert_close(f(jnp.asarray(h))[1], pooling.forward(jnp.asarray(h[1]), mask, "max"))


H3 = np.ones((2, 3, 4))
BAD_INPUTS = [
    (lambda: pooling.forward(H3, np.zeros((2, 3), bool), "sum"), ValueError, "mode must be one of"),
    (lambda: pooling.forward(H3, np.zeros((2, 3)), "mean"), TypeError, "mask must be a bool"),
    (
        lambda: pooling.forward(H3, np.zeros((2, 4), bool), "mean"),
        ValueError,
        r"mask has shape \(2, 4\) but h of shape \(2, 3, 4\) needs \(2, 3\)",
    ),
    (lambda: pooling.forward(H3[0], np.zeros((3,), bool), "mean"), ValueError, "h must have 3"),
    (
        lambda: pooling.forward(H3, np.zeros((2, 3), bool), "weighted_mean"),
        KeyError,
        r"missing \['weight'\]",
    ),
    (
        lambda: pooling.forward(
            H3, np.zeros((2, 3), bool), "weighted_mean", {"weight": np.ones(4)}
        ),
        ValueError,
        r"must have shape \(1, \*\), got \(4,\)",
    ),
    (
        lambda: pooling.forward(H3, np.zeros((2, 3), bool), "mean", {"weight": np.ones((1, 4))}),
        KeyError,
        r"mean pooling has unexpected keys \['weight'\]",
    ),
]


@pytest.mark.parametrize("call, error, match", BAD_INPUTS)
def test_bad_inputs_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
