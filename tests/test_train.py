"""The one training stack: both backends' classifiers through one `fit`.

What a loop gets wrong, checked for NumPy and JAX alike: a parameter that never moves, a frozen
one that does, a seed that does not fix the run, a loss that does not fall, early stopping that
keeps the last parameters instead of the best, a resumed run that drifts. And the point of one
trainer: from the same parameters and batches, without dropout, the NumPy step (hand-written
backward) and the JAX step (autodiff + optax) take the same steps, to 1e-8 in float64.
"""

from __future__ import annotations

import math
from dataclasses import replace

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from minienc import checkpoint
from minienc.data import GloVe
from minienc.jax import classifier as jax_classifier
from minienc.numpy import classifier as np_classifier
from minienc.text import Vocab
from minienc.train import (
    ClassifierConfig,
    TokenizedText,
    TrainConfig,
    decay_mask,
    epoch_batches,
    evaluate,
    fit,
    learning_rate,
    pretrained_embeddings,
)
from minienc.train.sentiment import sentiment_config

BACKENDS = {"numpy": np_classifier, "jax": jax_classifier}


@pytest.fixture(autouse=True, scope="module")
def _x64(jax_x64):
    """JAX in float64 for this module, so the two backends can be compared to 1e-8."""


def toy_data(n: int, seed: int) -> TokenizedText:
    """Sentences of 3..7 words: words 2-5 are positive, 6-9 negative; the label is the majority."""
    rng = np.random.default_rng(seed)
    ids, labels = [], []
    for _ in range(n):
        label = int(rng.integers(2))
        length = int(rng.integers(3, 8))
        words = rng.integers(2, 6, length) if label else rng.integers(6, 10, length)
        noise = rng.integers(2, 10, length)
        ids.append(np.where(rng.random(length) < 0.1, noise, words))
        labels.append(label)
    return TokenizedText(ids, np.array(labels))


def tiny(encoder: str, pool: str = "mean", **kw) -> ClassifierConfig:
    base = dict(
        vocab_size=10, num_classes=2, embed_dim=6, hidden_size=5, num_heads=2, ffn_dim=7, pool=pool
    )
    return ClassifierConfig(encoder, **(base | kw))


def init(backend: str, config: ClassifierConfig, dtype=np.float64):
    return BACKENDS[backend].init(config, 0, dtype=dtype)


SETTINGS = TrainConfig(epochs=2, batch_size=16, lr=1e-2, patience=None, seed=5, warmup=0.2)


# ------------------------------------------------------------------------------ one trainer
@pytest.mark.parametrize(
    "encoder, pool, extra",
    [
        ("lstm", "max", {}),
        ("lstm", "weighted_mean", {"num_layers": 2}),
        ("transformer", "cls", {"norm_first": True, "activation": "gelu"}),
        ("transformer", "mean", {"num_layers": 2}),
    ],
)
def test_both_backends_take_the_same_steps(encoder, pool, extra):
    """Same init, batches, clipping, decay rule and schedule, no dropout: the per-step losses and
    the final parameters agree to 1e-8 in float64 (and the clip really is active)."""
    config = tiny(encoder, pool, dropout=0.0, **extra)
    settings = replace(SETTINGS, clip_norm=0.5, bucket=2, frozen=("embedding.weight",))
    train, valid = toy_data(40, 1), toy_data(16, 2)
    runs = {
        b: fit(BACKENDS[b], config, init(b, config), train, valid, settings, progress=False)
        for b in BACKENDS
    }
    ours, theirs = runs["numpy"], runs["jax"]
    assert len(ours.history["loss"]) == 2 * 3  # 40 rows: batches of 16, 16, 8
    np.testing.assert_allclose(ours.history["loss"], theirs.history["loss"], rtol=0, atol=1e-8)
    for k, v in ours.last_params.items():
        np.testing.assert_allclose(v, np.asarray(theirs.last_params[k]), rtol=0, atol=1e-8)
    assert ours.history["val_accuracy"] == theirs.history["val_accuracy"]


