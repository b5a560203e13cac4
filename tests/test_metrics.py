"""minienc.metrics equals scikit-learn on random labels, including the zero-division corners."""

import numpy as np
import pytest
import sklearn.metrics as skm

from minienc import metrics

SK = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}


def random_labels(seed: int, n: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, num_classes, n), rng.integers(0, num_classes, n)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("name", sorted(SK))
@pytest.mark.parametrize(("average", "num_classes"), [("binary", 2), ("macro", 5), ("micro", 5)])
def test_scores_equal_sklearn(seed, name, average, num_classes):
    y_true, y_pred = random_labels(seed, 1 + 37 * seed, num_classes)
    ours = getattr(metrics, name)(y_true, y_pred, average=average)
    theirs = SK[name](y_true, y_pred, average=average, zero_division=0.0)
    assert ours == pytest.approx(theirs, abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_accuracy_and_confusion_matrix_equal_sklearn(seed):
    y_true, y_pred = random_labels(seed, 50, 4)
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    np.testing.assert_array_equal(
        metrics.confusion_matrix(y_true, y_pred, num_classes=4),
        skm.confusion_matrix(y_true, y_pred, labels=range(4)),
    )


def test_micro_equals_accuracy_for_single_label_data():
    y_true, y_pred = random_labels(7, 80, 3)
    p, r, f = metrics.precision_recall_f1(y_true, y_pred, average="micro")
    assert p == r == f == pytest.approx(metrics.accuracy(y_true, y_pred))


@pytest.mark.parametrize("zero_division", [0.0, 1.0])
@pytest.mark.parametrize(
    ("y_true", "y_pred"),
    [
        ([0, 0, 0], [0, 0, 0]),  # no positives at all: every ratio is 0/0
        ([1, 0, 1], [0, 0, 0]),  # nothing predicted positive: precision is 0/0
        ([0, 0, 0], [1, 0, 0]),  # no positive examples: recall is 0/0
    ],
)
def test_zero_division_cases_equal_sklearn(y_true, y_pred, zero_division):
    for name, fn in SK.items():
        ours = getattr(metrics, name)(y_true, y_pred, zero_division=zero_division)
        theirs = fn(y_true, y_pred, zero_division=zero_division)
        assert ours == pytest.approx(theirs), name


def test_macro_weighs_rare_classes_like_common_ones():
    y_true = [0] * 9 + [1]
    y_pred = [0] * 10
    assert metrics.f1(y_true, y_pred, average="micro") == pytest.approx(0.9)
    assert metrics.f1(y_true, y_pred, average="macro") == pytest.approx((18 / 19 + 0.0) / 2)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: metrics.accuracy([0, 1], [0, 1, 1]), ValueError, r"y_pred has shape \(3,\)"),
        (lambda: metrics.accuracy([0.0, 1.0], [0, 1]), TypeError, "y_true must be an integer"),
        (lambda: metrics.accuracy(np.zeros(0, int), np.zeros(0, int)), ValueError, "empty"),
        (lambda: metrics.f1([0, 1, 2], [0, 1, 2]), ValueError, "average='binary'"),
        (lambda: metrics.f1([0, 1], [0, 1], average="weighted"), ValueError, "average must"),
        (lambda: metrics.confusion_matrix([0, 3], [0, 1], 2), ValueError, "num_classes is 2"),
        (lambda: metrics.confusion_matrix([[0]], [[0]]), ValueError, "1 dimensions"),
    ],
)
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
