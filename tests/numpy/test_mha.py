"""Multi-head attention against torch.nn.MultiheadAttention(batch_first=True).

Random non-zero weights and biases, D not a multiple of 8, self- and cross-attention (Tq ≠ Tk,
query, key and value three different arrays), and padding masks with one batch element whose keys
are all padding (torch, with need_weights=False, gives zero attention there, so y = out_proj.bias).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from minienc import gradcheck
from minienc.numpy import mha


def make_module(D, H, seed=0, bias=True, dtype=torch.float64):
    """nn.MultiheadAttention with random non-zero parameters, and the same as NumPy params."""
    torch.manual_seed(seed)
    module = nn.MultiheadAttention(D, H, bias=bias, batch_first=True, dtype=dtype)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 0.5)
    params = {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}
    return module, params


def make_inputs(B, Tq, Tk, D, self_attention, seed=1, dtype=np.float64, padded=True):
    rng = np.random.default_rng(seed)
    query = rng.standard_normal((B, Tq, D)).astype(dtype)
    if self_attention:
        Tk = Tq
        key = value = query
    else:
        key = rng.standard_normal((B, Tk, D)).astype(dtype)
        value = rng.standard_normal((B, Tk, D)).astype(dtype)
    mask = None
    if padded:
        mask = rng.random((B, Tk)) < 0.4
        mask[0] = False
        mask[-1] = True  # all keys padded
    return query, key, value, mask


def run_both(module, params, H, query, key, value, mask, seed=2):
    """Our forward+backward and torch's, with the same upstream gradient.

    For self-attention torch sees one tensor; its gradient is compared with dq + dk + dv.
    """
    y, cache = mha.forward(params, query, key, value, H, key_padding_mask=mask)
    dy = np.random.default_rng(seed).standard_normal(y.shape).astype(query.dtype)
    (dq, dk, dv), grads = mha.backward(dy, cache)

    same = query is key is value
    tq = torch.tensor(query, requires_grad=True)
    tk, tv = (tq, tq) if same else (torch.tensor(a, requires_grad=True) for a in (key, value))
    tmask = None if mask is None else torch.from_numpy(mask)
    ty, _ = module(tq, tk, tv, key_padding_mask=tmask, need_weights=False)
    ty.backward(torch.from_numpy(dy))

    if same:
        ours = {"y": y, "dx": dq + dk + dv}
        ref = {"y": ty, "dx": tq.grad}
    else:
        ours = {"y": y, "dquery": dq, "dkey": dk, "dvalue": dv}
        ref = {"y": ty, "dquery": tq.grad, "dkey": tk.grad, "dvalue": tv.grad}
    ours |= grads
    ref |= {name: p.grad for name, p in module.named_parameters()}
    assert set(grads) == set(params)
    return ours, {k: v.detach().numpy() for k, v in ref.items()}


CASES = [  # (B, Tq, Tk, D, H, self_attention)
    (2, 1, 1, 6, 3, True),
    (3, 17, 17, 10, 2, True),
    (3, 7, 17, 10, 2, False),
    (2, 17, 1, 6, 3, False),
    (3, 1, 7, 6, 1, False),
]


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("padded", [False, True])
def test_matches_torch_float64(case, padded):
    B, Tq, Tk, D, H, self_attention = case
    module, params = make_module(D, H)
    inputs = make_inputs(B, Tq, Tk, D, self_attention, padded=padded)
    ours, ref = run_both(module, params, H, *inputs)
    for name in ref:
        assert ours[name].shape == ref[name].shape, name
        assert np.abs(ours[name] - ref[name]).max() <= 1e-9, name


@pytest.mark.parametrize("case", [c for c in CASES if c[-1]], ids=str)
@pytest.mark.parametrize("padded", [False, True])
def test_packed_self_attention_matches_torch_and_forward(case, padded):
    B, T, _, D, H, _ = case
    module, params = make_module(D, H)
    x, _, _, mask = make_inputs(B, T, T, D, self_attention=True, padded=padded)
    _, ref = run_both(module, params, H, x, x, x, mask)
    y, cache = mha.self_attention_forward(params, x, H, key_padding_mask=mask)
    dy = np.random.default_rng(2).standard_normal(y.shape)  # the upstream gradient of run_both
    dx, grads = mha.self_attention_backward(dy, cache)
    ours = {"y": y, "dx": dx} | grads
    assert ours.keys() == ref.keys()
    for name in ref:
        assert np.abs(ours[name] - ref[name]).max() <= 1e-9, name
    y3, cache3 = mha.forward(params, x, x, x, H, key_padding_mask=mask)
    assert np.abs(y - y3).max() <= 1e-12
    assert np.abs(dx - sum(mha.backward(dy, cache3)[0])).max() <= 1e-12


def test_packed_self_attention_gradcheck():
    _, params = make_module(6, 2)
    x, _, _, mask = make_inputs(2, 3, 3, 6, self_attention=True)
    gradcheck.assert_gradients(
        mha.self_attention_forward,
        mha.self_attention_backward,
        params,
        x,
        tol=1e-7,
        num_heads=2,
        key_padding_mask=mask,
    )


def test_long_cross_attention_matches_torch():
    module, params = make_module(10, 2)
    ours, ref = run_both(module, params, 2, *make_inputs(2, 129, 17, 10, self_attention=False))
    for name in ref:
        assert np.abs(ours[name] - ref[name]).max() <= 1e-9, name


def test_without_biases_matches_torch():
    module, params = make_module(6, 3, bias=False)
    assert set(params) == {"in_proj_weight", "out_proj.weight"}
    ours, ref = run_both(module, params, 3, *make_inputs(2, 5, 7, 6, self_attention=False))
    for name in ref:
        assert np.abs(ours[name] - ref[name]).max() <= 1e-9, name


def test_fully_padded_element_outputs_the_output_bias():
    module, params = make_module(10, 2)
    query, key, value, mask = make_inputs(3, 5, 7, 10, self_attention=False)
    y, _ = mha.forward(params, query, key, value, 2, key_padding_mask=mask)
    assert mask[-1].all()
    np.testing.assert_array_equal(y[-1], np.broadcast_to(params["out_proj.bias"], (5, 10)))


def test_need_weights_matches_torch_head_average():
    module, params = make_module(10, 2)
    query, key, value, mask = make_inputs(3, 7, 17, 10, self_attention=False)
    y, cache = mha.forward(params, query, key, value, 2, key_padding_mask=mask, need_weights=True)
    with torch.no_grad():
        _, ref = module(
            *map(torch.from_numpy, (query, key, value)),
            key_padding_mask=torch.from_numpy(mask),
            need_weights=True,
        )
    assert cache.weights.shape == (3, 7, 17)
    assert np.abs(cache.weights[:-1] - ref.numpy()[:-1]).max() <= 1e-12
    assert not cache.weights[-1].any()  # torch gives NaN for the fully padded element
    assert mha.forward(params, query, key, value, 2, key_padding_mask=mask)[1].weights is None


@pytest.mark.parametrize("self_attention", [True, False])
def test_gradcheck(self_attention):
    _, params = make_module(6, 3)
    query, key, value, mask = make_inputs(2, 3, 4 - self_attention, 6, self_attention)
    mask[0, 0] = True

    def fwd(params, query, key, value, **kw):
        return mha.forward(params, query, key, value, 3, **kw)

    gradcheck.assert_gradients(
        fwd,
        mha.backward,
        params,
        (query, key, value),
        tol=1e-7,
        input_names=("query", "key", "value"),
        key_padding_mask=mask,
    )


def test_gradcheck_with_attention_dropout():
    _, params = make_module(6, 2)
    query, key, value, mask = make_inputs(2, 3, 4, 6, self_attention=False)

    def fwd(params, query, key, value, **kw):
        return mha.forward(params, query, key, value, 2, **kw)

    kw = {"key_padding_mask": mask, "dropout": 0.5, "training": True, "rng": 3}
    y_eval, _ = fwd(params, query, key, value, key_padding_mask=mask, dropout=0.5, training=False)
    y_plain, _ = fwd(params, query, key, value, key_padding_mask=mask)
    assert np.array_equal(y_eval, y_plain)  # dropout is off in evaluation
    assert not np.allclose(fwd(params, query, key, value, **kw)[0], y_plain)
    gradcheck.assert_gradients(fwd, mha.backward, params, (query, key, value), tol=1e-7, **kw)


@pytest.mark.parametrize("self_attention", [True, False])
def test_float32_matches_torch(self_attention):
    module, params = make_module(10, 2, dtype=torch.float32)
    inputs = make_inputs(3, 17, 7, 10, self_attention, dtype=np.float32)
    ours, ref = run_both(module, params, 2, *inputs)
    for name in ref:
        assert ours[name].dtype == np.float32, name
        assert np.abs(ours[name] - ref[name]).max() <= 1e-5 * np.abs(ref[name]).max(), name


def test_shifted_input_stays_finite_and_matches_torch():
    module, params = make_module(10, 2)
    query, key, value, mask = make_inputs(3, 7, 7, 10, self_attention=True)
    x = query + 100
    ours, ref = run_both(module, params, 2, x, x, x, mask)
    for name in ref:
        assert np.isfinite(ours[name]).all(), name
        assert np.abs(ours[name] - ref[name]).max() <= 1e-9 * max(1.0, np.abs(ref[name]).max())


def test_bad_inputs_raise_clear_errors():
    _, params = make_module(6, 3)
    query, key, value, mask = make_inputs(2, 3, 4, 6, self_attention=False)
    with pytest.raises(ValueError, match="D = 6 must be divisible by num_heads = 4"):
        mha.forward(params, query, key, value, 4)
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(B, Tk\) = \(2, 4\)"):
        mha.forward(params, query, key, value, 3, key_padding_mask=mask[:, :3])
    with pytest.raises(TypeError, match="key_padding_mask must be a bool array.*int64"):
        mha.forward(params, query, key, value, 3, key_padding_mask=mask.astype(np.int64))
    with pytest.raises(ValueError, match=r"query has shape \(2, 3, 6\) but key has shape .*last"):
        mha.forward(params, query, key[..., :5], value, 3)
    with pytest.raises(ValueError, match="key has shape .* but value has shape .*lengths"):
        mha.forward(params, query, key, value[:, :3], 3)
    with pytest.raises(ValueError, match="batch sizes"):
        mha.forward(params, query, key[:1], value[:1], 3)
    with pytest.raises(ValueError, match=r"query must have 3 dimensions \(B, T, D\)"):
        mha.forward(params, query[0], key, value, 3)
    with pytest.raises(ValueError, match="num_heads must be a positive int"):
        mha.forward(params, query, key, value, 0)
    with pytest.raises(KeyError, match="missing .*out_proj.weight"):
        mha.forward(
            {k: v for k, v in params.items() if k != "out_proj.weight"}, query, key, value, 3
        )
    with pytest.raises(ValueError, match=r"query has shape \(2, 3, 5\) but .* last dimension of 6"):
        mha.forward(params, query[..., :5], key[..., :5], value[..., :5], 3)
    bad = params | {"in_proj_weight": params["in_proj_weight"][:12]}
    with pytest.raises(ValueError, match=r"in_proj_weight'\] .* must have shape \(18, 6\)"):
        mha.forward(bad, query, key, value, 3)
    _, cache = mha.forward(params, query, key, value, 3)
    with pytest.raises(ValueError, match="dy has shape"):
        mha.backward(np.ones((2, 4, 6)), cache)
    with pytest.raises(ValueError, match="use backward"):
        mha.self_attention_backward(np.ones((2, 3, 6)), cache)
    _, cache = mha.self_attention_forward(params, query, 3)
    with pytest.raises(ValueError, match="use self_attention_backward"):
        mha.backward(np.ones((2, 3, 6)), cache)
