"""Word-level tokenization and a vocabulary with `<pad>` = 0 and `<unk>` = 1.

`tokenize` lowercases and splits words from punctuation, so "Don't stop!" becomes
`["don't", "stop", "!"]`: letters, digits and inner apostrophes stay together, and every other
non-space character is a token of its own.

Unicode. The text is first brought to normal form NFC: a letter typed as a base letter plus a
combining accent ("e" + U+0301) and the same letter precomposed ("é") are different strings, but
must be the same word with the same id. NFC composes them (where Unicode has a precomposed
letter) and, unlike NFKC, keeps compatibility characters such as "ﬁ" or "²" as written, so it
never changes what the text says; it is also the form most text is stored in already. A combining
mark that has no precomposed form (Devanagari vowel signs, stacked diacritics) stays with the
letter before it: the token pattern lets marks (Unicode categories Mn, Mc, Me) follow a letter.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["PAD", "UNK", "Vocab", "tokenize"]

PAD, UNK = "<pad>", "<unk>"


@functools.cache
def _token_pattern() -> re.Pattern:
    """Words (letters or digits, each with its combining marks, inner apostrophes) | one mark of
    punctuation. Marks live in planes 0, 1 and 14; the class is built once from `unicodedata`."""
    marks = [c for p in (0, 1, 14) for c in range(p << 16, (p + 1) << 16)]
    marks = [c for c in marks if unicodedata.category(chr(c))[0] == "M"]
    ranges, start = [], marks[0]
    for prev, nxt in zip(marks, marks[1:] + [-1]):
        if nxt != prev + 1:  # a run of consecutive marks ends at prev
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(prev))}")
            start = nxt
    letter = rf"[^\W_][{''.join(ranges)}]*"
    return re.compile(rf"(?:{letter})+(?:'(?:{letter})+)*|[^\w\s]|_")


def tokenize(text: str) -> list[str]:
    """Lowercase `text`, bring it to NFC, and split it into words and single punctuation marks."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return _token_pattern().findall(unicodedata.normalize("NFC", text.lower()))


@dataclass(frozen=True)
class Vocab:
    """A fixed list of tokens; index 0 is `<pad>`, 1 is `<unk>`, the rest by descending count."""

    itos: tuple[str, ...]
    stoi: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.itos, tuple) or not all(isinstance(t, str) for t in self.itos):
            raise TypeError(f"itos must be a tuple of str, got {_describe(self.itos)}")
        if self.itos[:2] != (PAD, UNK):
            raise ValueError(f"a Vocab starts with {PAD!r}, {UNK!r}; got {self.itos[:2]}")
        if len(set(self.itos)) != len(self.itos):
            raise ValueError("a Vocab's tokens must be unique")
        object.__setattr__(self, "stoi", {t: i for i, t in enumerate(self.itos)})

    @classmethod
    def build(cls, texts: Iterable[str], min_freq: int = 1, max_size: int | None = None) -> Vocab:
        """Count the tokens of `texts`; keep those seen ≥ `min_freq` times, most frequent first.

        Ties are broken alphabetically so the same texts always give the same vocabulary.
        `max_size` caps the size including the two special tokens.
        """
        if isinstance(texts, str):
            raise TypeError(
                "texts must be a list of strings, got one str (it would be read as a list of "
                "one-character texts): pass [text]"
            )
        if not isinstance(texts, Iterable):
            raise TypeError(f"texts must be a list of strings, got {type(texts).__name__}")
        _check_int("min_freq", min_freq)
        if max_size is not None:
            _check_int("max_size", max_size)
        if min_freq < 1:
            raise ValueError(f"min_freq must be ≥ 1, got {min_freq}")
        counts = Counter()
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] must be a str, got {type(text).__name__}")
            counts.update(tokenize(text))
        kept = sorted(
            (t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t)
        )
        if max_size is not None:
            if max_size < 2:
                raise ValueError(f"max_size must leave room for {PAD} and {UNK}, got {max_size}")
            kept = kept[: max_size - 2]
        return cls((PAD, UNK, *kept))

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`; unknown words map to `<unk>`."""
        return [self.stoi.get(tok, 1) for tok in tokenize(text)]

    def decode(self, ids: Sequence[int]) -> list[str]:
        """Tokens of `ids`, skipping `<pad>`."""
        if isinstance(ids, str) or not isinstance(ids, Iterable):
            raise TypeError(f"ids must be a sequence of ints, got {type(ids).__name__}")
        ids = list(ids)
        for k, i in enumerate(ids):
            if isinstance(i, bool) or not isinstance(i, int | np.integer):
                raise TypeError(f"ids[{k}] must be an int, got {type(i).__name__} {i!r}")
        n = len(self.itos)
        bad = [i for i in ids if not 0 <= int(i) < n]
        if bad:
            raise ValueError(f"ids {bad[:5]} are outside the vocabulary of size {n}")
        return [self.itos[int(i)] for i in ids if int(i) != 0]


def _check_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")


def _describe(value: object) -> str:
    if isinstance(value, tuple):
        kinds = sorted({type(t).__name__ for t in value})
        return f"a tuple of {', '.join(kinds)}"
    return type(value).__name__