@pytest.mark.parametrize("pool", ["cls", "last", "mean", "max", "weighted_mean"])
@pytest.mark.parametrize("encoder", ["lstm", "transformer"])
def test_both_backends_give_the_same_logits(encoder, pool):
    config = tiny(encoder, pool, dropout=0.3)
    params = init("numpy", config)
    batch = toy_data(5, 3).batch(np.arange(5))
    ours = np_classifier.predict(params, batch["ids"], batch["lengths"], config)
    theirs = jax_classifier.predict(
        {k: jnp.asarray(v) for k, v in params.items()}, batch["ids"], batch["lengths"], config
    )
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=0, atol=1e-12)


def test_initialisation_is_shared_and_follows_torch_defaults():
    config = tiny("transformer", "cls", norm_first=True, ffn_dim=12, embed_dim=8)
    ours, theirs = init("numpy", config, np.float32), init("jax", config, jnp.float32)
    assert all(np.array_equal(v, np.asarray(theirs[k])) for k, v in ours.items())
    w_in = ours["encoder.layers.0.self_attn.in_proj_weight"]
    bound = math.sqrt(6 / (8 + 24))
    assert 0.9 * bound < np.abs(w_in).max() <= bound  # Xavier-uniform
    assert not ours["encoder.layers.0.self_attn.in_proj_bias"].any()
    assert 0.9 / math.sqrt(12) < np.abs(ours["encoder.layers.0.linear2.weight"]).max()
    assert np.all(ours["encoder.norm.weight"] == 1) and not ours["embedding.weight"][0].any()
    lstm = init("numpy", tiny("lstm"))
    assert 0.7 / math.sqrt(5) < np.abs(lstm["lstm.bias_ih_l0_reverse"]).max() <= 1 / math.sqrt(5)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("encoder", ["lstm", "transformer"])
