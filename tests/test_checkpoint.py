"""Checkpoints round-trip bit for bit, survive interrupted saves, reject damaged files, and load
into torch's stock modules."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import safetensors.numpy
import safetensors.torch
import torch
from torch import nn

from minienc import checkpoint


def assert_bit_exact(a, b, what=""):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (what, a.dtype, b.dtype, a.shape, b.shape)
    assert a.tobytes() == b.tobytes(), what


def torch_state(module):
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def random_params(seed=0):
    rng = np.random.default_rng(seed)
    special = np.array([np.nan, -0.0, np.inf, -np.inf, 1e-310, np.finfo(np.float64).max])
    return {
        "embedding.weight": rng.standard_normal((11, 4)).astype(np.float32),
        "layers.0.norm1.weight": special,
        "layers.0.norm1.bias": jnp.asarray(rng.standard_normal(4), dtype=jnp.float32),
        "counts": np.arange(5, dtype=np.int64),
        "flags": np.array([True, False, True]),
        "scalar": np.array(2.5, dtype=np.float16),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }


def test_round_trip_is_bit_exact(tmp_path):
    params = random_params()
    config = {"d_model": 4, "dropout": 0.1, "heads": [2, 4], "name": "tiny", "eps": 1e-12}
    path = checkpoint.save(tmp_path / "ckpt.safetensors", params, config=config, step=1234)
    ck = checkpoint.load(path)
    assert list(ck.params) == list(params)  # the saved order
    for k in params:
        assert_bit_exact(ck.params[k], np.asarray(params[k]), k)
    assert ck.config == config and ck.step == 1234 and ck.opt_state is None
    assert isinstance(ck.params["embedding.weight"], np.ndarray)
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]  # no temporary file left behind


def test_optax_state_round_trips_and_training_resumes_identically(tmp_path):
    params = {
        "weight": jnp.asarray(np.random.default_rng(1).standard_normal((3, 4)), jnp.float32),
        "bias": jnp.ones(3, jnp.float32),
    }
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-2))
    state = opt.init(params)
    grads = jax.tree_util.tree_map(lambda p: 0.5 * p + 0.1, params)
    updates, state = opt.update(grads, state, params)
    params = optax.apply_updates(params, updates)

    checkpoint.save(tmp_path / "c.safetensors", params, opt_state=state, step=1)
    ck = checkpoint.load(tmp_path / "c.safetensors")
    assert jax.tree_util.tree_structure(ck.opt_state) == jax.tree_util.tree_structure(state)
    for a, b in zip(jax.tree_util.tree_leaves(ck.opt_state), jax.tree_util.tree_leaves(state)):
        assert_bit_exact(a, b)
    with safetensors.safe_open(tmp_path / "c.safetensors", "np") as f:
        assert "opt.1.0.mu.weight" in f.keys()  # chain index 1, adam's state, its mu

    resumed, _ = opt.update(grads, ck.opt_state, {k: jnp.asarray(v) for k, v in ck.params.items()})
    expected, _ = opt.update(grads, state, params)
    for k in params:
        assert_bit_exact(resumed[k], expected[k], k)


def test_nested_trees_with_scalars_and_none_round_trip(tmp_path):
    tree = {
        "moments": [np.ones(2), (np.zeros((1, 2), np.float32), None)],
        "count": np.int32(7),
        "lr": 3e-4,
        "name": "adam",
        "done": False,
        "empty": (),
    }
    checkpoint.save(tmp_path / "c", {"w": np.ones(1)}, opt_state=tree)
    back = checkpoint.load(tmp_path / "c").opt_state
    assert back["lr"] == 3e-4 and back["name"] == "adam" and back["done"] is False
    assert back["count"] == 7 and back["count"].dtype == np.int32 and np.ndim(back["count"]) == 0
    assert back["moments"][1][1] is None and back["empty"] == ()
    assert isinstance(back["moments"], list) and isinstance(back["moments"][1], tuple)
    assert_bit_exact(back["moments"][1][0], tree["moments"][1][0])


def test_expected_template_names_missing_unexpected_and_misshaped_keys(tmp_path):
    params = {"a": np.ones((2, 3)), "b": np.ones(4), "c": np.ones(1)}
    checkpoint.save(tmp_path / "c", params)
    template = {"a": jnp.zeros((3, 2)), "b": np.zeros(4), "d": torch.zeros(5)}
    with pytest.raises(ValueError) as err:
        checkpoint.load(tmp_path / "c", expected=template)
    msg = str(err.value)
    assert str(tmp_path / "c") in msg
    assert "missing keys ['d']" in msg and "unexpected keys ['c']" in msg
    assert "'a': saved (2, 3), expected (3, 2)" in msg
    ok = checkpoint.load(tmp_path / "c", expected={k: np.zeros(v.shape) for k, v in params.items()})
    assert set(ok.params) == set(params)


def damage(path, how):
    data = bytearray(path.read_bytes())
    header_len = int.from_bytes(data[:8], "little")
    if how == "truncated":
        data = data[: len(data) - 7]
    elif how == "flipped data byte":
        data[8 + header_len + 3] ^= 0x10
    elif how == "flipped header byte":
        data[8 + header_len // 2] ^= 0x7F
    elif how == "garbage":
        data = bytearray(b"not a checkpoint at all")
    elif how == "empty":
        data = bytearray()
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "how", ["truncated", "flipped data byte", "flipped header byte", "garbage", "empty"]
)
def test_damaged_file_raises_value_error_naming_it(tmp_path, how):
    path = checkpoint.save(tmp_path / "c.safetensors", random_params(), config={"a": 1}, step=3)
    damage(path, how)
    with pytest.raises(ValueError, match="c.safetensors"):
        checkpoint.load(path)


def test_plain_safetensors_file_is_not_a_checkpoint(tmp_path):
    safetensors.numpy.save_file({"w": np.ones(2)}, tmp_path / "plain.safetensors")
    with pytest.raises(ValueError, match="plain.safetensors is a safetensors file but not"):
        checkpoint.load(tmp_path / "plain.safetensors")
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        checkpoint.load(tmp_path / "missing.safetensors")


def test_interrupted_save_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "c.safetensors"
    old = {"w": np.arange(6.0).reshape(2, 3)}
    checkpoint.save(path, old, step=1)
    before = path.read_bytes()

    def crash_halfway(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\x00" * 100)  # a partial write ...
        raise OSError("disk full")  # ... then the writer dies

    monkeypatch.setattr(checkpoint, "save_file", crash_halfway)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(path, {"w": np.zeros((2, 3))}, step=2)
    assert path.read_bytes() == before
    ck = checkpoint.load(path)
    assert ck.step == 1 and np.array_equal(ck.params["w"], old["w"])
    assert os.listdir(tmp_path) == ["c.safetensors"]


def randomize(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5 + 0.1)
    return module


def test_loads_into_torch_lstm_and_encoder_layer(tmp_path):
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    for make in (
        lambda: nn.LSTM(8, 5, num_layers=2, bidirectional=True, batch_first=True),
        lambda: nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0, batch_first=True),
    ):
        src = randomize(make().double(), seed=3).eval()
        path = checkpoint.save(tmp_path / "m.safetensors", torch_state(src), config={"n": 1})
        ck = checkpoint.load(path, expected=src.state_dict())
        dst = make().double().eval()
        dst.load_state_dict({k: torch.from_numpy(v) for k, v in ck.params.items()})
        with torch.no_grad():
            y_src, y_dst = src(x), dst(x)
        for a, b in zip(jax.tree_util.tree_leaves(y_src), jax.tree_util.tree_leaves(y_dst)):
            assert torch.equal(a, b)
        plain = safetensors.torch.load_file(path)  # a params-only checkpoint is a state dict
        dst.load_state_dict(plain)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"params": [np.ones(2)]}, TypeError, "params must be a dict"),
        ({"params": {"w": "abc"}}, TypeError, r"params\['w'\] must be an array"),
        ({"params": {"w": np.ones(1)}, "config": {"f": print}}, TypeError, "JSON-serialisable"),
        ({"params": {"w": np.ones(1)}, "step": 1.5}, TypeError, "step must be an int"),
        (
            {"params": {"w": np.ones(1)}, "opt_state": {"m": {1: np.ones(1)}}},
            TypeError,
            "non-string",
        ),
        ({"params": {"w": np.ones(1)}, "opt_state": [object()]}, TypeError, r"opt_state\.0 is a"),
        ({"params": {"opt": np.ones(1)}, "opt_state": np.ones(1)}, ValueError, "clash"),
    ],
)
def test_bad_save_arguments(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        checkpoint.save(tmp_path / "c", **kwargs)
    assert os.listdir(tmp_path) == []


def test_header_is_small_json(tmp_path):
    checkpoint.save(tmp_path / "c", {"w": np.ones(3)}, config={"a": [1, 2]}, step=5)
    with safetensors.safe_open(tmp_path / "c", "np") as f:
        meta = json.loads(f.metadata()["minienc"])
    assert meta["params"] == ["w"] and meta["step"] == 5 and meta["config"] == {"a": [1, 2]}
