"""The training loop: jitted steps, evaluation with classification metrics, early stopping.

Everything model-specific lives in one user function,

    loss_fn(params, batch, key, train) -> (loss, logits)

a scalar mean loss and the logits (B, C) of a batch (a dict of arrays with "labels" (B,)); `key`
is a PRNG key for dropout, `train` a Python bool. From it:

- `make_train_step` builds `train_step(params, opt_state, batch, key) -> (params, opt_state,
  metrics)`: loss and gradients in one pass (`jax.value_and_grad`), then the optimizer update;
- `make_eval_step` builds `eval_step(params, batch) -> (loss, logits)` with `train=False`;
- `fit` runs epochs of shuffled batches, evaluates on the validation set after each epoch, stops
  early when the monitored metric has not improved for `patience` epochs, and returns the best
  parameters seen with a history for plots.

Reproducibility: the batches of epoch e are drawn by `np.random.default_rng((seed, e))` and the
dropout key of step s is `fold_in(key(seed), s)`. So two runs with the same seed give the same
numbers, and a run resumed at an epoch boundary from a checkpoint of (params, opt_state) continues
exactly as if it had never stopped (`fit(..., opt_state=..., start_epoch=e)`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from minienc.metrics import accuracy, precision_recall_f1
from minienc.text import batch_indices
from minienc.train.data import Batches

__all__ = ["FitResult", "train_step_fn", "make_train_step", "make_eval_step", "evaluate", "fit"]

LossFn = Callable[[Any, Mapping[str, jax.Array], jax.Array | None, bool], tuple[jax.Array, Any]]
MODES = {"accuracy": "max", "f1": "max", "precision": "max", "recall": "max", "loss": "min"}


def _batch_accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return (logits.argmax(axis=-1) == labels).mean()


def train_step_fn(loss_fn: LossFn, optimizer: optax.GradientTransformation) -> Callable:
    """The training step as a plain function, before `jax.jit` (see `make_train_step`)."""
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def train_step(params, opt_state, batch, key):
        (loss, logits), grads = grad_fn(params, batch, key, True)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        metrics = {
            "loss": loss,
            "accuracy": _batch_accuracy(logits, batch["labels"]),
            "grad_norm": optax.tree.norm(grads),
        }
        return params, opt_state, metrics

    return train_step


@functools.lru_cache(maxsize=16)
def make_train_step(loss_fn: LossFn, optimizer: optax.GradientTransformation) -> Callable:
    """`train_step(params, opt_state, batch, key) -> (params, opt_state, metrics)`, jitted.

    metrics holds the batch's "loss", "accuracy" and the gradient's "grad_norm" (before clipping).
    The same `loss_fn` and `optimizer` give back the same function, so a second `fit` with them
    reuses what the first one compiled.
    """
    return jax.jit(train_step_fn(loss_fn, optimizer))


@functools.lru_cache(maxsize=16)
def make_eval_step(loss_fn: LossFn) -> Callable:
    """`eval_step(params, batch) -> (loss, logits)`, jitted, with `train=False` (no dropout)."""
    return jax.jit(lambda params, batch: loss_fn(params, batch, None, False))


def _check_data(name: str, data: Any, batch_size: int) -> None:
    if not all(hasattr(data, a) for a in ("batch", "labels", "__len__")):
        raise TypeError(
            f"{name} must have len(), .labels and .batch(idx) (e.g. ArrayDataset or "
            f"TokenizedText), got {type(data).__name__}"
        )
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


def evaluate(
    eval_step: Callable, params: Any, data: Batches, batch_size: int = 256
) -> dict[str, float]:
    """Mean loss, accuracy and macro precision / recall / F1 of `params` on every row of `data`.

    The last batch may be smaller than `batch_size` (one more compilation, exact averages).
    """
    _check_data("data", data, batch_size)
    losses, preds = [], []
    for idx in batch_indices(len(data), batch_size):
        loss, logits = eval_step(params, data.batch(idx))
        losses.append(float(loss) * len(idx))
        preds.append(np.asarray(logits).argmax(axis=-1))
    y_true, y_pred = np.asarray(data.labels), np.concatenate(preds)
    p, r, f = precision_recall_f1(y_true, y_pred, average="macro")
    return {
        "loss": sum(losses) / len(data),
        "accuracy": accuracy(y_true, y_pred),
        "precision": p,
        "recall": r,
        "f1": f,
    }


class FitResult(NamedTuple):
    """What `fit` returns.

    params: the best parameters by the monitored validation metric (the last ones without
    validation data). last_params, opt_state: where training stopped, to resume from.
    history: per step "step", "loss", "lr" (with a schedule); per epoch "epoch", "train_loss",
    "train_accuracy", and "val_<metric>" for every metric of `evaluate`.
    """

    params: Any
    last_params: Any
    opt_state: Any
    history: dict[str, list[float]]
    best_epoch: int | None
    best_score: float | None
    steps: int


def _improved(score: float, best: float | None, mode: str, min_delta: float) -> bool:
    if best is None:
        return True
    return score > best + min_delta if mode == "max" else score < best - min_delta


def fit(
    loss_fn: LossFn,
    params: Any,
    optimizer: optax.GradientTransformation,
    train_data: Batches,
    valid_data: Batches | None = None,
    *,
    batch_size: int = 32,
    epochs: int = 1,
    max_steps: int | None = None,
    seed: int = 0,
    patience: int | None = None,
    monitor: str = "accuracy",
    min_delta: float = 0.0,
    schedule: optax.Schedule | None = None,
    opt_state: Any = None,
    start_epoch: int = 0,
    eval_batch_size: int = 256,
    progress: bool = True,
) -> FitResult:
    """Train `params` on `train_data` for `epochs` epochs or `max_steps` steps, whichever is first.

    Args:
        loss_fn: `loss_fn(params, batch, key, train) -> (loss, logits)`.
        params: the initial parameters (any pytree; a dict of torch-keyed arrays here).
        optimizer: an optax transformation, e.g. from `make_optimizer`.
        train_data, valid_data: datasets with `len`, `.labels`, `.batch(idx)`. Each epoch visits
            the training rows in a fresh random order, in full batches (a last partial batch is
            left out, so every step has the same shape); validation runs after each epoch.
        batch_size: rows per training step; at most `len(train_data)`.
        epochs, max_steps: the budget; `max_steps=None` means whole epochs only.
        seed: fixes the order of the batches and the dropout keys.
        patience: stop after this many epochs without improvement of `monitor` on the
            validation set (None: never stop early). The best parameters are kept and returned.
        monitor: "accuracy", "f1", "precision", "recall" (higher is better) or "loss".
        min_delta: the smallest change that counts as an improvement.
        schedule: the learning-rate schedule, only to record each step's "lr" in the history.
        opt_state, start_epoch: resume from a saved optimizer state at the start of epoch
            `start_epoch` (the step counter continues from `start_epoch` full epochs; early
            stopping starts afresh).
        eval_batch_size: batch size for validation.
        progress: show a tqdm progress bar.

    Returns:
        A `FitResult` (best params, last params, opt_state, history, best epoch and score, steps).
    """
    _check_data("train_data", train_data, batch_size)
    if valid_data is not None:
        _check_data("valid_data", valid_data, eval_batch_size)
    if monitor not in MODES:
        raise ValueError(f"monitor must be one of {sorted(MODES)}, got {monitor!r}")
    if patience is not None and valid_data is None:
        raise ValueError("early stopping (patience) needs valid_data to monitor")
    n = len(train_data)
    if batch_size > n:
        raise ValueError(f"batch_size = {batch_size} is larger than the {n} training rows")
    steps_per_epoch = n // batch_size
    budget = epochs * steps_per_epoch
    if max_steps is not None:
        budget = min(budget, max_steps)
    train_step = make_train_step(loss_fn, optimizer)
    eval_step = make_eval_step(loss_fn) if valid_data is not None else None
    if opt_state is None:
        opt_state = optimizer.init(params)
    base_key = jax.random.key(seed)
    step = start_epoch * steps_per_epoch
    history: dict[str, list[float]] = {
        "step": [],
        "loss": [],
        **({"lr": []} if schedule is not None else {}),
        "epoch": [],
        "train_loss": [],
        "train_accuracy": [],
    }
    best_params, best_epoch, best_score, waited = params, None, None, 0
    bar = tqdm(total=max(budget - step, 0), disable=not progress)
    for epoch in range(start_epoch, epochs):
        if step >= budget:
            break
        rng = np.random.default_rng((seed, epoch))
        epoch_metrics = []
        for idx in batch_indices(n, batch_size, rng):
            if len(idx) < batch_size or step >= budget:
                break
            batch = {k: jnp.asarray(v) for k, v in train_data.batch(idx).items()}
            key = jax.random.fold_in(base_key, step)
            params, opt_state, metrics = train_step(params, opt_state, batch, key)
            epoch_metrics.append(metrics)
            step += 1
            bar.update()
            if step % 20 == 0:
                bar.set_postfix(epoch=epoch, loss=f"{float(metrics['loss']):.4f}")
        if not epoch_metrics:
            break
        steps = np.arange(step - len(epoch_metrics), step)
        losses = np.asarray(jnp.stack([m["loss"] for m in epoch_metrics]))  # one sync per epoch
        accs = np.asarray(jnp.stack([m["accuracy"] for m in epoch_metrics]))
        history["step"] += steps.tolist()
        history["loss"] += losses.tolist()
        if schedule is not None:
            history["lr"] += np.asarray(schedule(steps)).tolist()
        history["epoch"].append(epoch)
        history["train_loss"].append(float(losses.mean()))
        history["train_accuracy"].append(float(accs.mean()))
        if valid_data is None:
            best_params = params
            continue
        scores = evaluate(eval_step, params, valid_data, eval_batch_size)
        for name, value in scores.items():
            history.setdefault(f"val_{name}", []).append(value)
        bar.set_postfix(epoch=epoch, **{f"val_{monitor}": f"{scores[monitor]:.4f}"})
        if _improved(scores[monitor], best_score, MODES[monitor], min_delta):
            best_params, best_epoch, best_score, waited = params, epoch, scores[monitor], 0
        else:
            waited += 1
            if patience is not None and waited >= patience:
                break
    bar.close()
    return FitResult(best_params, params, opt_state, history, best_epoch, best_score, step)
