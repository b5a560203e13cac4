"""`TextDataset`, the labelled-text container every loader returns, and the fixed splits.

Splits are drawn once from a permutation: `np.random.default_rng(seed).permutation(N)` puts the
first 80% of its entries in `train`, the next 10% in `valid` and the rest in `test`
(`N // 10` rows each for valid and test). The three are disjoint and cover every row; within a
split, rows keep their file order. The same seed always gives the same split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from jaxtyping import Float, Int

__all__ = ["SPLITS", "TextDataset", "split_indices"]

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True, eq=False)
class TextDataset:
    """N texts with integer labels in `0..len(label_names)-1` and, if the source has them, scores.

    `texts[i]` has label `labels[i]` (named `label_names[labels[i]]`) and score `scores[i]`.
    """

    texts: list[str]
    labels: Int[np.ndarray, " N"]
    scores: Float[np.ndarray, " N"] | None
    label_names: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.texts)
        if self.labels.shape != (n,):
            raise ValueError(f"labels has shape {self.labels.shape} but there are {n} texts")
        if self.scores is not None and self.scores.shape != (n,):
            raise ValueError(f"scores has shape {self.scores.shape} but there are {n} texts")

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, idx: Int[np.ndarray, " M"]) -> TextDataset:
        """A new dataset of rows `idx` (copies: changing it leaves this one as it was)."""
        return TextDataset(
            texts=[self.texts[i] for i in idx],
            labels=self.labels[idx],
            scores=None if self.scores is None else self.scores[idx],
            label_names=self.label_names,
        )


def split_indices(n: int, split: str | None, seed: int = 0) -> Int[np.ndarray, " M"]:
    """Sorted row indices of `split` ("train", "valid", "test") of `n` rows; None: all rows."""
    if split is None:
        return np.arange(n)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
    if not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    n_valid = n_test = n // 10
    n_train = n - n_valid - n_test
    bounds = {"train": (0, n_train), "valid": (n_train, n_train + n_valid), "test": (n - n_test, n)}
    lo, hi = bounds[split]
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[lo:hi])


def check_limit(limit: int | None) -> int | None:
    """Raise unless `limit` is None or a non-negative int."""
    if limit is None:
        return None
    if not isinstance(limit, int | np.integer) or isinstance(limit, bool):
        raise TypeError(f"limit must be an int or None, got {type(limit).__name__}")
    if limit < 0:
        raise ValueError(f"limit must be ≥ 0 or None, got {limit}")
    return int(limit)
