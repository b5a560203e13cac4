"""kernels.encoder.EncoderLayer against a stock nn.TransformerEncoderLayer, with both backends.

The stock layer, the oracle, always runs on the CPU; ours runs on the GPU when there is one. The
stock layer's weights (random, non-zero, biases and LayerNorms included) are loaded into ours
through `load_state_dict`; both run in training mode with dropout 0, which keeps the stock layer
on its slow path (its eval fast path is tested separately, on non-padded positions only). A batch
holds a sequence with trailing padding, a fully padded sequence and one with scattered padding.
On a CPU the Triton backend runs under the interpreter (tests/conftest.py), so sizes stay small:
D = 32, H = 2 (Dh = 16), T in {17, 64}.
"""

import importlib

import pytest
import torch
from torch import nn

from kernels.encoder import EncoderLayer

fa = importlib.import_module("kernels.flash_attention")
DEVICE = "cpu" if fa.INTERPRET else "cuda"
D, H, FF = 32, 2, 48
TOL = 1e-5  # float32, relative to max(1, the reference's largest magnitude)
BACKENDS = ["torch", "triton"]
CASES = [  # (T, norm_first, activation)
    (17, False, "relu"),
    (17, True, "gelu"),
    (64, False, "gelu"),
    (64, True, "relu"),
]


def stock_layer(norm_first: bool, activation: str, dropout: float = 0.0, seed: int = 0):
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(
        D, H, FF, dropout=dropout, activation=activation, norm_first=norm_first, batch_first=True
    )
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in layer.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            p.copy_(1 + 0.3 * noise if name.startswith("norm") and "weight" in name else noise)
            if p.ndim == 2:
                p.mul_(p.shape[1] ** -0.5)
    return layer


def our_layer(stock: nn.TransformerEncoderLayer, backend: str, **kwargs) -> EncoderLayer:
    ours = EncoderLayer(
        D,
        H,
        FF,
        dropout=stock.dropout.p,
        activation="gelu" if stock.activation_relu_or_gelu == 2 else "relu",
        norm_first=stock.norm_first,
        attention_backend=backend,
        **kwargs,
    ).to(DEVICE)
    ours.load_state_dict(stock.state_dict())
    return ours


