"""The one training stack for both backends: configs, the data path, the loop, the recipes.

    from minienc.train import ClassifierConfig, TrainConfig, TokenizedText, fit
    from minienc.numpy import classifier          # or: from minienc.jax import classifier
    result = fit(classifier, config, classifier.init(config), train, valid, TrainConfig())

`sentiment` holds the recipes that train both classifiers on the movie-review sentiment data;
`optim` builds AdamW in optax for the JAX step; `parallel` runs the JAX step with the batch split
over several devices.
"""

from minienc.train.config import ClassifierConfig, TrainConfig, decay_mask
from minienc.train.data import TokenizedText, epoch_batches, length_batches, pretrained_embeddings
from minienc.train.init import init_classifier
from minienc.train.loop import EvalResult, FitResult, evaluate, fit, learning_rate

__all__ = [
    "ClassifierConfig",
    "TrainConfig",
    "decay_mask",
    "TokenizedText",
    "epoch_batches",
    "length_batches",
    "pretrained_embeddings",
    "init_classifier",
    "EvalResult",
    "FitResult",
    "evaluate",
    "fit",
    "learning_rate",
]
