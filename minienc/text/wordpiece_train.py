"""Learn a WordPiece vocabulary from word counts, by merging the pair with the best score.

Start from characters: each word is split into its first character and "##"-marked
continuations ("hugs" -> h ##u ##g ##s); the vocabulary is the special tokens plus every such
unit. Then repeat until the vocabulary has `vocab_size` tokens: over all words (each counted
`count` times), find the adjacent pair (a, b) with the highest score

    score(a, b) = freq(ab) / (freq(a) · freq(b)),

add the merged unit (a + b without its "##") to the vocabulary and merge that pair everywhere.

How it differs from BPE: BPE merges the most frequent pair, freq(ab). Dividing by freq(a)·freq(b)
prefers pairs whose parts are rarely seen apart: ("##g", "##s") in "hugs" before ("##u", "##g")
of the frequent "hug"/"pug" in the example of Hugging Face's course, where BPE picks "##ug".
The score is how much more often a and b meet than chance would have them meet. It also loves
words seen once: their unseen-elsewhere pairs score 1/1, the highest possible, so with
`min_frequency=1` rare words are built up letter by letter before common ones; a
`min_frequency` of 10-20 on WikiText-2 gives pieces such as "un", "##aff", "##able". At
tokenization time the merges are forgotten: `WordPiece` splits greedily by longest match.

Ties (equal scores) go to the more frequent pair, then to the alphabetically first (a, b), so the
same counts always give the same vocabulary.

Speed: pair counts are updated only in the words that hold the merged pair, and a heap holds the
candidates. A merge changes freq(a) and freq(b), so it raises the score of every pair that holds
a or b; those are pushed again. Stale heap entries are recomputed when they come up.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping

from minienc.text.bert_basic import BasicTokenizer
from minienc.text.wordpiece import SPECIAL_TOKENS

__all__ = ["count_words", "train_wordpiece"]

Pair = tuple[str, str]


def count_words(texts: Iterable[str], basic: BasicTokenizer | None = None) -> Counter[str]:
    """How often each word occurs in `texts`, split by BERT's basic tokenizer (lowercased)."""
    basic = basic or BasicTokenizer()
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(basic(text))
    return counts


def _pairs(symbols: list[str]) -> Counter[Pair]:
    return Counter(zip(symbols, symbols[1:]))


def _merge(symbols: list[str], pair: Pair, merged: str) -> list[str]:
    """`symbols` with each (a, b) pair, read left to right, replaced by `merged`."""
    out, i, n = [], 0, len(symbols)
    while i < n:
        if i + 1 < n and (symbols[i], symbols[i + 1]) == pair:
            out.append(merged)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


def train_wordpiece(
    word_counts: Mapping[str, int],
    vocab_size: int,
    special_tokens: Iterable[str] = SPECIAL_TOKENS,
    min_frequency: int = 1,
) -> list[str]:
    """The vocabulary, in id order: special tokens, the sorted alphabet, then the merges.

    `word_counts` maps word -> count (e.g. `count_words(wikitext2("train"))`); pass the result
    to `WordPiece(vocab)`. Only pairs seen at least `min_frequency` times are merged; stops
    early when no pair is left.
    """
    if min_frequency < 1:
        raise ValueError(f"min_frequency must be >= 1, got {min_frequency}")
    vocab = list(dict.fromkeys(special_tokens))
    words = [([w[0]] + [f"##{c}" for c in w[1:]], n) for w, n in word_counts.items() if w and n > 0]
    units: Counter[str] = Counter()  # freq(unit), over all words
    for symbols, n in words:
        for s in symbols:
            units[s] += n
    vocab += sorted(u for u in units if u not in vocab)
    if vocab_size < len(vocab):
        raise ValueError(
            f"vocab_size={vocab_size} is smaller than the special tokens plus the alphabet "
            f"({len(vocab)} tokens)"
        )
    pair_freq: Counter[Pair] = Counter()
    where: dict[Pair, set[int]] = {}  # pair -> indices of the words that hold it
    holding: dict[str, set[Pair]] = {}  # unit -> candidate pairs it is in (some may be gone)
    for k, (symbols, n) in enumerate(words):
        for pair, m in _pairs(symbols).items():
            pair_freq[pair] += n * m
            where.setdefault(pair, set()).add(k)
    for (a, b), f in pair_freq.items():
        if f >= min_frequency:
            holding.setdefault(a, set()).add((a, b))
            holding.setdefault(b, set()).add((a, b))

    def entry(pair: Pair) -> tuple[float, int, str, str]:
        f = pair_freq[pair]
        return (-f / (units[pair[0]] * units[pair[1]]), -f, *pair)  # the smallest is the best

    vocab_set = set(vocab)
    heap = [entry(pair) for pair, f in pair_freq.items() if f >= min_frequency]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        top = heapq.heappop(heap)
        pair = top[2:]
        if pair_freq.get(pair, 0) < min_frequency:
            continue
        if (fresh := entry(pair)) != top:  # stale: counts changed since it was pushed
            heapq.heappush(heap, fresh)
            continue
        a, b = pair
        merged = a + b[2:]  # b always starts with "##"
        if merged not in vocab_set:  # ("##ab", "##c") and ("##a", "##bc") both give "##abc"
            vocab.append(merged)
            vocab_set.add(merged)
        changed: set[Pair] = set()
        for k in where.pop(pair):
            symbols, n = words[k]
            new = _merge(symbols, pair, merged)
            old_pairs, new_pairs = _pairs(symbols), _pairs(new)
            for p in old_pairs.keys() | new_pairs.keys():  # only pairs next to a merge change
                if not (d := new_pairs[p] - old_pairs[p]):
                    continue
                pair_freq[p] += n * d
                changed.add(p)
                if not new_pairs[p]:
                    where.get(p, set()).discard(k)
                    continue
                where.setdefault(p, set()).add(k)
                if pair_freq[p] >= min_frequency:
                    holding.setdefault(p[0], set()).add(p)
                    holding.setdefault(p[1], set()).add(p)
            merges = (len(symbols) - len(new)) * n
            units[a] -= merges
            units[b] -= merges
            units[merged] += merges
            words[k] = (new, n)
        del pair_freq[pair]
        for unit in (a, b):  # their pairs score higher now; drop those no longer candidates
            holding[unit] = {p for p in holding.get(unit, ()) if pair_freq[p] >= min_frequency}
            changed |= holding[unit]
        for p in changed:
            if pair_freq.get(p, 0) >= min_frequency:
                heapq.heappush(heap, entry(p))
    return vocab
