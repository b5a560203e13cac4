"""The JAX training loop: optimizer, schedule, reproducibility, early stopping, checkpoint resume,
and the two text classifiers (torch keys, torch init, padding, every parameter trained)."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from minienc import checkpoint
from minienc.data import TextDataset
from minienc.text import Vocab
from minienc.train import (
    ArrayDataset,
    TokenizedText,
    classifier_loss,
    decay_mask,
    evaluate,
    fit,
    init_lstm_classifier,
    init_transformer_classifier,
    lstm_classifier_apply,
    make_eval_step,
    make_optimizer,
    make_train_step,
    sinusoidal,
    transformer_classifier_apply,
)
from minienc.train.data import pretrained_embeddings

V, C = 20, 2


def tiny_task(n=96, T=8, seed=0):
    """Label 1 when token 2 occurs in the sentence, 0 when token 3 does (exactly one of them)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, T + 1, n).astype(np.int32)
    ids = rng.integers(4, V, (n, T)).astype(np.int32)
    labels = rng.integers(0, 2, n).astype(np.int32)
    where = rng.integers(0, lengths)  # a real position of each row
    ids[np.arange(n), where] = np.where(labels == 1, 2, 3)
    ids[np.arange(T)[None, :] >= lengths[:, None]] = 0  # <pad>
    return ArrayDataset({"ids": ids, "lengths": lengths, "labels": labels})


# Two configurations that between them use every kind of parameter.
MODELS = {
    "lstm": (
        lambda key: init_lstm_classifier(key, V, 8, 6, C, bidirectional=True, num_layers=2),
        lstm_classifier_apply,
        {"pool": "max", "dropout": 0.1},
    ),
    "transformer": (
        lambda key: init_transformer_classifier(
            key,
            V,
            8,
            2,
            C,
            num_layers=2,
            ffn=12,
            pool="cls",
            positions="learned",
            max_len=16,
            norm_first=True,
        ),
        transformer_classifier_apply,
        {"num_heads": 2, "pool": "cls", "norm_first": True, "dropout": 0.1},
    ),
}


@functools.cache
def model(name):
    """Initial params and the loss, built once: every fit with them shares one compiled step."""
    init, apply, config = MODELS[name]
    return init(jax.random.key(0)), classifier_loss(apply, **config)


@functools.cache
def optimizer_and_schedule():
    return make_optimizer(3e-2, total_steps=60, warmup_steps=0)


def run(name, data, seed=0, **kwargs):
    params, loss_fn = model(name)
    optimizer, schedule = optimizer_and_schedule()
    kwargs = {"batch_size": 16, "eval_batch_size": 16, "epochs": 2, "progress": False} | kwargs
    return fit(loss_fn, params, optimizer, data, seed=seed, schedule=schedule, **kwargs)


def logits(name, batch, params=None):
    """Logits from the jitted eval step (compiled once per batch shape and model)."""
    default, loss_fn = model(name)
    batch = {k: jnp.asarray(v) for k, v in batch.items()}
    return np.asarray(make_eval_step(loss_fn)(default if params is None else params, batch)[1])


def assert_trees_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes()


# ------------------------------------------------------------------------------------- optimizer
@pytest.mark.parametrize("name", sorted(MODELS))
def test_jax_classifier_every_parameter_changes_after_one_step(name):
    params, loss_fn = model(name)
    optimizer, _ = optimizer_and_schedule()
    step = make_train_step(loss_fn, optimizer)
    batch = {k: jnp.asarray(v) for k, v in tiny_task().batch(np.arange(16)).items()}
    new, _, metrics = step(params, optimizer.init(params), batch, jax.random.key(1))
    assert np.isfinite(float(metrics["loss"]))
    unchanged = [k for k in params if np.array_equal(params[k], new[k])]
    assert unchanged == [], f"not trained: {unchanged}"
    # ... except the <pad> row, which gets no gradient and is zero, so no weight decay either
    assert np.all(np.asarray(new["embedding.weight"][0]) == 0)


