"""The NumPy text classifier (LSTM and Transformer) and its training loop.

The whole model's backward is gradient-checked on tiny models (every pooling mode, dropout on,
padding present); training is checked for what a loop gets wrong: a parameter that never moves,
a seed that does not fix the run, a loss that does not fall, early stopping that keeps the last
parameters instead of the best.
"""

from __future__ import annotations

import numpy as np
import pytest

from minienc import gradcheck
from minienc.numpy import classifier, pooling
from minienc.numpy.classifier import ClassifierConfig
from minienc.numpy.train import (
    EncodedText,
    TrainConfig,
    evaluate,
    fit,
    init_optimizer,
    train_step,
)
from minienc.text import Vocab

IDS = np.array([[3, 4, 5, 2, 0, 0, 0], [6, 7, 0, 0, 0, 0, 0], [2, 3, 4, 5, 6, 7, 3]])
LENGTHS = np.array([4, 2, 7])


def tiny_config(encoder: str, pool: str = "mean", **kw) -> ClassifierConfig:
    base = dict(
        vocab_size=8,
        num_classes=3,
        embed_dim=6,
        hidden_size=5,
        num_heads=2,
        ffn_dim=7,
        pool=pool,
        dropout=0.2,
        activation="gelu",
    )
    return ClassifierConfig(encoder, **(base | kw))


def noisy_params(config: ClassifierConfig, seed: int = 1) -> dict[str, np.ndarray]:
    """Float64 params whose biases and LayerNorm parameters are random, not 0 and 1."""
    rng = np.random.default_rng(seed)
    params = classifier.init(config, seed=seed, dtype=np.float64)
    return {
        k: v + 0.3 * rng.standard_normal(v.shape) if ("bias" in k or "norm" in k) else v
        for k, v in params.items()
    }


GRADCHECK_CASES = [
    *(("lstm", pool, {}) for pool in pooling.MODES),
    *(("transformer", pool, {}) for pool in pooling.MODES),
    ("lstm", "last", {"bidirectional": False, "num_layers": 2}),
    ("transformer", "cls", {"norm_first": True, "num_layers": 2, "activation": "relu"}),
]


@pytest.mark.parametrize(
    "encoder, pool, extra",
    GRADCHECK_CASES,
    ids=[f"{e}-{p}" + ("-deeper" if x else "") for e, p, x in GRADCHECK_CASES],
)
def test_whole_model_gradcheck(encoder, pool, extra):
    config = tiny_config(encoder, pool, **extra)
    params = noisy_params(config)
    result = gradcheck.check(
        classifier.forward,
        classifier.backward,
        params,
        IDS,
        lengths=LENGTHS,
        config=config,
        training=True,
        rng=3,
    )
    assert result.ok(1e-7), result.report(1e-7)
    assert set(result) == set(params)  # every parameter was checked (ids are not differentiable)


def test_param_keys_are_torch_names():
    lstm = classifier.init(tiny_config("lstm", "weighted_mean"))
    assert set(lstm) == {
        "embedding.weight",
        "pool.weight",
        "head.weight",
        "head.bias",
        *(
            f"lstm.{w}_{k}_l0{r}"
            for w in ("weight", "bias")
            for k in ("ih", "hh")
            for r in ("", "_reverse")
        ),
    }
    tf = classifier.init(tiny_config("transformer", "cls", norm_first=True))
    assert {
        "cls_token",
        "encoder.layers.0.self_attn.in_proj_weight",
        "encoder.norm.weight",
        "encoder.layers.0.norm2.bias",
    } <= set(tf)
    assert tf["cls_token"].shape == (1, 1, 6) and tf["embedding.weight"].dtype == np.float32
    assert not tf["embedding.weight"][0].any()  # <pad> row is zero


