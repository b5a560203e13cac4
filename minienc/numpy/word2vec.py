"""word2vec: skip-gram with negative sampling (SGNS), Mikolov et al. 2013.

Each word v has two vectors: `in.weight[v]` (v_v, used when v is the center word) and
`out.weight[v]` (u_v, used when v is a context word). For a pair (center c, context o) and K noise
words k_1..k_K drawn from the unigram distribution raised to 3/4, the loss is

    ℓ = −log σ(u_o·v_c) − Σ_k log σ(−u_k·v_c),

averaged over the B pairs of a batch. It pushes the true context's score up and the noise
words' scores down; log σ(x) = −log(1 + e^{−x}) is computed as −logaddexp(0, −x), which never
overflows.

Backward. With d/dx log σ(x) = 1 − σ(x) and s_o = u_o·v_c, s_k = u_k·v_c, per pair:

    ∂ℓ/∂s_o = σ(s_o) − 1,        ∂ℓ/∂s_k = σ(s_k),
    ∂ℓ/∂v_c = (σ(s_o) − 1) u_o + Σ_k σ(s_k) u_k,
    ∂ℓ/∂u_o = (σ(s_o) − 1) v_c,  ∂ℓ/∂u_k = σ(s_k) v_c,

each scaled by dloss / B for the mean. A word can appear several times in a batch (as center,
context or noise), so the rows are scatter-added into the (V, D) tables (`np.add.at`), as in
the embedding backward.

Data preparation: `subsample` drops frequent words (the, of, ...) with Mikolov's probability
1 − √(t / f(w)), f the word's share of the corpus; `pairs` takes every context within a window
whose size is drawn per center from 1..window (nearer words are paired more often);
`noise_table` is the unigram^0.75 distribution that `sample_negatives` draws from.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from jaxtyping import Float, Int
from tqdm.auto import tqdm

from minienc._checks import check_int, check_ndim, check_same_shape
from minienc._params import check_params

__all__ = [
    "init",
    "subsample",
    "noise_table",
    "sample_negatives",
    "pairs",
    "forward",
    "backward",
    "train",
]


def init(vocab_size: int, dim: int, seed: int = 0) -> dict[str, np.ndarray]:
    """word2vec's initialisation: `in.weight` uniform in ±0.5/D, `out.weight` zeros, (V, D)."""
    rng = np.random.default_rng(seed)
    w_in = (rng.random((vocab_size, dim)) - 0.5) / dim
    return {"in.weight": w_in.astype(np.float32), "out.weight": np.zeros_like(w_in, np.float32)}


def _check_counts(counts: object) -> np.ndarray:
    counts = np.asarray(counts)
    if counts.ndim != 1 or counts.size == 0 or not np.issubdtype(counts.dtype, np.number):
        raise ValueError(f"counts must be a non-empty 1-D array of numbers, got {counts.shape}")
    if counts.min() < 0 or counts.sum() <= 0:
        raise ValueError("counts must be non-negative with a positive sum")
    return counts.astype(np.float64)


def _check_ids(name: str, ids: object, V: int, ndim: int) -> np.ndarray:
    ids = check_int(name, ids)
    check_ndim(name, ids, ndim)
    if ids.size and (ids.min() < 0 or ids.max() >= V):
        raise ValueError(
            f"{name} must lie in [0, {V}) (the vocabulary size), got values from "
            f"{ids.min()} to {ids.max()}"
        )
    return ids


def subsample(
    ids: Int[np.ndarray, " N"],
    counts: Float[np.ndarray, " V"],
    t: float = 1e-5,
    rng: np.random.Generator | int | None = None,
) -> Int[np.ndarray, " M"]:
    """Keep each token of `ids` with probability min(1, √(t / f)), f = counts[id] / Σ counts."""
    counts = _check_counts(counts)
    ids = _check_ids("ids", ids, counts.size, 1)
    rng = np.random.default_rng(rng)
    freq = counts / counts.sum()  # (V,)
    keep = np.minimum(1.0, np.sqrt(t / np.maximum(freq, 1e-300)))  # (V,)
    return ids[rng.random(ids.size) < keep[ids]]


def noise_table(counts: Float[np.ndarray, " V"], power: float = 0.75) -> Float[np.ndarray, " V"]:
    """The noise distribution counts^power / Σ counts^power, of shape (V,)."""
    weights = _check_counts(counts) ** power
    return weights / weights.sum()


def sample_negatives(
    noise: Float[np.ndarray, " V"],
    shape: tuple[int, ...],
    rng: np.random.Generator | int | None = None,
) -> Int[np.ndarray, "..."]:
    """Draw ids of the given shape from the distribution `noise` (by inverting its CDF)."""
    cdf = np.cumsum(np.asarray(noise, dtype=np.float64))  # (V,)
    u = np.random.default_rng(rng).random(shape) * cdf[-1]
    return np.minimum(np.searchsorted(cdf, u, side="right"), cdf.size - 1)


def pairs(
    ids: Int[np.ndarray, " N"], window: int = 5, rng: np.random.Generator | int | None = None
) -> tuple[Int[np.ndarray, " P"], Int[np.ndarray, " P"]]:
    """(center, context) ids of all pairs at distance ≤ b_i, b_i drawn from 1..window per center."""
    ids = check_int("ids", ids)
    check_ndim("ids", ids, 1)
    if not isinstance(window, int | np.integer) or window < 1:
        raise ValueError(f"window must be a positive int, got {window!r}")
    reach = np.random.default_rng(rng).integers(1, window + 1, ids.size)  # (N,) b_i
    centers, contexts = [], []
    for d in range(1, window + 1):
        i = np.flatnonzero(reach[: ids.size - d] >= d)  # center i, context i + d
        j = np.flatnonzero(reach[d:] >= d) + d  # center j, context j - d
        centers += [ids[i], ids[j]]
        contexts += [ids[i + d], ids[j - d]]
    return np.concatenate(centers), np.concatenate(contexts)


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for large |x|


