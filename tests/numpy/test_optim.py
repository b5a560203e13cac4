"""NumPy optimizers equal torch.optim step for step on the same parameters and gradients."""

import numpy as np
import pytest
import torch

from minienc.numpy import optim

SHAPES = {"weight": (5, 3), "bias": (5,), "scale": (1,)}
STEPS = 6


def make_problem(seed: int):
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
    grads = [{k: rng.standard_normal(s) for k, s in SHAPES.items()} for _ in range(STEPS)]
    return params, grads


def run_ours(opt, params, grads_seq):
    state = opt.init(params)
    for grads in grads_seq:
        params, state = opt.step(params, grads, state)
    return params


def run_torch(make_opt, params, grads_seq):
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    opt = make_opt(list(tensors.values()))
    for grads in grads_seq:
        for k, t in tensors.items():
            t.grad = torch.tensor(grads[k])
        opt.step()
    return {k: t.detach().numpy() for k, t in tensors.items()}


CASES = {
    "sgd": (optim.SGD(lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "sgd-momentum-wd": (
        optim.SGD(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
    ),
    "sgd-nesterov": (
        optim.SGD(lr=0.05, momentum=0.8, nesterov=True),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True),
    ),
    "adam": (
        optim.Adam(lr=0.01, betas=(0.8, 0.95), eps=1e-6),
        lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.95), eps=1e-6),
    ),
    "adam-l2": (
        optim.Adam(lr=0.01, weight_decay=0.1),
        lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1),
    ),
    "adamw": (
        optim.AdamW(lr=0.01, weight_decay=0.1),
        lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1),
    ),
}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", sorted(CASES))
def test_optimizer_equals_torch_step_for_step(name, seed):
    ours_opt, torch_opt = CASES[name]
    params, grads_seq = make_problem(seed)
    ours = run_ours(ours_opt, params, grads_seq)
    theirs = run_torch(torch_opt, params, grads_seq)
    for k in SHAPES:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=0, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_parameter_changes_and_inputs_are_untouched(name):
    params, grads_seq = make_problem(3)
    before = {k: v.copy() for k, v in params.items()}
    opt = CASES[name][0]
    new, _ = opt.step(params, grads_seq[0], opt.init(params))
    for k in SHAPES:
        np.testing.assert_array_equal(params[k], before[k])
        assert not np.allclose(new[k], before[k]), k


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_equals_torch(max_norm):
    _, grads_seq = make_problem(4)
    grads = grads_seq[0]
    clipped, norm = optim.clip_grad_norm(grads, max_norm)
    tensors = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in SHAPES.values()]
    for t, k in zip(tensors, SHAPES):
        t.grad = torch.tensor(grads[k])
    torch_norm = torch.nn.utils.clip_grad_norm_(tensors, max_norm)
    assert norm == pytest.approx(float(torch_norm), rel=1e-12)
    for t, k in zip(tensors, SHAPES):
        np.testing.assert_allclose(clipped[k], t.grad.numpy(), rtol=1e-12, err_msg=k)


def test_bad_grads_are_named():
    params, grads_seq = make_problem(5)
    opt = optim.SGD(lr=0.1)
    state = opt.init(params)
    with pytest.raises(KeyError, match=r"missing \['bias'\]"):
        opt.step(params, {k: v for k, v in grads_seq[0].items() if k != "bias"}, state)
    with pytest.raises(ValueError, match=r"grads\['weight'\] has shape \(3, 5\)"):
        opt.step(params, {**grads_seq[0], "weight": np.zeros((3, 5))}, state)
    with pytest.raises(ValueError, match="max_norm must be positive"):
        optim.clip_grad_norm(grads_seq[0], 0.0)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_parameters_stay_float32(name):
    params, grads_seq = make_problem(6)
    params = {k: v.astype(np.float32) for k, v in params.items()}
    grads = {k: v.astype(np.float32) for k, v in grads_seq[0].items()}
    opt = CASES[name][0]
    state = opt.init(params)
    for _ in range(2):
        params, state = opt.step(params, grads, state)
    assert {v.dtype for v in params.values()} == {np.dtype(np.float32)}
    clipped, _ = optim.clip_grad_norm(grads, 0.1)
    assert {v.dtype for v in clipped.values()} == {np.dtype(np.float32)}
