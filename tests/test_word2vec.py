"""word2vec (skip-gram with negative sampling): the hand-written backward against central
differences and against jax.grad, the data preparation's statistics, a tiny training run, and
the errors a user meets on bad input."""

from __future__ import annotations

import numpy as np
import pytest

from minienc import gradcheck
from minienc.numpy import word2vec as w2v

jax = pytest.importorskip("jax")
from minienc.jax import word2vec as jw  # noqa: E402

pytestmark = pytest.mark.usefixtures("jax_x64")


def case(V: int = 11, D: int = 7, B: int = 9, K: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    params = {"in.weight": rng.standard_normal((V, D)), "out.weight": rng.standard_normal((V, D))}
    center = rng.integers(0, V, B)
    context = rng.integers(0, V, B)
    negatives = rng.integers(0, V, (B, K))
    negatives[0, :2] = center[0]  # repeated ids must accumulate
    return params, center, context, negatives


def backward_of_ids(dloss, cache):
    """`w2v.backward` with one (absent) gradient per integer input, as gradcheck expects."""
    return (None, None, None), w2v.backward(dloss, cache)[1]


@pytest.mark.parametrize("B, K", [(1, 1), (9, 3), (17, 5)])
def test_backward_passes_gradcheck(B, K):
    params, *x = case(B=B, K=K, seed=B)
    result = gradcheck.check(w2v.forward, backward_of_ids, params, tuple(x))
    assert result.ok(1e-7), result.report()


def test_backward_twice_gives_the_same_grads_and_leaves_inputs_alone():
    params, center, context, negatives = case()
    before = {k: v.copy() for k, v in params.items()}
    _, cache = w2v.forward(params, center, context, negatives)
    _, g1 = w2v.backward(1.0, cache)
    _, g2 = w2v.backward(1.0, cache)
    for k in params:
        np.testing.assert_array_equal(g1[k], g2[k])
        np.testing.assert_array_equal(params[k], before[k])


def test_numpy_and_jax_agree_on_loss_and_grads_in_float64():
    params, center, context, negatives = case(V=13, D=6, B=17, K=4, seed=3)
    loss, cache = w2v.forward(params, center, context, negatives)
    _, grads = w2v.backward(1.0, cache)
    jparams = {k: jax.numpy.asarray(v) for k, v in params.items()}
    jloss, jgrads = jax.value_and_grad(jw.forward)(jparams, center, context, negatives)
    assert abs(float(jloss) - loss) <= 1e-9
    for k in params:
        assert np.abs(np.asarray(jgrads[k]) - grads[k]).max() <= 1e-9, k


def test_loss_is_stable_for_large_scores():
    params, center, context, negatives = case()
    big = {k: 1e3 * v for k, v in params.items()}
    loss, cache = w2v.forward(big, center, context, negatives)
    _, grads = w2v.backward(1.0, cache)
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in grads.values())
    assert np.isfinite(float(jw.forward(big, center, context, negatives)))


def test_subsample_keeps_each_word_with_probability_sqrt_t_over_f():
    counts = np.array([500_000, 50_000, 5_000, 500, 20])
    ids = np.repeat(np.arange(5), counts)
    t = 1e-4
    kept = np.bincount(w2v.subsample(ids, counts, t, np.random.default_rng(0)), minlength=5)
    expected = np.minimum(1, np.sqrt(t / (counts / counts.sum())))
    np.testing.assert_allclose(kept / counts, expected, atol=0.02)
    assert kept[4] == counts[4]  # rare words are always kept


def test_noise_table_is_unigram_to_the_three_quarters_and_sampling_follows_it():
    counts = np.array([1000, 100, 10, 0, 1])
    noise = w2v.noise_table(counts)
    np.testing.assert_allclose(noise, counts**0.75 / (counts**0.75).sum())
    draws = w2v.sample_negatives(noise, (200_000,), np.random.default_rng(0))
    freq = np.bincount(draws, minlength=5) / draws.size
    np.testing.assert_allclose(freq, noise, atol=3e-3)
    assert freq[3] == 0  # a zero count is never drawn


