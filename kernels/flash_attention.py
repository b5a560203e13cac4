"""Fused attention in Triton, FlashAttention-2 style: forward and backward, with key-padding masks.

For one (batch, head) pair, with S = sm_scale * Q K^T, P = softmax(S) over visible keys, O = P V:

Forward (`_attn_fwd`, one program per tile of BLOCK_M query rows). The program walks the keys in
tiles of BLOCK_N and never holds more than one (BLOCK_M, BLOCK_N) block of S. Per row it keeps a
running maximum m, a running sum l = sum exp(s - m) and an accumulator acc = sum exp(s - m) v, all
in float32; when a tile raises the maximum, l and acc are rescaled by alpha = exp(m_old - m_new).
At the end O = acc / l, and the row's log-sum-exp LSE = m + log(l) is saved for the backward pass.
Exponentials are base 2 (`exp2` is one instruction on a GPU): the scores are multiplied by
log2(e) * sm_scale once, so m and LSE live in base-2 units. `kernels.reference.
blocked_attention_numpy` is the same loop in NumPy.

Masks. A key is hidden from a row when it is padding (`key_padding_mask` True), lies past the end
of the sequence (the ragged last tile), or, with `causal=True`, comes after the row: query i sees
key j only when j <= i, aligned top-left like `scaled_dot_product_attention(is_causal=True)`, so
with Nq > Nk the rows i >= Nk see every key. Hidden scores are set to -inf before the exponential;
while a row has seen no visible key its maximum is -inf and is replaced by 0 in the subtraction,
so no -inf - (-inf) = NaN appears. A row with no visible key at all ends with l = 0: it stores
O = 0 and LSE = +inf, which makes every recomputed probability exp2(s - LSE) exactly 0 in the
backward pass, hence zero gradients.

Backward. With dO the upstream gradient and P recomputed from the saved LSE, P = exp2(s - LSE):

    dV = P^T dO
    dP = dO V^T
    dS = P * (dP - delta),  delta_i = sum_j P_ij dP_ij = sum_d dO_id O_id   (softmax backward)
    dQ = sm_scale * dS K
    dK = sm_scale * dS^T Q

`_attn_bwd_delta` computes delta = rowsum(dO * O) once per row. `_attn_bwd_dkdv` owns one tile of
keys and loops over the query tiles to accumulate its dK and dV; `_attn_bwd_dq` owns one tile of
queries and loops over the key tiles to accumulate its dQ. Each output tile is written by exactly
one program, so there are no atomics and the result is deterministic.

On a GPU each kernel is autotuned over a few block shapes; under `TRITON_INTERPRET=1` (read when
this module is imported) one small configuration, `INTERPRET_BLOCKS`, is used instead.
"""

from __future__ import annotations

import math
import os

import torch
import triton
import triton.language as tl
from jaxtyping import Bool, Float
from torch.autograd.function import once_differentiable

__all__ = ["flash_attention", "HEAD_DIMS", "INTERPRET", "INTERPRET_BLOCKS"]

LOG2E = 1.4426950408889634  # exp(x) == exp2(x * LOG2E)
HEAD_DIMS = (16, 32, 64, 128)
DTYPES = (torch.float32, torch.float16, torch.bfloat16)
INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"
# (BLOCK_M, BLOCK_N) per kernel under the interpreter: rows of queries x rows of keys per tile.
INTERPRET_BLOCKS = {"fwd": (64, 64), "dkdv": (64, 64), "dq": (64, 64)}


# --------------------------------------------------------------------------------------------
# Kernels. Tensors are contiguous (B, H, N, D); program_id(1) picks the (batch, head) pair.
# --------------------------------------------------------------------------------------------


@triton.jit
def _key_visible(KPM, b, offs_n, Nk, HAS_MASK: tl.constexpr):
    """(BLOCK_N,) bool: the key exists and is not padding."""
    ok = offs_n < Nk
    if HAS_MASK:
        pad = tl.load(KPM + b * Nk + offs_n, mask=ok, other=1)
        ok = ok & (pad == 0)
    return ok


