"""Training the NumPy classifier: mini-batches, AdamW, early stopping, evaluation.

One training step is the whole model's forward, the cross-entropy, and the backward passes in
reverse, then a global-norm clip and an AdamW update:

    logits, cache = classifier.forward(params, ids, lengths, config, training=True, rng=step_rng)
    loss, lc = cross_entropy_forward({}, logits, labels)
    dlogits, _ = cross_entropy_backward(1.0, lc)
    _, grads = classifier.backward(dlogits, cache)
    grads, norm = clip_grad_norm(grads, clip_norm)
    params, state = optimizer.step(params, grads, state)

`fit` runs epochs of shuffled mini-batches (`batch_indices` with the generator
`default_rng((seed, epoch))`, dropout masks from `default_rng((seed, step))`, so the same seed gives
the same run), evaluates on the validation set after every epoch and stops when its accuracy has
not improved for `patience` epochs, returning the best parameters seen. `evaluate` gives the loss,
accuracy, macro-F1 and confusion matrix (`minienc.metrics`).

`sentiment_config` holds the settings the lessons use on the movie-review sentiment data and
`train_sentiment` runs the whole recipe: vocabulary, GloVe initialisation, training, test scores.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from minienc.metrics import accuracy, confusion_matrix, precision_recall_f1
from minienc.numpy import classifier, losses
from minienc.numpy.classifier import ClassifierConfig
from minienc.numpy.optim import AdamW, clip_grad_norm
from minienc.text import Vocab, batch_indices, pad_batch

__all__ = [
    "EncodedText",
    "encode",
    "TrainConfig",
    "EvalResult",
    "FitResult",
    "init_optimizer",
    "train_step",
    "evaluate",
    "fit",
    "SentimentConfig",
    "SentimentRun",
    "sentiment_config",
    "train_sentiment",
]


# ------------------------------------------------------------------------------------ the data
@dataclass(frozen=True, eq=False)
class EncodedText:
    """Sentences as token ids (one list per sentence, cut at `max_len`) with integer labels."""

    ids: list[list[int]]
    labels: np.ndarray
    label_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`(ids (B, T), lengths (B,), labels (B,))` for rows `idx`, padded to the longest."""
        ids, lengths = pad_batch([self.ids[i] for i in idx])
        return ids, lengths, self.labels[idx]


def encode(
    texts: Sequence[str],
    labels: np.ndarray,
    vocab: Vocab,
    max_len: int | None = None,
    label_names: tuple[str, ...] = (),
) -> EncodedText:
    """Tokenize and look up every text (unknown words become `<unk>`), cut at `max_len`."""
    if len(texts) != len(labels):
        raise ValueError(f"there are {len(texts)} texts but {len(labels)} labels")
    ids = [vocab.encode(t)[:max_len] for t in texts]
    return EncodedText(ids, np.asarray(labels, dtype=np.int64), label_names)