@pytest.mark.parametrize("encoder", ["lstm", "transformer"])
@pytest.mark.parametrize("pool", ["cls", "mean", "max"])
def test_padding_does_not_change_the_logits(encoder, pool):
    config = tiny_config(encoder, pool)
    params = noisy_params(config)
    alone = classifier.predict(params, IDS[1:2, :2], LENGTHS[1:2], config)
    batched = classifier.predict(params, IDS, LENGTHS, config)
    np.testing.assert_allclose(batched[1:2], alone, atol=1e-12)


def test_pretrained_embeddings_copy_found_rows_and_report_coverage():
    vectors = np.arange(12.0).reshape(4, 3)
    tokens = ["<pad>", "<unk>", "b", "zzz", "d"]
    out, coverage = classifier.pretrained_embeddings(tokens, vectors, ["a", "b", "c", "d"])
    assert coverage == pytest.approx(2 / 3)
    np.testing.assert_array_equal(out[2], vectors[1])
    np.testing.assert_array_equal(out[4], vectors[3])
    assert not out[0].any() and out[3].any()


def test_bad_inputs_raise_clear_errors():
    config = tiny_config("transformer")
    params = classifier.init(config)
    with pytest.raises(ValueError, match=r"lengths has shape \(2,\) but ids of shape \(3, 7\)"):
        classifier.forward(params, IDS, LENGTHS[:2], config)
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T = 7\]"):
        classifier.forward(params, IDS, np.array([4, 0, 7]), config)
    with pytest.raises(TypeError, match="ids must be an integer array"):
        classifier.forward(params, IDS.astype(float), LENGTHS, config)
    with pytest.raises(KeyError, match=r"missing \['cls_token'\]"):
        classifier.forward(params, IDS, LENGTHS, tiny_config("transformer", "cls"))
    with pytest.raises(ValueError, match="num_heads = 4 must divide the model width embed_dim = 6"):
        tiny_config("transformer", num_heads=4)
    with pytest.raises(ValueError, match="encoder must be one of"):
        tiny_config("gru")
    with pytest.raises(ValueError, match=r"embeddings must have shape \(vocab_size, embed_dim\)"):
        classifier.init(config, embeddings=np.zeros((8, 5)))


# ------------------------------------------------------------------------------------ training
def toy_data(n: int, seed: int) -> EncodedText:
    """Sentences of 3..7 words: words 2-5 are positive, 6-9 negative; the label is the majority."""
    rng = np.random.default_rng(seed)
    ids, labels = [], []
    for _ in range(n):
        label = int(rng.integers(2))
        length = int(rng.integers(3, 8))
        words = rng.integers(2, 6, length) if label else rng.integers(6, 10, length)
        noise = rng.integers(2, 10, length)
        mix = np.where(rng.random(length) < 0.1, noise, words)
        ids.append(mix.tolist())
        labels.append(label)
    return EncodedText(ids, np.array(labels))


TOY_SETTINGS = TrainConfig(epochs=4, batch_size=16, lr=1e-2, patience=None, seed=5)


@pytest.mark.parametrize("encoder", ["lstm", "transformer"])
def test_every_parameter_changes_after_one_step(encoder):
    config = tiny_config(
        encoder, "weighted_mean" if encoder == "lstm" else "cls", vocab_size=10, num_classes=2
    )
    params = classifier.init(config)
    state = init_optimizer(params, TOY_SETTINGS)
    data = toy_data(16, seed=0)
    new, _, loss, logits, norm = train_step(
        params, state, data.batch(np.arange(16)), config, TOY_SETTINGS, rng=0
    )
    assert np.isfinite(loss) and logits.shape == (16, 2) and norm > 0
    unchanged = [k for k in params if np.array_equal(params[k], new[k])]
    assert not unchanged, f"parameters that did not change: {unchanged}"
    assert all(new[k].dtype == np.float32 for k in new), "training must stay in float32"