def test_every_parameter_changes_after_one_step(backend, encoder):
    config = tiny(encoder, "weighted_mean" if encoder == "lstm" else "cls")
    model = BACKENDS[backend]
    params = init(backend, config, np.float32)
    state = model.init_optimizer(params, SETTINGS)
    batch = toy_data(16, 0).batch(np.arange(16), model.PAD_TO)
    new, _, loss, logits = model.train_step(params, state, batch, config, SETTINGS, 1e-2, 0)
    assert np.isfinite(float(loss)) and logits.shape == (16, 2)
    unchanged = [k for k in params if np.array_equal(params[k], new[k])]
    assert not unchanged, f"parameters that did not change: {unchanged}"
    assert all(new[k].dtype == np.float32 for k in new), "training must stay in float32"
    assert not np.asarray(new["embedding.weight"])[0].any()  # <pad>: no gradient, no decay


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_frozen_parameters_stay_fixed(backend):
    config = tiny("lstm")
    model = BACKENDS[backend]
    params = init(backend, config)
    settings = replace(SETTINGS, frozen=("embedding.weight",))
    state = model.init_optimizer(params, settings)
    batch = toy_data(8, 0).batch(np.arange(8), model.PAD_TO)
    new, *_ = model.train_step(params, state, batch, config, settings, 1e-2, 0)
    assert np.array_equal(new["embedding.weight"], params["embedding.weight"])
    assert not np.array_equal(new["head.weight"], params["head.weight"])
    with pytest.raises(KeyError, match=r"frozen names unknown parameters \['embeding'\]"):
        model.init_optimizer(params, replace(settings, frozen=("embeding",)))


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("encoder", ["lstm", "transformer"])
def test_loss_goes_down_on_a_separable_problem(backend, encoder):
    config = tiny(encoder, embed_dim=8, dropout=0.0)
    train, valid = toy_data(96, seed=1), toy_data(48, seed=2)
    settings = replace(SETTINGS, epochs=8, lr=2e-2, warmup=0.0)
    result = fit(
        BACKENDS[backend], config, init(backend, config), train, valid, settings, progress=False
    )
    losses = result.history["train_loss"]
    assert losses[-1] < 0.5 * losses[0], losses
    assert result.best_score >= 0.9, result.history["val_accuracy"]


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_same_seed_same_run_other_seed_other_run(backend):
    config = tiny("transformer", "cls", dropout=0.2)
    train, valid = toy_data(48, seed=1), toy_data(16, seed=2)
    runs = [
        fit(BACKENDS[backend], config, init(backend, config), train, valid, s, progress=False)
        for s in (SETTINGS, SETTINGS, replace(SETTINGS, seed=6))
    ]
    assert runs[0].history["loss"] == runs[1].history["loss"]
    assert runs[0].history["loss"] != runs[2].history["loss"]


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_early_stopping_restores_the_best_params(backend):
    """Validation labels are the opposite of the training rule: accuracy is best early on."""
    config = tiny("lstm", dropout=0.0)
    model = BACKENDS[backend]
    train, flipped = toy_data(64, seed=1), toy_data(32, seed=2)
    valid = TokenizedText(flipped.ids, 1 - flipped.labels)
    settings = replace(SETTINGS, epochs=8, lr=2e-2, patience=2, decay=False, warmup=0.0)
    params = init(backend, config)
    result = fit(model, config, params, train, valid, settings, progress=False)
    accs = result.history["val_accuracy"]
    assert len(accs) == result.best_epoch + 1 + settings.patience < settings.epochs
    assert result.best_score == max(accs)
    assert evaluate(model, config, result.params, valid).accuracy == max(accs)
    # the returned params are those of the best epoch: a shorter run ends exactly there
    again = fit(
        model,
        config,
        params,
        train,
        valid,
        settings,
        max_steps=4 * (result.best_epoch + 1),
        progress=False,
    )
    for k in params:
        np.testing.assert_array_equal(result.params[k], again.last_params[k])
    assert any(not np.array_equal(result.params[k], result.last_params[k]) for k in params)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_resuming_from_a_checkpoint_continues_the_same_run(backend, tmp_path):
    config = tiny("transformer", "cls", dropout=0.2)
    model = BACKENDS[backend]
    train, valid = toy_data(40, 1), toy_data(16, 2)
    settings = replace(SETTINGS, epochs=3)
    params = init(backend, config)
    straight = fit(model, config, params, train, valid, settings, progress=False)
    first = fit(model, config, params, train, valid, settings, max_steps=3, progress=False)
    path = checkpoint.save(tmp_path / "ck.safetensors", first.last_params, first.opt_state, step=3)
    template = model.init_optimizer(params, settings)
    ck = checkpoint.load(path, expected=first.last_params, opt_state_like=template)
    resumed = fit(
        model,
        config,
        ck.params,
        train,
        valid,
        settings,
        opt_state=ck.opt_state,
        start_epoch=1,
        progress=False,
    )
    assert resumed.steps == straight.steps == 9
    assert resumed.history["loss"] == straight.history["loss"][3:]
    assert resumed.history["lr"] == straight.history["lr"][3:]
    for k, v in straight.last_params.items():
        assert np.asarray(resumed.last_params[k]).tobytes() == np.asarray(v).tobytes()


# ------------------------------------------------------------------------------ the pieces
def test_learning_rate_warms_up_then_follows_a_cosine():
    s = TrainConfig(lr=1.0, warmup=0.1)
    lrs = [learning_rate(step, s, 100) for step in range(100)]
    assert lrs[:10] == pytest.approx([(i + 1) / 10 for i in range(10)])
    assert lrs[10] == 1.0 and lrs[55] == pytest.approx(0.5) and 0 < lrs[99] < 1e-3
    assert learning_rate(50, replace(s, decay=False), 100) == 1.0