# ------------------------------------------------------------------------------------ training
@dataclass(frozen=True)
class TrainConfig:
    """How to train.

    Up to `epochs` epochs, stopping early after `patience` epochs without a better validation
    accuracy (None: never). `warmup_steps` ramps the learning rate up linearly from 0.
    `bucket` > 0 draws `bucket` batches' worth of rows at a time, sorts them by length and cuts
    them into batches (in random order), so that a batch holds sentences of similar length and
    little padding; 0 draws plain random batches. `frozen` names parameters that are never
    updated (e.g. `("embedding.weight",)` to keep pretrained vectors). `blas_threads` caps the
    threads of NumPy's matrix products while training (None: no cap); one thread is fastest for
    small matrices on a shared machine.
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    patience: int | None = 3
    warmup_steps: int = 0
    label_smoothing: float = 0.0
    bucket: int = 0
    frozen: tuple[str, ...] = ()
    seed: int = 0
    eval_batch_size: int = 256
    blas_threads: int | None = 1


HISTORY_KEYS = (
    "step_loss",
    "epoch",
    "train_loss",
    "train_accuracy",
    "valid_loss",
    "valid_accuracy",
    "valid_macro_f1",
    "seconds",
)


class EvalResult(NamedTuple):
    """Scores on one dataset; `confusion[i, j]` counts true class i predicted as j."""

    loss: float
    accuracy: float
    macro_f1: float
    confusion: np.ndarray
    predictions: np.ndarray


class FitResult(NamedTuple):
    """What `fit` returns.

    params: the parameters of the epoch with the best validation accuracy (`best_epoch`).
    last_params: those of the last epoch run. history: per step "step_loss"; per epoch "epoch",
    "train_loss", "train_accuracy", "valid_loss", "valid_accuracy", "valid_macro_f1", "seconds".
    """

    params: dict[str, np.ndarray]
    last_params: dict[str, np.ndarray]
    history: dict[str, list[float]]
    best_epoch: int
    best_accuracy: float
    steps: int
    seconds: float


def train_step(
    params: Mapping[str, np.ndarray],
    opt_state: dict,
    batch: tuple[np.ndarray, np.ndarray, np.ndarray],
    config: ClassifierConfig,
    settings: TrainConfig,
    rng: int | np.random.Generator | None,
    lr: float | None = None,
) -> tuple[dict[str, np.ndarray], dict, float, np.ndarray, float]:
    """One update on `batch = (ids, lengths, labels)`.

    Returns the new params and optimizer state, the batch's mean loss, its logits (B, C) and the
    gradient norm before clipping. `lr` overrides `settings.lr` (for a warmup).
    """
    ids, lengths, labels = batch
    logits, cache = classifier.forward(params, ids, lengths, config, training=True, rng=rng)
    loss, loss_cache = losses.forward({}, logits, labels, label_smoothing=settings.label_smoothing)
    dlogits, _ = losses.backward(np.asarray(1.0, dtype=logits.dtype), loss_cache)
    _, grads = classifier.backward(dlogits, cache)
    grads, norm = clip_grad_norm(_trainable(grads, settings), settings.clip_norm)
    optimizer = AdamW(lr=settings.lr if lr is None else lr, weight_decay=settings.weight_decay)
    new, opt_state = optimizer.step(_trainable(params, settings), grads, opt_state)
    return dict(params) | new, opt_state, float(loss), logits, norm


def _trainable(tensors: Mapping[str, np.ndarray], settings: TrainConfig) -> dict[str, np.ndarray]:
    unknown = sorted(set(settings.frozen) - set(tensors))
    if unknown:
        raise KeyError(f"TrainConfig.frozen names unknown parameters {unknown}")
    return {k: v for k, v in tensors.items() if k not in settings.frozen}


def init_optimizer(params: Mapping[str, np.ndarray], settings: TrainConfig) -> dict:
    """The AdamW state for the parameters that `settings` trains (all but `settings.frozen`)."""
    return AdamW(lr=settings.lr, weight_decay=settings.weight_decay).init(
        _trainable(params, settings)
    )


def _blas_limit(threads: int | None) -> AbstractContextManager:
    """Cap the threads of NumPy's BLAS inside a `with` block (no cap for None)."""
    return threadpool_limits(threads, "blas") if threads else nullcontext()


