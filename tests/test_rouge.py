"""rouge equals the rouge-score package (a test-only oracle, no stemmer) on real pairs and edges."""

from __future__ import annotations

import numpy as np
import pytest
from rouge_score import rouge_scorer

from minienc.data import wikitext2
from minienc.metrics import rouge
from minienc.rouge import lcs_length

SCORER = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)


def assert_same(hyp, ref):
    ours, theirs = rouge(hyp, ref), SCORER.score(ref, hyp)
    for name in ("rouge1", "rouge2", "rougeL"):
        t = theirs[name]
        assert ours[name] == pytest.approx((t.precision, t.recall, t.fmeasure), abs=1e-12), name


@pytest.fixture(scope="module")
def paragraphs():
    lines = [s.strip() for s in wikitext2("valid") if len(s.split()) > 30]
    return lines[:240]


def test_equals_rouge_score_on_real_paragraphs(paragraphs):
    rng = np.random.default_rng(0)
    for i in range(0, 240, 2):  # 120 pairs: a paragraph against its opening, a shuffle, another
        doc, other = paragraphs[i], paragraphs[i + 1]
        words = doc.split()
        lead = " ".join(words[: len(words) // 3])
        shuffled = " ".join(rng.permutation(words[:40]).tolist())
        for hyp in (lead, shuffled, other):
            assert_same(hyp, doc)


@pytest.mark.parametrize(
    "hyp, ref",
    [
        ("", "a reference"),
        ("a hypothesis", ""),
        ("", ""),
        ("!!! ...", "a b"),  # only punctuation: no tokens
        ("the the the the", "the cat the mat"),  # repeated words are clipped
        ("The Cat, sat; ON the-mat!", "the cat sat on the mat"),  # case and punctuation
        ("in 2019 it cost 3.50 dollars", "it cost 3 50 dollars in 2019"),  # numbers
        ("café naïve déjà", "cafe naive deja"),  # non-ASCII letters are separators
        ("a b c d e f", "f e d c b a"),  # same words, reversed order: LCS 1
    ],
)
def test_edge_cases_equal_rouge_score(hyp, ref):
    assert_same(hyp, ref)


def test_lcs_length():
    assert lcs_length(list("ABCBDAB"), list("BDCABA")) == 4
    assert lcs_length([], ["a"]) == 0


def test_bad_input():
    with pytest.raises(TypeError, match="text must be a str, got list"):
        rouge(["a"], "a")