@triton.jit
def _attn_fwd(
    Q, K, V, KPM, O, LSE,
    qk_scale, Nq, Nk, H,
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    CAUSAL: tl.constexpr, HAS_MASK: tl.constexpr, DOT_PRECISION: tl.constexpr,
):  # fmt: skip
    start_m = tl.program_id(0) * BLOCK_M
    bh = tl.program_id(1)
    b = bh // H
    q_base = Q + bh.to(tl.int64) * Nq * HEAD_DIM
    k_base = K + bh.to(tl.int64) * Nk * HEAD_DIM
    v_base = V + bh.to(tl.int64) * Nk * HEAD_DIM

    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    row_ok = offs_m < Nq
    q = tl.load(
        q_base + offs_m[:, None] * HEAD_DIM + offs_d[None, :], mask=row_ok[:, None], other=0.0
    )

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)  # running max, base-2 units
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)  # running sum of exp2(s - m_i)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)  # running sum of exp2(s - m_i) @ V

    hi = Nk
    if CAUSAL:
        hi = tl.minimum(Nk, start_m + BLOCK_M)  # keys after the tile's last row are all hidden
    for start_n in range(0, hi, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        kv_ptrs = offs_n[:, None] * HEAD_DIM + offs_d[None, :]  # (BLOCK_N, HEAD_DIM)
        kv_ok = (offs_n < Nk)[:, None]
        k = tl.load(k_base + kv_ptrs, mask=kv_ok, other=0.0)
        v = tl.load(v_base + kv_ptrs, mask=kv_ok, other=0.0)

        s = tl.dot(q, tl.trans(k), input_precision=DOT_PRECISION) * qk_scale  # (BLOCK_M, BLOCK_N)
        visible = _key_visible(KPM, b, offs_n, Nk, HAS_MASK)[None, :]
        if CAUSAL:
            visible = visible & (offs_n[None, :] <= offs_m[:, None])
        s = tl.where(visible, s, float("-inf"))

        m_new = tl.maximum(m_i, tl.max(s, 1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)  # row with no visible key yet
        p = tl.exp2(s - m_safe[:, None])
        alpha = tl.exp2(m_i - m_safe)
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None]
        acc = tl.dot(p.to(v.dtype), v, acc, input_precision=DOT_PRECISION)
        m_i = m_new

    seen = l_i > 0
    l_safe = tl.where(seen, l_i, 1.0)
    o = acc / l_safe[:, None]
    lse = tl.where(seen, m_i + tl.log2(l_safe), float("inf"))  # +inf: every p is 0 in backward
    tl.store(LSE + bh.to(tl.int64) * Nq + offs_m, lse, mask=row_ok)
    o_ptrs = O + bh.to(tl.int64) * Nq * HEAD_DIM + offs_m[:, None] * HEAD_DIM + offs_d[None, :]
    tl.store(o_ptrs, o.to(O.dtype.element_ty), mask=row_ok[:, None])


@triton.jit
def _attn_bwd_delta(O, DO, DELTA, Nq, HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr):
    bh = tl.program_id(1)
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    row_ok = offs_m < Nq
    ptrs = bh.to(tl.int64) * Nq * HEAD_DIM + offs_m[:, None] * HEAD_DIM + offs_d[None, :]
    o = tl.load(O + ptrs, mask=row_ok[:, None], other=0.0).to(tl.float32)
    do = tl.load(DO + ptrs, mask=row_ok[:, None], other=0.0).to(tl.float32)
    tl.store(DELTA + bh.to(tl.int64) * Nq + offs_m, tl.sum(o * do, 1), mask=row_ok)


@triton.jit
def _attn_bwd_dkdv(
    Q, K, V, KPM, DO, LSE, DELTA, DK, DV,
    qk_scale, sm_scale, Nq, Nk, H,
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    CAUSAL: tl.constexpr, HAS_MASK: tl.constexpr, DOT_PRECISION: tl.constexpr,
):  # fmt: skip
    start_n = tl.program_id(0) * BLOCK_N
    bh = tl.program_id(1)
    b = bh // H
    q_base = Q + bh.to(tl.int64) * Nq * HEAD_DIM
    do_base = DO + bh.to(tl.int64) * Nq * HEAD_DIM
    kv_off = bh.to(tl.int64) * Nk * HEAD_DIM

    offs_n = start_n + tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    kv_ptrs = kv_off + offs_n[:, None] * HEAD_DIM + offs_d[None, :]  # (BLOCK_N, HEAD_DIM)
    kv_ok = (offs_n < Nk)[:, None]
    k = tl.load(K + kv_ptrs, mask=kv_ok, other=0.0)
    v = tl.load(V + kv_ptrs, mask=kv_ok, other=0.0)
    key_ok = _key_visible(KPM, b, offs_n, Nk, HAS_MASK)[:, None]  # (BLOCK_N, 1)

    dk = tl.zeros([BLOCK_N, HEAD_DIM], dtype=tl.float32)
    dv = tl.zeros([BLOCK_N, HEAD_DIM], dtype=tl.float32)
    lo = 0
    if CAUSAL:
        lo = start_n  # rows before the tile's first key see none of its keys
    for start_m in range(lo, Nq, BLOCK_M):
        offs_m = start_m + tl.arange(0, BLOCK_M)
        row_ok = offs_m < Nq
        q_ptrs = offs_m[:, None] * HEAD_DIM + offs_d[None, :]  # (BLOCK_M, HEAD_DIM)
        q = tl.load(q_base + q_ptrs, mask=row_ok[:, None], other=0.0)
        do = tl.load(do_base + q_ptrs, mask=row_ok[:, None], other=0.0)
        lse = tl.load(LSE + bh.to(tl.int64) * Nq + offs_m, mask=row_ok, other=float("inf"))
        delta = tl.load(DELTA + bh.to(tl.int64) * Nq + offs_m, mask=row_ok, other=0.0)

        # Transposed tiles, (BLOCK_N, BLOCK_M): one row per key of this program.
        s_t = tl.dot(k, tl.trans(q), input_precision=DOT_PRECISION) * qk_scale
        visible = key_ok
        if CAUSAL:
            visible = visible & (offs_n[:, None] <= offs_m[None, :])
        s_t = tl.where(visible, s_t, float("-inf"))
        p_t = tl.exp2(s_t - lse[None, :])
        dv = tl.dot(p_t.to(do.dtype), do, dv, input_precision=DOT_PRECISION)
        dp_t = tl.dot(v, tl.trans(do), input_precision=DOT_PRECISION)
        ds_t = p_t * (dp_t - delta[None, :])
        dk = tl.dot(ds_t.to(q.dtype), q, dk, input_precision=DOT_PRECISION)

    tl.store(DK + kv_ptrs, (dk * sm_scale).to(DK.dtype.element_ty), mask=kv_ok)
    tl.store(DV + kv_ptrs, dv.to(DV.dtype.element_ty), mask=kv_ok)


@triton.jit
def _attn_bwd_dq(
    Q, K, V, KPM, DO, LSE, DELTA, DQ,
    qk_scale, sm_scale, Nq, Nk, H,
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    CAUSAL: tl.constexpr, HAS_MASK: tl.constexpr, DOT_PRECISION: tl.constexpr,
):  # fmt: skip
    start_m = tl.program_id(0) * BLOCK_M
    bh = tl.program_id(1)
    b = bh // H
    q_off = bh.to(tl.int64) * Nq * HEAD_DIM
    k_base = K + bh.to(tl.int64) * Nk * HEAD_DIM
    v_base = V + bh.to(tl.int64) * Nk * HEAD_DIM

    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    row_ok = offs_m < Nq
    q_ptrs = q_off + offs_m[:, None] * HEAD_DIM + offs_d[None, :]  # (BLOCK_M, HEAD_DIM)
    q = tl.load(Q + q_ptrs, mask=row_ok[:, None], other=0.0)
    do = tl.load(DO + q_ptrs, mask=row_ok[:, None], other=0.0)
    lse = tl.load(LSE + bh.to(tl.int64) * Nq + offs_m, mask=row_ok, other=float("inf"))
    delta = tl.load(DELTA + bh.to(tl.int64) * Nq + offs_m, mask=row_ok, other=0.0)

    dq = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    hi = Nk
    if CAUSAL:
        hi = tl.minimum(Nk, start_m + BLOCK_M)
    for start_n in range(0, hi, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        kv_ptrs = offs_n[:, None] * HEAD_DIM + offs_d[None, :]  # (BLOCK_N, HEAD_DIM)
        kv_ok = (offs_n < Nk)[:, None]
        k = tl.load(k_base + kv_ptrs, mask=kv_ok, other=0.0)
        v = tl.load(v_base + kv_ptrs, mask=kv_ok, other=0.0)

        s = tl.dot(q, tl.trans(k), input_precision=DOT_PRECISION) * qk_scale  # (BLOCK_M, BLOCK_N)
        visible = _key_visible(KPM, b, offs_n, Nk, HAS_MASK)[None, :]
        if CAUSAL:
            visible = visible & (offs_n[None, :] <= offs_m[:, None])
        s = tl.where(visible, s, float("-inf"))
        p = tl.exp2(s - lse[:, None])
        dp = tl.dot(do, tl.trans(v), input_precision=DOT_PRECISION)
        ds = p * (dp - delta[:, None])
        dq = tl.dot(ds.to(k.dtype), k, dq, input_precision=DOT_PRECISION)

    tl.store(DQ + q_ptrs, (dq * sm_scale).to(DQ.dtype.element_ty), mask=row_ok[:, None])


# --------------------------------------------------------------------------------------------
# Launch: autotuned on a GPU, one fixed configuration under the interpreter.
# --------------------------------------------------------------------------------------------

_KERNELS = {"fwd": _attn_fwd, "dkdv": _attn_bwd_dkdv, "dq": _attn_bwd_dq}
# (BLOCK_M, BLOCK_N, num_warps, num_stages). Configs that do not fit (shared memory for float32
# or D = 128) are skipped by the autotuner; the smallest fits everywhere.
_GPU_CONFIGS = {
    "fwd": [(128, 64, 8, 3), (128, 64, 4, 4), (128, 128, 8, 3), (64, 64, 4, 3), (64, 32, 4, 2)],
    "dkdv": [(32, 128, 8, 3), (64, 128, 8, 3), (32, 64, 4, 3), (64, 64, 4, 2), (32, 32, 4, 2)],
    "dq": [(128, 32, 8, 3), (128, 64, 8, 3), (64, 32, 4, 3), (64, 64, 4, 2), (32, 32, 4, 2)],
}
_TUNED = (
    {}
    if INTERPRET
    else {
        which: triton.autotune(
            [
                triton.Config({"BLOCK_M": bm, "BLOCK_N": bn}, num_warps=w, num_stages=st)
                for bm, bn, w, st in configs
            ],
            key=["Nq", "Nk", "HEAD_DIM", "CAUSAL", "HAS_MASK"],
        )(_KERNELS[which])
        for which, configs in _GPU_CONFIGS.items()
    }
)


def _launch(which: str, n_rows: int, bh: int, args: tuple, meta: dict) -> None:
    """Run kernel `which` on a (tiles of its `n_rows` rows, B*H) grid.

    The forward and dQ programs each own a tile of BLOCK_M query rows, the dK/dV program a tile
    of BLOCK_N key rows.
    """
    tile = "BLOCK_N" if which == "dkdv" else "BLOCK_M"
    if INTERPRET:
        blocks = dict(zip(("BLOCK_M", "BLOCK_N"), INTERPRET_BLOCKS[which], strict=True))
        grid = (triton.cdiv(n_rows, blocks[tile]), bh)
        _KERNELS[which][grid](*args, **meta, **blocks)
    else:
        _TUNED[which][lambda cfg: (triton.cdiv(n_rows, cfg[tile]), bh)](*args, **meta)


def _meta(dtype: torch.dtype, head_dim: int, causal: bool, has_mask: bool) -> dict:
    return {
        "HEAD_DIM": head_dim,
        "CAUSAL": causal,
        "HAS_MASK": has_mask,
        # float32 stays float32 on tensor cores (no tf32 rounding); ignored for 16-bit inputs.
        "DOT_PRECISION": "ieee" if dtype == torch.float32 else "tf32",
    }


def _forward(q, k, v, kpm, causal: bool, sm_scale: float):
    B, H, Nq, D = q.shape
    Nk = k.shape[2]
    o = torch.empty_like(q)
    lse = torch.empty((B * H, Nq), device=q.device, dtype=torch.float32)
    mask_arg = q if kpm is None else kpm  # any tensor when HAS_MASK is False; never read
    args = (q, k, v, mask_arg, o, lse, sm_scale * LOG2E, Nq, Nk, H)
    _launch("fwd", Nq, B * H, args, _meta(q.dtype, D, causal, kpm is not None))
    return o, lse


def _backward(do, q, k, v, o, lse, kpm, causal: bool, sm_scale: float):
    B, H, Nq, D = q.shape
    Nk = k.shape[2]
    delta = torch.empty_like(lse)
    block = 64 if not INTERPRET else INTERPRET_BLOCKS["fwd"][0]
    _attn_bwd_delta[(triton.cdiv(Nq, block), B * H)](o, do, delta, Nq, HEAD_DIM=D, BLOCK_M=block)

    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    mask_arg = q if kpm is None else kpm
    meta = _meta(q.dtype, D, causal, kpm is not None)
    common = (sm_scale * LOG2E, sm_scale, Nq, Nk, H)
    args = (q, k, v, mask_arg, do, lse, delta, dk, dv, *common)
    _launch("dkdv", Nk, B * H, args, meta)
    args = (q, k, v, mask_arg, do, lse, delta, dq, *common)
    _launch("dq", Nq, B * H, args, meta)
    return dq, dk, dv


class _FlashAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, kpm, causal, sm_scale):
        o, lse = _forward(q, k, v, kpm, causal, sm_scale)
        ctx.save_for_backward(q, k, v, o, lse, kpm)
        ctx.causal, ctx.sm_scale = causal, sm_scale
        return o

    @staticmethod
    @once_differentiable
    def backward(ctx, do):
        q, k, v, o, lse, kpm = ctx.saved_tensors
        dq, dk, dv = _backward(do.contiguous(), q, k, v, o, lse, kpm, ctx.causal, ctx.sm_scale)
        return dq, dk, dv, None, None, None


# --------------------------------------------------------------------------------------------
# Public entry point.
# --------------------------------------------------------------------------------------------


def _check_inputs(q, k, v, key_padding_mask, causal, sm_scale) -> None:
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 4:
            raise ValueError(
                f"{name} must have 4 dimensions (B, H, N, D), got shape {tuple(x.shape)}"
            )
        if x.dtype not in DTYPES:
            raise TypeError(f"{name} must be float32, float16 or bfloat16, got {x.dtype}")
        if x.numel() == 0:
            raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)}")
    for name, x in (("k", k), ("v", v)):
        if x.dtype != q.dtype:
            raise TypeError(
                f"q has dtype {q.dtype} but {name} has dtype {x.dtype}: they must match"
            )
        if x.device != q.device:
            raise ValueError(f"q is on {q.device} but {name} is on {x.device}: they must match")
    if k.shape != v.shape:
        raise ValueError(
            f"k has shape {tuple(k.shape)} but v has shape {tuple(v.shape)}: they must match"
        )
    if (q.shape[0], q.shape[1], q.shape[3]) != (k.shape[0], k.shape[1], k.shape[3]):
        raise ValueError(
            f"q has shape {tuple(q.shape)} but k has shape {tuple(k.shape)}: "
            "batch B, heads H and head width D must match"
        )
    D = q.shape[-1]
    if D not in HEAD_DIMS:
        raise ValueError(
            f"head width D must be one of {HEAD_DIMS}, got D={D} (q shape {tuple(q.shape)})"
        )
    if INTERPRET and q.dtype == torch.bfloat16:
        raise TypeError(
            "bfloat16 needs a GPU: the Triton interpreter (TRITON_INTERPRET=1) gets bf16 wrong"
        )
    if not INTERPRET and q.device.type != "cuda":
        raise ValueError(
            f"q is on {q.device}: flash_attention needs CUDA tensors, or TRITON_INTERPRET=1 set "
            "before `kernels` is imported to run on the CPU"
        )
    if key_padding_mask is not None:
        if not isinstance(key_padding_mask, torch.Tensor):
            raise TypeError(
                f"key_padding_mask must be a torch.Tensor, got {type(key_padding_mask).__name__}"
            )
        if key_padding_mask.dtype != torch.bool:
            raise TypeError(
                f"key_padding_mask must be bool (True = padding), got {key_padding_mask.dtype}"
            )
        want = (k.shape[0], k.shape[2])
        if tuple(key_padding_mask.shape) != want:
            raise ValueError(
                f"key_padding_mask must have shape (B, Nk) = {want}, "
                f"got {tuple(key_padding_mask.shape)}"
            )
        if key_padding_mask.device != q.device:
            raise ValueError(
                f"q is on {q.device} but key_padding_mask is on {key_padding_mask.device}: "
                "they must match"
            )
    if not isinstance(causal, bool):
        raise TypeError(f"causal must be a bool, got {type(causal).__name__}")
    if sm_scale is not None and not (isinstance(sm_scale, int | float) and math.isfinite(sm_scale)):
        raise ValueError(f"sm_scale must be a finite number or None, got {sm_scale!r}")


