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


# --- Unicode and types ---
def test_tokenize_normalises_to_nfc_and_keeps_marks_with_their_letter():
    import unicodedata

    composed, decomposed = "café", unicodedata.normalize("NFD", "Café")
    assert decomposed != composed.capitalize() and tokenize(decomposed) == tokenize(composed)
    assert tokenize("हिन्दी भाषा") == ["हिन्दी", "भाषा"]  # vowel signs and virama stay in the word
    assert tokenize("q\u0307x! a\u0301\u0302b") == ["q\u0307x", "!", "\u00e1\u0302b"]
    vocab = Vocab.build([composed, decomposed])
    assert len(vocab) == 3 and vocab.encode(decomposed) == vocab.encode("CAFÉ") == [2]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: Vocab.build("one text"),
            TypeError,
            "texts must be a list of strings, got one str",
        ),
        (lambda: Vocab.build(["a", 3]), TypeError, r"texts\[1\] must be a str, got int"),
        (lambda: Vocab.build(None), TypeError, "texts must be a list of strings, got NoneType"),
        (lambda: Vocab.build(["a"], min_freq=1.5), TypeError, "min_freq must be an int"),
        (lambda: Vocab.build(["a"], max_size="3"), TypeError, "max_size must be an int"),
        (lambda: Vocab(["<pad>", "<unk>"]), TypeError, "itos must be a tuple of str, got list"),
        (lambda: Vocab(("<pad>", "<unk>", 3)), TypeError, "itos must be a tuple of str"),
        (lambda: Vocab.build(["a"]).encode(None), TypeError, "text must be a str, got NoneType"),
        (lambda: Vocab.build(["a"]).decode("12"), TypeError, "ids must be a sequence of ints"),
        (lambda: Vocab.build(["a"]).decode([1, "2"]), TypeError, r"ids\[1\] must be an int"),
        (lambda: tokenize(b"bytes"), TypeError, "text must be a str, got bytes"),
        (lambda: pad_batch("abc"), TypeError, "seqs must be a list of id sequences, got str"),
        (lambda: pad_batch(["ab"]), TypeError, r"seqs\[0\] must be a sequence of int ids"),
        (lambda: pad_batch([[1.5, 2]]), TypeError, r"seqs\[0\] must hold int ids, got dtype"),
        (lambda: pad_batch([[1]], max_len=2.0), TypeError, "max_len must be an int"),
        (lambda: list(batch_indices(3.0, 2)), TypeError, "n must be an int"),
        (lambda: list(batch_indices(3, 2, rng=0)), TypeError, "rng must be a np.random.Generator"),
    ],
)
def test_text_apis_check_their_types(call, error, match):
    with pytest.raises(error, match=match):
        call()