def test_weight_decay_mask_is_exactly_the_weights():
    params, _ = model("transformer")
    layer = ["self_attn.in_proj_weight", "self_attn.out_proj.weight"]
    layer += ["linear1.weight", "linear2.weight"]
    expected = {"embedding.weight", "pos_embedding.weight", "cls_token", "head.weight"}
    expected |= {f"encoder.layers.{i}.{k}" for i in range(2) for k in layer}
    mask = decay_mask(params)
    assert list(mask) == list(params)
    assert {k for k, decays in mask.items() if decays} == expected

    lstm_params, _ = model("lstm")
    lstm_mask = decay_mask(lstm_params)
    weights = {k for k in lstm_params if ".weight" in k}  # lstm.weight_ih_l0, head.weight, ...
    assert {k for k, decays in lstm_mask.items() if decays} == weights
    assert len(weights) == 2 + 4 * 2  # embedding, head; W_ih and W_hh for 2 layers x 2 directions


@pytest.mark.parametrize(
    "key, decays",
    [
        ("embeddings.LayerNorm.weight", False),
        ("encoder.layer.0.attention.output.LayerNorm.bias", False),
        ("ln_f.weight", False),
        ("ln.weight", False),
        ("norm.weight", False),
        ("lstm.bias_hh_l1_reverse", False),
        ("bias", False),
        ("linear1.weight", True),
        ("lstm.weight_hh_l0", True),
        ("word_embeddings.weight", True),
    ],
)
def test_decay_mask_reads_torch_names(key, decays):
    assert decay_mask({key: 0}) == {key: decays}


def test_optimizer_decays_only_the_masked_parameters():
    """With zero gradients AdamW's step is pure decay: θ ← θ (1 - lr λ) for weights only."""
    params = {
        "linear.weight": jnp.ones((2, 3)),
        "linear.bias": jnp.ones(2),
        "ln.weight": jnp.ones(3),
    }
    optimizer, _ = make_optimizer(0.1, total_steps=10, weight_decay=0.5)
    grads = jax.tree.map(jnp.zeros_like, params)
    updates, _ = optimizer.update(grads, optimizer.init(params), params)
    new = optax.apply_updates(params, updates)
    np.testing.assert_allclose(new["linear.weight"], 1 - 0.1 * 0.5, rtol=1e-6)
    np.testing.assert_array_equal(new["linear.bias"], 1.0)
    np.testing.assert_array_equal(new["ln.weight"], 1.0)


def test_optimizer_is_clipping_then_adamw():
    """Equal to optax's own chain over steps whose gradient norms lie above and below the clip."""
    params = {"w.weight": jnp.ones(4), "w.bias": jnp.ones(2)}
    ours, schedule = make_optimizer(0.1, total_steps=10, warmup_steps=2, clip_norm=0.5)
    mask = {"w.weight": True, "w.bias": False}
    reference = optax.chain(
        optax.clip_by_global_norm(0.5), optax.adamw(schedule, weight_decay=0.01, mask=mask)
    )
    unclipped, _ = make_optimizer(0.1, total_steps=10, warmup_steps=2, clip_norm=None)
    rng = np.random.default_rng(0)
    results = []
    for opt in (ours, reference, unclipped):
        p, state = params, opt.init(params)
        for scale in (10.0, 0.01, 3.0, 0.1):
            grads = {
                k: jnp.asarray(scale * rng.standard_normal(v.shape), jnp.float32)
                for k, v in p.items()
            }
            updates, state = opt.update(grads, state, p)
            p = optax.apply_updates(p, updates)
        results.append(p)
        rng = np.random.default_rng(0)
    for k in params:
        np.testing.assert_allclose(results[0][k], results[1][k], rtol=1e-6)
    assert not np.allclose(results[0]["w.weight"], results[2]["w.weight"])


@pytest.mark.parametrize("step", [0, 1, 5, 10, 11, 55, 99, 100, 150])
def test_schedule_is_warmup_then_cosine(step):
    lr, warmup, total, end = 3e-3, 10, 100, 1e-4
    _, schedule = make_optimizer(lr, total, warmup, end_lr=end)
    reference = optax.warmup_cosine_decay_schedule(0.0, lr, warmup, total, end)
    if step < warmup:
        expected = lr * step / warmup
    else:
        frac = min(step - warmup, total - warmup) / (total - warmup)
        expected = end + (lr - end) * 0.5 * (1 + math.cos(math.pi * frac))
    assert float(schedule(step)) == pytest.approx(float(reference(step)), rel=1e-6, abs=1e-12)
    assert float(schedule(step)) == pytest.approx(expected, rel=1e-5, abs=1e-9)


