"""The attention references: torch math against torch SDPA, and the tiled NumPy algorithm."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kernels import attention_reference, blocked_attention_numpy


def make_inputs(B, H, Nq, Nk, D, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, Nq, D, generator=gen, dtype=dtype)
    k = torch.randn(B, H, Nk, D, generator=gen, dtype=dtype)
    v = torch.randn(B, H, Nk, D, generator=gen, dtype=dtype)
    return q, k, v


def padding_mask(B, Nk, seed=0, full_row=None):
    """Random padding; batch element `full_row` is entirely padding."""
    gen = torch.Generator().manual_seed(seed + 1)
    kpm = torch.rand(B, Nk, generator=gen) < 0.3
    kpm[:, 0] = False  # every row keeps key 0, unless fully padded below
    if full_row is not None:
        kpm[full_row] = True
    return kpm


CASES = [
    # (B, H, Nq, Nk, D, causal, masked)
    (1, 1, 1, 1, 8, False, False),
    (2, 3, 7, 7, 16, True, True),
    (2, 2, 17, 17, 8, False, True),
    (2, 1, 17, 5, 4, True, False),
    (3, 2, 5, 17, 16, True, True),
    (2, 2, 129, 129, 8, True, True),
]


@pytest.mark.parametrize("B,H,Nq,Nk,D,causal,masked", CASES)
def test_reference_matches_torch_sdpa(B, H, Nq, Nk, D, causal, masked):
    q, k, v = make_inputs(B, H, Nq, Nk, D)
    kpm = padding_mask(B, Nk) if masked else None
    args = [x.clone().requires_grad_() for x in (q, k, v)]
    ours = attention_reference(*args, key_padding_mask=kpm, causal=causal)
    peers = [x.clone().requires_grad_() for x in (q, k, v)]
    attn_mask = None if kpm is None else ~kpm[:, None, None, :]  # SDPA: True = attend
    if attn_mask is not None and causal:
        attn_mask = attn_mask & torch.ones(Nq, Nk, dtype=torch.bool).tril()
    peer = F.scaled_dot_product_attention(
        *peers, attn_mask=attn_mask, is_causal=causal and attn_mask is None
    )
    assert (ours - peer).abs().max().item() <= 1e-12
    dy = torch.randn_like(ours)
    ours.backward(dy)
    peer.backward(dy)
    for name, a, b in zip("qkv", args, peers):
        assert (a.grad - b.grad).abs().max().item() <= 1e-12, f"d{name}"


def test_reference_fully_padded_row_is_zero_with_zero_grads():
    q, k, v = make_inputs(3, 2, 9, 11, 8)
    kpm = padding_mask(3, 11, full_row=1)
    args = [x.clone().requires_grad_() for x in (q, k, v)]
    y = attention_reference(*args, key_padding_mask=kpm, causal=True)
    y.backward(torch.randn_like(y))
    assert torch.equal(y[1], torch.zeros_like(y[1]))
    for x in args:
        assert torch.isfinite(x.grad).all()
    assert torch.equal(args[0].grad[1], torch.zeros_like(args[0].grad[1]))
    assert torch.equal(args[1].grad[1], torch.zeros_like(args[1].grad[1]))
    assert torch.equal(args[2].grad[1], torch.zeros_like(args[2].grad[1]))
    assert y[0].abs().max() > 0


def test_reference_half_inputs_compute_in_float32():
    q, k, v = make_inputs(2, 2, 17, 9, 16, dtype=torch.float16)
    y = attention_reference(q, k, v, causal=True)
    assert y.dtype == torch.float16
    y32 = attention_reference(q.float(), k.float(), v.float(), causal=True)
    assert torch.equal(y, y32.half())


BLOCKED_CASES = [
    # (B, H, Nq, Nk, D, causal, masked, block_q, block_k)
    (1, 1, 1, 1, 8, False, False, 16, 16),
    (2, 3, 17, 17, 8, True, True, 16, 16),
    (2, 2, 17, 40, 16, False, True, 8, 16),
    (2, 2, 40, 17, 4, True, True, 16, 4),
    (3, 1, 129, 100, 8, True, True, 32, 16),
]


@pytest.mark.parametrize("B,H,Nq,Nk,D,causal,masked,block_q,block_k", BLOCKED_CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blocked_numpy_matches_reference(B, H, Nq, Nk, D, causal, masked, block_q, block_k, dtype):
    q, k, v = make_inputs(B, H, Nq, Nk, D)
    kpm = padding_mask(B, Nk, full_row=B - 1) if masked else None
    o, lse = blocked_attention_numpy(
        q.numpy().astype(dtype),
        k.numpy().astype(dtype),
        v.numpy().astype(dtype),
        key_padding_mask=None if kpm is None else kpm.numpy(),
        causal=causal,
        block_q=block_q,
        block_k=block_k,
    )
    assert o.dtype == dtype and lse.dtype == dtype
    ref = attention_reference(q, k, v, key_padding_mask=kpm, causal=causal).numpy()
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert np.abs(o - ref).max() <= tol

    # LSE = log sum_j exp(s_ij) over visible keys, -inf where a row sees none.
    s = (q @ k.transpose(-2, -1)) / math.sqrt(D)  # (B, H, Nq, Nk)
    visible = torch.ones(B, 1, Nq, Nk, dtype=torch.bool)
    if kpm is not None:
        visible = visible & ~kpm[:, None, None, :]
    if causal:
        visible = visible & torch.ones(Nq, Nk, dtype=torch.bool).tril()
    lse_ref = torch.logsumexp(s.masked_fill(~visible, -math.inf), dim=-1).numpy()
    assert np.array_equal(np.isneginf(lse), np.isneginf(lse_ref))
    finite = np.isfinite(lse_ref)
    assert np.abs(lse[finite] - lse_ref[finite]).max() <= 10 * tol
    if masked:
        assert np.isneginf(lse[B - 1]).all() and not o[B - 1].any()


def test_blocked_numpy_is_stable_for_large_scores():
    q, k, v = make_inputs(1, 2, 17, 33, 8)
    o, lse = blocked_attention_numpy((q + 100).numpy(), (k + 100).numpy(), v.numpy(), block_k=8)
    ref = attention_reference(q + 100, k + 100, v).numpy()
    assert np.isfinite(o).all() and np.isfinite(lse).all()
    assert np.abs(o - ref).max() <= 1e-9
