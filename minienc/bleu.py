"""Corpus BLEU (Papineni et al., 2002) on sacrebleu's 0–100 scale, with its 13a tokenisation.

For a corpus of hypotheses, each with one or more references:

    p_n = Σ_seg Σ_g min(c_hyp(g), max_r c_ref_r(g)) / Σ_seg Σ_g c_hyp(g)     n-grams g, n = 1..4
    BP  = 1 if c > r else exp(1 − r / c)                  c, r: hypothesis and reference lengths
    BLEU = 100 · BP · exp(¼ Σ_n log p_n)

The counts are summed over the whole corpus before dividing ("corpus" BLEU is not the mean of
sentence scores). A hypothesis n-gram counts at most as often as it occurs in the reference that
has most of it ("clipping", the modified precision). r adds, per segment, the reference length
closest to the hypothesis length (the shorter one on a tie). Like sacrebleu's default, an order
with no match at all gets the "exp" smoothing of mteval-v13a: its precision becomes 1 / (2^k ·
total), k counting such orders, instead of a log of 0; with no match at any order the score is 0.

Tokenisation "13a" (mteval-v13a, WMT's): unescape four HTML entities, then put spaces around
punctuation and symbols, around periods and commas unless next to a digit, and after a dash that
follows a digit. "none" splits on whitespace only.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

__all__ = ["corpus_bleu", "tokenize_13a"]

MAX_ORDER = 4
_13A = [
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),  # punctuation and symbols
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),  # period, comma not after a digit
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),  # period, comma not before a digit
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),  # a dash after a digit
]


def tokenize_13a(line: str) -> str:
    """The mteval-v13a tokenisation: tokens separated by single spaces."""
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        for entity, char in (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">")):
            line = line.replace(entity, char)
    line = f" {line} "
    for pattern, replacement in _13A:
        line = pattern.sub(replacement, line)
    return " ".join(line.split())


def _ngrams(tokens: list[str]) -> Counter:
    return Counter(
        tuple(tokens[i : i + n])
        for n in range(1, MAX_ORDER + 1)
        for i in range(len(tokens) - n + 1)
    )


def _closest(hyp_len: int, ref_lens: list[int]) -> int:
    return min(ref_lens, key=lambda r: (abs(hyp_len - r), r))


def _streams(hypotheses: Sequence[str], references: object) -> list[list[str]]:
    """The references as streams: a list of lists of strings, one string per hypothesis."""
    if isinstance(hypotheses, str) or not all(isinstance(h, str) for h in hypotheses):
        raise TypeError("hypotheses must be a list of strings")
    if isinstance(references, str):
        raise TypeError("references must be a list of strings or a list of reference streams")
    refs = list(references)
    streams = [refs] if all(isinstance(r, str) for r in refs) else [list(s) for s in refs]
    for k, stream in enumerate(streams):
        if len(stream) != len(hypotheses):
            raise ValueError(
                f"reference stream {k} has {len(stream)} segments but there are "
                f"{len(hypotheses)} hypotheses"
            )
        if not all(r is None or isinstance(r, str) for r in stream):
            raise TypeError(f"reference stream {k} must hold strings (None: no reference)")
    return streams


def corpus_bleu(
    hypotheses: Sequence[str],
    references: Sequence[str] | Sequence[Sequence[str | None]],
    tokenize: str = "13a",
    lowercase: bool = False,
) -> float:
    """Corpus BLEU in [0, 100], equal to `sacrebleu.corpus_bleu(hypotheses, streams).score`.

    Args:
        hypotheses: one string per segment.
        references: one reference string per hypothesis, or a list of reference streams (each a
            list with one string per hypothesis, None where a segment has fewer references).
        tokenize: "13a" (sacrebleu's default) or "none" (split on whitespace).
        lowercase: compare lowercased text.
    """
    if tokenize not in ("13a", "none"):
        raise ValueError(f"tokenize must be '13a' or 'none', got {tokenize!r}")
    streams = _streams(hypotheses, references)

    def prepare(text: str) -> list[str]:
        text = text.lower() if lowercase else text
        text = text.rstrip()
        return (tokenize_13a(text) if tokenize == "13a" else text).split()

    correct, total = [0] * MAX_ORDER, [0] * MAX_ORDER
    hyp_total, ref_total = 0, 0
    for i, hyp in enumerate(hypotheses):
        refs = [prepare(s[i]) for s in streams if s[i] is not None]
        if not refs:
            raise ValueError(f"segment {i} has no reference")
        best: Counter = Counter()
        for ref in refs:
            best |= _ngrams(ref)  # per n-gram, the largest count in any one reference
        tokens = prepare(hyp)
        hyp_total += len(tokens)
        ref_total += _closest(len(tokens), [len(r) for r in refs])
        for gram, count in _ngrams(tokens).items():
            total[len(gram) - 1] += count
            correct[len(gram) - 1] += min(count, best[gram])
    if not any(correct):
        return 0.0
    log_p, halvings = 0.0, 1.0
    for n in range(MAX_ORDER):
        if total[n] == 0:  # no hypothesis has n + 1 tokens: log 0 in the mean, as in sacrebleu
            return 0.0
        if correct[n] == 0:  # mteval's smoothing: 1/2, 1/4, ... of one match
            halvings *= 2
            log_p += math.log(1 / (halvings * total[n]))
        else:
            log_p += math.log(correct[n] / total[n])
    bp = 1.0 if hyp_total >= ref_total else math.exp(1 - ref_total / hyp_total)
    return 100.0 * bp * math.exp(log_p / MAX_ORDER)
