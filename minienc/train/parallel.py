"""Data parallelism with `jax.sharding`: one training step, the batch split over every device.

Each of N devices holds a full copy of the parameters and optimizer state and 1/N of the batch.
The mean loss over the batch is the mean of the devices' partial means, so its gradient is too:

    ∇ (1/B) Σ_b ℓ_b = (1/N) Σ_n ∇ (N/B) Σ_{b ∈ shard n} ℓ_b

Every device computes the gradient of its shard, an all-reduce averages them, and each device
applies the same optimizer update to its copy, which therefore stays identical everywhere.

Nothing of this is written by hand. A `Mesh` names the devices' axis "data"; a `NamedSharding`
says how an array lies on it: `P("data")` splits axis 0 (the batch) over the devices, `P()`
replicates. `jax.jit` with these shardings on the inputs and outputs compiles the step for the whole
mesh, and XLA inserts the all-reduce where the replicated gradient needs the sharded batch. The
same code runs on one device, on a machine with several GPUs, and on 8 simulated CPU devices
(`XLA_FLAGS=--xla_force_host_platform_device_count=8`, set before JAX is imported).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from minienc.jax.classifier import _step_fn
from minienc.train.config import ClassifierConfig, TrainConfig

__all__ = ["data_mesh", "replicate", "shard_batch", "make_parallel_train_step"]

AXIS = "data"


def data_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A one-axis mesh named "data" over `devices` (all of `jax.devices()` by default)."""
    devices = jax.devices() if devices is None else list(devices)
    if not devices:
        raise ValueError("data_mesh needs at least one device")
    return Mesh(np.array(devices), (AXIS,))


def _batch_size(batch: Any) -> int:
    sizes = {np.shape(x)[0] if np.ndim(x) else None for x in jax.tree.leaves(batch)}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(
            f"every array of the batch needs the same leading (batch) axis, got {sizes}"
        )
    return sizes.pop()


def shard_batch(batch: Any, mesh: Mesh) -> Any:
    """Put every array of `batch` on the mesh, split along axis 0 (B must divide by the devices)."""
    B, n = _batch_size(batch), mesh.shape[AXIS]
    if B % n:
        raise ValueError(
            f"the batch size B = {B} must be divisible by the {n} devices of the mesh's "
            f"'{AXIS}' axis (each device gets B / {n} rows); use a batch size that is a multiple "
            f"of {n}"
        )
    return jax.device_put(batch, NamedSharding(mesh, P(AXIS)))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Put a full copy of every array of `tree` (params, optimizer state, a key) on each device."""
    return jax.device_put(tree, NamedSharding(mesh, P()))


def make_parallel_train_step(
    config: ClassifierConfig, settings: TrainConfig, mesh: Mesh
) -> Callable:
    """`train_step(params, opt_state, batch, lr, rng) -> (params, opt_state, loss, logits)` over
    `mesh`: the step of `minienc.jax.classifier.train_step`, compiled with the batch split along
    the "data" axis and params, optimizer state, key and outputs replicated (the logits come
    back split like the batch). Inputs are moved to those shardings first (a no-op when they are
    already there). Raises ValueError when the batch size is not a multiple of the devices.
    """
    replicated, split = NamedSharding(mesh, P()), NamedSharding(mesh, P(AXIS))
    step = jax.jit(
        partial(_step_fn, config=config, settings=settings),
        in_shardings=(replicated, replicated, split, replicated, replicated),
        out_shardings=(replicated, replicated, replicated, split),
    )

    def parallel_train_step(params, opt_state, batch, lr, rng):
        batch = shard_batch(batch, mesh)
        params, opt_state, rng = replicate((params, opt_state, rng), mesh)
        return step(params, opt_state, batch, lr, rng)

    return parallel_train_step
