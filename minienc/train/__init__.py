"""Training in JAX with optax: the optimizer, the loop, two text classifiers, data parallelism.

    from minienc.train import make_optimizer, fit, classifier_loss
    from minienc.train import init_lstm_classifier, lstm_classifier_apply

`sentiment` holds the configurations that train both classifiers on the movie-review sentiment
data; `parallel` runs the same training step with the batch split over several devices.
"""

from minienc.train.data import ArrayDataset, Batches, TokenizedText
from minienc.train.loop import FitResult, evaluate, fit, make_eval_step, make_train_step
from minienc.train.models import (
    LSTM_POOLS,
    TRANSFORMER_POOLS,
    classifier_loss,
    init_lstm_classifier,
    init_transformer_classifier,
    lstm_classifier_apply,
    sinusoidal,
    transformer_classifier_apply,
)
from minienc.train.optim import decay_mask, make_optimizer

__all__ = [
    "ArrayDataset",
    "Batches",
    "TokenizedText",
    "FitResult",
    "evaluate",
    "fit",
    "make_eval_step",
    "make_train_step",
    "LSTM_POOLS",
    "TRANSFORMER_POOLS",
    "classifier_loss",
    "init_lstm_classifier",
    "init_transformer_classifier",
    "lstm_classifier_apply",
    "sinusoidal",
    "transformer_classifier_apply",
    "decay_mask",
    "make_optimizer",
]
