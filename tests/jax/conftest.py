"""JAX tests run in float64: x64 is switched on for each test module here and restored after it,
so that tests elsewhere in the same session keep JAX's float32 default."""

import jax
import pytest


@pytest.fixture(autouse=True, scope="module")
def _jax_x64():
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)
