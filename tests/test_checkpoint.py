"""Checkpoints round-trip bit for bit, restore optimizer states into a template, survive
interrupted saves, reject damaged files, load into torch's stock modules, and never run code
named in the file."""

import dataclasses
import hashlib
import importlib
import json
import os
import sys
from typing import Any, NamedTuple

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
from minienc.numpy import optim as np_optim
from minienc.train import TrainConfig
from minienc.train.optim import adamw


def assert_bit_exact(a, b, what=""):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (what, a.dtype, b.dtype, a.shape, b.shape)
    assert a.tobytes() == b.tobytes(), what


def assert_trees_bit_exact(a, b):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        assert_bit_exact(x, y)


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
    ck = checkpoint.load(path, expected=params)
    assert list(ck.params) == list(params)  # the saved order
    for k in params:
        assert_bit_exact(ck.params[k], np.asarray(params[k]), k)
    assert ck.config == config and ck.step == 1234 and ck.opt_state is None
    assert isinstance(ck.params["embedding.weight"], np.ndarray)
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]  # no temporary file left behind


@dataclasses.dataclass
class Config:
    d_model: int = 8
    heads: tuple = (2, 4)


def test_dataclass_config_comes_back_a_plain_dict(tmp_path):
    checkpoint.save(tmp_path / "c", {"w": np.ones(1)}, config=Config())
    assert checkpoint.load(tmp_path / "c").config == {"d_model": 8, "heads": [2, 4]}


@pytest.mark.parametrize("make", ["minienc", "optax"])
def test_optax_state_round_trips_and_training_resumes_identically(tmp_path, make):
    params = {
        "linear1.weight": jnp.asarray(
            np.random.default_rng(1).standard_normal((3, 4)), jnp.float32
        ),
        "linear1.bias": jnp.ones(3, jnp.float32),
    }
    if make == "minienc":  # the JAX classifier's: Adam's direction + decay on the weights
        opt = adamw(TrainConfig())
    else:
        opt = optax.adamw(1e-2)
    state = opt.init(params)
    grads = jax.tree_util.tree_map(lambda p: 0.5 * p + 0.1, params)
    for _ in range(3):
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)

    path = checkpoint.save(tmp_path / "c.safetensors", params, opt_state=state, step=3)
    ck = checkpoint.load(path, expected=params, opt_state_like=opt.init(params))
    assert_trees_bit_exact(ck.opt_state, state)
    assert type(ck.opt_state) is type(state) and ck.step == 3
    names = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(state)[0]]
    with safetensors.safe_open(path, "np") as f:  # named by keystr, after "opt_state"
        assert sorted(f.keys()) == sorted(list(params) + [f"opt_state{n}" for n in names])

    resumed, _ = opt.update(grads, ck.opt_state, {k: jnp.asarray(v) for k, v in ck.params.items()})
    expected, _ = opt.update(grads, state, params)
    for k in params:
        assert_bit_exact(resumed[k], expected[k], k)


def numpy_training(opt, steps=3):
    rng = np.random.default_rng(2)
    params = {"weight": rng.standard_normal((3, 4)), "bias": rng.standard_normal(3)}
    grads = {k: 0.5 * v + 0.1 for k, v in params.items()}
    state = opt.init(params)
    for _ in range(steps):
        params, state = opt.step(params, grads, state)
    return params, grads, state


@pytest.mark.parametrize(
    "opt", [np_optim.AdamW(lr=1e-2), np_optim.SGD(lr=0.1, momentum=0.9)], ids=["adamw", "sgd"]
)
@pytest.mark.parametrize("steps", [0, 3])
def test_numpy_optimizer_state_round_trips(tmp_path, opt, steps):
    params, grads, state = numpy_training(opt, steps)
    checkpoint.save(tmp_path / "c", params, opt_state=state, step=state["step"])
    ck = checkpoint.load(tmp_path / "c", opt_state_like=opt.init(params))
    assert ck.opt_state["step"] == steps and type(ck.opt_state["step"]) is int
    assert_trees_bit_exact(ck.opt_state, state)  # SGD's None buffers filled after a step
    resumed, _ = opt.step(ck.params, grads, ck.opt_state)
    expected, _ = opt.step(params, grads, state)
    for k in params:
        assert_bit_exact(resumed[k], expected[k], k)


class State(NamedTuple):
    count: Any
    moments: Any


def test_nested_tree_with_numbers_and_none_round_trips(tmp_path):
    tree = State(
        count=np.int32(7),
        moments={"m": [np.ones(2), (np.zeros((1, 2), np.float32), None)], "lr": 3e-4, "on": True},
    )
    checkpoint.save(tmp_path / "c", {"w": np.ones(1)}, opt_state=tree)
    like = State(  # its values do not matter, only the structure and each leaf's type
        count=np.int32(0),
        moments={"m": [np.zeros(2), (np.zeros((1, 2), np.float32), None)], "lr": 0.0, "on": False},
    )
    back = checkpoint.load(tmp_path / "c", opt_state_like=like).opt_state
    assert isinstance(back, State) and back.moments["m"][1][1] is None
    assert back.count == 7 and back.count.dtype == np.int32 and isinstance(back.count, np.generic)
    assert back.moments["lr"] == 3e-4 and back.moments["on"] is True
    assert isinstance(back.moments["m"], list) and isinstance(back.moments["m"][1], tuple)
    assert_bit_exact(back.moments["m"][1][0], tree.moments["m"][1][0])


