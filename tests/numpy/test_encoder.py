"""Encoder layer and stack against nn.TransformerEncoderLayer / nn.TransformerEncoder.

torch runs in train mode with dropout=0.0 (no fast path, so every position, padded or not, is
computed the ordinary way and can be compared), on random non-zero parameters, post-LN and pre-LN,
relu and gelu, D not a multiple of 8 and padding masks with one fully padded batch element. One
test shows the eval fast-path trap: torch then zeroes padded positions, so only the others compare.
Also here: positional encodings and embedding scaling (the encoder's input).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from minienc import gradcheck
from minienc.numpy import encoder, encoder_layer, positional


def randomize(module, seed=0):
    """Random non-zero parameters (LayerNorm weights around 1), and the NumPy copy of them."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.uniform_(0.5, 1.5)
            else:
                p.normal_(0.0, 0.5)
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def make_layer(D, H, F, norm_first, activation, dtype=torch.float64):
    module = nn.TransformerEncoderLayer(
        D, H, F, dropout=0.0, activation=activation, norm_first=norm_first, batch_first=True
    ).to(dtype)
    return module, randomize(module)


def make_stack(D, H, F, N, norm_first, activation="relu", final_norm=True, dtype=torch.float64):
    layer = nn.TransformerEncoderLayer(
        D, H, F, dropout=0.0, activation=activation, norm_first=norm_first, batch_first=True
    )
    norm = nn.LayerNorm(D) if final_norm else None
    module = nn.TransformerEncoder(layer, N, norm=norm, enable_nested_tensor=False).to(dtype)
    return module, randomize(module)


def make_input(B, T, D, seed=1, dtype=np.float64, padded=True):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, D)).astype(dtype)
    mask = None
    if padded:
        mask = rng.random((B, T)) < 0.4
        mask[0] = False
        mask[-1] = True  # a batch element that is all padding
    return x, mask


def run_both(ours_module, module, params, x, mask, seed=2, **kw):
    """Our forward+backward and torch's (train mode), with the same upstream gradient."""
    y, cache = ours_module.forward(params, x, kw.pop("num_heads"), key_padding_mask=mask, **kw)
    dy = np.random.default_rng(seed).standard_normal(y.shape).astype(x.dtype)
    dx, grads = ours_module.backward(dy, cache)
    assert set(grads) == set(params)
    module.train()
    tx = torch.tensor(x, requires_grad=True)
    ty = module(tx, src_key_padding_mask=None if mask is None else torch.from_numpy(mask))
    ty.backward(torch.from_numpy(dy))
    ours = {"y": y, "dx": dx} | grads
    ref = {"y": ty, "dx": tx.grad} | {n: p.grad for n, p in module.named_parameters()}
    return ours, {k: v.detach().numpy() for k, v in ref.items()}


def assert_close(ours, ref, tol=1e-9):
    assert ours.keys() == ref.keys()
    for name in ref:
        assert ours[name].shape == ref[name].shape, name
        assert np.abs(ours[name] - ref[name]).max() <= tol, name


LAYER_CASES = [(2, 1, 6, 3, 5), (3, 17, 10, 2, 13), (3, 7, 6, 1, 4)]  # (B, T, D, H, F)


@pytest.mark.parametrize("case", LAYER_CASES, ids=str)
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_layer_matches_torch_float64(case, norm_first, activation):
    B, T, D, H, F = case
    module, params = make_layer(D, H, F, norm_first, activation)
    x, mask = make_input(B, T, D)
    ours, ref = run_both(
        encoder_layer,
        module,
        params,
        x,
        mask,
        num_heads=H,
        norm_first=norm_first,
        activation=activation,
    )
    assert_close(ours, ref)


def test_layer_long_sequence_matches_torch():
    module, params = make_layer(10, 2, 13, norm_first=True, activation="gelu")
    x, mask = make_input(2, 129, 10)
    ours, ref = run_both(
        encoder_layer, module, params, x, mask, num_heads=2, norm_first=True, activation="gelu"
    )
    assert_close(ours, ref)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("final_norm", [False, True])
def test_stack_matches_torch_float64(norm_first, final_norm):
    module, params = make_stack(10, 2, 13, N=3, norm_first=norm_first, final_norm=final_norm)
    assert ("norm.weight" in params) == final_norm and "layers.2.norm2.bias" in params
    assert encoder.num_layers(params) == 3
    x, mask = make_input(3, 17, 10)
    ours, ref = run_both(encoder, module, params, x, mask, num_heads=2, norm_first=norm_first)
    assert_close(ours, ref)


