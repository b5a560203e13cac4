"""Word-level tokenization and a vocabulary with `<pad>` = 0 and `<unk>` = 1.

`tokenize` lowercases and splits words from punctuation, so "Don't stop!" becomes
`["don't", "stop", "!"]`: letters, digits and inner apostrophes stay together, and every other
non-space character is a token of its own.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["PAD", "UNK", "Vocab", "tokenize"]

PAD, UNK = "<pad>", "<unk>"
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[^\w\s]|_")


def tokenize(text: str) -> list[str]:
    """Lowercase `text` and split it into words and single punctuation marks."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class Vocab:
    """A fixed list of tokens; index 0 is `<pad>`, 1 is `<unk>`, the rest by descending count."""

    itos: tuple[str, ...]
    stoi: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
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
        if min_freq < 1:
            raise ValueError(f"min_freq must be ≥ 1, got {min_freq}")
        counts = Counter(tok for text in texts for tok in tokenize(text))
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
        n = len(self.itos)
        bad = [i for i in ids if not 0 <= int(i) < n]
        if bad:
            raise ValueError(f"ids {bad[:5]} are outside the vocabulary of size {n}")
        return [self.itos[int(i)] for i in ids if int(i) != 0]