def test_fit_records_the_schedule_it_trains_with():
    result = run("lstm", tiny_task(), epochs=1)
    _, schedule = make_optimizer(3e-2, total_steps=60, warmup_steps=0)
    np.testing.assert_allclose(
        result.history["lr"], [float(schedule(s)) for s in range(6)], rtol=1e-7
    )
    assert result.history["lr"][0] == pytest.approx(3e-2) and result.history["lr"][-1] < 3e-2
    assert result.history["step"] == list(range(6))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lr": 0.0, "total_steps": 10}, "lr must be > 0"),
        ({"lr": 1e-3, "total_steps": 10, "warmup_steps": 10}, "warmup_steps < total_steps"),
        ({"lr": 1e-3, "total_steps": 10, "weight_decay": -1}, "weight_decay must be >= 0"),
        ({"lr": 1e-3, "total_steps": 10, "clip_norm": 0}, "clip_norm must be > 0"),
    ],
)
def test_make_optimizer_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_optimizer(**kwargs)


# ------------------------------------------------------------------------------------- the loop
def test_training_is_reproducible_from_a_seed():
    data = tiny_task()
    a, b = run("transformer", data, seed=3), run("transformer", data, seed=3)
    assert a.history["loss"] == b.history["loss"]
    assert_trees_equal(a.params, b.params)
    c = run("transformer", data, seed=4)
    assert c.history["loss"] != a.history["loss"]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_loss_decreases_on_a_learnable_task(name):
    data, held_out = tiny_task(seed=0), tiny_task(seed=1)
    result = run(name, data, epochs=8, valid_data=held_out)
    losses = result.history["train_loss"]
    assert losses[-1] < 0.3 * losses[0], losses
    assert result.history["val_accuracy"][-1] >= 0.9, result.history["val_accuracy"]


def test_early_stopping_keeps_the_best_params():
    """Validation labels are flipped: the better the model learns, the worse it validates, so
    epoch 0 is the best and training stops `patience` epochs later."""
    data = tiny_task()
    flipped = ArrayDataset(dict(data.arrays, labels=1 - data.arrays["labels"]))
    result = run("lstm", data, epochs=8, valid_data=flipped, patience=2, monitor="loss")
    assert result.best_epoch == 0
    assert result.history["epoch"] == [0, 1, 2]
    losses = result.history["val_loss"]
    assert result.best_score == losses[0] == min(losses)
    one_epoch = run("lstm", data, epochs=8, max_steps=len(data) // 16)
    assert_trees_equal(result.params, one_epoch.last_params)
    assert not np.array_equal(result.params["head.weight"], result.last_params["head.weight"])


def test_checkpoint_resumes_to_identical_results(tmp_path):
    data = tiny_task()
    straight = run("transformer", data, epochs=3)
    first = run("transformer", data, epochs=1)
    path = checkpoint.save(tmp_path / "ck.safetensors", first.last_params, first.opt_state, step=6)
    _, loss_fn = model("transformer")
    optimizer, schedule = optimizer_and_schedule()
    like = optimizer.init(first.last_params)
    ck = checkpoint.load(path, expected=first.last_params, opt_state_like=like)
    assert ck.step == 6
    resumed = fit(
        loss_fn,
        ck.params,
        optimizer,
        data,
        batch_size=16,
        epochs=3,
        schedule=schedule,
        opt_state=ck.opt_state,
        start_epoch=1,
        progress=False,
    )
    assert resumed.steps == straight.steps == 18
    assert resumed.history["loss"] == straight.history["loss"][6:]
    assert resumed.history["lr"] == straight.history["lr"][6:]
    assert_trees_equal(jax.tree.map(np.asarray, resumed.last_params), straight.last_params)
    assert_trees_equal(jax.tree.map(np.asarray, resumed.opt_state), straight.opt_state)


def test_max_steps_ends_training_mid_epoch():
    result = run("lstm", tiny_task(), epochs=5, max_steps=8)
    assert result.steps == 8
    assert result.history["step"] == list(range(8)) and result.history["epoch"] == [0, 1]


def test_evaluate_matches_the_metrics_module():
    data = tiny_task()
    params, loss_fn = model("lstm")
    eval_step = make_eval_step(loss_fn)
    scores = evaluate(eval_step, params, data, batch_size=40)  # 96 rows: batches 40, 40, 16
    loss, logits = eval_step(
        params, {k: jnp.asarray(v) for k, v in data.batch(np.arange(96)).items()}
    )
    pred = np.asarray(logits).argmax(-1)
    assert scores["accuracy"] == pytest.approx(np.mean(pred == data.labels))
    assert scores["loss"] == pytest.approx(float(loss), rel=1e-5)
    tp = np.sum((pred == 1) & (data.labels == 1))
    f1_pos = 2 * tp / (np.sum(pred == 1) + np.sum(data.labels == 1))
    tn = np.sum((pred == 0) & (data.labels == 0))
    f1_neg = 2 * tn / (np.sum(pred == 0) + np.sum(data.labels == 0))
    assert scores["f1"] == pytest.approx((f1_pos + f1_neg) / 2)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"batch_size": 200}, ValueError, "larger than the 96 training rows"),
        ({"monitor": "auc"}, ValueError, "monitor must be one of"),
        ({"patience": 2}, ValueError, "needs valid_data"),
        ({"batch_size": 0}, ValueError, "batch_size must be a positive int"),
    ],
)
def test_fit_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        run("lstm", tiny_task(), **kwargs)


