"""Test-session setup that must happen before anything under test is imported.

- `MINIENC_FAST=1`: lessons and training loops use tiny data and few steps.
- `TRITON_INTERPRET=1` when no NVIDIA GPU is present: Triton reads it when `@triton.jit` is
  applied, so it must be set before `kernels` is imported (DESIGN §6).
- Tests marked `gpu` are skipped on machines without one.
"""

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("MINIENC_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

HAS_GPU = shutil.which("nvidia-smi") is not None and Path("/dev/nvidia0").exists()
if not HAS_GPU:
    os.environ.setdefault("TRITON_INTERPRET", "1")

REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config, items):
    if HAS_GPU:
        return
    skip_gpu = pytest.mark.skip(reason="needs an NVIDIA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="module")
def jax_x64():
    """JAX in float64 for one test module, restored after it (JAX's default is float32)."""
    import jax

    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)
