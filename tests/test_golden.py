"""Golden reference files: reproducible from torch, passed by every NumPy block, and telling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from minienc import golden
from minienc.numpy import (
    activations,
    attention,
    dropout,
    embedding,
    layernorm,
    linear,
    losses,
    softmax,
)

GOLDEN = Path(__file__).resolve().parent / "golden"

BLOCKS = {
    "linear": linear,
    "embedding": embedding,
    "layernorm": layernorm,
    **{f"activations_{kind}": activations for kind in activations.KINDS},
    "softmax": softmax,
    "log_softmax": softmax,
    "dropout": dropout,
    "cross_entropy": losses,
    "attention": SimpleNamespace(  # no params: forward(params, q, k, v, **kwargs) adapts it
        forward=lambda params, q, k, v, **kw: attention.scaled_dot_product_attention(q, k, v, **kw),
        backward=attention.backward,
    ),
}


def test_every_golden_name_has_a_small_committed_file():
    assert set(BLOCKS) == set(golden.NAMES)
    assert golden.GOLDEN_DIR == GOLDEN
    assert {p.stem for p in GOLDEN.glob("*.npz")} == set(golden.NAMES)
    for name in golden.NAMES:
        assert (GOLDEN / f"{name}.npz").stat().st_size < 64_000


def test_regenerating_reproduces_every_file(tmp_path):
    subprocess.run(
        [sys.executable, str(GOLDEN / "make_golden.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in golden.NAMES:
        committed, fresh = golden.load(name), golden.load(name, folder=tmp_path)
        assert list(committed) == list(fresh), name
        for key, want in committed.items():
            got = fresh[key]
            assert got.dtype == want.dtype and got.shape == want.shape, f"{name}: {key}"
            if np.issubdtype(want.dtype, np.floating):
                np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, err_msg=f"{name}: {key}")
            else:
                np.testing.assert_array_equal(got, want, err_msg=f"{name}: {key}")


def test_files_hold_inputs_params_outputs_and_gradients():
    ref = golden.load("linear")
    assert list(ref["inputs"]) == ["x"]
    for key in ("x", "param.weight", "param.bias", "y", "dy", "dx", "grad.weight", "grad.bias"):
        assert ref[key].dtype == np.float64, key
    assert ref["dy"].shape == ref["y"].shape and ref["dx"].shape == ref["x"].shape
    assert np.all(ref["param.bias"] != 0)
    ce = golden.load("cross_entropy")
    assert list(ce["inputs"]) == ["logits", "target"] and "dx" in ce
    assert ce["kwarg.reduction"].item() == "mean" and ce["kwarg.label_smoothing"].item() > 0
    assert np.any(ce["target"] == ce["kwarg.ignore_index"])
    emb = golden.load("embedding")
    assert "dx" not in emb and np.issubdtype(emb["ids"].dtype, np.integer)
    assert np.all(emb["grad.weight"][emb["kwarg.padding_idx"].item()] == 0)


@pytest.mark.parametrize("name", golden.NAMES)
def test_every_block_passes(name):
    block = BLOCKS[name]
    result = golden.check_against_golden(name, block.forward, block.backward)
    assert result.ok, str(result)
    assert result.error <= 1e-12
    assert str(result).startswith(f"{name}: PASS (worst: ")
    expected = {"y", "dx"} if name != "embedding" else {"y"}
    if name == "attention":
        expected = {"y", "dx.q", "dx.k", "dx.v"}
    expected |= {f"grad {k[6:]}" for k in golden.load(name) if k.startswith("param.")}
    assert set(result.errors) == expected


def test_forward_only_accepts_a_bare_output():
    """A forward that returns y alone (as JAX layers do) is checked when no backward is given."""
    result = golden.check_against_golden(
        "layernorm", lambda p, x, eps: layernorm.forward(p, x, eps)[0]
    )
    assert result.ok and set(result.errors) == {"y"}


def layernorm_unbiased(params, x, eps=1e-5):
    """Bug: the unbiased variance (divides by D - 1), which torch's LayerNorm does not use."""
    mu = x.mean(-1, keepdims=True)
    xhat = (x - mu) / np.sqrt(x.var(-1, ddof=1, keepdims=True) + eps)
    return xhat * params["weight"] + params["bias"], None


def test_wrong_forward_fails_naming_y():
    result = golden.check_against_golden("layernorm", layernorm_unbiased)
    assert not result.ok and not result
    assert result.worst_name == "y" and result.error > 1e-3
    assert str(result).startswith("layernorm: FAIL (worst: y, max abs err ")
    assert "> tol 1e-09" in str(result)


def test_wrong_backward_fails_naming_the_gradient():
    def backward(dy, cache):
        dx, grads = linear.backward(dy, cache)
        return dx, {**grads, "bias": grads["bias"] * 0.5}

    result = golden.check_against_golden("linear", linear.forward, backward)
    assert not result.ok and result.worst_name == "grad bias"
    assert result.errors["y"] < 1e-12 and result.errors["dx"] < 1e-12
    assert "FAIL (worst: grad bias" in str(result)


def test_missing_gradient_and_wrong_shapes_are_named():
    def backward(dy, cache):
        dx, grads = layernorm.backward(dy, cache)
        return dx[..., :-1], {"bias": grads["bias"]}

    result = golden.check_against_golden("layernorm", layernorm.forward, backward)
    assert not result.ok
    assert result.errors["grad weight"] == np.inf and result.errors["dx"] == np.inf
    assert "backward returned no gradient for 'weight'" in result.notes["grad weight"]
    assert "got shape (2, 3, 5) but the reference has shape (2, 3, 6)" in result.notes["dx"]
    assert "also failing: " in str(result)


def test_a_gelu_built_on_tanh_fails_the_exact_gelu_reference():
    result = golden.check_against_golden(
        "activations_gelu", lambda p, x, kind: activations.forward(p, x, "gelu_tanh")
    )
    assert not result.ok and result.worst_name == "y"


def test_tolerance_is_respected():
    def forward(params, x, eps=1e-5):
        y, cache = layernorm.forward(params, x, eps)
        return y + 1e-6, cache

    assert not golden.check_against_golden("layernorm", forward).ok
    assert golden.check_against_golden("layernorm", forward, tol=1e-5).ok


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(FileNotFoundError, match=r"no golden file .*nope\.npz; available names: "):
        golden.load("nope")


def test_missing_folder_says_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setattr(golden, "GOLDEN_DIR", tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"golden folder .*missing not found"):
        golden.check_against_golden("linear", linear.forward)


def test_golden_checks_run_without_torch():
    code = (
        "import sys\n"
        "from minienc import golden\n"
        "from minienc.numpy import linear\n"
        "assert golden.check_against_golden('linear', linear.forward, linear.backward).ok\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