def make_batch(T: int, seed: int = 1):
    """x (3, T, D), a padding mask (trailing, all, scattered padding) and dy, on the CPU."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(3, T, D, generator=gen)
    kpm = torch.zeros(3, T, dtype=torch.bool)
    kpm[0, T - 5 :] = True
    kpm[1] = True
    kpm[2] = torch.rand(T, generator=gen) < 0.3
    kpm[2, 0] = False
    dy = torch.randn(3, T, D, generator=gen)
    return x, kpm, dy


def run(layer, x, dy, **kwargs):
    """Output, dx and every parameter's gradient of `layer` for the upstream gradient dy.

    Inputs go to the layer's device; results come back to the CPU.
    """
    device = next(layer.parameters()).device
    layer.zero_grad()
    x = x.to(device).requires_grad_()
    kwargs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
    y = layer(x, **kwargs)
    y.backward(dy.to(device))
    grads = {k: p.grad.cpu() for k, p in layer.named_parameters()}
    return y.detach().cpu(), x.grad.cpu(), grads


def assert_close(name, got, want, tol=TOL):
    assert torch.isfinite(got).all(), f"{name}: not finite"
    err = (got - want).abs().max().item()
    bound = tol * max(1.0, want.abs().max().item())
    assert err <= bound, f"{name}: max abs error {err:.2e} > {bound:.1e}"


def test_parameters_are_those_of_the_stock_layer():
    stock = stock_layer(norm_first=False, activation="relu")
    ours = EncoderLayer(D, H, FF)
    want = {k: v.shape for k, v in stock.state_dict().items()}
    assert {k: v.shape for k, v in ours.state_dict().items()} == want
    assert {k for k, _ in ours.named_parameters()} == set(want)
    stock.load_state_dict(our_layer(stock, "torch").state_dict())  # and back, strictly


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("T", "norm_first", "activation"), CASES)
def test_equals_stock_layer_with_padding(backend, T, norm_first, activation):
    stock = stock_layer(norm_first, activation).train()  # dropout 0: training = slow path
    ours = our_layer(stock, backend).train()
    x, kpm, dy = make_batch(T)
    y_ref, dx_ref, grads_ref = run(stock, x, dy, src_key_padding_mask=kpm)
    y, dx, grads = run(ours, x, dy, key_padding_mask=kpm)
    assert_close("y", y, y_ref)
    assert_close("dx", dx, dx_ref)
    assert grads.keys() == grads_ref.keys()
    for name, g in grads.items():
        assert g.abs().max() > 0, f"{name}: zero gradient"
        assert_close(name, g, grads_ref[name])


@pytest.mark.parametrize("backend", BACKENDS)
def test_causal_equals_stock_layer_with_causal_mask(backend):
    T = 17
    stock = stock_layer(norm_first=True, activation="gelu").train()
    ours = our_layer(stock, backend).train()
    x, kpm, dy = make_batch(T, seed=2)
    mask = torch.ones(T, T, dtype=torch.bool).triu(1)  # True = hidden
    y_ref, dx_ref, grads_ref = run(
        stock, x, dy, src_mask=mask, src_key_padding_mask=kpm, is_causal=True
    )
    y, dx, grads = run(ours, x, dy, key_padding_mask=kpm, causal=True)
    assert_close("y", y, y_ref)
    assert_close("dx", dx, dx_ref)
    for name, g in grads.items():
        assert_close(name, g, grads_ref[name])


@pytest.mark.parametrize("backend", BACKENDS)
def test_eval_matches_stock_fast_path_on_real_tokens(backend):
    """In eval mode without grad the stock layer takes its fused fast path."""
    stock = stock_layer(norm_first=False, activation="relu").eval()
    ours = our_layer(stock, backend).eval()
    x, kpm, _ = make_batch(17, seed=3)
    kpm[1, :4] = False  # the fast path needs a visible key in every sequence
    with torch.no_grad():
        y_ref = stock(x, src_key_padding_mask=kpm)
        y = ours(x.to(DEVICE), key_padding_mask=kpm.to(DEVICE)).cpu()
    assert_close("y (non-padded positions)", y[~kpm], y_ref[~kpm])


def test_torch_backend_dropout_matches_stock_layer():
    """Same seed, same random draws in the same order: identical outputs in training mode.

    Both on the CPU: random streams differ between devices.
    """
    stock = stock_layer(norm_first=False, activation="relu", dropout=0.3).train()
    ours = our_layer(stock, "torch").cpu().train()
    x, kpm, dy = make_batch(17, seed=4)
    torch.manual_seed(5)
    y_ref, _, grads_ref = run(stock, x, dy, src_key_padding_mask=kpm)
    torch.manual_seed(5)
    y, _, grads = run(ours, x, dy, key_padding_mask=kpm)
    assert_close("y", y, y_ref)
    assert_close("linear1.weight grad", grads["linear1.weight"], grads_ref["linear1.weight"])
    with torch.no_grad():
        assert not torch.allclose(ours(x, key_padding_mask=kpm), y)  # dropout was active


def test_triton_backend_with_residual_dropout_only():
    stock = stock_layer(norm_first=True, activation="relu", dropout=0.3)
    ours = our_layer(stock, "triton", attention_dropout=0.0).train()
    x, kpm, _ = (t.to(DEVICE) for t in make_batch(17, seed=6))
    torch.manual_seed(7)
    y = ours(x, key_padding_mask=kpm)
    torch.manual_seed(7)
    y_torch = ours(x, key_padding_mask=kpm, attention_backend="torch")
    assert_close("y", y, y_torch)
    with pytest.raises(ValueError, match=r"has no dropout on the attention probabilities"):
        our_layer(stock, "triton").train()(x, key_padding_mask=kpm)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: EncoderLayer(30, 4), ValueError, r"d_model=30 must be a multiple of nhead=4"),
        (lambda: EncoderLayer(D, H, activation="tanh"), ValueError, r"activation must be one"),
        (lambda: EncoderLayer(D, H, attention_backend="cuda"), ValueError, r"attention_backend"),
        (lambda: EncoderLayer(D, H, dropout=1.5), ValueError, r"dropout must be in \[0, 1\]"),
    ],
)
def test_bad_construction(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_bad_inputs():
    layer = EncoderLayer(D, H, FF).to(DEVICE)
    x = torch.randn(2, 5, D, device=DEVICE)
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, D=32\), got \(2, 5, 31\)"):
        layer(x[..., :31])
    with pytest.raises(TypeError, match=r"x must be a floating-point"):
        layer(x.long())
    with pytest.raises(TypeError, match=r"key_padding_mask must be a bool .* torch.int64"):
        layer(x, key_padding_mask=torch.zeros(2, 5, dtype=torch.long, device=DEVICE))
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(B, T\) = \(2, 5\)"):
        layer(x, key_padding_mask=torch.zeros(2, 4, dtype=torch.bool, device=DEVICE))
    with pytest.raises(ValueError, match=r"attention_backend"):
        layer(x, attention_backend="numpy")
