"""Data-parallel training over 8 devices equals training on one.

XLA reads `--xla_force_host_platform_device_count` once, when JAX starts, and the pytest process
has JAX imported already. So the comparison runs in a fresh Python process: this file run as a
script (`python tests/test_parallel.py` with XLA_FLAGS set) trains a small Transformer classifier
one step and five steps on a mesh of 8 CPU devices and on one device, and prints what it measured
as JSON; the tests below check it. It runs in float64, so that Adam's division by √v̂ does not
amplify the rounding noise of a gradient that is zero in exact arithmetic (the key bias).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DEVICES = 8


def worker() -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    from minienc.jax import classifier
    from minienc.train import ClassifierConfig, TrainConfig
    from minienc.train.parallel import data_mesh, make_parallel_train_step, shard_batch

    out = {"devices": len(jax.devices())}
    config = ClassifierConfig(
        "transformer", 30, 3, embed_dim=16, num_heads=2, ffn_dim=24, pool="mean", dropout=0.1
    )
    settings = TrainConfig(lr=1e-2)
    params = classifier.init(config, 0, dtype=jnp.float64)
    rng = np.random.default_rng(0)

    def batch(B=16, T=9):
        lengths = rng.integers(1, T + 1, B)
        ids = rng.integers(1, 30, (B, T)) * (np.arange(T)[None, :] < lengths[:, None])
        labels = rng.integers(0, 3, B)
        return {"ids": ids.astype(np.int32), "lengths": lengths.astype(np.int32),
                "labels": labels.astype(np.int32)}  # fmt: skip

    batches = [batch() for _ in range(5)]
    mesh8 = data_mesh()
    mesh8_step = make_parallel_train_step(config, settings, mesh8)
    steps = {
        "single": lambda *args: classifier.train_step(*args[:3], config, settings, *args[3:]),
        "mesh8": lambda *args: mesh8_step(*args[:3], *args[3:]),
    }
    runs = {}
    for name, step in steps.items():
        p, s, trace = params, classifier.init_optimizer(params, settings), []
        for i, b in enumerate(batches):
            key = jax.random.fold_in(jax.random.key(1), i)
            p, s, loss, _ = step(p, s, b, 1e-2, key)
            trace.append((p, s, loss))
        runs[name] = trace

    def max_diff(a, b):
        return max(float(np.abs(np.asarray(x) - np.asarray(y)).max()) for x, y in
                   zip(jax.tree.leaves(a), jax.tree.leaves(b)))  # fmt: skip

    out["one_step"] = max_diff(runs["mesh8"][0], runs["single"][0])
    out["five_steps"] = max_diff(runs["mesh8"][4], runs["single"][4])
    out["params_moved"] = max_diff(runs["single"][4][0], params)
    p8 = runs["mesh8"][4][0]["head.weight"]
    out["params_replicated"] = p8.sharding.is_fully_replicated and len(p8.devices()) == DEVICES
    sharded = shard_batch(batches[0], mesh8)["ids"]
    out["rows_per_device"] = sorted({s.data.shape[0] for s in sharded.addressable_shards})
    try:
        state = classifier.init_optimizer(params, settings)
        steps["mesh8"](params, state, batch(B=12), 1e-2, jax.random.key(0))
    except ValueError as e:
        out["error"] = str(e)
    return out


@pytest.fixture(scope="module")
def measured():
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={DEVICES}")
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run(
        [sys.executable, str(Path(__file__))], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_parallel_worker_sees_eight_devices(measured):
    assert measured["devices"] == DEVICES


@pytest.mark.parametrize("steps", ["one_step", "five_steps"])
def test_parallel_step_equals_single_device_step(measured, steps):
    """Params, optimizer state and metrics after 1 and 5 steps (with dropout) on 8 devices."""
    assert measured[steps] <= 1e-6, measured
    assert measured["params_moved"] > 1e-3  # the comparison is between trained parameters


def test_parallel_step_splits_the_batch_and_replicates_params(measured):
    assert measured["rows_per_device"] == [16 // DEVICES]
    assert measured["params_replicated"] is True


def test_parallel_step_rejects_an_indivisible_batch(measured):
    assert "batch size B = 12 must be divisible by the 8 devices" in measured["error"]


if __name__ == "__main__":
    print(json.dumps(worker()))
