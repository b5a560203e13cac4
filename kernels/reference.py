"""Reference attention: plain torch math, and the tiled online-softmax algorithm in NumPy.

`attention_reference` materialises the whole score matrix, the way a textbook writes attention:

    S = sm_scale * Q K^T          (B, H, Nq, Nk)
    P = softmax(S) over keys, with masked keys left out
    O = P V                        (B, H, Nq, D)

It is the oracle the Triton kernel is tested against, and torch autograd gives its gradients.

`blocked_attention_numpy` computes the same O without ever holding a full row of S. It walks the
keys one tile of `block_k` columns at a time and keeps, per query row, a running maximum `m`, a
running sum `l` of exp(s - m), and an accumulator `acc` of exp(s - m) @ V. When a new tile raises
the maximum from m_old to m_new, everything summed so far was scaled by exp(-m_old) and must be
rescaled by alpha = exp(m_old - m_new) before the new tile is added:

    l   <- alpha * l   + rowsum(exp(S_tile - m_new))
    acc <- alpha * acc + exp(S_tile - m_new) @ V_tile

After the last tile, O = acc / l and the log-sum-exp of the row is LSE = m + log(l). This is the
forward pass of FlashAttention-2 (Dao, 2023), tile for tile as `kernels.flash_attention` runs it:
base-2 exponentials with log2(e) * sm_scale folded into the scores, and the running maximum of a
row with no visible key yet treated as 0 so that no -inf - (-inf) ever appears.

Masks: `key_padding_mask` is bool (B, Nk), True = padding (torch's convention). `causal=True`
lets query i see key j only when j <= i, aligned top-left as `torch.nn.functional.
scaled_dot_product_attention(is_causal=True)` does when Nq != Nk. A query row that sees no key at
all (every key padded) returns zeros, never NaN, and passes zero gradients back.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from jaxtyping import Bool, Float

__all__ = ["attention_reference", "blocked_attention_numpy", "visible_keys"]

LOG2E = 1.4426950408889634  # log2(e): exp(x) == exp2(x * LOG2E)


def visible_keys(
    key_padding_mask: Bool[torch.Tensor, "B Nk"] | None,
    causal: bool,
    batch: int,
    nq: int,
    nk: int,
    device: torch.device | str = "cpu",
) -> Bool[torch.Tensor, "B 1 Nq Nk"]:
    """Which keys each query row may attend to: True = visible."""
    visible = torch.ones(batch, 1, nq, nk, dtype=torch.bool, device=device)
    if key_padding_mask is not None:
        visible = visible & ~key_padding_mask[:, None, None, :].to(device)  # (B, 1, 1, Nk)
    if causal:
        visible = visible & torch.ones(nq, nk, dtype=torch.bool, device=device).tril()
    return visible


def attention_reference(
    q: Float[torch.Tensor, "B H Nq D"],
    k: Float[torch.Tensor, "B H Nk D"],
    v: Float[torch.Tensor, "B H Nk D"],
    key_padding_mask: Bool[torch.Tensor, "B Nk"] | None = None,
    causal: bool = False,
    sm_scale: float | None = None,
) -> Float[torch.Tensor, "B H Nq D"]:
    """softmax(sm_scale * q @ k^T, masked) @ v, differentiable by torch autograd.

    Half-precision inputs are computed in float32 and the result cast back to the input dtype;
    float32 and float64 stay as they are. `sm_scale` defaults to 1 / sqrt(D).
    """
    B, _, Nq, D = q.shape
    Nk = k.shape[2]
    scale = 1.0 / math.sqrt(D) if sm_scale is None else float(sm_scale)
    work = torch.float32 if q.dtype in (torch.float16, torch.bfloat16) else q.dtype
    qw, kw, vw = q.to(work), k.to(work), v.to(work)

    s = scale * qw @ kw.transpose(-2, -1)  # (B, H, Nq, Nk)
    visible = visible_keys(key_padding_mask, causal, B, Nq, Nk, q.device)
    s = s.masked_fill(~visible, float("-inf"))
    m = s.amax(dim=-1, keepdim=True).detach()  # (B, H, Nq, 1)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # rows with no visible key
    p = torch.exp(s - m)  # masked entries: exp(-inf) = 0
    l = p.sum(dim=-1, keepdim=True)
    p = p / torch.where(l > 0, l, torch.ones_like(l))
    return (p @ vw).to(q.dtype)


def blocked_attention_numpy(
    q: Float[np.ndarray, "B H Nq D"],
    k: Float[np.ndarray, "B H Nk D"],
    v: Float[np.ndarray, "B H Nk D"],
    key_padding_mask: Bool[np.ndarray, "B Nk"] | None = None,
    causal: bool = False,
    sm_scale: float | None = None,
    block_q: int = 16,
    block_k: int = 16,
) -> tuple[Float[np.ndarray, "B H Nq D"], Float[np.ndarray, "B H Nq"]]:
    """FlashAttention's forward pass in NumPy, one (block_q, block_k) tile at a time.

    Returns `(o, lse)` where `lse[b, h, i] = log(sum_j exp(s_ij))` over the visible keys
    (natural log; -inf for a row with no visible key, whose output is 0). The kernel keeps the
    same quantity in base-2 units, `lse * log2(e)`.
    """
    q, k, v = (np.asarray(a) for a in (q, k, v))
    B, H, Nq, D = q.shape
    Nk = k.shape[2]
    scale = 1.0 / math.sqrt(D) if sm_scale is None else float(sm_scale)
    qk_scale = scale * LOG2E  # scores in base-2 units: exp(s) == exp2(s * LOG2E)
    acc_dtype = np.promote_types(q.dtype, np.float32)  # float32 accumulators, as the kernel
    pad = (
        np.zeros((B, Nk), dtype=bool) if key_padding_mask is None else np.asarray(key_padding_mask)
    )

    o = np.zeros((B, H, Nq, D), dtype=acc_dtype)
    lse = np.zeros((B, H, Nq), dtype=acc_dtype)
    for q0 in range(0, Nq, block_q):  # one program of the kernel per query tile
        rows = np.arange(q0, min(q0 + block_q, Nq))
        q_tile = q[:, :, rows].astype(acc_dtype)  # (B, H, bq, D)
        m = np.full((B, H, len(rows)), -np.inf, dtype=acc_dtype)  # running max (base 2)
        l = np.zeros((B, H, len(rows)), dtype=acc_dtype)  # running sum of exp2(s - m)
        acc = np.zeros((B, H, len(rows), D), dtype=acc_dtype)  # running sum of exp2(s - m) @ V
        k_end = min(Nk, q0 + block_q) if causal else Nk  # later keys are hidden from every row
        for k0 in range(0, k_end, block_k):
            cols = np.arange(k0, min(k0 + block_k, Nk))
            k_tile = k[:, :, cols].astype(acc_dtype)  # (B, H, bk, D)
            v_tile = v[:, :, cols].astype(acc_dtype)
            s = (q_tile @ k_tile.swapaxes(-1, -2)) * qk_scale  # (B, H, bq, bk)
            visible = ~pad[:, None, None, cols]  # (B, 1, 1, bk)
            if causal:
                visible = visible & (cols[None, :] <= rows[:, None])  # (B, 1, bq, bk)
            s = np.where(visible, s, -np.inf)
            m_new = np.maximum(m, s.max(axis=-1))
            m_safe = np.where(np.isfinite(m_new), m_new, 0.0)  # no visible key yet: use 0
            p = np.exp2(s - m_safe[..., None])  # hidden keys: exp2(-inf) = 0
            alpha = np.exp2(m - m_safe)  # rescales what was summed under the old maximum
            l = alpha * l + p.sum(axis=-1)
            acc = alpha[..., None] * acc + p @ v_tile
            m = m_new
        seen = l > 0
        o[:, :, rows] = acc / np.where(seen, l, 1.0)[..., None]
        lse[:, :, rows] = np.where(seen, (m + np.log2(np.where(seen, l, 1.0))) / LOG2E, -np.inf)
    return o, lse
