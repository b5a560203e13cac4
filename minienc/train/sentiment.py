"""Sentiment classification of movie-review snippets: one recipe, either backend.

    run = train_sentiment(sentiment_config("lstm"), backend="numpy")   # or backend="jax"
    run.test.accuracy, run.test.f1, run.fit.history

trains a classifier on the training split of `minienc.data.sentiment` (positive or negative
snippets), keeps the epoch with the best validation accuracy and scores it on the test split.
The vocabulary comes from the training split; the embedding starts from GloVe 6B 50d for the
words GloVe knows (`coverage` is that fraction; from a random embedding, 8k short sentences are
too few for the Transformer). With `fast=True` (the default when `MINIENC_FAST=1`, as in the
tests) the same code runs on a random 512 training rows (128 validation and test rows) for two
epochs, to check that everything runs; the scores then mean little.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from minienc.data import GloVe, TextDataset, sentiment
from minienc.text import Vocab
from minienc.train.config import ClassifierConfig, TrainConfig
from minienc.train.data import TokenizedText, pretrained_embeddings
from minienc.train.loop import EvalResult, FitResult, evaluate, fit

__all__ = [
    "SentimentRecipe",
    "SentimentRun",
    "backend_module",
    "sentiment_config",
    "train_sentiment",
]

BACKENDS = ("numpy", "jax")


@dataclass(frozen=True)
class SentimentRecipe:
    """model: the `ClassifierConfig` arguments other than `vocab_size` and `num_classes`.
    train: the `TrainConfig`. min_freq: the vocabulary keeps training words seen this often.
    max_len: sentences are cut at this many tokens. glove: start from GloVe (embed_dim 50).
    limit: use `limit` training rows and `limit // 4` validation and test rows, drawn at random
    once (a quick run); None for all of them."""

    model: Mapping[str, Any]
    train: TrainConfig
    min_freq: int = 1
    max_len: int = 64
    glove: bool = True
    limit: int | None = None


def sentiment_config(
    encoder: str, fast: bool | None = None, pool: str | None = None
) -> SentimentRecipe:
    """The settings the lessons train with: `encoder` "lstm" or "transformer"; `fast` the tiny
    version (default: `MINIENC_FAST=1`); `pool` overrides the pooling (LSTM max, Transformer
    mean)."""
    fast = os.environ.get("MINIENC_FAST") == "1" if fast is None else fast
    if encoder == "lstm":
        model = dict(
            encoder="lstm",
            embed_dim=50,
            hidden_size=64,
            bidirectional=True,
            pool="max",
            dropout=0.3,
        )
        train = TrainConfig(epochs=8, lr=2e-3, warmup=0.05, patience=2, bucket=20)
    elif encoder == "transformer":
        model = dict(
            encoder="transformer",
            embed_dim=50,
            num_heads=2,
            num_layers=2,
            ffn_dim=128,
            pool="mean",
            dropout=0.2,
        )
        train = TrainConfig(epochs=10, lr=1e-3, warmup=0.1, patience=3, bucket=20)
    else:
        raise ValueError(f"encoder must be 'lstm' or 'transformer', got {encoder!r}")
    if pool is not None:
        model["pool"] = pool
    if fast:
        return SentimentRecipe(model, replace(train, epochs=2), limit=512)
    return SentimentRecipe(model, train)


class SentimentRun(NamedTuple):
    """Everything a lesson shows after `train_sentiment`."""

    backend: str
    config: ClassifierConfig
    vocab: Vocab
    params: dict[str, Any]
    fit: FitResult
    test: EvalResult
    test_data: TokenizedText
    test_set: TextDataset  # the test rows as text, with labels and human ratings
    coverage: float | None
    seconds: float


def backend_module(backend: str) -> ModuleType:
    """The classifier module of `backend` ("numpy" or "jax"), which `fit` drives."""
    if backend == "numpy":
        from minienc.numpy import classifier
    elif backend == "jax":
        from minienc.jax import classifier
    else:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return classifier


def train_sentiment(
    recipe: SentimentRecipe, backend: str = "numpy", seed: int = 0, progress: bool = True
) -> SentimentRun:
    """Train `recipe` with `backend` ("numpy" or "jax"), early-stopped on the validation split,
    and score the kept parameters on the test split. `seed` seeds the initialisation and the
    training (the data split is fixed). For the Transformer the GloVe matrix is rescaled to
    entries of standard deviation 1/√D like its random initialisation, so that √D · E[ids] is of
    the size of the positional encodings."""
    model = backend_module(backend)
    start = time.perf_counter()
    splits = {name: sentiment(name) for name in ("train", "valid", "test")}
    if recipe.limit is not None:
        # the file is sorted by label: a quick run takes a random subset, not the first rows
        sizes = {"train": recipe.limit, "valid": recipe.limit // 4, "test": recipe.limit // 4}
        pick = {
            k: np.random.default_rng(0).permutation(len(d))[: sizes[k]] for k, d in splits.items()
        }
        splits = {k: d.take(np.sort(pick[k])) for k, d in splits.items()}
    vocab = Vocab.build(splits["train"].texts, min_freq=recipe.min_freq)
    data = {k: TokenizedText.from_dataset(d, vocab, recipe.max_len) for k, d in splits.items()}
    config = ClassifierConfig(
        vocab_size=len(vocab), num_classes=len(splits["train"].label_names), **recipe.model
    )
    embeddings, coverage = None, None
    if recipe.glove:
        embeddings, coverage = pretrained_embeddings(vocab, GloVe.load(), seed)
        if config.encoder == "transformer":
            embeddings /= embeddings[1:].std() * np.sqrt(config.embed_dim)
    params = model.init(config, seed, embeddings)
    settings = replace(recipe.train, seed=seed)
    result = fit(model, config, params, data["train"], data["valid"], settings, progress=progress)
    test = evaluate(model, config, result.params, data["test"], settings.eval_batch_size)
    seconds = time.perf_counter() - start
    return SentimentRun(
        backend,
        config,
        vocab,
        result.params,
        result,
        test,
        data["test"],
        splits["test"],
        coverage,
        seconds,
    )
