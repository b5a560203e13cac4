"""Word tokenizer, vocabulary, padding and batching."""

import numpy as np
import pytest

from minienc.text import PAD, UNK, Vocab, batch_indices, pad_batch, tokenize


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Don't stop!", ["don't", "stop", "!"]),
        ("A  film -- 2 hours, long.", ["a", "film", "-", "-", "2", "hours", ",", "long", "."]),
        ("''Conan''", ["'", "'", "conan", "'", "'"]),
        ("", []),
        ("Café naïve", ["café", "naïve"]),
    ],
)
def test_tokenize(text, tokens):
    assert tokenize(text) == tokens


def test_vocab_orders_by_count_then_alphabet_and_applies_min_freq():
    vocab = Vocab.build(["b a b", "c a b", "d"], min_freq=2)
    assert vocab.itos == (PAD, UNK, "b", "a")
    assert vocab.encode("a b z") == [3, 2, 1]
    assert vocab.decode([3, 2, 0, 0]) == ["a", "b"]
    assert len(Vocab.build(["b a b", "c a b", "d"], max_size=3)) == 3


def test_vocab_errors():
    with pytest.raises(ValueError, match="min_freq must be"):
        Vocab.build(["a"], min_freq=0)
    with pytest.raises(ValueError, match="outside the vocabulary of size 3"):
        Vocab.build(["a"]).decode([5])
    with pytest.raises(TypeError, match="text must be a str"):
        tokenize(None)


def test_pad_batch():
    ids, lengths = pad_batch([[5, 6, 7], [8], []], pad_id=0)
    np.testing.assert_array_equal(ids, [[5, 6, 7], [8, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(lengths, [3, 1, 1])
    ids, lengths = pad_batch([[5, 6, 7], [8]], max_len=2)
    np.testing.assert_array_equal(ids, [[5, 6], [8, 0]])
    np.testing.assert_array_equal(lengths, [2, 1])
    with pytest.raises(ValueError, match="at least one sequence"):
        pad_batch([])


def test_batch_indices_cover_everything_once():
    rng = np.random.default_rng(0)
    batches = list(batch_indices(10, 4, rng))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))
    np.testing.assert_array_equal(np.concatenate(list(batch_indices(5, 2))), np.arange(5))
