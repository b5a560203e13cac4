"""The Triton attention kernel against the torch reference: forward, dQ, dK, dV.

On a CPU the kernels run under the Triton interpreter (tests/conftest.py sets TRITON_INTERPRET=1
before this module imports `kernels`), so shapes stay small: N <= 256. Tests marked `gpu` cover
bfloat16, D = 128 and long sequences, where the autotuned kernels run.
"""

import importlib
import math

import pytest
import torch
import torch.nn.functional as F

from kernels import attention_reference, flash_attention

# `kernels.flash_attention` the attribute is the function; the module holds the launch settings.
fa = importlib.import_module("kernels.flash_attention")
DEVICE = "cpu" if fa.INTERPRET else "cuda"
TOL = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1e-2}


def make_inputs(B, H, Nq, Nk, D, dtype=torch.float32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, Nq, D, generator=gen)
    k = torch.randn(B, H, Nk, D, generator=gen)
    v = torch.randn(B, H, Nk, D, generator=gen)
    return tuple(x.to(device=DEVICE, dtype=dtype) for x in (q, k, v))


def padding_mask(B, Nk, seed=0, full_row=None):
    """Random padding (~30% of keys); batch element `full_row` is all padding."""
    gen = torch.Generator().manual_seed(seed + 1)
    kpm = torch.rand(B, Nk, generator=gen) < 0.3
    if full_row is not None:
        kpm[full_row] = True
    return kpm.to(DEVICE)


def forward_backward(fn, q, k, v, dy, **kwargs):
    """Output and (dq, dk, dv) of `fn` at (q, k, v) for upstream gradient dy."""
    args = [x.detach().clone().requires_grad_() for x in (q, k, v)]
    y = fn(*args, **kwargs)
    y.backward(dy)
    return y.detach(), [x.grad for x in args]


def assert_close(name, got, want, tol):
    """max |got - want| <= tol; for 16-bit results, tol * max(1, max |want|).

    A 16-bit result is stored rounded: half an ulp at |x| = 4 is 2e-3 in float16 and 1.6e-2 in
    bfloat16, so their tolerance grows with the largest magnitude once it exceeds 1.
    """
    if got.dtype in (torch.float16, torch.bfloat16):
        tol = tol * max(1.0, want.abs().max().item())
    err = (got.float() - want.float()).abs().max().item()
    assert err <= tol, f"{name}: max abs error {err:.2e} > {tol:.1e}"


def check_against_reference(q, k, v, kpm=None, causal=False, sm_scale=None, tol=None):
    """Ours in q's dtype vs the reference on the same values in float32; returns ours."""
    tol = TOL[q.dtype] if tol is None else tol
    dy = torch.randn(q.shape, generator=torch.Generator().manual_seed(7)).to(q)
    kw = dict(key_padding_mask=kpm, causal=causal, sm_scale=sm_scale)
    y, grads = forward_backward(flash_attention, q, k, v, dy, **kw)
    f32 = [x.float() for x in (q, k, v, dy)]
    y_ref, grads_ref = forward_backward(attention_reference, *f32, **kw)
    assert y.dtype == q.dtype and y.shape == q.shape
    assert_close("o", y, y_ref, tol)
    for name, g, g_ref in zip(("dq", "dk", "dv"), grads, grads_ref):
        assert g.dtype == q.dtype
        assert_close(name, g, g_ref, tol)
    return y, grads


CASES = [
    # (B, H, Nq, Nk, D, dtype, causal, masked); masked cases pad batch element 0 entirely
    (1, 1, 1, 1, 16, "float32", False, False),
    (2, 2, 17, 17, 16, "float32", True, False),
    (2, 2, 64, 64, 32, "float32", False, True),
    (2, 2, 100, 100, 64, "float32", True, True),
    (2, 2, 129, 129, 32, "float32", False, True),
    (2, 1, 256, 256, 64, "float32", False, True),
    (2, 2, 17, 129, 32, "float32", True, True),  # cross-attention, Nq < Nk
    (2, 2, 129, 17, 16, "float32", True, True),  # Nq > Nk: rows i >= Nk see every key
    (2, 2, 1, 100, 32, "float32", False, True),
    (2, 2, 17, 17, 16, "float16", True, False),
    (2, 2, 64, 17, 16, "float16", False, True),
    (2, 2, 129, 129, 64, "float16", True, True),
    (2, 1, 256, 100, 32, "float16", False, True),
]


