"""corpus_bleu equals sacrebleu's corpus BLEU (a test-only oracle) on real sentences and edges."""

from __future__ import annotations

import numpy as np
import pytest
import sacrebleu

from minienc.bleu import tokenize_13a
from minienc.data import eng_spa_pairs
from minienc.metrics import corpus_bleu


def oracle(hypotheses, streams, **kw):
    return sacrebleu.corpus_bleu(hypotheses, streams, **kw).score


def damaged(sentences, seed):
    """Machine-translation-like outputs: words dropped, swapped, repeated or replaced."""
    rng = np.random.default_rng(seed)
    vocab = " ".join(sentences).split()
    out = []
    for s in sentences:
        words = s.split()
        for _ in range(int(rng.integers(0, 4))):
            i = int(rng.integers(len(words))) if words else 0
            op = rng.integers(4)
            if op == 0 and words:
                del words[i]
            elif op == 1 and len(words) > 1:
                j = int(rng.integers(len(words)))
                words[i], words[j] = words[j], words[i]
            elif op == 2 and words:
                words.insert(i, words[i])
            else:
                words.insert(i, vocab[int(rng.integers(len(vocab)))])
        out.append(" ".join(words))
    return out


@pytest.fixture(scope="module")
def spanish():
    pairs = eng_spa_pairs()
    rows = np.random.default_rng(0).choice(len(pairs), 400, replace=False)
    return [pairs[int(i)][1] for i in rows]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_sacrebleu_on_real_sentences(spanish, seed):
    hyps = damaged(spanish, seed)
    assert corpus_bleu(hyps, spanish) == pytest.approx(oracle(hyps, [spanish]), abs=1e-9)
    second = damaged(spanish, seed + 10)  # two reference streams
    assert corpus_bleu(hyps, [spanish, second]) == pytest.approx(
        oracle(hyps, [spanish, second]), abs=1e-9
    )
    for kw in ({"lowercase": True}, {"tokenize": "none"}):
        assert corpus_bleu(hyps, spanish, **kw) == pytest.approx(
            oracle(hyps, [spanish], **kw), abs=1e-9
        )


@pytest.mark.parametrize(
    "hyps, refs",
    [
        (["the cat sat on the mat"], ["the cat sat on the mat"]),  # perfect: 100
        ([""], ["a reference"]),  # empty hypothesis
        (["", ""], ["", "x y z"]),  # empty reference too
        (["a b c"], ["a b c d e"]),  # no 4-gram at all in the hypothesis
        (["a x b y"], ["a b a b"]),  # unigrams only match
        (["w x y z w x y z w x y z"], ["w x y z"]),  # longer than the reference, repeats clipped
        (["the the the the the"], ["the cat is on the mat"]),
        (['He said: "it\'s 3.5-4 km, (roughly) & fine!"'], ["he said it's 3.5 - 4 km &amp; fine"]),
        (["numbers 1,000.5 and 3-4 and a.b"], ["numbers 1,000.5 and 3 - 4 and a . b"]),
    ],
)
def test_edge_cases_equal_sacrebleu(hyps, refs):
    assert corpus_bleu(hyps, refs) == pytest.approx(oracle(hyps, [refs]), abs=1e-9)


def test_variable_number_of_references():
    hyps = ["a b c d e", "f g h i j"]
    streams = [["a b c d e", "f g h i"], [None, "f g h i j k"]]
    assert corpus_bleu(hyps, streams) == pytest.approx(oracle(hyps, streams), abs=1e-9)


def test_tokenize_13a_equals_sacrebleu():
    tok = sacrebleu.tokenizers.tokenizer_13a.Tokenizer13a()
    for line in ['He said: "it\'s 3.5-4 km, (roughly)!"', "a&amp;b &lt;c&gt;", "x-\ny", "[1]{2}~"]:
        assert tokenize_13a(line) == tok(line)


@pytest.mark.parametrize(
    "hyps, refs, error, match",
    [
        ("a b", ["a b"], TypeError, "hypotheses must be a list of strings"),
        (["a b"], "a b", TypeError, "references must be a list"),
        (["a b", "c"], ["a b"], ValueError, "stream 0 has 1 segments but there are 2"),
        (["a"], [[None]], ValueError, "segment 0 has no reference"),
        (["a"], [[3]], TypeError, "must hold strings"),
    ],
)
def test_bad_input(hyps, refs, error, match):
    with pytest.raises(error, match=match):
        corpus_bleu(hyps, refs)
    with pytest.raises(ValueError, match="tokenize must be"):
        corpus_bleu(["a"], ["a"], tokenize="intl")