def test_without_a_template_the_optimizer_state_is_a_flat_dict_of_named_arrays(tmp_path):
    _, _, state = numpy_training(np_optim.AdamW(), steps=2)
    checkpoint.save(tmp_path / "c", {"w": np.ones(1)}, opt_state=state)
    flat = checkpoint.load(tmp_path / "c").opt_state
    assert sorted(flat) == sorted(
        ["opt_state['step']"] + [f"opt_state[{m!r}][{k!r}]" for m in "mv" for k in state["m"]]
    )
    assert_bit_exact(flat["opt_state['v']['bias']"], state["v"]["bias"])
    assert_bit_exact(flat["opt_state['step']"], np.int64(2))


def test_template_that_does_not_match_names_each_tensor(tmp_path):
    params, _, state = numpy_training(np_optim.AdamW(), steps=1)
    checkpoint.save(tmp_path / "c", params, opt_state=state)
    like = {
        "step": 0,
        "m": {"weight": np.zeros((4, 3)), "bias": np.zeros(3, np.float32)},
        "v": {"weight": np.zeros((3, 4)), "extra": np.zeros(1)},
    }
    with pytest.raises(ValueError) as err:
        checkpoint.load(tmp_path / "c", opt_state_like=like)
    msg = str(err.value)
    assert str(tmp_path / "c") in msg and "does not match opt_state_like" in msg
    assert "opt_state['m']['weight']: saved float64 (3, 4), expected float64 (4, 3)" in msg
    assert "opt_state['m']['bias']: saved float64 (3,), expected float32 (3,)" in msg
    assert "opt_state['v']['extra'] is missing" in msg
    assert "opt_state['v']['bias'] is not in opt_state_like" in msg
    checkpoint.save(tmp_path / "p", params)
    with pytest.raises(ValueError, match="holds no optimizer state, but opt_state_like"):
        checkpoint.load(tmp_path / "p", opt_state_like=like)


def test_expected_template_names_missing_unexpected_and_mismatched_keys(tmp_path):
    params = {"a": np.ones((2, 3)), "b": np.ones(4), "c": np.ones(1), "e": np.ones(2)}
    checkpoint.save(tmp_path / "c", params)
    template = {"a": jnp.zeros((3, 2)), "b": np.zeros(4), "d": torch.zeros(5), "e": torch.ones(2)}
    with pytest.raises(ValueError) as err:
        checkpoint.load(tmp_path / "c", expected=template)
    msg = str(err.value)
    assert str(tmp_path / "c") in msg
    assert "missing keys ['d']" in msg and "unexpected keys ['c']" in msg
    assert "'a': saved shape (2, 3), expected (3, 2)" in msg
    assert "'e': saved dtype float64, expected torch.float32" in msg
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
    elif how == "edited step in the metadata":
        data = data.replace(b'\\"step\\": 3', b'\\"step\\": 4')
    elif how == "garbage":
        data = bytearray(b"not a checkpoint at all")
    elif how == "empty":
        data = bytearray()
    assert bytes(data) != path.read_bytes()
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "how",
    [
        "truncated",
        "flipped data byte",
        "flipped header byte",
        "edited step in the metadata",
        "garbage",
        "empty",
    ],
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


def test_next_save_removes_temporary_files_of_a_killed_save(tmp_path):
    stale = tmp_path / f".old.safetensors.0123abcd{checkpoint._TMP_SUFFIX}"
    stale.write_bytes(b"\x00" * 100)  # what a save killed before its rename leaves
    (tmp_path / "notes.txt").write_text("not ours")
    checkpoint.save(tmp_path / "new.safetensors", {"w": np.ones(1)})
    assert sorted(os.listdir(tmp_path)) == ["new.safetensors", "notes.txt"]


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


W = {"w": np.ones(1)}


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"params": [np.ones(2)]}, TypeError, "params must be a dict"),
        ({"params": {"w": "abc"}}, TypeError, r"params\['w'\] must be an array"),
        ({"params": {"w": np.ones(2, np.complex128)}}, TypeError, r"params\['w'\] has dtype"),
        ({"params": {"w": jnp.ones(2, jnp.bfloat16)}}, TypeError, "dtype bfloat16"),
        ({"params": {"__metadata__": np.ones(1)}}, ValueError, "'__metadata__' is reserved"),
        ({"params": {"opt_state['m']": np.ones(1)}}, ValueError, "is reserved"),
        ({"params": W, "config": {"f": print}}, TypeError, "plain JSON values"),
        ({"params": W, "config": {"x": float("nan")}}, TypeError, "plain JSON values"),
        ({"params": W, "config": [1, 2]}, TypeError, "config must be a dict"),
        ({"params": W, "step": 1.5}, TypeError, "step must be an int"),
        ({"params": W, "opt_state": {"m": {1: np.ones(1)}}}, TypeError, "non-string"),
        ({"params": W, "opt_state": [object()]}, TypeError, r"opt_state\[0\] must be an array"),
        ({"params": W, "opt_state": {"s": "adam"}}, TypeError, r"opt_state\['s'\] must be"),
    ],
)
def test_bad_save_arguments(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        checkpoint.save(tmp_path / "c", **kwargs)
    assert os.listdir(tmp_path) == []


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"the folder {tmp_path / 'nope'} does not exist"):
        checkpoint.save(tmp_path / "nope" / "c.safetensors", W)


