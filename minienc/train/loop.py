"""The one training loop, for both backends: epochs, early stopping, history, a progress bar.

    from minienc.numpy import classifier      # or: from minienc.jax import classifier
    result = fit(classifier, config, params, train, valid, TrainConfig(epochs=5))

`fit` owns everything that does not depend on how gradients are computed: the order of the
batches (`epoch_batches`), the learning-rate schedule (`learning_rate`), validation after each
epoch, early stopping on a metric with the best epoch's parameters kept, one history format and
the tqdm bar. The backend is the classifier module, which supplies four things:

    init_optimizer(params, settings) -> opt_state
    train_step(params, opt_state, batch, config, settings, lr, rng)
        -> (params, opt_state, loss, logits)
    predict(params, ids, lengths, config) -> logits
    PAD_TO: batches are padded to a multiple of this many positions

NumPy's step is the forward, the hand-written backward and `minienc.numpy.optim.AdamW`; JAX's is
`jax.value_and_grad` and optax, compiled with `jax.jit`. Both clip the same way, decay the same
tensors and read the same learning rate, so from the same parameters and batches, without
dropout, they take the same steps (a test checks this in float64 to 1e-8).

Reproducibility: the batches of epoch e come from `default_rng((seed, e))` and the dropout masks
of step s from the pair (seed, s). A run resumed at an epoch boundary from a checkpoint of
(params, opt_state) continues exactly as if it had never stopped: `fit(..., opt_state=saved,
start_epoch=e)`.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from minienc.metrics import accuracy, confusion_matrix, precision_recall_f1
from minienc.numpy.softmax import log_softmax
from minienc.train.config import ClassifierConfig, TrainConfig
from minienc.train.data import TokenizedText, epoch_batches, length_batches

__all__ = ["EvalResult", "FitResult", "learning_rate", "evaluate", "fit"]

HISTORY_KEYS = (
    "loss",  # per step
    "lr",
    "epoch",  # per epoch
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "val_f1",
    "seconds",
)


class EvalResult(NamedTuple):
    """Scores on one dataset; `confusion[i, j]` counts true class i predicted as j."""

    loss: float
    accuracy: float
    precision: float
    recall: float
    f1: float  # macro-averaged, like precision and recall
    confusion: np.ndarray
    predictions: np.ndarray


class FitResult(NamedTuple):
    """What `fit` returns.

    params: the parameters of the epoch with the best validation score (`best_epoch`).
    last_params, opt_state: where training stopped, to resume from.
    history: lists keyed by `HISTORY_KEYS`: per step "loss" and "lr"; per epoch the others.
    """

    params: Any
    last_params: Any
    opt_state: Any
    history: dict[str, list[float]]
    best_epoch: int
    best_score: float
    steps: int
    seconds: float


def learning_rate(step: int, settings: TrainConfig, total_steps: int) -> float:
    """The learning rate of step `step` (0-based): linear warmup, then half a cosine to 0.

    η_s = lr · (s + 1) / W                                   s < W = ⌊warmup · total⌋
    η_s = lr · ½ (1 + cos(π (s − W) / (total − W)))           s ≥ W  (lr if not decay)
    """
    warmup = int(settings.warmup * total_steps)
    if step < warmup:
        return settings.lr * (step + 1) / warmup
    if not settings.decay:
        return settings.lr
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return settings.lr * 0.5 * (1 + math.cos(math.pi * progress))


def _check_backend(model: object) -> None:
    needed = ("init_optimizer", "train_step", "predict", "PAD_TO")
    if not isinstance(model, ModuleType) or not all(hasattr(model, n) for n in needed):
        raise TypeError(
            "model must be a backend's classifier module (minienc.numpy.classifier or "
            f"minienc.jax.classifier), got {model!r}"
        )


def _check_data(name: str, data: object, config: ClassifierConfig) -> None:
    if not isinstance(data, TokenizedText):
        raise TypeError(f"{name} must be a TokenizedText, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError(f"{name} is empty")
    if not isinstance(config, ClassifierConfig):
        raise TypeError(f"config must be a ClassifierConfig, got {type(config).__name__}")
    data.check(config.vocab_size, config.num_classes, name)


def _blas_limit(threads: int | None):
    return threadpool_limits(threads, "blas") if threads else nullcontext()


def evaluate(
    model: ModuleType,
    config: ClassifierConfig,
    params: Any,
    data: TokenizedText,
    batch_size: int = 256,
) -> EvalResult:
    """Mean loss, accuracy, macro precision / recall / F1, confusion matrix and predictions."""
    _check_backend(model)
    _check_data("data", data, config)
    preds = np.empty(len(data), dtype=np.int64)
    total = 0.0
    for idx in length_batches(data.lengths, batch_size):
        batch = data.batch(idx, model.PAD_TO)
        logits = np.asarray(model.predict(params, batch["ids"], batch["lengths"], config))
        logp = log_softmax(logits.astype(np.float64), axis=-1)  # (B, C)
        total -= float(logp[np.arange(len(idx)), batch["labels"]].sum())
        preds[idx] = logits.argmax(axis=-1)
    p, r, f1 = precision_recall_f1(data.labels, preds, average="macro")
    return EvalResult(
        loss=total / len(data),
        accuracy=accuracy(data.labels, preds),
        precision=p,
        recall=r,
        f1=f1,
        confusion=confusion_matrix(data.labels, preds, num_classes=config.num_classes),
        predictions=preds,
    )


def fit(
    model: ModuleType,
    config: ClassifierConfig,
    params: Any,
    train: TokenizedText,
    valid: TokenizedText,
    settings: TrainConfig | None = None,
    *,
    opt_state: Any = None,
    start_epoch: int = 0,
    max_steps: int | None = None,
    progress: bool = True,
) -> FitResult:
    """Train `params` with `model`'s step and keep the epoch that scores best on `valid`.

    Args:
        model: `minienc.numpy.classifier` or `minienc.jax.classifier`.
        config: the model's `ClassifierConfig`.
        params: the initial parameters (the backend's `init`); not modified.
        train, valid: `TokenizedText` datasets.
        settings: a `TrainConfig` (None: the defaults).
        opt_state, start_epoch: resume from a saved optimizer state at epoch `start_epoch`.
        max_steps: stop after this many steps in all (None: whole epochs only).
        progress: show a tqdm progress bar.
    """
    _check_backend(model)
    _check_data("train", train, config)
    _check_data("valid", valid, config)
    settings = TrainConfig() if settings is None else settings
    if not isinstance(settings, TrainConfig):
        raise TypeError(f"settings must be a TrainConfig, got {type(settings).__name__}")
    s = settings
    per_epoch = -(-len(train) // s.batch_size)
    total = s.epochs * per_epoch
    budget = total if max_steps is None else min(total, max_steps)
    if opt_state is None:
        opt_state = model.init_optimizer(params, s)
    lengths = train.lengths
    history: dict[str, list[float]] = {k: [] for k in HISTORY_KEYS}
    sign = -1.0 if s.monitor == "loss" else 1.0  # compare sign · score: higher is better
    best_params, best_epoch, best, waited = params, -1, -np.inf, 0
    step = start_epoch * per_epoch
    start = time.perf_counter()
    bar = tqdm(total=max(budget - step, 0), disable=not progress, desc=config.encoder)
    with _blas_limit(s.blas_threads):
        for epoch in range(start_epoch, s.epochs):
            if step >= budget:
                break
            losses, right, seen = [], [], 0
            for idx in epoch_batches(lengths, s.batch_size, s.seed, epoch, s.bucket):
                if step >= budget:
                    break
                lr = learning_rate(step, s, total)
                batch = train.batch(idx, model.PAD_TO)
                params, opt_state, loss, logits = model.train_step(
                    params, opt_state, batch, config, s, lr, (s.seed, step)
                )
                losses.append(loss)
                right.append((logits.argmax(axis=-1) == batch["labels"]).sum())
                seen += len(idx)
                history["lr"].append(lr)
                step += 1
                bar.update()
                if step % 20 == 0:
                    bar.set_postfix(epoch=epoch, loss=f"{float(loss):.3f}")
            losses = [float(x) for x in losses]  # JAX: one wait per epoch, not per step
            history["loss"] += losses
            scores = evaluate(model, config, params, valid, s.eval_batch_size)
            for key, value in (
                ("epoch", epoch),
                ("train_loss", float(np.mean(losses))),
                ("train_accuracy", float(sum(int(r) for r in right)) / seen),
                ("val_loss", scores.loss),
                ("val_accuracy", scores.accuracy),
                ("val_f1", scores.f1),
                ("seconds", time.perf_counter() - start),
            ):
                history[key].append(value)
            score = getattr(scores, s.monitor)
            bar.set_postfix(epoch=epoch, **{f"val_{s.monitor}": f"{score:.4f}"})
            if sign * score > best:
                best_params, best_epoch, best, waited = params, epoch, sign * score, 0
            else:
                waited += 1
                if s.patience is not None and waited >= s.patience:
                    break
    bar.close()
    seconds = time.perf_counter() - start
    return FitResult(
        best_params, params, opt_state, history, best_epoch, sign * best, step, seconds
    )