@pytest.mark.parametrize("B,H,Nq,Nk,D,dtype,causal,masked", CASES)
def test_matches_reference(B, H, Nq, Nk, D, dtype, causal, masked):
    q, k, v = make_inputs(B, H, Nq, Nk, D, getattr(torch, dtype))
    kpm = padding_mask(B, Nk, full_row=0) if masked else None
    y, grads = check_against_reference(q, k, v, kpm, causal)
    assert torch.isfinite(y).all() and all(torch.isfinite(g).all() for g in grads)
    if masked:  # the fully padded batch element: zeros out, zero gradients back
        assert not y[0].any() and not any(g[0].any() for g in grads)
        assert y[1:].abs().max() > 0


def test_unequal_block_shapes(monkeypatch):
    """Tiles of 16 x 32 and 32 x 16 rows: loop bounds must not assume BLOCK_M == BLOCK_N."""
    monkeypatch.setitem(fa.INTERPRET_BLOCKS, "fwd", (32, 16))
    monkeypatch.setitem(fa.INTERPRET_BLOCKS, "dkdv", (16, 32))
    monkeypatch.setitem(fa.INTERPRET_BLOCKS, "dq", (16, 32))
    q, k, v = make_inputs(2, 1, 40, 33, 16)
    check_against_reference(q, k, v, padding_mask(2, 33), causal=True)
    q, k, v = make_inputs(2, 1, 33, 50, 16)
    check_against_reference(q, k, v, padding_mask(2, 50), causal=False)


@pytest.mark.parametrize("Nq,Nk", [(17, 40), (40, 17)])
def test_causal_is_top_left_like_sdpa(Nq, Nk):
    q, k, v = make_inputs(1, 2, Nq, Nk, 16)
    want = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert_close("o", flash_attention(q, k, v, causal=True), want, TOL[q.dtype])


def test_custom_sm_scale():
    q, k, v = make_inputs(2, 2, 33, 17, 32)
    check_against_reference(q, k, v, padding_mask(2, 17), causal=True, sm_scale=0.3)


def test_large_scores_stay_finite():
    """Scores far beyond exp's range: the running max keeps every exponential finite."""
    q, k, v = make_inputs(2, 2, 33, 65, 16)
    kpm = padding_mask(2, 65)
    dy = torch.randn_like(q)
    # q + 100, k + 100: scores ~ 4e4, so the softmax is one-hot; the output must still be right.
    y, grads = forward_backward(flash_attention, q + 100, k + 100, v, dy, key_padding_mask=kpm)
    assert_close("o", y, attention_reference(q + 100, k + 100, v, kpm), TOL[q.dtype])
    assert all(torch.isfinite(g).all() for g in grads)
    # k + 100 shifts each row's scores by a constant (up to hundreds), which softmax ignores:
    # output and gradients equal those of the unshifted inputs, computed in float64.
    y, grads = forward_backward(flash_attention, q, k + 100, v, dy, key_padding_mask=kpm)
    f64 = [x.double() for x in (q, k, v, dy)]
    y_ref, grads_ref = forward_backward(attention_reference, *f64, key_padding_mask=kpm)
    for name, got, want in zip(("o", "dq", "dk", "dv"), (y, *grads), (y_ref, *grads_ref)):
        assert_close(name, got, want, 1e-4)


def test_backward_is_deterministic_and_repeatable():
    q, k, v = make_inputs(2, 2, 65, 65, 16)
    kpm = padding_mask(2, 65)
    dy = torch.randn_like(q)
    y1, g1 = forward_backward(flash_attention, q, k, v, dy, key_padding_mask=kpm)
    y2, g2 = forward_backward(flash_attention, q, k, v, dy, key_padding_mask=kpm)
    assert torch.equal(y1, y2) and all(torch.equal(a, b) for a, b in zip(g1, g2))


def test_non_contiguous_inputs():
    B, H, N, D = 2, 2, 33, 16
    gen = torch.Generator().manual_seed(3)
    qkv = torch.randn(B, N, 3, H, D, generator=gen).to(DEVICE)  # packed, as a fused projection
    q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))  # each (B, H, N, D), strided
    kpm = (torch.rand(N, B, generator=gen) < 0.3).to(DEVICE).T  # (B, N), strided
    assert not q.is_contiguous() and not kpm.is_contiguous()
    got = flash_attention(q, k, v, kpm, causal=True)
    want = flash_attention(*(x.contiguous() for x in (q, k, v)), kpm.contiguous(), causal=True)
    assert torch.equal(got, want)


