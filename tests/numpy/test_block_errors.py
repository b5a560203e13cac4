"""Bad input to a NumPy block meets a clear error naming the argument, at the door.

Each case calls a block wrongly and names the exception and the message it must carry (the
argument, and the expected and actual shapes or dtypes).
"""

from __future__ import annotations

import numpy as np
import pytest

from minienc.numpy import activations, dropout, embedding, layernorm, linear, losses, softmax

rng = np.random.default_rng(0)
X = rng.standard_normal((2, 3, 5))
X32 = X.astype(np.float32)
XI = np.arange(30).reshape(2, 3, 5)
LIN = {"weight": rng.standard_normal((4, 5)), "bias": rng.standard_normal(4)}
LN = {"weight": rng.standard_normal(5), "bias": rng.standard_normal(5)}
EMB = {"weight": rng.standard_normal((7, 4))}
IDS = np.array([[1, 2, 3], [0, 6, 5]])
LOGITS = rng.standard_normal((2, 3, 4))
TARGET = np.array([[0, 1, 3], [2, 2, 1]])


def backward_with(layer, forward_args, dy, **kwargs):
    """Run forward, then backward with a (bad) dy."""
    _, cache = layer.forward(*forward_args, **kwargs)
    return layer.backward(dy, cache)


BAD = {
    # linear
    "linear-x-last-dim": (
        lambda: linear.forward(LIN, rng.standard_normal((2, 3, 6))),
        ValueError,
        r"x has shape \(2, 3, 6\) but params\['weight'\] of shape \(4, 5\) expects a last "
        r"dimension of 5",
    ),
    "linear-x-int": (
        lambda: linear.forward(LIN, XI),
        TypeError,
        "x must be a floating-point array, got dtype int64",
    ),
    "linear-x-scalar": (lambda: linear.forward(LIN, np.float64(1.0)), ValueError, r"shape \(\)"),
    "linear-x-list": (lambda: linear.forward(LIN, [[1.0] * 5]), TypeError, "x must be a NumPy"),
    "linear-missing-weight": (
        lambda: linear.forward({"bias": LIN["bias"]}, X),
        KeyError,
        r"params of linear is missing \['weight'\]",
    ),
    "linear-unknown-key": (
        lambda: linear.forward({**LIN, "Bias": LIN["bias"]}, X),
        KeyError,
        r"unexpected keys \['Bias'\]",
    ),
    "linear-bias-shape": (
        lambda: linear.forward({**LIN, "bias": np.zeros(5)}, X),
        ValueError,
        r"params\['bias'\] of linear must have shape \(4,\), got \(5,\)",
    ),
    "linear-weight-1d": (
        lambda: linear.forward({"weight": np.zeros(5)}, X),
        ValueError,
        r"params\['weight'\] of linear must have shape .*, got \(5,\)",
    ),
    "linear-weight-int": (
        lambda: linear.forward({"weight": np.zeros((4, 5), dtype=int)}, X),
        TypeError,
        r"params\['weight'\] must be a floating-point array, got dtype int64",
    ),
    "linear-dtype-mismatch": (
        lambda: linear.forward(LIN, X32),
        TypeError,
        r"x has dtype float32 but params\['weight'\] has dtype float64",
    ),
    "linear-dy-shape": (
        lambda: backward_with(linear, (LIN, X), np.ones((2, 3, 5))),
        ValueError,
        r"dy has shape \(2, 3, 5\) but y has shape \(2, 3, 4\)",
    ),
    # layernorm
    "layernorm-x-last-dim": (
        lambda: layernorm.forward(LN, rng.standard_normal((2, 3, 4))),
        ValueError,
        r"x has shape \(2, 3, 4\) but params\['weight'\] of shape \(5,\) expects a last "
        r"dimension of 5",
    ),
    "layernorm-x-int": (lambda: layernorm.forward(LN, XI), TypeError, "x must be a floating"),
    "layernorm-missing-bias": (
        lambda: layernorm.forward({"weight": LN["weight"]}, X),
        KeyError,
        r"params of layernorm is missing \['bias'\]",
    ),
    "layernorm-bias-shape": (
        lambda: layernorm.forward({**LN, "bias": np.zeros(4)}, X),
        ValueError,
        r"params\['bias'\] has shape \(4,\) but params\['weight'\] has shape \(5,\)",
    ),
    "layernorm-weight-2d": (
        lambda: layernorm.forward({**LN, "weight": np.zeros((5, 1))}, X),
        ValueError,
        r"params\['weight'\] of layernorm must have shape .*, got \(5, 1\)",
    ),
    "layernorm-negative-eps": (
        lambda: layernorm.forward(LN, X, eps=-1.0),
        ValueError,
        "eps must be >= 0, got -1.0",
    ),
    "layernorm-dtype-mismatch": (
        lambda: layernorm.forward(LN, X32),
        TypeError,
        r"x has dtype float32 but params\['weight'\] has dtype float64",
    ),
    "layernorm-dy-shape": (
        lambda: backward_with(layernorm, (LN, X), np.ones((2, 3, 4))),
        ValueError,
        r"dy has shape \(2, 3, 4\) but y has shape \(2, 3, 5\)",
    ),
    # embedding
    "embedding-ids-float": (
        lambda: embedding.forward(EMB, IDS.astype(float)),
        TypeError,
        "ids must be an integer array, got dtype float64",
    ),
    "embedding-ids-too-big": (
        lambda: embedding.forward(EMB, np.array([1, 7])),
        ValueError,
        r"ids must lie in \[0, 7\) for params\['weight'\] of shape \(7, 4\), got values from 1 "
        "to 7",
    ),
    "embedding-ids-negative": (
        lambda: embedding.forward(EMB, np.array([-1, 2])),
        ValueError,
        r"ids must lie in \[0, 7\).*from -1",
    ),
    "embedding-padding-idx-range": (
        lambda: embedding.forward(EMB, IDS, padding_idx=7),
        ValueError,
        r"padding_idx must lie in \[-7, 7\).*got 7",
    ),
    "embedding-padding-idx-type": (
        lambda: embedding.forward(EMB, IDS, padding_idx=1.0),
        TypeError,
        "padding_idx must be an int or None, got 1.0",
    ),
    "embedding-missing-weight": (
        lambda: embedding.forward({}, IDS),
        KeyError,
        r"params of embedding is missing \['weight'\]",
    ),
    "embedding-weight-1d": (
        lambda: embedding.forward({"weight": np.zeros(7)}, IDS),
        ValueError,
        r"params\['weight'\] of embedding must have shape .*, got \(7,\)",
    ),
    "embedding-dy-shape": (
        lambda: backward_with(embedding, (EMB, IDS), np.ones((2, 3, 5))),
        ValueError,
        r"dy has shape \(2, 3, 5\) but y has shape \(2, 3, 4\)",
    ),
    # activations
    "activation-kind": (
        lambda: activations.forward({}, X, kind="swish"),
        ValueError,
        r"kind must be one of \('relu', 'tanh', 'sigmoid', 'gelu', 'gelu_tanh'\), got 'swish'",
    ),
    "activation-x-int": (
        lambda: activations.forward({}, XI, kind="gelu"),
        TypeError,
        "x must be a floating-point array, got dtype int64",
    ),
    "activation-plain-int": (lambda: activations.sigmoid(XI), TypeError, "x must be a floating"),
    "activation-params-not-dict": (
        lambda: activations.forward(None, X),
        TypeError,
        "params of activation 'relu' must be a dict of arrays, got NoneType",
    ),
    "activation-dy-shape": (
        lambda: backward_with(activations, ({}, X), np.ones((2, 3))),
        ValueError,
        r"dy has shape \(2, 3\) but y has shape \(2, 3, 5\)",
    ),
    # softmax
    "softmax-axis-range": (
        lambda: softmax.forward({}, X, axis=3),
        ValueError,
        r"axis 3 is out of range for x of shape \(2, 3, 5\)",
    ),
    "softmax-axis-type": (
        lambda: softmax.softmax(X, axis=1.0),
        TypeError,
        "axis must be an int, got float",
    ),
    "softmax-scalar": (
        lambda: softmax.log_softmax(np.float64(2.0)),
        ValueError,
        r"axis -1 is out of range for x of shape \(\)",
    ),
    "softmax-x-int": (lambda: softmax.softmax(XI), TypeError, "x must be a floating-point"),
    "softmax-dy-shape": (
        lambda: backward_with(softmax, ({}, X), np.ones((2, 3, 4)), log=True),
        ValueError,
        r"dy has shape \(2, 3, 4\) but y has shape \(2, 3, 5\)",
    ),
    # dropout
    "dropout-p-range": (
        lambda: dropout.forward({}, X, p=1.5),
        ValueError,
        r"p must lie in \[0, 1\], got 1.5",
    ),
    "dropout-rng-type": (
        lambda: dropout.forward({}, X, rng="seed"),
        TypeError,
        "rng must be an int seed, a np.random.Generator or None, got 'seed'",
    ),
    "dropout-x-int": (lambda: dropout.forward({}, XI, rng=0), TypeError, "x must be a floating"),
    "dropout-dy-shape": (
        lambda: backward_with(dropout, ({}, X), np.ones((3, 5)), rng=0),
        ValueError,
        r"dy has shape \(3, 5\) but y has shape \(2, 3, 5\)",
    ),
    # cross-entropy
    "ce-target-float": (
        lambda: losses.forward({}, LOGITS, TARGET.astype(float)),
        TypeError,
        "target must be an integer array, got dtype float64",
    ),
    "ce-logits-int": (
        lambda: losses.forward({}, XI, TARGET),
        TypeError,
        "logits must be a floating-point array, got dtype int64",
    ),
    "ce-target-shape": (
        lambda: losses.forward({}, LOGITS, TARGET.T),
        ValueError,
        r"target has shape \(3, 2\) but logits has shape \(2, 3, 4\).*\(2, 3\)",
    ),
    "ce-classes-on-axis-1": (
        lambda: losses.forward({}, LOGITS.transpose(0, 2, 1), TARGET),
        ValueError,
        r"target has shape \(2, 3\) but logits has shape \(2, 4, 3\)",
    ),
    "ce-target-range": (
        lambda: losses.forward({}, LOGITS, np.array([[0, 1, 4], [2, 2, 1]])),
        ValueError,
        r"target values must lie in \[0, 4\) for logits of shape \(2, 3, 4\) \(or equal "
        r"ignore_index=-100\), got 4",
    ),
    "ce-reduction": (
        lambda: losses.forward({}, LOGITS, TARGET, reduction="avg"),
        ValueError,
        r"reduction must be one of \('mean', 'sum', 'none'\), got 'avg'",
    ),
    "ce-label-smoothing": (
        lambda: losses.forward({}, LOGITS, TARGET, label_smoothing=-0.1),
        ValueError,
        r"label_smoothing must lie in \[0, 1\], got -0.1",
    ),
    "ce-logits-scalar": (
        lambda: losses.forward({}, np.float64(1.0), np.int64(0)),
        ValueError,
        r"logits must have at least one dimension \(\.\.\., C\) with C ≥ 1 classes, got shape \(\)",
    ),
    "ce-dloss-shape": (
        lambda: backward_with(losses, ({}, LOGITS, TARGET), np.ones(2)),
        ValueError,
        r"dloss has shape \(2,\) but the loss \(reduction='mean'\) has shape \(\)",
    ),
    "ce-dloss-shape-none": (
        lambda: backward_with(losses, ({}, LOGITS, TARGET), np.float64(1.0), reduction="none"),
        ValueError,
        r"dloss has shape \(\) but the loss \(reduction='none'\) has shape \(2, 3\)",
    ),
}


@pytest.mark.parametrize("case_id", BAD)
def test_bad_input_gets_a_clear_error(case_id):
    call, error, match = BAD[case_id]
    with pytest.raises(error, match=match):
        call()