def test_fit_rejects_data_without_batches():
    params, loss_fn = model("lstm")
    optimizer, _ = make_optimizer(1e-3, total_steps=10)
    with pytest.raises(TypeError, match="train_data must have len"):
        fit(loss_fn, params, optimizer, np.zeros((10, 3)), progress=False)


# ------------------------------------------------------------------------------------- the models
def load_into_torch(params, modules):
    """Check that `params` has exactly the keys and shapes of the torch modules, and load it."""
    torch_keys = {
        p + k: tuple(v.shape) for p, m in modules.items() for k, v in m.state_dict().items()
    }
    ours = {k: tuple(v.shape) for k, v in params.items() if not k.startswith(("cls", "pos"))}
    assert ours == torch_keys
    for p, m in modules.items():
        m.load_state_dict(
            {
                k[len(p) :]: torch.from_numpy(np.array(v))
                for k, v in params.items()
                if k.startswith(p)
            }
        )


def test_lstm_classifier_matches_torch_modules():
    """Keys of nn.Embedding + nn.LSTM + nn.Linear; the same logits as those torch modules run on
    packed sequences."""
    params, _ = model("lstm")  # 2 layers, bidirectional
    emb, rnn = torch.nn.Embedding(V, 8, padding_idx=0), torch.nn.LSTM(8, 6, 2, bidirectional=True)
    head = torch.nn.Linear(12, C)
    load_into_torch(params, {"embedding.": emb, "lstm.": rnn, "head.": head})
    batch = tiny_task().batch(np.arange(16))
    final = jax.jit(functools.partial(lstm_classifier_apply, pool="final"))
    ours_final = final(params, batch["ids"], batch["lengths"])
    ours_max = logits("lstm", batch)  # pool="max", no dropout in eval
    ids, lengths = torch.from_numpy(batch["ids"]).long(), torch.from_numpy(batch["lengths"])
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        emb(ids), lengths, batch_first=True, enforce_sorted=False
    )
    with torch.no_grad():
        out, (h_n, _) = rnn(packed)
        theirs_final = head(torch.cat([h_n[-2], h_n[-1]], dim=-1))  # top layer, both directions
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=8)
        pad = torch.arange(8)[None, :, None] >= lengths[:, None, None]
        theirs_max = head(out.masked_fill(pad, -torch.inf).amax(dim=1))
    np.testing.assert_allclose(np.asarray(ours_final), theirs_final.numpy(), atol=1e-5)
    np.testing.assert_allclose(ours_max, theirs_max.numpy(), atol=1e-5)