def test_header_is_small_json(tmp_path):
    checkpoint.save(tmp_path / "c", {"w": np.ones(3)}, config={"a": [1, 2]}, step=5)
    with safetensors.safe_open(tmp_path / "c", "np") as f:
        meta = json.loads(f.metadata()["minienc"])
    assert meta == {
        "format": 2,
        "params": ["w"],
        "opt_state": None,
        "config": {"a": [1, 2]},
        "step": 5,
    }


# A module with a side effect on import: if loading a checkpoint ever imports what the file
# names, the mark file appears.
PLANTED = """
import os
from pathlib import Path
from typing import NamedTuple

Path(os.environ["MINIENC_PLANTED_MARK"]).write_text("imported")


class SomeState(NamedTuple):
    mu: object
"""


@pytest.fixture
def planted(tmp_path, monkeypatch):
    name = "minienc_planted_side_effect"
    (tmp_path / f"{name}.py").write_text(PLANTED)
    mark = tmp_path / "imported.txt"
    monkeypatch.setenv("MINIENC_PLANTED_MARK", str(mark))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, mark
    sys.modules.pop(name, None)


def plant_old_format(path, module):
    """The file the previous checkpoint format wrote, whose loader imported `module`."""
    tensors = {"w": np.ones(2, np.float32), "opt.mu": np.zeros(2, np.float32)}
    h = hashlib.sha256()
    for key in sorted(tensors):
        h.update(f"{key}|{tensors[key].dtype.str}|{tensors[key].shape}|".encode())
        h.update(tensors[key].tobytes())
    desc = {"namedtuple": f"{module}:SomeState", "fields": {"mu": {"array": "opt.mu"}}}
    header = {"format": 1, "params": ["w"], "opt_state": desc, "config": None, "step": None}
    header["sha256"] = h.hexdigest()
    safetensors.numpy.save_file(tensors, path, metadata={"minienc": json.dumps(header)})


def plant_current_format(path, module):
    """A valid checkpoint whose metadata and tensor names mention `module` wherever they can."""
    tensors = {
        "w": np.ones(2, np.float32),
        "opt_state.mu": np.zeros(2, np.float32),
        f"opt_state.{module}.SomeState": np.zeros(1, np.float32),
    }
    doc = {
        "format": 2,
        "params": ["w"],
        "opt_state": ["opt_state.mu", f"opt_state.{module}.SomeState"],
        "config": {"class": f"{module}.SomeState", "import": f"__import__({module!r})"},
        "step": 1,
        "namedtuple": f"{module}:SomeState",
    }
    metadata = {"minienc": json.dumps(doc), "opt_state_type": f"{module}.SomeState"}
    metadata["minienc.sha256"] = checkpoint._checksum(metadata, tensors)
    safetensors.numpy.save_file(tensors, path, metadata=metadata)


class Mu(NamedTuple):
    mu: Any


class Named(NamedTuple):
    SomeState: Any  # noqa: N815 - the planted tensor's name


class MuAndNamed(NamedTuple):
    mu: Any
    minienc_planted_side_effect: Named


def test_loading_never_imports_what_the_file_names(tmp_path, planted):
    module, mark = planted
    old, new = tmp_path / "old.safetensors", tmp_path / "new.safetensors"
    plant_old_format(old, module)
    plant_current_format(new, module)

    for like in (None, Mu(np.ones(2, np.float32))):
        with pytest.raises(ValueError, match="checkpoint format 1"):
            checkpoint.load(old, opt_state_like=like)
    with pytest.raises(
        ValueError, match=r"opt_state\.minienc_planted_side_effect\.SomeState is not"
    ):
        checkpoint.load(new, opt_state_like=Mu(np.ones(2, np.float32)))
    flat = checkpoint.load(new).opt_state  # no template: named arrays, nothing else
    assert sorted(flat) == ["opt_state.minienc_planted_side_effect.SomeState", "opt_state.mu"]
    like = MuAndNamed(np.ones(2, np.float32), Named(np.ones(1, np.float32)))
    ck = checkpoint.load(new, opt_state_like=like)  # into the caller's class, not the file's
    assert type(ck.opt_state) is MuAndNamed and ck.config["class"].endswith("SomeState")
    assert_bit_exact(ck.opt_state.mu, np.zeros(2, np.float32))

    assert module not in sys.modules and not mark.exists()
    importlib.import_module(module)  # the side effect is real: this test would see an import
    assert mark.exists()