def test_backward_twice_gives_the_same():
    _, params = make_stack(6, 3, 7, N=2, norm_first=True)
    x, mask = make_input(2, 5, 6)
    y, cache = encoder.forward(params, x, 3, key_padding_mask=mask, norm_first=True)
    dy = np.random.default_rng(0).standard_normal(y.shape)
    dx1, g1 = encoder.backward(dy, cache)
    dx2, g2 = encoder.backward(dy, cache)
    assert np.array_equal(dx1, dx2) and all(np.array_equal(g1[k], g2[k]) for k in g1)


def test_stack_without_padding_and_with_gelu():
    module, params = make_stack(6, 3, 7, N=2, norm_first=False, activation="gelu")
    x, _ = make_input(2, 7, 6, padded=False)
    ours, ref = run_both(encoder, module, params, x, None, num_heads=3, activation="gelu")
    assert_close(ours, ref)


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
def test_eval_fast_path_zeroes_padding_so_compare_the_rest():
    layer = nn.TransformerEncoderLayer(10, 2, 13, dropout=0.1, batch_first=True)
    module = nn.TransformerEncoder(layer, 2, enable_nested_tensor=True).double().eval()
    params = randomize(module)
    x, _ = make_input(3, 7, 10, padded=False)
    mask = np.arange(7) >= np.array([[7], [4], [1]])  # right padding, lengths 7, 4, 1
    with torch.inference_mode():
        ref = module(torch.from_numpy(x), src_key_padding_mask=torch.from_numpy(mask)).numpy()
    y, _ = encoder.forward(params, x, 2, key_padding_mask=mask, dropout=0.1, training=False)
    assert np.abs(y[~mask] - ref[~mask]).max() <= 1e-9
    assert not ref[mask].any() and np.abs(y[mask]).min() > 0  # torch: zeros; ours: computed


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_layer_gradcheck(norm_first, activation):
    _, params = make_layer(6, 3, 5, norm_first, activation)
    x, mask = make_input(2, 3, 6)
    mask[0, 1] = True
    gradcheck.assert_gradients(
        encoder_layer.forward,
        encoder_layer.backward,
        params,
        x,
        tol=1e-7,
        num_heads=3,
        key_padding_mask=mask,
        norm_first=norm_first,
        activation=activation,
    )


@pytest.mark.parametrize("norm_first", [False, True])
def test_stack_gradcheck_with_dropout(norm_first):
    _, params = make_stack(4, 2, 3, N=2, norm_first=norm_first)
    x, mask = make_input(2, 3, 4)
    kw = {"key_padding_mask": mask, "norm_first": norm_first}
    y_off, _ = encoder.forward(params, x, 2, **kw)
    y_eval, _ = encoder.forward(params, x, 2, dropout=0.3, training=False, rng=5, **kw)
    y_a, _ = encoder.forward(params, x, 2, dropout=0.3, training=True, rng=5, **kw)
    y_b, _ = encoder.forward(params, x, 2, dropout=0.3, training=True, rng=5, **kw)
    y_c, _ = encoder.forward(params, x, 2, dropout=0.3, training=True, rng=6, **kw)
    assert np.array_equal(y_off, y_eval) and np.array_equal(y_a, y_b)
    assert not np.allclose(y_a, y_off) and not np.allclose(y_a, y_c)
    gradcheck.assert_gradients(
        encoder.forward,
        encoder.backward,
        params,
        x,
        tol=1e-7,
        num_heads=2,
        dropout=0.3,
        training=True,
        rng=5,
        **kw,
    )


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_float32_matches_torch(norm_first, activation):
    """y within 1e-5 of torch float32; every gradient within 1e-5 of the exact (float64) one.

    Through two LayerNorms the float32 gradients of torch and ours each carry rounding errors of a
    few 1e-6, so ours are held against the exact answer rather than against torch's rounding.
    """
    module, params = make_stack(10, 2, 13, 2, norm_first, activation, dtype=torch.float32)
    kw = {"num_heads": 2, "norm_first": norm_first, "activation": activation}
    x, mask = make_input(3, 17, 10, dtype=np.float32)
    ours, ref32 = run_both(encoder, module, params, x, mask, **kw)
    exact = module.double()
    exact.zero_grad(set_to_none=True)
    params64 = {k: v.astype(np.float64) for k, v in params.items()}
    _, ref = run_both(encoder, exact, params64, x.astype(np.float64), mask, **kw)
    assert np.abs(ours["y"] - ref32["y"]).max() <= 1e-5 * np.abs(ref32["y"]).max()
    for name in ref:
        assert ours[name].dtype == np.float32, name
        assert np.abs(ours[name] - ref[name]).max() <= 1e-5 * np.abs(ref[name]).max(), name


