"""Classification metrics: accuracy, precision, recall, F1 and the confusion matrix.

For one class c, counting over the examples:

    tp = #(pred = c and true = c)    fp = #(pred = c and true ≠ c)    fn = #(pred ≠ c and true = c)
    precision = tp / (tp + fp)       recall = tp / (tp + fn)          F1 = 2 tp / (2 tp + fp + fn)

F1 written with counts is the harmonic mean of precision and recall, and stays defined when one of
them is. A ratio whose denominator is zero (no predictions of c, no examples of c) takes the value
`zero_division` (0.0 by default), as scikit-learn does.

Averages: `binary` reports the class `pos_label`; `macro` averages the per-class scores over every
class seen in `y_true` or `y_pred` (each class counts the same); `micro` pools the counts first
(each example counts the same; for single-label data it equals accuracy).

For generated text: `corpus_bleu` (translation, `minienc.bleu`) and `rouge` (summaries,
`minienc.rouge`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from minienc._checks import check_int, check_ndim, check_same_shape
from minienc.bleu import corpus_bleu
from minienc.rouge import Score, rouge

__all__ = [
    "accuracy",
    "confusion_matrix",
    "precision",
    "recall",
    "f1",
    "precision_recall_f1",
    "corpus_bleu",
    "rouge",
    "Score",
]

Average = Literal["binary", "macro", "micro"]


def _labels(y_true: object, y_pred: object) -> tuple[np.ndarray, np.ndarray]:
    y_true = check_int("y_true", np.asarray(y_true))
    y_pred = check_int("y_pred", np.asarray(y_pred))
    check_ndim("y_true", y_true, 1, "(N,)")
    check_same_shape("y_pred", y_pred, "y_true", y_true)
    if y_true.size == 0:
        raise ValueError("y_true is empty: metrics need at least one example")
    return y_true, y_pred


def accuracy(y_true: object, y_pred: object) -> float:
    """Fraction of examples whose predicted label equals the true label."""
    y_true, y_pred = _labels(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true: object, y_pred: object, num_classes: int | None = None) -> np.ndarray:
    """Counts `C[i, j]` of examples with true label i predicted as j, for labels 0..num_classes-1.

    `num_classes` defaults to 1 + the largest label seen. Labels must be non-negative.
    """
    y_true, y_pred = _labels(y_true, y_pred)
    if min(y_true.min(), y_pred.min()) < 0:
        raise ValueError("confusion_matrix needs labels ≥ 0")
    top = int(max(y_true.max(), y_pred.max())) + 1
    if num_classes is None:
        num_classes = top
    elif num_classes < top:
        raise ValueError(f"num_classes is {num_classes} but a label {top - 1} occurs")
    flat = y_true.astype(np.int64) * num_classes + y_pred  # one bin per (true, pred) pair
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _ratio(num: np.ndarray, den: np.ndarray, zero_division: float) -> np.ndarray:
    out = np.full(num.shape, float(zero_division))
    np.divide(num, den, out=out, where=den > 0)
    return out


def precision_recall_f1(
    y_true: object,
    y_pred: object,
    average: Average = "binary",
    pos_label: int = 1,
    zero_division: float = 0.0,
) -> tuple[float, float, float]:
    """Precision, recall and F1 under one averaging scheme (see the module docstring)."""
    y_true, y_pred = _labels(y_true, y_pred)
    classes = np.union1d(y_true, y_pred)
    if average == "binary":
        if len(classes) > 2:
            raise ValueError(
                f"average='binary' needs at most two labels, got {classes.tolist()}; "
                "use average='macro' or 'micro'"
            )
        classes = np.array([pos_label])
    elif average not in ("macro", "micro"):
        raise ValueError(f"average must be 'binary', 'macro' or 'micro', got {average!r}")
    is_pred = y_pred[None, :] == classes[:, None]  # (C, N)
    is_true = y_true[None, :] == classes[:, None]  # (C, N)
    tp = np.sum(is_pred & is_true, axis=1)
    fp = np.sum(is_pred & ~is_true, axis=1)
    fn = np.sum(~is_pred & is_true, axis=1)
    if average == "micro":
        tp, fp, fn = tp.sum(keepdims=True), fp.sum(keepdims=True), fn.sum(keepdims=True)
    p = _ratio(tp, tp + fp, zero_division)
    r = _ratio(tp, tp + fn, zero_division)
    f = _ratio(2 * tp, 2 * tp + fp + fn, zero_division)
    return float(p.mean()), float(r.mean()), float(f.mean())


def precision(y_true: object, y_pred: object, **kwargs: object) -> float:
    """tp / (tp + fp); keyword arguments as in `precision_recall_f1`."""
    return precision_recall_f1(y_true, y_pred, **kwargs)[0]


def recall(y_true: object, y_pred: object, **kwargs: object) -> float:
    """tp / (tp + fn); keyword arguments as in `precision_recall_f1`."""
    return precision_recall_f1(y_true, y_pred, **kwargs)[1]


def f1(y_true: object, y_pred: object, **kwargs: object) -> float:
    """2 tp / (2 tp + fp + fn); keyword arguments as in `precision_recall_f1`."""
    return precision_recall_f1(y_true, y_pred, **kwargs)[2]
