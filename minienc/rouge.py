"""ROUGE-1, ROUGE-2 and ROUGE-L (Lin, 2004) of one hypothesis against one reference.

Both texts are lowercased, every run of characters other than a–z and 0–9 becomes a space, and
the text is split there (the `rouge-score` package's tokenisation without a stemmer). Then:

    ROUGE-n:  overlap = Σ_g min(c_hyp(g), c_ref(g)) over n-grams g
              precision = overlap / #hyp n-grams,  recall = overlap / #ref n-grams
    ROUGE-L:  L = the length of the longest common subsequence of the two token lists
              precision = L / len(hyp),  recall = L / len(ref)
    F1 = 2 P R / (P + R)  (0 when P + R = 0)

ROUGE is recall-minded: a summary is scored by how much of the reference it covers, and ROUGE-L
credits words in the same order even with gaps between them. L comes from the dynamic programme

    lcs[i][j] = lcs[i-1][j-1] + 1 if ref[i] = hyp[j] else max(lcs[i-1][j], lcs[i][j-1]),

kept one row at a time.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import NamedTuple

__all__ = ["Score", "rouge", "rouge_tokenize", "lcs_length"]

_NON_ALPHANUM = re.compile(r"[^a-z0-9]+")


class Score(NamedTuple):
    precision: float
    recall: float
    f1: float


def rouge_tokenize(text: str) -> list[str]:
    """Lowercased runs of a–z and 0–9."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return _NON_ALPHANUM.sub(" ", text.lower()).split()


def _score(overlap: int, n_hyp: int, n_ref: int) -> Score:
    precision, recall = overlap / max(n_hyp, 1), overlap / max(n_ref, 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return Score(precision, recall, f1)


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def lcs_length(a: list[str], b: list[str]) -> int:
    """The length of the longest common subsequence of two token lists."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge(hypothesis: str, reference: str) -> dict[str, Score]:
    """{"rouge1", "rouge2", "rougeL"} → Score(precision, recall, f1), as
    `rouge_score.rouge_scorer.RougeScorer([...], use_stemmer=False).score(reference, hypothesis)`.
    """
    hyp, ref = rouge_tokenize(hypothesis), rouge_tokenize(reference)
    scores = {}
    for n in (1, 2):
        h, r = _ngrams(hyp, n), _ngrams(ref, n)
        overlap = sum(min(count, h[g]) for g, count in r.items())
        scores[f"rouge{n}"] = _score(overlap, sum(h.values()), sum(r.values()))
    if not hyp or not ref:
        scores["rougeL"] = Score(0.0, 0.0, 0.0)
    else:
        scores["rougeL"] = _score(lcs_length(ref, hyp), len(hyp), len(ref))
    return scores
