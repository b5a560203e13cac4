"""One golden attention case, checked by all three builds: NumPy, JAX and the Triton kernel.

The file holds q (2, 3, 5, 16), k and v (2, 3, 7, 16) and a key-padding mask in which batch
element 1 has every key padded, with torch's float64 output and gradients. NumPy and JAX run in
float64 (≤ 1e-9); the Triton kernel runs in float32, under the interpreter on a CPU (≤ 1e-5).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from minienc import golden
from minienc.jax import attention as jax_attention
from minienc.numpy import attention as np_attention

REF = golden.load("attention")
MASK = REF["kwarg.key_padding_mask"]
GRADS = ("dx.q", "dx.k", "dx.v")


def run_numpy():
    y, cache = np_attention.scaled_dot_product_attention(
        REF["q"], REF["k"], REF["v"], key_padding_mask=MASK
    )
    (dq, dk, dv), _ = np_attention.backward(REF["dy"], cache)
    return y, (dq, dk, dv)


def run_jax():
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:

        def f(q, k, v):
            return jax_attention.scaled_dot_product_attention(
                q, k, v, key_padding_mask=jnp.asarray(MASK)
            )

        y, vjp = jax.vjp(f, *(jnp.asarray(REF[n], dtype=jnp.float64) for n in "qkv"))
        grads = vjp(jnp.asarray(REF["dy"], dtype=jnp.float64))
        return np.asarray(y), tuple(np.asarray(g) for g in grads)
    finally:
        jax.config.update("jax_enable_x64", before)


def run_triton():
    import kernels

    q, k, v = (torch.tensor(REF[n], dtype=torch.float32, requires_grad=True) for n in "qkv")
    y = kernels.flash_attention(q, k, v, key_padding_mask=torch.from_numpy(MASK))
    y.backward(torch.tensor(REF["dy"], dtype=torch.float32))
    return y.detach().numpy(), (q.grad.numpy(), k.grad.numpy(), v.grad.numpy())


BACKENDS = {"numpy": (run_numpy, 1e-9), "jax": (run_jax, 1e-9), "triton": (run_triton, 1e-5)}


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_attention_backend_equals_the_golden_file(backend):
    run, tol = BACKENDS[backend]
    y, grads = run()
    assert np.all(np.isfinite(y)) and all(np.all(np.isfinite(g)) for g in grads)
    np.testing.assert_allclose(y, REF["y"], rtol=0, atol=tol, err_msg=f"{backend}: y")
    for name, got in zip(GRADS, grads):
        np.testing.assert_allclose(got, REF[name], rtol=0, atol=tol, err_msg=f"{backend}: {name}")
    assert np.all(y[1] == 0) and all(np.all(g[1] == 0) for g in grads[:1])  # fully padded element


def test_golden_case_is_not_trivial():
    assert MASK[0].any() and not MASK[0].all() and MASK[1].all()
    assert np.abs(REF["y"][0]).max() > 0.1 and np.abs(REF["dx.k"][0]).max() > 0.1
    assert np.all(REF["dx.k"][0, :, 5:] == 0)  # padded keys get no gradient