def test_transformer_classifier_matches_torch_modules():
    """Keys of nn.Embedding + nn.TransformerEncoder (pre-LN, final norm) + nn.Linear; the same
    logits with a [CLS] vector in front and learned positions."""
    params, _ = model("transformer")
    layer = torch.nn.TransformerEncoderLayer(
        8, 2, 12, dropout=0.0, batch_first=True, norm_first=True
    )
    enc = torch.nn.TransformerEncoder(
        layer, 2, norm=torch.nn.LayerNorm(8), enable_nested_tensor=False
    )
    emb, head = torch.nn.Embedding(V, 8, padding_idx=0), torch.nn.Linear(8, C)
    load_into_torch(params, {"embedding.": emb, "encoder.": enc.eval(), "head.": head})
    assert params["cls_token"].shape == (1, 1, 8) and params["pos_embedding.weight"].shape == (
        16,
        8,
    )
    batch = tiny_task().batch(np.arange(16))
    ours = logits("transformer", batch)  # pool="cls", norm_first=True, no dropout in eval
    ids, lengths = torch.from_numpy(batch["ids"]).long(), torch.from_numpy(batch["lengths"])
    cls = torch.from_numpy(np.array(params["cls_token"])).expand(16, 1, 8)
    pos = torch.from_numpy(np.array(params["pos_embedding.weight"]))[:9]
    pad = torch.arange(9)[None, :] >= 1 + lengths[:, None]  # (B, 1 + T), [CLS] is never padding
    with torch.no_grad():
        x = torch.cat([cls, emb(ids) * math.sqrt(8)], dim=1) + pos
        theirs = head(enc(x, src_key_padding_mask=pad)[:, 0])
    np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-5)


def test_sinusoidal_positions():
    pe = sinusoidal(50, 6)
    t, i = np.arange(50)[:, None], np.arange(3)[None, :]
    np.testing.assert_allclose(pe[:, 0::2], np.sin(t / 10000 ** (2 * i / 6)), atol=1e-6)
    np.testing.assert_allclose(pe[:, 1::2], np.cos(t / 10000 ** (2 * i / 6)), atol=1e-6)
    assert sinusoidal(4, 5).shape == (4, 5)  # odd D: the last sine has no cosine


def test_initialisation_follows_torch_defaults():
    p, _ = model("transformer")  # D = 8, FFN = 12
    w_in = np.asarray(p["encoder.layers.0.self_attn.in_proj_weight"])
    bound = math.sqrt(6 / (8 + 24))
    assert np.abs(w_in).max() <= bound and np.abs(w_in).max() > 0.9 * bound  # Xavier-uniform
    assert np.all(np.asarray(p["encoder.layers.1.self_attn.in_proj_bias"]) == 0)
    w2 = np.abs(np.asarray(p["encoder.layers.0.linear2.weight"]))
    assert 0.9 / math.sqrt(12) < w2.max() <= 1 / math.sqrt(12)  # U(±1/√fan_in)
    assert np.all(np.asarray(p["encoder.norm.weight"]) == 1)
    emb = np.asarray(p["embedding.weight"])
    assert np.all(emb[0] == 0) and abs(emb[1:].std() - 1) < 0.25  # N(0, 1), <pad> row zero
    q, _ = model("lstm")  # H = 6
    for k in ("lstm.weight_hh_l1", "lstm.bias_ih_l0_reverse"):
        w = np.abs(np.asarray(q[k]))
        assert 0.8 / math.sqrt(6) < w.max() <= 1 / math.sqrt(6), k  # biases are not zero


@pytest.mark.parametrize("name", sorted(MODELS))
def test_logits_do_not_depend_on_padding(name):
    batch = tiny_task().batch(np.arange(16))  # (16, 8)
    reference = logits(name, batch)
    junk = dict(batch, ids=batch["ids"].copy())
    junk["ids"][np.arange(8)[None, :] >= batch["lengths"][:, None]] = 13  # not <pad>, not read
    np.testing.assert_allclose(logits(name, junk), reference, atol=1e-6)
    longer = dict(batch, ids=np.pad(batch["ids"], ((0, 0), (0, 5)), constant_values=7))
    np.testing.assert_allclose(logits(name, longer), reference, atol=1e-6)