def test_fit_records_the_learning_rate_it_trains_with():
    config = tiny("lstm")
    result = fit(
        np_classifier,
        config,
        init("numpy", config),
        toy_data(40, 1),
        toy_data(8, 2),
        SETTINGS,
        progress=False,
    )
    assert result.history["lr"] == [learning_rate(s, SETTINGS, 6) for s in range(6)]
    assert result.history["epoch"] == [0, 1] and len(result.history["val_f1"]) == 2


def test_epoch_batches_cover_every_row_once_and_bucket_by_length():
    lengths = np.random.default_rng(0).integers(1, 50, 103)
    for bucket in (0, 4):
        batches = epoch_batches(lengths, 10, seed=1, epoch=2, bucket=bucket)
        assert sorted(np.concatenate(batches).tolist()) == list(range(103))
        assert [len(b) for b in batches].count(10) == 10
    spread = [np.ptp(lengths[b]) for b in epoch_batches(lengths, 10, 1, 2, bucket=4)]
    plain = [np.ptp(lengths[b]) for b in epoch_batches(lengths, 10, 1, 2)]
    assert np.mean(spread) < 0.5 * np.mean(plain)
    assert [b.tolist() for b in epoch_batches(lengths, 10, 1, 2)] != [
        b.tolist() for b in epoch_batches(lengths, 10, 1, 3)
    ]


def test_weight_decay_mask_is_exactly_the_weights():
    params = init("numpy", tiny("transformer", "cls", num_layers=2, norm_first=True))
    expected = {"embedding.weight", "cls_token", "head.weight"}
    layer = ["self_attn.in_proj_weight", "self_attn.out_proj.weight", "linear1.weight"]
    expected |= {f"encoder.layers.{i}.{k}" for i in range(2) for k in layer + ["linear2.weight"]}
    assert {k for k, decays in decay_mask(params).items() if decays} == expected
    for key, decays in [
        ("ln_f.weight", False),
        ("lstm.bias_hh_l1_reverse", False),
        ("embeddings.LayerNorm.weight", False),
        ("lstm.weight_hh_l0", True),
    ]:
        assert decay_mask({key: 0}) == {key: decays}


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_weight_decay_shrinks_weights_only(backend):
    """AdamW's decay is decoupled: a step with decay λ differs from one without by −lr·λ·θ,
    exactly, on weights; biases are not decayed."""
    config = tiny("lstm", dropout=0.0)
    model = BACKENDS[backend]
    params = init(backend, config)
    batch = toy_data(4, 0).batch(np.arange(4), model.PAD_TO)
    new = {}
    for wd in (0.0, 0.5):
        settings = replace(SETTINGS, weight_decay=wd)
        state = model.init_optimizer(params, settings)
        new[wd] = model.train_step(params, state, batch, config, settings, 0.1, 0)[0]
    for k, v in params.items():
        expected = -0.1 * 0.5 * np.asarray(v) if decay_mask(params)[k] else 0 * np.asarray(v)
        np.testing.assert_allclose(np.asarray(new[0.5][k] - new[0.0][k]), expected, atol=1e-12)


def test_tokenized_text_pads_batches():
    texts = ["a good film", "bad", "a good , good film that is not bad at all really"]
    vocab = Vocab.build(texts)
    data = TokenizedText.from_texts(texts, [1, 0, 1], vocab, max_len=10, label_names=("n", "p"))
    batch = data.batch(np.array([0, 1]), pad_to=4)
    assert batch["ids"].shape == (2, 4) and batch["lengths"].tolist() == [3, 1]
    assert batch["ids"][1].tolist() == [vocab.stoi["bad"], 0, 0, 0]
    assert data.batch(np.array([2]))["ids"].shape == (1, 10)  # cut at max_len
    with pytest.raises(TypeError, match="texts must be a list of strings"):
        TokenizedText.from_texts("a good film", [1], vocab)
    with pytest.raises(ValueError, match="3 texts but 2 labels"):
        TokenizedText.from_texts(texts, [1, 0], vocab)


