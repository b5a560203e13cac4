"""The WordPiece trainer: the score rule, deterministic ties, incremental counts = recounting."""

import random
from collections import Counter

import pytest

from minienc.data import wikitext2
from minienc.text import WordPiece
from minienc.text.wordpiece import SPECIAL_TOKENS
from minienc.text.wordpiece_train import _merge, count_words, train_wordpiece

COURSE = {"hug": 10, "pug": 5, "pun": 12, "bun": 4, "hugs": 5}  # Hugging Face course's example


def naive_train(word_counts, vocab_size, min_frequency=1):
    """The same rule, recounting every unit and pair before each merge (slow, obviously right)."""
    words = {w: [w[0]] + [f"##{c}" for c in w[1:]] for w in word_counts}
    vocab = list(SPECIAL_TOKENS) + sorted({s for symbols in words.values() for s in symbols})
    while len(vocab) < vocab_size:
        units, pairs = Counter(), Counter()
        for w, symbols in words.items():
            for s in symbols:
                units[s] += word_counts[w]
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] += word_counts[w]
        candidates = [p for p, f in pairs.items() if f >= min_frequency]
        if not candidates:
            break
        best = min(
            candidates,
            key=lambda p: (-pairs[p] / (units[p[0]] * units[p[1]]), -pairs[p], p),
        )
        merged = best[0] + best[1][2:]
        if merged not in vocab:
            vocab.append(merged)
        words = {w: _merge(symbols, best, merged) for w, symbols in words.items()}
    return vocab


def test_score_is_not_frequency():
    alphabet = ["##g", "##n", "##s", "##u", "b", "h", "p"]
    vocab = train_wordpiece(COURSE, len(SPECIAL_TOKENS) + len(alphabet) + 1)
    assert vocab[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    assert vocab[len(SPECIAL_TOKENS) : -1] == alphabet
    # ("##g", "##s"): 5 / (20 * 5) = 1/20 beats every other pair's 1/36; BPE would take the
    # most frequent pair, ("##u", "##g") seen 20 times.
    assert vocab[-1] == "##gs"


def test_ties_are_deterministic():
    # After "##gs" every pair scores exactly 1/36: the most frequent, ("p", "##u") (17), wins.
    assert train_wordpiece(COURSE, 14)[-2:] == ["##gs", "pu"]
    # Equal scores and counts: alphabetical order, whatever the order of the counts.
    assert train_wordpiece({"cd": 1, "ab": 1}, 11)[-2:] == ["ab", "cd"]
    assert train_wordpiece({"ab": 1, "cd": 1}, 11)[-2:] == ["ab", "cd"]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("min_frequency", [1, 3])
def test_incremental_counts_equal_recounting(seed, min_frequency):
    rng = random.Random(seed)
    words = {
        "".join(rng.choices("abcde", k=rng.randint(1, 7))): rng.randint(1, 20) for _ in range(80)
    }
    vocab = train_wordpiece(words, 90, min_frequency=min_frequency)
    assert vocab == naive_train(words, 90, min_frequency)
    assert len(vocab) == len(set(vocab))


def test_vocabulary_serves_the_tokenizer():
    lines = wikitext2("train")[:300]
    counts = count_words(lines)
    vocab = train_wordpiece(counts, 600, min_frequency=2)
    assert len(vocab) == 600
    tokenizer = WordPiece(vocab)
    for word in list(counts)[:500]:  # every character of the corpus is in the alphabet
        pieces = tokenizer.tokenize(word)
        assert "[UNK]" not in pieces, word
        assert "".join(p.removeprefix("##") for p in pieces) == word
    assert len(tokenizer.tokenize(" ".join(lines[1:4]))) < sum(map(len, lines[1:4]))


def test_errors():
    with pytest.raises(ValueError, match=r"vocab_size=8 is smaller .* \(12 tokens\)"):
        train_wordpiece(COURSE, 8)
    with pytest.raises(ValueError, match="min_frequency must be >= 1, got 0"):
        train_wordpiece(COURSE, 20, min_frequency=0)
    assert len(train_wordpiece({"ab": 3}, 100)) == len(SPECIAL_TOKENS) + 3  # nothing left to merge
