"""word2vec: skip-gram with negative sampling (SGNS), the JAX twin of `minienc.numpy.word2vec`.

The loss, per pair (center c, context o, noise words k), averaged over the batch:

    ℓ = −log σ(u_o·v_c) − Σ_k log σ(−u_k·v_c),   log σ(x) = −logaddexp(0, −x),

and `jax.grad` of its gathers is the scatter-add that the NumPy backward writes by hand. Data
preparation (subsampling, pairs, noise sampling) is host-side work on token ids with a NumPy
generator `rng`, the same code as in NumPy, so both backends see the same pairs for the same
seed; `train` jits the SGD step.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jaxtyping import Float, Int

from minienc._checks import as_int, check_ndim, check_same_shape, known_values
from minienc._params import check_params
from minienc.numpy import word2vec as _np

__all__ = [
    "init",
    "subsample",
    "noise_table",
    "sample_negatives",
    "pairs",
    "forward",
    "train",
]


def init(vocab_size: int, dim: int, seed: int = 0) -> dict[str, Array]:
    """word2vec's initialisation: `in.weight` uniform in ±0.5/D, `out.weight` zeros, (V, D)."""
    return {k: jnp.asarray(v) for k, v in _np.init(vocab_size, dim, seed).items()}


def subsample(
    ids: Int[np.ndarray, " N"],
    counts: Float[np.ndarray, " V"],
    t: float = 1e-5,
    rng: np.random.Generator | int | None = None,
) -> Int[np.ndarray, " M"]:
    """Keep each token of `ids` with probability min(1, √(t / f)), f = counts[id] / Σ counts."""
    return _np.subsample(np.asarray(ids), np.asarray(counts), t, rng)


def noise_table(counts: Float[np.ndarray, " V"], power: float = 0.75) -> Float[np.ndarray, " V"]:
    """The noise distribution counts^power / Σ counts^power, of shape (V,)."""
    return _np.noise_table(np.asarray(counts), power)


def sample_negatives(
    noise: Float[np.ndarray, " V"],
    shape: tuple[int, ...],
    rng: np.random.Generator | int | None = None,
) -> Int[np.ndarray, "..."]:
    """Draw ids of the given shape from the distribution `noise` (by inverting its CDF)."""
    return _np.sample_negatives(np.asarray(noise), shape, rng)


def pairs(
    ids: Int[np.ndarray, " N"], window: int = 5, rng: np.random.Generator | int | None = None
) -> tuple[Int[np.ndarray, " P"], Int[np.ndarray, " P"]]:
    """(center, context) ids of all pairs at distance ≤ b_i, b_i drawn from 1..window per center."""
    return _np.pairs(np.asarray(ids), window, rng)


def _check_ids(name: str, ids: object, V: int, ndim: int) -> Array:
    ids = as_int(name, ids)
    check_ndim(name, ids, ndim)
    values = known_values(ids)
    if values is not None and values.size and (values.min() < 0 or values.max() >= V):
        raise ValueError(
            f"{name} must lie in [0, {V}) (the vocabulary size), got values from "
            f"{values.min()} to {values.max()}"
        )
    return ids


def forward(
    params: Mapping[str, Array],
    center: Int[Array, " B"],
    context: Int[Array, " B"],
    negatives: Int[Array, "B K"],
) -> Float[Array, ""]:
    """Mean SGNS loss over B pairs; params `in.weight`, `out.weight` of shape (V, D), center and
    context of shape (B,), negatives of shape (B, K)."""
    p = check_params(params, {"in.weight": (None, None), "out.weight": (None, None)}, "word2vec")
    w_in, w_out = jnp.asarray(p["in.weight"]), jnp.asarray(p["out.weight"])
    check_same_shape("params['out.weight']", w_out, "params['in.weight']", w_in)
    V = w_in.shape[0]
    center = _check_ids("center", center, V, 1)
    context = _check_ids("context", context, V, 1)
    negatives = _check_ids("negatives", negatives, V, 2)
    check_same_shape("context", context, "center", center)
    if negatives.shape[0] != center.shape[0]:
        raise ValueError(
            f"negatives has shape {negatives.shape} but center has shape {center.shape}: "
            "negatives must be (B, K) for B centers"
        )
    v = jnp.take(w_in, center, axis=0)  # (B, D)
    u_o = jnp.take(w_out, context, axis=0)  # (B, D)
    u_k = jnp.take(w_out, negatives, axis=0)  # (B, K, D)
    s_o = jnp.sum(u_o * v, axis=-1)  # (B,)
    s_k = jnp.einsum("bkd,bd->bk", u_k, v)  # (B, K)
    loss = -jax.nn.log_sigmoid(s_o) - jax.nn.log_sigmoid(-s_k).sum(axis=-1)  # (B,)
    return loss.mean()


@jax.jit
def _sgd_step(
    params: dict[str, Array], center: Array, context: Array, negatives: Array, lr: Array
) -> tuple[dict[str, Array], Array]:
    loss, grads = jax.value_and_grad(forward)(params, center, context, negatives)
    step = lr * center.shape[0]  # lr times the gradient of the summed loss
    return jax.tree.map(lambda p, g: p - step * g, params, grads), loss


def train(
    ids: Int[np.ndarray, " N"],
    counts: Float[np.ndarray, " V"],
    dim: int = 100,
    window: int = 5,
    negatives: int = 5,
    epochs: int = 1,
    batch_size: int = 1024,
    lr: float = 0.025,
    t: float = 1e-4,
    seed: int = 0,
    progress: bool = True,
) -> tuple[dict[str, Array], np.ndarray]:
    """Train SGNS vectors, as `minienc.numpy.word2vec.train` (same pairs and noise for the same
    seed) with a jitted step. Returns params of shape (V, D) and the loss of every step."""
    counts = np.asarray(counts)
    ids = _np._check_ids("ids", np.asarray(ids), counts.size, 1)
    params = init(counts.size, dim, seed)
    losses: list[Array] = []
    for center, context, neg, done in _np._sgd_batches(
        ids, counts, window, negatives, epochs, batch_size, t, seed, progress
    ):
        lr_now = jnp.float32(lr * max(1.0 - done, 1e-4))
        params, loss = _sgd_step(params, center, context, neg, lr_now)
        losses.append(loss)
    return params, np.asarray(jax.device_get(losses), dtype=np.float64)