def test_pairs_use_a_dynamic_window():
    ids = np.arange(2000)
    center, context = w2v.pairs(ids, 4, np.random.default_rng(0))
    dist = np.abs(center - context)
    assert dist.min() == 1 and dist.max() == 4
    # distance d is kept when b >= d, b uniform in 1..4: P = (5 - d) / 4
    share = np.bincount(dist, minlength=5)[1:] / (2 * ids.size)
    np.testing.assert_allclose(share, (5 - np.arange(1, 5)) / 4, atol=0.04)
    c1, x1 = w2v.pairs(ids, 1, np.random.default_rng(1))
    assert c1.size == 2 * (ids.size - 1) and np.all(np.abs(c1 - x1) == 1)


def synthetic_corpus(n: int = 20_000, seed: int = 0):
    """Sentences drawn from two topics of 6 words each: words of a topic co-occur."""
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, 2, n // 8)  # (S,) one topic per sentence of 8 words
    ids = (6 * topic[:, None] + rng.integers(0, 6, (topic.size, 8))).reshape(-1)
    return ids, np.bincount(ids, minlength=12)


def cosine(a, b):
    return np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


@pytest.mark.parametrize("module", [w2v, jw], ids=["numpy", "jax"])
def test_training_lowers_the_loss_and_groups_co_occurring_words(module):
    ids, counts = synthetic_corpus()
    params, losses = module.train(
        ids,
        counts,
        dim=8,
        window=2,
        negatives=3,
        epochs=2,
        batch_size=256,
        lr=0.02,
        t=1.0,
        progress=False,
    )
    assert losses[-20:].mean() < losses[:20].mean() - 0.3
    w = np.asarray(params["in.weight"], dtype=np.float64)
    sims = cosine(w[:, None, :], w[None, :, :])  # (12, 12)
    same = np.equal.outer(np.arange(12) // 6, np.arange(12) // 6) & ~np.eye(12, dtype=bool)
    assert sims[same].mean() > sims[~same].mean() + 0.5


def test_numpy_and_jax_training_follow_the_same_path():
    ids, counts = synthetic_corpus(4000)
    kw = dict(dim=4, window=2, epochs=1, batch_size=64, progress=False)
    (p1, l1), (p2, l2) = w2v.train(ids, counts, **kw), jw.train(ids, counts, **kw)
    np.testing.assert_allclose(l1, l2, atol=1e-5)
    np.testing.assert_allclose(np.asarray(p2["in.weight"]), p1["in.weight"], atol=1e-5)


@pytest.mark.parametrize("module", [w2v, jw], ids=["numpy", "jax"])
def test_bad_input_names_the_argument(module):
    params, center, context, negatives = case(V=11)
    with pytest.raises(ValueError, match=r"center must lie in \[0, 11\)"):
        module.forward(params, center + 11, context, negatives)
    with pytest.raises(ValueError, match="negatives must lie"):
        module.forward(params, center, context, -negatives - 1)
    with pytest.raises(ValueError, match="context has shape"):
        module.forward(params, center, context[:3], negatives)
    with pytest.raises(ValueError, match=r"negatives must have 2 dimensions"):
        module.forward(params, center, context, negatives[:, 0])
    with pytest.raises(ValueError, match="negatives has shape"):
        module.forward(params, center, context, negatives[:2])
    with pytest.raises(TypeError, match="center must be an integer array"):
        module.forward(params, center.astype(float), context, negatives)
    with pytest.raises(ValueError, match=r"params\['out.weight'\] has shape"):
        short = {**params, "out.weight": params["out.weight"][:5]}
        module.forward(short, center, context, negatives)
    with pytest.raises(KeyError, match="missing"):
        module.forward({"in.weight": params["in.weight"]}, center, context, negatives)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 3\)"):
        module.subsample(np.array([0, 1, 3]), np.array([1, 1, 1]))
    with pytest.raises(ValueError, match="counts must be"):
        module.noise_table(np.array([-1, 2]))
    with pytest.raises(ValueError, match="window must be a positive int"):
        module.pairs(np.arange(5), 0)
