"""Bridges between torch reference modules and the JAX layers, for the tests in this folder."""

from functools import partial

import jax.numpy as jnp
import numpy as np
import torch

TOL64 = 1e-9  # max abs difference, float64 (DESIGN §3)
TOL32 = 1e-5  # relative to the output's scale, float32


def randomize(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Give every parameter random non-zero values (zero biases hide bugs), in place."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g, dtype=p.dtype) + 0.1)
    return module


def jax_params(module: torch.nn.Module) -> dict:
    """The module's state_dict as JAX arrays: the whole bridge."""
    return {k: jnp.asarray(v.detach().numpy()) for k, v in module.state_dict().items()}


def torch_grads(module: torch.nn.Module) -> dict:
    return {k: p.grad.numpy() for k, p in module.named_parameters()}


def max_abs(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def assert_close(ours, ref, dtype=np.float64, what=""):
    """float64: max abs ≤ 1e-9; float32: ≤ 1e-5 relative to the reference's scale."""
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.dtype == dtype, f"{what}: dtype {ours.dtype}, expected {dtype}"
    err = max_abs(ours, ref)
    if dtype == np.float64:
        assert err <= TOL64, f"{what}: max abs error {err:.3g} > {TOL64}"
    else:
        scale = max(float(np.max(np.abs(ref))), 1.0) if ref.size else 1.0
        assert err <= TOL32 * scale, f"{what}: error {err:.3g} > {TOL32} x scale {scale:.3g}"


def assert_grads_close(ours: dict, ref: dict, dtype=np.float64):
    assert set(ours) == set(ref), (sorted(ours), sorted(ref))
    for k in ref:
        assert_close(ours[k], ref[k], dtype, what=f"grad of {k}")


def compare_with_torch(
    jax_fn, torch_fn, params, args, module=None, dtype=np.float64, masks=None, seed=0
) -> float:
    """Check that `jax_fn(params, *args)` equals `torch_fn(*args)`, outputs and every gradient.

    `args` are NumPy arrays (or other values passed through); the floating ones are
    differentiated, along with `params` (whose torch twins live in `module`). The outputs may be
    nested tuples; the loss is Σ_leaf Σ (leaf ⊙ dy_leaf) for a random dy. `masks` (one per output
    leaf, bool, broadcastable, or None) selects the positions compared; dy is zero elsewhere.
    Returns the worst difference seen (max abs).
    """
    import jax

    rng = np.random.default_rng(seed)
    is_float = [isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in args]
    t_args = [
        torch.tensor(a, requires_grad=f) if isinstance(a, np.ndarray) else a
        for a, f in zip(args, is_float)
    ]
    t_leaves = jax.tree_util.tree_leaves(torch_fn(*t_args))
    masks = masks or [None] * len(t_leaves)
    dys = []
    for leaf, m in zip(t_leaves, masks):
        dy = rng.standard_normal(tuple(leaf.shape)).astype(dtype)
        dys.append(dy if m is None else dy * np.broadcast_to(m, dy.shape))
    sum(torch.sum(leaf * torch.tensor(dy)) for leaf, dy in zip(t_leaves, dys)).backward()

    j_args = [jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
    f_idx = [i for i, f in enumerate(is_float) if f]

    # One compile per case, far cheaper than running the ops eagerly; XLA's backend optimisation
    # is switched off for this compile only (it halves the compile time of these tiny shapes).
    @partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})
    def outputs_and_grads(p, float_args):
        def loss(p, float_args):
            full = list(j_args)
            for i, a in zip(f_idx, float_args):
                full[i] = a
            leaves = jax.tree_util.tree_leaves(jax_fn(p, *full))
            return sum(jnp.sum(leaf * dy) for leaf, dy in zip(leaves, dys)), leaves

        return jax.grad(loss, argnums=(0, 1), has_aux=True)(p, float_args)

    (g_params, g_args), j_leaves = outputs_and_grads(params, [j_args[i] for i in f_idx])
    assert len(j_leaves) == len(t_leaves)
    worst = 0.0
    for n, (ours, ref, m) in enumerate(zip(j_leaves, t_leaves, masks)):
        ours, ref = np.asarray(ours), ref.detach().numpy()
        assert np.all(np.isfinite(ours)), f"output {n} is not finite"
        if m is not None:
            ours, ref = ours[np.broadcast_to(m, ours.shape)], ref[np.broadcast_to(m, ref.shape)]
        assert_close(ours, ref, dtype, what=f"output {n}")
        worst = max(worst, max_abs(ours, ref))
    if module is not None:
        ref_grads = torch_grads(module)
        assert_grads_close(g_params, ref_grads, dtype)
        worst = max([worst] + [max_abs(g_params[k], ref_grads[k]) for k in ref_grads])
    for i, g in zip(f_idx, g_args):
        assert_close(g, t_args[i].grad.numpy(), dtype, what=f"grad of argument {i}")
        worst = max(worst, max_abs(g, t_args[i].grad.numpy()))
    return worst
