"""The same layers as `minienc.numpy`, in JAX: pure functions, gradients from `jax.grad`.

Every module here has the same name, function names and keyword names as its NumPy twin, so the
two read side by side. The differences:

- `y = forward(params, x, ...)` returns the output only: there is no cache and no backward, since
  `jax.grad` differentiates the forward. The recurrent layers return `(out, h_n)` and
  `(out, (h_n, c_n))` as torch does.
- randomness, the argument `rng` in both, is a JAX PRNG key (`rng=jax.random.key(0)`) instead
  of a NumPy seed or Generator.
  The exception is word2vec's data preparation (`subsample`, `pairs`, `sample_negatives`): it
  runs on the host, on token ids, and takes the same NumPy `rng` in both backends.
- everything is a pure function of arrays, so it can be `jax.jit`-ed (pass `num_heads`, `mode`,
  `kind` and the other Python flags as static arguments) and `jax.vmap`-ed.

Parameters are dicts keyed by torch's `state_dict()` names, so
`{k: jnp.asarray(v.numpy()) for k, v in module.state_dict().items()}` is the whole bridge.
Shapes, dtypes and keys are checked while tracing and raise the same clear errors as NumPy.
"""
