"""Sentiment classification of movie-review snippets: the configurations that train both models.

`train_sentiment("lstm")` and `train_sentiment("transformer")` train a classifier on the training
split of `minienc.data.sentiment` (8,456 snippets, positive or negative), pick the epoch with the
best validation accuracy (early stopping) and report accuracy and macro-F1 on the held-out test
split. Both start from 50-dimensional GloVe vectors for the words of the training vocabulary; from
a random embedding, 8k short sentences are too few for the Transformer (≈ 0.68 test accuracy).
With these settings a 2-core CPU trains each in about one to two minutes to ≈ 0.79 test accuracy.

With `fast=True` (or `MINIENC_FAST=1`) the same code runs on a random 1,024 training rows (and 256
validation and test rows) for one epoch, to check that everything runs; the scores then mean little.
"""

from __future__ import annotations

import math
import os
from typing import Any, NamedTuple

import jax
import numpy as np

from minienc.data import GloVe, sentiment
from minienc.text import Vocab
from minienc.train.data import TokenizedText, pretrained_embeddings
from minienc.train.loop import FitResult, evaluate, fit, make_eval_step
from minienc.train.models import (
    classifier_loss,
    init_lstm_classifier,
    init_transformer_classifier,
    lstm_classifier_apply,
    transformer_classifier_apply,
)
from minienc.train.optim import make_optimizer

__all__ = ["MODELS", "SentimentRun", "sentiment_config", "train_sentiment"]

MODELS = ("lstm", "transformer")
_FAST_ROWS = {"train": 1024, "valid": 256, "test": 256}


def _fast_default(fast: bool | None) -> bool:
    return os.environ.get("MINIENC_FAST", "0") == "1" if fast is None else fast


def sentiment_config(model: str, fast: bool | None = None) -> dict[str, Any]:
    """The hyperparameters of a sentiment run, as a plain (JSON-serialisable) dict.

    Keys: "model"; "seed"; "min_freq" and "max_len" (vocabulary and truncation); "glove" (start
    from GloVe 6B 50d, so D = 50); "init" and "apply" (keyword arguments of the model's init and
    apply functions); "optim" (of `make_optimizer`, with the warmup as a fraction of the steps);
    "fit" (of `fit`); "rows" (rows per split, None for all).
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    fast = _fast_default(fast)
    common = {
        "model": model,
        "seed": 0,
        "min_freq": 1,
        "max_len": 64,
        "glove": True,
        "fit": {"batch_size": 32, "epochs": 1 if fast else 6, "patience": 2, "monitor": "accuracy"},
        "rows": _FAST_ROWS if fast else None,
    }
    if model == "lstm":
        return common | {
            "init": {"D": 50, "H": 64, "bidirectional": True},
            "apply": {"pool": "max", "dropout": 0.3},
            "optim": {"lr": 2e-3, "warmup": 0.1, "weight_decay": 0.01, "clip_norm": 1.0},
        }
    return common | {
        "init": {"D": 50, "H": 2, "num_layers": 2, "ffn": 200, "pool": "mean"},
        "apply": {"num_heads": 2, "pool": "mean", "dropout": 0.3},
        "optim": {"lr": 1e-3, "warmup": 0.1, "weight_decay": 0.01, "clip_norm": 1.0},
    }


class SentimentRun(NamedTuple):
    """A trained classifier: its params, loss function, vocabulary, fit result and test scores."""

    params: dict[str, jax.Array]
    loss_fn: Any
    vocab: Vocab
    result: FitResult
    test: dict[str, float]
    config: dict[str, Any]


def train_sentiment(
    model: str, fast: bool | None = None, progress: bool = True, config: dict | None = None
) -> SentimentRun:
    """Train the `model` ("lstm" or "transformer") with `config` (`sentiment_config` by default)
    and evaluate it on the test split."""
    cfg = sentiment_config(model, fast) if config is None else config
    rows = cfg["rows"] or {}
    splits = {}
    for split in ("train", "valid", "test"):
        data = sentiment(split)
        n = min(len(data), rows.get(split, len(data)))
        # the file is sorted by label: a fast run takes a random subset, not the first rows
        splits[split] = data.take(
            np.sort(np.random.default_rng(cfg["seed"]).permutation(len(data))[:n])
        )
    vocab = Vocab.build(splits["train"].texts, min_freq=cfg["min_freq"])
    train, valid, test = (
        TokenizedText.from_dataset(splits[s], vocab, max_len=cfg["max_len"])
        for s in ("train", "valid", "test")
    )
    init = dict(cfg["init"])
    D = init.pop("D")
    emb = pretrained_embeddings(vocab, GloVe.load(), cfg["seed"]) if cfg["glove"] else None
    key = jax.random.key(cfg["seed"])
    num_classes = len(splits["train"].label_names)
    if model == "lstm":
        params = init_lstm_classifier(
            key, len(vocab), D, num_classes=num_classes, **init, embeddings=emb
        )
        apply = lstm_classifier_apply
    else:
        if emb is not None:
            emb = emb / math.sqrt(D)  # the model multiplies by √D: the sum keeps GloVe's scale
        params = init_transformer_classifier(
            key, len(vocab), D, num_classes=num_classes, **init, embeddings=emb
        )
        apply = transformer_classifier_apply
    loss_fn = classifier_loss(apply, **cfg["apply"])
    fit_kw = dict(cfg["fit"])
    total = fit_kw["epochs"] * (len(train) // fit_kw["batch_size"])
    optim = dict(cfg["optim"])
    warmup = int(optim.pop("warmup") * total)
    optimizer, schedule = make_optimizer(total_steps=total, warmup_steps=warmup, **optim)
    result = fit(
        loss_fn,
        params,
        optimizer,
        train,
        valid,
        seed=cfg["seed"],
        schedule=schedule,
        progress=progress,
        **fit_kw,
    )
    scores = evaluate(make_eval_step(loss_fn), result.params, test)
    return SentimentRun(result.params, loss_fn, vocab, result, scores, cfg)