def test_gradient_for_one_input_only():
    q, k, v = make_inputs(1, 2, 17, 33, 16)
    q.requires_grad_()
    flash_attention(q, k, v, causal=True).sum().backward()
    q_ref = q.detach().clone().requires_grad_()
    attention_reference(q_ref, k, v, causal=True).sum().backward()
    assert_close("dq", q.grad, q_ref.grad, TOL[q.dtype])


def test_bfloat16():
    """bf16 is refused by the interpreter (its bf16 arithmetic is wrong) and exact on a GPU."""
    q, k, v = make_inputs(2, 2, 65, 65, 32, torch.bfloat16)
    if fa.INTERPRET:
        with pytest.raises(TypeError, match="bfloat16 needs a GPU"):
            flash_attention(q, k, v)
    else:
        check_against_reference(q, k, v, padding_mask(2, 65, full_row=1), causal=True)


def _bad(**changes):
    """Valid arguments for (B, H, N, D) = (2, 2, 8, 16), with `changes` applied."""
    q, k, v = make_inputs(2, 2, 8, 8, 16)
    args = dict(q=q, k=k, v=v, key_padding_mask=padding_mask(2, 8), causal=False, sm_scale=None)
    args.update({key: (val(args) if callable(val) else val) for key, val in changes.items()})
    return args


BAD_INPUTS = [
    ({"q": lambda a: a["q"].numpy(force=True)}, TypeError, "q must be a torch.Tensor"),
    ({"q": lambda a: a["q"][0]}, ValueError, r"q must have 4 dimensions \(B, H, N, D\)"),
    ({"q": lambda a: a["q"].double()}, TypeError, "q must be float32, float16 or bfloat16"),
    ({"k": lambda a: a["k"].half()}, TypeError, "q has dtype torch.float32 but k has dtype"),
    ({"v": lambda a: a["v"].to("meta")}, ValueError, "but v is on meta"),
    ({"v": lambda a: a["v"][:, :, :5]}, ValueError, r"k has shape \(2, 2, 8, 16\) but v has"),
    ({"k": lambda a: a["k"][1:], "v": lambda a: a["v"][1:]}, ValueError, "batch B, heads H"),
    ({"q": lambda a: a["q"][..., :8]}, ValueError, "batch B, heads H and head width D"),
    (
        {key: (lambda a, key=key: a[key].repeat(1, 1, 1, 2)[..., :24]) for key in "qkv"},
        ValueError,
        r"head width D must be one of \(16, 32, 64, 128\), got D=24",
    ),
    (
        {key: (lambda a, key=key: a[key].repeat(1, 1, 1, 16)) for key in "qkv"},
        ValueError,
        "got D=256",
    ),
    ({"q": lambda a: a["q"][:, :, :0]}, ValueError, "q must not be empty"),
    ({"key_padding_mask": lambda a: a["key_padding_mask"].float()}, TypeError, "must be bool"),
    (
        {"key_padding_mask": lambda a: a["key_padding_mask"][:, :5]},
        ValueError,
        r"key_padding_mask must have shape \(B, Nk\) = \(2, 8\), got \(2, 5\)",
    ),
    ({"key_padding_mask": [[True] * 8] * 2}, TypeError, "key_padding_mask must be a torch"),
    ({"causal": 1}, TypeError, "causal must be a bool"),
    ({"sm_scale": math.nan}, ValueError, "sm_scale must be a finite number"),
]


@pytest.mark.parametrize("changes,error,message", BAD_INPUTS)
def test_bad_inputs_raise_clear_errors(changes, error, message):
    with pytest.raises(error, match=message):
        flash_attention(**_bad(**changes))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize(
    "B,H,Nq,Nk,D,causal,masked",
    [
        (2, 4, 1000, 1000, 128, False, True),
        (2, 4, 1000, 1000, 128, True, True),
        (1, 8, 2048, 2048, 64, True, False),
        (4, 2, 333, 1537, 32, False, True),
        (4, 2, 1537, 333, 16, True, True),
    ],
)
def test_gpu_long_sequences(B, H, Nq, Nk, D, causal, masked, dtype):
    q, k, v = make_inputs(B, H, Nq, Nk, D, getattr(torch, dtype))
    kpm = padding_mask(B, Nk, full_row=0) if masked else None
    check_against_reference(q, k, v, kpm, causal)