def test_dropout_needs_a_key_and_follows_it():
    params, loss_fn = model("lstm")
    batch = {k: jnp.asarray(v) for k, v in tiny_task().batch(np.arange(16)).items()}
    with pytest.raises(ValueError, match="needs a PRNG key"):
        lstm_classifier_apply(params, batch["ids"], batch["lengths"], True, dropout=0.5)
    step = make_train_step(loss_fn, optimizer_and_schedule()[0])
    state = optimizer_and_schedule()[0].init(params)
    a, b, c = (step(params, state, batch, jax.random.key(k))[2]["loss"] for k in (0, 1, 0))
    assert float(a) == float(c) != float(b)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda p, i, n: lstm_classifier_apply(p, i, n[:2]),
            ValueError,
            r"lengths has shape \(2,\)",
        ),
        (lambda p, i, n: lstm_classifier_apply(p, i[0], n), ValueError, "ids"),
        (lambda p, i, n: lstm_classifier_apply(p, i, n, pool="sum"), ValueError, "pool must be"),
        (
            lambda p, i, n: lstm_classifier_apply(p, i.astype(np.float32), n),
            TypeError,
            "ids must be an integer",
        ),
    ],
)
def test_classifier_rejects_bad_inputs(call, error, match):
    params, _ = model("lstm")
    batch = tiny_task().batch(np.arange(4))
    with pytest.raises(error, match=match):
        call(params, batch["ids"], batch["lengths"])


def test_transformer_rejects_inconsistent_settings():
    with pytest.raises(ValueError, match="H = 3 must divide the model width D = 8"):
        init_transformer_classifier(jax.random.key(0), V, 8, 3, 2)
    with pytest.raises(ValueError, match="positions must be"):
        init_transformer_classifier(jax.random.key(0), V, 8, 2, 2, positions="rotary")
    params, _ = model("transformer")
    ids, lengths = np.ones((1, 3), np.int32), np.array([3], np.int32)
    with pytest.raises(KeyError, match="pool='mean' does not use params\\['cls_token'\\]"):
        transformer_classifier_apply(params, ids, lengths, num_heads=2, pool="mean")
    without = {k: v for k, v in params.items() if k != "cls_token"}
    with pytest.raises(KeyError, match="pool='cls' needs params\\['cls_token'\\]"):
        transformer_classifier_apply(without, ids, lengths, num_heads=2, pool="cls")


# ------------------------------------------------------------------------------------- text data
def test_tokenized_text_pads_to_buckets():
    texts = ["a good film", "bad", "a good , good film that is not bad at all really"]
    data = TextDataset(texts, np.array([1, 0, 1]), None, ("neg", "pos"))
    vocab = Vocab.build(texts)
    tok = TokenizedText.from_dataset(data, vocab, max_len=10, bucket=4)
    batch = tok.batch(np.array([0, 1]))
    assert batch["ids"].shape == (2, 4) and batch["ids"].dtype == np.int32
    assert batch["lengths"].tolist() == [3, 1]
    assert batch["ids"][1].tolist() == [vocab.stoi["bad"], 0, 0, 0]
    assert batch["labels"].tolist() == [1, 0]
    full = tok.batch(np.array([2]))
    assert full["ids"].shape == (1, 10) and full["lengths"].tolist() == [10]  # cut at max_len


def test_pretrained_embeddings_copy_known_words():
    vocab = Vocab(("<pad>", "<unk>", "good", "zzqx"))
    vectors = {"good": np.array([1.0, -2.0, 3.0])}
    emb = pretrained_embeddings(vocab, vectors)
    assert emb.shape == (4, 3) and emb.dtype == np.float32
    np.testing.assert_array_equal(emb[2], [1, -2, 3])
    assert np.all(emb[0] == 0) and np.any(emb[3] != 0)
    with pytest.raises(ValueError, match="none of the vocabulary"):
        pretrained_embeddings(vocab, {})


# ------------------------------------------------------------------------------------- sentiment
@pytest.mark.parametrize("name", ["lstm", "transformer"])
def test_sentiment_config_is_plain_data(name):
    import json

    from minienc.train.sentiment import sentiment_config

    full, fast = sentiment_config(name, fast=False), sentiment_config(name, fast=True)
    assert json.loads(json.dumps(full)) == full  # can ride in a checkpoint's config
    assert full["rows"] is None and full["fit"]["epochs"] > fast["fit"]["epochs"] == 1
    assert fast["rows"]["train"] < 8456
    assert full["init"]["D"] == 50 and full["glove"]  # GloVe 6B 50d
    with pytest.raises(ValueError, match="model must be one of"):
        sentiment_config("gru")