@pytest.mark.parametrize("norm_first", [False, True])
def test_shifted_input_stays_finite_and_matches_torch(norm_first):
    module, params = make_layer(10, 2, 13, norm_first, "relu")
    x, mask = make_input(3, 7, 10)
    ours, ref = run_both(
        encoder_layer, module, params, x + 100, mask, num_heads=2, norm_first=norm_first
    )
    for name in ref:
        assert np.isfinite(ours[name]).all(), name
    assert_close(ours, ref, tol=1e-9 * max(1.0, max(np.abs(r).max() for r in ref.values())))


def test_bad_inputs_raise_clear_errors():
    _, params = make_layer(6, 3, 5, False, "relu")
    x, mask = make_input(2, 3, 6)
    with pytest.raises(ValueError, match="D = 6 must be divisible by num_heads = 4"):
        encoder_layer.forward(params, x, 4)
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(B, Tk\) = \(2, 3\)"):
        encoder_layer.forward(params, x, 3, key_padding_mask=mask.T)
    with pytest.raises(TypeError, match="key_padding_mask must be a bool array.*float64"):
        encoder_layer.forward(params, x, 3, key_padding_mask=mask.astype(float))
    with pytest.raises(ValueError, match=r"dropout must lie in \[0, 1\], got -0.1"):
        encoder_layer.forward(params, x, 3, dropout=-0.1, training=True)
    with pytest.raises(ValueError, match="activation must be one of"):
        encoder_layer.forward(params, x, 3, activation="swish")
    with pytest.raises(ValueError, match=r"x must have 3 dimensions \(B, T, D\)"):
        encoder_layer.forward(params, x[0], 3)
    with pytest.raises(ValueError, match=r"x has shape \(2, 3, 5\) but .* last dimension of 6"):
        encoder_layer.forward(params, x[..., :5], 3)
    with pytest.raises(KeyError, match="missing .*linear2.bias"):
        encoder_layer.forward({k: v for k, v in params.items() if k != "linear2.bias"}, x, 3)
    stack = {f"layers.{i}.{k}": v for i in (0, 2) for k, v in params.items()}
    with pytest.raises(KeyError, match=r"layer indices \[0, 2\]"):
        encoder.forward(stack, x, 3)
    with pytest.raises(KeyError, match=r"unexpected keys \['head.w'\]"):
        encoder.forward({f"layers.0.{k}": v for k, v in params.items()} | {"head.w": x}, x, 3)


# --- the encoder's input: positional encodings and embedding scaling ---


@pytest.mark.parametrize("T, D", [(1, 4), (17, 10), (129, 7)])
def test_sinusoidal_table_matches_the_formula(T, D):
    pe = positional.sinusoidal(T, D)
    assert pe.shape == (T, D)
    for t in (0, T // 2, T - 1):
        for j in range(D):
            angle = t / 10000 ** (2 * (j // 2) / D)
            expect = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert abs(pe[t, j] - expect) <= 1e-12
    assert positional.sinusoidal(T, D, dtype=np.float32).dtype == np.float32


def test_sinusoidal_add_and_backward():
    x, _ = make_input(2, 5, 6, padded=False)
    y, cache = positional.sinusoidal_forward({}, x)
    np.testing.assert_array_equal(y, x + positional.sinusoidal(5, 6))
    dy = np.ones_like(x)
    assert positional.sinusoidal_backward(dy, cache) == (dy, {})


def test_learned_positions_match_torch_embedding():
    rng = np.random.default_rng(0)
    table = nn.Embedding(9, 6).double()
    params = randomize(table)
    x, _ = make_input(3, 5, 6, padded=False)
    y, cache = positional.learned_forward(params, x)
    dy = rng.standard_normal(y.shape)
    dx, grads = positional.learned_backward(dy, cache)
    tx = torch.tensor(x, requires_grad=True)
    ty = tx + table(torch.arange(5))
    ty.backward(torch.from_numpy(dy))
    assert np.abs(y - ty.detach().numpy()).max() <= 1e-12
    assert np.abs(dx - tx.grad.numpy()).max() <= 1e-12
    assert np.abs(grads["weight"] - table.weight.grad.numpy()).max() <= 1e-12
    assert not grads["weight"][5:].any()
    gradcheck.assert_gradients(positional.learned_forward, positional.learned_backward, params, x)
    with pytest.raises(ValueError, match=r"need T <= 9 and D = 6"):
        positional.learned_forward(params, make_input(1, 10, 6)[0])


@pytest.mark.parametrize("scale", [None, 0.5])
def test_embedding_scale(scale):
    x, _ = make_input(2, 3, 9, padded=False)
    y, _ = positional.scale_forward({}, x, scale=scale)
    np.testing.assert_allclose(y, x * (3.0 if scale is None else 0.5), rtol=1e-15)
    gradcheck.assert_gradients(
        positional.scale_forward, positional.scale_backward, {}, x, scale=scale
    )
    assert positional.scale_forward({}, x.astype(np.float32))[0].dtype == np.float32