def flash_attention(
    q: Float[torch.Tensor, "B H Nq D"],
    k: Float[torch.Tensor, "B H Nk D"],
    v: Float[torch.Tensor, "B H Nk D"],
    key_padding_mask: Bool[torch.Tensor, "B Nk"] | None = None,
    causal: bool = False,
    sm_scale: float | None = None,
) -> Float[torch.Tensor, "B H Nq D"]:
    """softmax(sm_scale * q @ k^T, masked) @ v, fused in Triton, differentiable.

    q is (B, H, Nq, D); k and v are (B, H, Nk, D), where Nk may differ from Nq
    (cross-attention). D is one of 16, 32, 64, 128; dtype float32, float16 or bfloat16
    (bfloat16 on a GPU only). `key_padding_mask` is bool (B, Nk), True = padding. `causal=True`
    lets query i see key j <= i (top-left aligned, as torch SDPA's `is_causal`). A row that sees
    no key returns zeros and passes back zero gradients. `sm_scale` defaults to 1 / sqrt(D).
    Non-contiguous inputs are copied to contiguous ones.
    """
    _check_inputs(q, k, v, key_padding_mask, causal, sm_scale)
    scale = 1.0 / math.sqrt(q.shape[-1]) if sm_scale is None else float(sm_scale)
    kpm = None if key_padding_mask is None else key_padding_mask.to(torch.int8).contiguous()
    return _FlashAttention.apply(q.contiguous(), k.contiguous(), v.contiguous(), kpm, causal, scale)