def forward(
    params: Mapping[str, np.ndarray],
    center: Int[np.ndarray, " B"],
    context: Int[np.ndarray, " B"],
    negatives: Int[np.ndarray, "B K"],
) -> tuple[float, tuple]:
    """Mean SGNS loss over B pairs.

    Args:
        params: `in.weight` and `out.weight`, both of shape (V, D).
        center: center word ids of shape (B,).
        context: context word ids of shape (B,).
        negatives: noise word ids of shape (B, K).

    Returns:
        The loss (a float) and the cache `(center, context, negatives, v, u_o, u_k, s_o, s_k,
        shapes)` with the gathered vectors and scores.
    """
    w_in, w_out = _check_params(params)
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
    v = w_in[center]  # (B, D)
    u_o = w_out[context]  # (B, D)
    u_k = w_out[negatives]  # (B, K, D)
    s_o = np.sum(u_o * v, axis=-1)  # (B,)
    s_k = np.einsum("bkd,bd->bk", u_k, v)  # (B, K)
    loss = -_log_sigmoid(s_o) - _log_sigmoid(-s_k).sum(axis=-1)  # (B,)
    cache = (center, context, negatives, v, u_o, u_k, s_o, s_k, w_in.shape)
    return float(loss.mean()) if loss.size else 0.0, cache


def backward(dloss: float, cache: tuple) -> tuple[None, dict[str, np.ndarray]]:
    """Gradients of the tables: `({"in.weight": (V, D), "out.weight": (V, D)})`, after None (ids
    are not differentiable). `dloss` is the upstream gradient of the scalar loss."""
    center, context, negatives, v, u_o, u_k, s_o, s_k, shape = cache
    B, D = v.shape
    scale = float(np.asarray(dloss)) / max(B, 1)
    g_o = scale * (_sigmoid(s_o) - 1.0)  # (B,) ∂ℓ/∂s_o
    g_k = scale * _sigmoid(s_k)  # (B, K) ∂ℓ/∂s_k
    dv = g_o[:, None] * u_o + np.einsum("bk,bkd->bd", g_k, u_k)  # (B, D)
    du_o = g_o[:, None] * v  # (B, D)
    du_k = g_k[:, :, None] * v[:, None, :]  # (B, K, D)
    d_in = np.zeros(shape, dtype=v.dtype)
    d_out = np.zeros(shape, dtype=v.dtype)
    np.add.at(d_in, center, dv)
    np.add.at(d_out, context, du_o)
    np.add.at(d_out, negatives.reshape(-1), du_k.reshape(-1, D))  # (B K,) ids, (B K, D) rows
    return None, {"in.weight": d_in, "out.weight": d_out}


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
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Train SGNS vectors on the token ids `ids` (counts[v] = how often v occurs).

    Each epoch subsamples the corpus, makes the (center, context) pairs, shuffles them and takes
    SGD steps on batches of `batch_size` pairs (the last incomplete batch is dropped) with K =
    `negatives` noise words each. The step is word2vec's: lr times the gradient of the *sum* of
    the pair losses, lr falling linearly to lr·1e-4 over training.

    Returns:
        params `{"in.weight", "out.weight"}` of shape (V, D), and the loss of every step.
    """
    counts = _check_counts(counts)
    ids = _check_ids("ids", ids, counts.size, 1)
    params = init(counts.size, dim, seed)
    losses: list[float] = []
    for center, context, neg, done in _sgd_batches(
        ids, counts, window, negatives, epochs, batch_size, t, seed, progress
    ):
        loss, cache = forward(params, center, context, neg)
        _, grads = backward(float(batch_size), cache)  # gradient of the summed loss
        step = lr * max(1.0 - done, 1e-4)
        for k in params:
            params[k] -= step * grads[k]
        losses.append(loss)
    return params, np.asarray(losses)


def _check_params(params: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    p = check_params(params, {"in.weight": (None, None), "out.weight": (None, None)}, "word2vec")
    check_same_shape("params['out.weight']", p["out.weight"], "params['in.weight']", p["in.weight"])
    return p["in.weight"], p["out.weight"]


def _sgd_batches(
    ids: np.ndarray,
    counts: np.ndarray,
    window: int,
    negatives: int,
    epochs: int,
    batch_size: int,
    t: float,
    seed: int,
    progress: bool,
):
    """Yield (center (B,), context (B,), negatives (B, K), done) for every SGD step, `done` the
    fraction of training before it. Both backends' `train` draw from here, so one seed gives
    the same pairs and noise words in NumPy and JAX."""
    rng = np.random.default_rng(seed)
    noise = noise_table(counts)
    bar = tqdm(total=epochs, disable=not progress, desc="word2vec")
    for epoch in range(epochs):
        center, context = pairs(subsample(ids, counts, t, rng), window, rng)
        order = rng.permutation(center.size)
        steps = center.size // batch_size
        if epoch == 0:
            bar.reset(total=steps * epochs)
        for b in range(steps):
            idx = order[b * batch_size : (b + 1) * batch_size]  # (B,)
            neg = sample_negatives(noise, (batch_size, negatives), rng)  # (B, K)
            yield center[idx], context[idx], neg, (epoch * steps + b) / (steps * epochs)
            bar.update()
    bar.close()
