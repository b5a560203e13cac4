"""BERT's basic tokenizer: clean the text, then split it into words and punctuation marks.

This is what runs before WordPiece (Devlin et al. 2019; Hugging Face's `BertNormalizer` followed
by `BertPreTokenizer`), step by step:

1. clean: delete NUL, U+FFFD and every "other" character (Unicode categories Cc, Cf, Cs, Co, Cn:
   control and format characters such as U+200B or U+200D), except tab, newline and carriage
   return, which count as whitespace; turn every whitespace character into a space;
2. put spaces around each CJK ideograph, so each becomes a word of its own (kana and hangul are
   not ideographs: they stay inside their words);
3. strip accents (when `strip_accents`, which defaults to `lowercase`): decompose to NFD and drop
   the non-spacing marks (category Mn), so "é" (or "e" + U+0301) becomes "e";
4. lowercase one character at a time (so "Σ" is always "σ", never the final "ς" of str.lower);
5. split on whitespace, and make each punctuation character a word of its own: Unicode categories
   P*, plus the ASCII non-letters, non-digits such as "$", "+", "^", "`" (categories S*).

The reference reads character categories from older Unicode tables than Python 3.11's (14.0):
`category` returns the category it sees, so every code point Python knows is treated alike
(tested on all of them). Still different: code points Python does not know yet (the reference
lowercases some) and U+11938, which the reference's NFD leaves whole.

Each character's fate in steps 1, 3 and 5 depends on the character alone, so it is computed once
and kept in a table that `str.translate` reads (`_CharTable`); ASCII text, the common case, skips
steps 2 and 3 and is split by one regular expression.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

__all__ = ["BasicTokenizer", "category", "is_cjk", "is_punctuation"]

# Blocks of CJK ideographs, as BERT lists them (unified, extensions A-E, compatibility).
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B920, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)
_OTHER = frozenset(("Cc", "Cf", "Cs", "Co"))  # not Cn: unassigned code points are kept
# Python 3.11's tables (Unicode 14.0) put these code points in categories that BERT acts on
# (P*, Mn, Cf), but the reference's tables, from an older Unicode (the Rust crate
# unicode_categories), do not know them and leave them inside words. The gaps between the
# ranges hold only characters that no step splits, strips or deletes. Found by comparing every
# code point with the reference (tests/test_wordpiece.py).
_UNKNOWN_TO_REFERENCE = (
    (0x61D, 0x61D), (0x7FD, 0x7FD), (0x890, 0x8E2), (0x9FD, 0x9FE), (0xA76, 0xA76),
    (0xAFA, 0xAFF), (0xB55, 0xB55), (0xC04, 0xC3C), (0xC77, 0xC77), (0xC84, 0xC84),
    (0xD00, 0xD00), (0xD3B, 0xD3C), (0xD81, 0xD81), (0xEBA, 0xEBA), (0x180F, 0x1886),
    (0x1ABF, 0x1ACE), (0x1B7D, 0x1B7E), (0x1DF6, 0x1DFB), (0x2E43, 0x2E5D), (0xA82C, 0xA82C),
    (0xA8C5, 0xA8C5), (0xA8FF, 0xA8FF), (0xA9BD, 0xA9BD), (0x10D24, 0x10F89), (0x11070, 0x11074),
    (0x110C2, 0x110CD), (0x111CF, 0x111CF), (0x1123E, 0x1123E),
    (0x1133B, 0x1133B), (0x11438, 0x1145E), (0x11660, 0x1166C), (0x116B9, 0x116B9),
    (0x1182F, 0x11FFF), (0x12FF1, 0x13438), (0x16E97, 0x16F4F), (0x16FE2, 0x16FE4),
    (0x1CF00, 0x1CF46), (0x1E000, 0x1E2EF), (0x1E944, 0x1E95F),
)  # fmt: skip
# Characters whose category has changed since: U+166D (So, was Po), U+1734 (Mc, was Mn),
# U+111C9 (Mn, was Po).
_OLD_CATEGORY = {0x166D: "Po", 0x1734: "Mn", 0x111C9: "Po"}
_ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
# ASCII after cleaning: letters/digits in runs, any other visible character alone.
_ASCII_WORDS = re.compile(r"[^\W_]+|\S", re.ASCII)
# Cleaning ASCII: control characters go, tab/newline/carriage return become spaces.
_ASCII_CLEAN = {cp: None for cp in (*range(32), 127)} | {9: " ", 10: " ", 13: " "}


def category(c: str) -> str:
    """Unicode category of `c` as the reference sees it ("Cn" for what its tables lack)."""
    cp = ord(c)
    if cp in _OLD_CATEGORY:
        return _OLD_CATEGORY[cp]
    if any(lo <= cp <= hi for lo, hi in _UNKNOWN_TO_REFERENCE):
        return "Cn"
    return unicodedata.category(c)


def is_cjk(c: str) -> bool:
    """True for a CJK ideograph (BERT's `_is_chinese_char`)."""
    cp = ord(c)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def is_punctuation(c: str) -> bool:
    """True for a character BERT splits off: Unicode P* or any ASCII punctuation/symbol."""
    return c in _ASCII_PUNCT or category(c).startswith("P")


def _clean(c: str, cjk: bool) -> str | None:
    """Steps 1-2 for one character: None deletes it."""
    if c in "\t\n\r":
        return " "
    if c == "\ufffd" or category(c) in _OTHER:  # NUL is Cc
        return None
    if c.isspace():  # what is left of Unicode's White_Space: Zs, U+2028, U+2029
        return " "
    if cjk and is_cjk(c):
        return f" {c} "
    return c


class _CharTable(dict[int, str | None]):
    """A `str.translate` table that fills itself: code point -> `rule(char)`, computed once."""

    def __init__(self, rule: Callable[[str], str | None]) -> None:
        super().__init__()
        self.rule = rule

    def __missing__(self, cp: int) -> str | None:
        value = self[cp] = self.rule(chr(cp))
        return value


class BasicTokenizer:
    """Text -> words, as BERT splits them before WordPiece (module docstring, steps 1-5).

    `BasicTokenizer()("Héllo, 世界!")` -> `["hello", ",", "世", "界", "!"]`.
    """

    def __init__(
        self,
        lowercase: bool = True,
        strip_accents: bool | None = None,
        tokenize_chinese_chars: bool = True,
    ) -> None:
        self.lowercase = lowercase
        self.strip_accents = lowercase if strip_accents is None else strip_accents
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self._clean = _CharTable(lambda c: _clean(c, tokenize_chinese_chars))
        self._strip = _CharTable(lambda c: None if category(c) == "Mn" else c)
        self._lower = _CharTable(str.lower)  # one character at a time: no final sigma
        self._punct = _CharTable(lambda c: f" {c} " if is_punctuation(c) else c)

    def __call__(self, text: str) -> list[str]:
        """The words of `text` (no type check: callers check)."""
        if text.isascii():
            text = text.translate(_ASCII_CLEAN)
            return _ASCII_WORDS.findall(text.lower() if self.lowercase else text)
        text = text.translate(self._clean)
        if self.strip_accents:
            text = unicodedata.normalize("NFD", text).translate(self._strip)
        if self.lowercase:
            text = text.translate(self._lower) if "Σ" in text else text.lower()
        return text.translate(self._punct).split()