def test_frozen_parameters_stay_fixed():
    config = tiny_config("lstm", "mean", vocab_size=10, num_classes=2)
    params = classifier.init(config)
    settings = TrainConfig(lr=1e-2, frozen=("embedding.weight",))
    state = init_optimizer(params, settings)
    assert "embedding.weight" not in state["m"]
    new, *_ = train_step(params, state, toy_data(8, 0).batch(np.arange(8)), config, settings, 0)
    assert np.array_equal(new["embedding.weight"], params["embedding.weight"])
    assert not np.array_equal(new["head.weight"], params["head.weight"])
    with pytest.raises(KeyError, match=r"frozen names unknown parameters \['embeding'\]"):
        init_optimizer(params, TrainConfig(frozen=("embeding",)))


@pytest.mark.parametrize("encoder", ["lstm", "transformer"])
def test_loss_goes_down_on_a_separable_problem(encoder):
    config = tiny_config(encoder, "mean", vocab_size=10, num_classes=2, embed_dim=8, dropout=0.0)
    train, valid = toy_data(96, seed=1), toy_data(48, seed=2)
    settings = TrainConfig(epochs=8, batch_size=16, lr=2e-2, patience=None, seed=5)
    result = fit(classifier.init(config), config, train, valid, settings, progress=False)
    losses = result.history["train_loss"]
    assert losses[-1] < 0.5 * losses[0], losses
    assert result.best_accuracy >= 0.9, result.history["valid_accuracy"]


def test_same_seed_same_run_other_seed_other_run():
    config = tiny_config("transformer", "cls", vocab_size=10, num_classes=2)
    train, valid = toy_data(48, seed=1), toy_data(16, seed=2)
    settings = TrainConfig(epochs=2, batch_size=16, lr=1e-2, seed=3)
    runs = [
        fit(classifier.init(config), config, train, valid, s, progress=False).history["step_loss"]
        for s in (settings, settings, TrainConfig(epochs=2, batch_size=16, lr=1e-2, seed=4))
    ]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_early_stopping_restores_the_best_params():
    """Validation labels are the opposite of the training rule: accuracy is best early on."""
    config = tiny_config("lstm", "mean", vocab_size=10, num_classes=2, dropout=0.0)
    train = toy_data(64, seed=1)
    flipped = toy_data(32, seed=2)
    valid = EncodedText(flipped.ids, 1 - flipped.labels)
    settings = TrainConfig(epochs=8, batch_size=16, lr=2e-2, patience=2, seed=0)
    params = classifier.init(config)
    result = fit(params, config, train, valid, settings, progress=False)
    accs = result.history["valid_accuracy"]
    assert len(accs) < settings.epochs, "early stopping never triggered"
    assert len(accs) == result.best_epoch + 1 + settings.patience
    assert result.best_accuracy == max(accs)
    assert evaluate(result.params, config, valid).accuracy == max(accs)
    # the returned params are those of the best epoch: a shorter run ends exactly there
    short = TrainConfig(**{**settings.__dict__, "epochs": result.best_epoch + 1})
    again = fit(params, config, train, valid, short, progress=False)
    for k in params:
        np.testing.assert_array_equal(result.params[k], again.last_params[k])
    assert any(not np.array_equal(result.params[k], result.last_params[k]) for k in params)


def test_evaluate_reports_confusion_and_macro_f1():
    config = tiny_config("lstm", "max", vocab_size=10, num_classes=2)
    data = toy_data(40, seed=3)
    scores = evaluate(classifier.init(config), config, data, batch_size=7)
    assert scores.confusion.sum() == 40 and scores.confusion.shape == (2, 2)
    assert scores.accuracy == pytest.approx(np.trace(scores.confusion) / 40)
    assert 0.0 <= scores.macro_f1 <= 1.0 and scores.predictions.shape == (40,)


def test_vocab_round_trip_with_encode():
    from minienc.numpy.train import encode

    vocab = Vocab.build(["a good film", "a bad film"])
    data = encode(["a good film", "an unseen word"], np.array([1, 0]), vocab, max_len=2)
    assert data.ids[0] == [vocab.stoi["a"], vocab.stoi["good"]] and data.ids[1] == [1, 1]