def _batches(n: int, lengths: Sequence[int], s: TrainConfig, epoch: int) -> list[np.ndarray]:
    """The batches of one epoch: `batch_indices` with the generator `default_rng((seed, epoch))`."""
    rng = np.random.default_rng((s.seed, epoch))
    if not s.bucket:
        return list(batch_indices(n, s.batch_size, rng))
    batches = []
    for pool in batch_indices(n, s.batch_size * s.bucket, rng):
        pool = pool[np.argsort([lengths[i] for i in pool], kind="stable")]  # short to long
        batches += [pool[i : i + s.batch_size] for i in range(0, len(pool), s.batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _by_length(data: EncodedText, batch_size: int) -> list[np.ndarray]:
    """Index batches of sentences of similar length: less padding, the same results."""
    order = np.argsort([len(s) for s in data.ids], kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def evaluate(
    params: Mapping[str, np.ndarray],
    config: ClassifierConfig,
    data: EncodedText,
    batch_size: int = 256,
) -> EvalResult:
    """Mean loss, accuracy, macro-F1, confusion matrix and predicted classes on `data`."""
    if len(data) == 0:
        raise ValueError("evaluate needs at least one example")
    preds = np.empty(len(data), dtype=np.int64)
    total = 0.0
    for idx in _by_length(data, batch_size):
        ids, lengths, labels = data.batch(idx)
        logits = classifier.predict(params, ids, lengths, config)
        loss, _ = losses.forward({}, logits, labels, reduction="sum")
        total += float(loss)
        preds[idx] = logits.argmax(axis=-1)
    _, _, f1 = precision_recall_f1(data.labels, preds, average="macro")
    return EvalResult(
        loss=total / len(data),
        accuracy=accuracy(data.labels, preds),
        macro_f1=f1,
        confusion=confusion_matrix(data.labels, preds, num_classes=config.num_classes),
        predictions=preds,
    )


def fit(
    params: Mapping[str, np.ndarray],
    config: ClassifierConfig,
    train: EncodedText,
    valid: EncodedText,
    settings: TrainConfig = TrainConfig(),
    max_steps: int | None = None,
    progress: bool = True,
) -> FitResult:
    """Train with AdamW and early stopping on validation accuracy; return the best parameters.

    Args:
        params: the initial parameters (`classifier.init`); not modified.
        config: the model's `ClassifierConfig`.
        train, valid: `EncodedText` datasets. Every epoch visits the training rows in a new
            random order (the last batch may be smaller).
        settings: a `TrainConfig`.
        max_steps: stop after this many steps in all (None: whole epochs only).
        progress: show a tqdm progress bar.

    Returns:
        A `FitResult`.
    """
    if len(train) == 0 or len(valid) == 0:
        raise ValueError(
            f"fit needs training and valid data, got {len(train)} and {len(valid)} rows"
        )
    s = settings
    per_epoch = -(-len(train) // s.batch_size)
    budget = s.epochs * per_epoch if max_steps is None else min(max_steps, s.epochs * per_epoch)
    lengths = [len(ids) for ids in train.ids]
    params = dict(params)
    opt_state = init_optimizer(params, s)
    history: dict[str, list[float]] = {k: [] for k in HISTORY_KEYS}
    best_params, best_epoch, best_acc, waited, step = params, -1, -np.inf, 0, 0
    start = time.perf_counter()
    bar = tqdm(total=budget, disable=not progress, desc=f"{config.encoder}, {config.pool} pooling")
    with _blas_limit(s.blas_threads):
        for epoch in range(s.epochs):
            if step >= budget:
                break
            n_seen, n_right, loss_sum = 0, 0, 0.0
            for idx in _batches(len(train), lengths, s, epoch):
                if step >= budget:
                    break
                lr = s.lr * min(1.0, (step + 1) / s.warmup_steps) if s.warmup_steps else s.lr
                batch = train.batch(idx)
                step_rng = np.random.default_rng((s.seed, step))  # this step's dropout masks
                params, opt_state, loss, logits, _ = train_step(
                    params, opt_state, batch, config, s, step_rng, lr
                )
                history["step_loss"].append(loss)
                n_seen += len(idx)
                n_right += int((logits.argmax(axis=-1) == batch[2]).sum())
                loss_sum += loss * len(idx)
                step += 1
                bar.update()
                if step % 10 == 0:
                    bar.set_postfix(epoch=epoch, loss=f"{loss:.3f}")
            scores = evaluate(params, config, valid, s.eval_batch_size)
            for key, value in (
                ("epoch", epoch),
                ("train_loss", loss_sum / n_seen),
                ("train_accuracy", n_right / n_seen),
                ("valid_loss", scores.loss),
                ("valid_accuracy", scores.accuracy),
                ("valid_macro_f1", scores.macro_f1),
                ("seconds", time.perf_counter() - start),
            ):
                history[key].append(value)
            bar.set_postfix(epoch=epoch, valid_accuracy=f"{scores.accuracy:.3f}")
            if scores.accuracy > best_acc:
                best_params, best_epoch, best_acc, waited = params, epoch, scores.accuracy, 0
            else:
                waited += 1
                if s.patience is not None and waited >= s.patience:
                    break
    bar.close()
    seconds = time.perf_counter() - start
    return FitResult(best_params, params, history, best_epoch, float(best_acc), step, seconds)


# ------------------------------------------------------------------------------------ sentiment
@dataclass(frozen=True)
class SentimentConfig:
    """A recipe for the movie-review sentiment data (`minienc.data.sentiment`).

    model: the `ClassifierConfig` arguments other than `vocab_size` and `num_classes`.
    train: the `TrainConfig`.
    min_freq: the vocabulary keeps the training words seen at least this often.
    max_len: sentences are cut at this many tokens.
    glove: start the embedding from GloVe 6B 50d (`embed_dim` must be 50).
    limit: use only `limit` training rows and `limit // 4` validation and test rows, drawn at
        random once (a quick run); None for all of them.
    """

    model: Mapping[str, object]
    train: TrainConfig
    min_freq: int = 1
    max_len: int = 64
    glove: bool = True
    limit: int | None = None


def sentiment_config(encoder: str, fast: bool = False, pool: str | None = None) -> SentimentConfig:
    """The settings the lessons train with: `encoder` "lstm" or "transformer"; `fast` is the
    tiny version the tests run (a few hundred sentences, two epochs); `pool` overrides the
    pooling mode (LSTM: max, Transformer: mean)."""
    if encoder == "lstm":
        model = dict(
            encoder="lstm",
            embed_dim=50,
            hidden_size=64,
            bidirectional=True,
            pool="max",
            dropout=0.3,
        )
        train = TrainConfig(epochs=8, batch_size=32, lr=2e-3, patience=2, bucket=20)
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
        train = TrainConfig(
            epochs=10, batch_size=32, lr=5e-4, patience=3, bucket=20, warmup_steps=100
        )
    else:
        raise ValueError(f"encoder must be 'lstm' or 'transformer', got {encoder!r}")
    if pool is not None:
        model["pool"] = pool
    if fast:
        return SentimentConfig(model, replace(train, epochs=2, warmup_steps=0), limit=320)
    return SentimentConfig(model, train)


class SentimentRun(NamedTuple):
    """Everything a lesson shows after `train_sentiment`."""

    config: ClassifierConfig
    vocab: Vocab
    params: dict[str, np.ndarray]
    fit: FitResult
    test: EvalResult
    test_data: EncodedText
    test_texts: list[str]
    coverage: float | None
    seconds: float


def train_sentiment(recipe: SentimentConfig, seed: int = 0, progress: bool = True) -> SentimentRun:
    """Train a classifier on the sentiment training split, early-stopped on the validation split,
    and score it on the test split.

    The vocabulary comes from the training split only. With `recipe.glove`, the rows of the words
    GloVe knows are copied in (`coverage` is the fraction found) and the rest drawn at random;
    for the Transformer the whole matrix is rescaled to entries of standard deviation 1/√D, like
    its random initialisation, so that √D · E[ids] is of the size of the positional encodings.
    `seed` seeds the initialisation and the training (the data split is fixed).
    """
    from minienc.data import glove, sentiment  # the data wheels are needed only here

    start = time.perf_counter()
    splits = {name: sentiment(name) for name in ("train", "valid", "test")}
    if recipe.limit is not None:
        sizes = {"train": recipe.limit, "valid": recipe.limit // 4, "test": recipe.limit // 4}
        pick = {
            k: np.random.default_rng(0).permutation(len(d))[: sizes[k]] for k, d in splits.items()
        }
        splits = {k: d.take(np.sort(pick[k])) for k, d in splits.items()}
    vocab = Vocab.build(splits["train"].texts, min_freq=recipe.min_freq)
    data = {
        k: encode(d.texts, d.labels, vocab, recipe.max_len, d.label_names)
        for k, d in splits.items()
    }
    config = ClassifierConfig(
        vocab_size=len(vocab), num_classes=len(splits["train"].label_names), **recipe.model
    )
    embeddings, coverage = None, None
    if recipe.glove:
        vectors, words = glove()
        embeddings, coverage = classifier.pretrained_embeddings(vocab.itos, vectors, words, seed)
        if config.encoder == "transformer":
            embeddings /= embeddings[1:].std() * np.sqrt(config.embed_dim)
    params = classifier.init(config, seed=seed, embeddings=embeddings)
    result = fit(
        params,
        config,
        data["train"],
        data["valid"],
        replace(recipe.train, seed=seed),
        progress=progress,
    )
    with _blas_limit(recipe.train.blas_threads):
        test = evaluate(result.params, config, data["test"], recipe.train.eval_batch_size)
    return SentimentRun(
        config,
        vocab,
        result.params,
        result,
        test,
        data["test"],
        splits["test"].texts,
        coverage,
        time.perf_counter() - start,
    )