def test_pretrained_embeddings_copy_known_words_and_report_coverage():
    vocab = Vocab(("<pad>", "<unk>", "b", "zzz", "d"))
    vectors = GloVe(np.arange(12.0).reshape(4, 3), ["a", "b", "c", "d"])
    out, coverage = pretrained_embeddings(vocab, vectors)
    assert coverage == pytest.approx(2 / 3)
    np.testing.assert_array_equal(out[2], [3, 4, 5])
    np.testing.assert_array_equal(out[4], [9, 10, 11])
    assert not out[0].any() and out[3].any()


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_fit_rejects_what_it_cannot_train(backend):
    config = tiny("lstm")
    model, data = BACKENDS[backend], toy_data(8, 0)
    with pytest.raises(TypeError, match="train must be a TokenizedText"):
        fit(model, config, init(backend, config), [[1, 2]], data)
    with pytest.raises(TypeError, match="model must be a backend's classifier module"):
        fit(np, config, init(backend, config), data, data)
    with pytest.raises(ValueError, match="valid is empty"):
        fit(model, config, init(backend, config), data, TokenizedText([], np.array([])))
    with pytest.raises(ValueError, match="monitor must be one of"):
        TrainConfig(monitor="auc")


def test_dropout_follows_rng_in_both_backends():
    config = tiny("transformer", "mean", dropout=0.5)
    batch = toy_data(4, 0).batch(np.arange(4), 16)
    for backend, model in BACKENDS.items():
        params = init(backend, config)
        state = model.init_optimizer(params, SETTINGS)
        a, b, c = (
            model.train_step(params, state, batch, config, SETTINGS, 1e-2, r)[2] for r in (0, 1, 0)
        )
        assert float(a) == float(c) != float(b), backend


def test_jax_classifier_matches_torch_modules():
    """Keys of nn.Embedding + nn.LSTM + nn.Linear; the same logits as torch on packed sequences."""
    config = tiny("lstm", "max", num_layers=2)
    params = init("jax", config)
    emb, rnn = torch.nn.Embedding(10, 6, padding_idx=0), torch.nn.LSTM(6, 5, 2, bidirectional=True)
    head = torch.nn.Linear(10, 2)
    modules = {"embedding.": emb, "lstm.": rnn, "head.": head}
    assert {p + k for p, m in modules.items() for k in m.state_dict()} == set(params)
    for p, m in modules.items():
        own = {
            k[len(p) :]: torch.from_numpy(np.array(v)) for k, v in params.items() if k.startswith(p)
        }
        m.double().load_state_dict(own)
    batch = toy_data(6, 3).batch(np.arange(6), 16)
    ours = np.asarray(jax_classifier.predict(params, batch["ids"], batch["lengths"], config))
    ids, lengths = torch.from_numpy(batch["ids"]), torch.from_numpy(batch["lengths"])
    packed = torch.nn.utils.rnn.pack_padded_sequence(emb(ids), lengths, True, enforce_sorted=False)
    with torch.no_grad():
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(rnn(packed)[0], True, total_length=16)
        pad = torch.arange(16)[None, :, None] >= lengths[:, None, None]
        theirs = head(out.masked_fill(pad, -torch.inf).amax(dim=1))
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["lstm", "transformer"])
def test_sentiment_recipes(name):
    full, fast = sentiment_config(name, fast=False), sentiment_config(name, fast=True)
    assert full.limit is None and full.train.epochs > fast.train.epochs
    assert fast.limit < 8456 and full.model["embed_dim"] == 50 and full.glove  # GloVe 6B 50d
    with pytest.raises(ValueError, match="encoder must be 'lstm' or 'transformer'"):
        sentiment_config("gru")
