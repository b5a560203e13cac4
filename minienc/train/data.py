"""What the training loop eats: a dataset that hands out batches of NumPy arrays by row index.

The loop needs only `len(data)`, `data.labels` (N,) and `data.batch(idx) -> {name: array}` whose
arrays have the rows `idx` along axis 0 (a "labels" entry among them). Two such datasets:

- `ArrayDataset`: arrays already of equal length (features, ids, labels); a batch slices them.
- `TokenizedText`: a `TextDataset` turned into token ids with a `Vocab`. A batch is padded with
  `<pad>` = 0 to the longest sentence in it, rounded up to a multiple of `bucket` (and cut at
  `max_len`). Rounding up keeps the number of different shapes small: `jax.jit` compiles once per
  shape, so padding every batch to its own length would recompile nearly every step.

`pretrained_embeddings` builds an embedding matrix for a vocabulary from word vectors such as GloVe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from jaxtyping import Float, Int

from minienc.data.dataset import TextDataset
from minienc.text import Vocab, pad_batch

__all__ = ["Batches", "ArrayDataset", "TokenizedText", "pretrained_embeddings"]


class Batches(Protocol):
    """A dataset the training loop can draw batches from."""

    labels: np.ndarray

    def __len__(self) -> int: ...

    def batch(self, idx: np.ndarray) -> dict[str, np.ndarray]: ...


@dataclass(frozen=True, eq=False)
class ArrayDataset:
    """Equal-length arrays by name, e.g. `ArrayDataset({"x": x, "labels": y})`."""

    arrays: Mapping[str, np.ndarray]

    def __post_init__(self) -> None:
        if "labels" not in self.arrays:
            raise KeyError(f"arrays needs a 'labels' entry, got keys {sorted(self.arrays)}")
        sizes = {k: np.shape(v)[0] if np.ndim(v) else None for k, v in self.arrays.items()}
        if len(set(sizes.values())) != 1 or None in sizes.values():
            raise ValueError(f"every array needs the same number of rows, got {sizes}")

    @property
    def labels(self) -> np.ndarray:
        return np.asarray(self.arrays["labels"])

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        return {k: np.asarray(v)[idx] for k, v in self.arrays.items()}


@dataclass(frozen=True, eq=False)
class TokenizedText:
    """Token ids of every text, and its label; `batch` pads them into ids (B, T), lengths (B,)."""

    ids: list[np.ndarray]
    labels: Int[np.ndarray, " N"]
    max_len: int | None = None
    bucket: int = 16

    @classmethod
    def from_dataset(
        cls, data: TextDataset, vocab: Vocab, max_len: int | None = None, bucket: int = 16
    ) -> TokenizedText:
        """Encode every text of `data` with `vocab` (unknown words become `<unk>`)."""
        if not isinstance(data, TextDataset):
            raise TypeError(f"data must be a TextDataset, got {type(data).__name__}")
        if bucket < 1:
            raise ValueError(f"bucket must be >= 1, got {bucket}")
        ids = [np.array(vocab.encode(t), dtype=np.int32) for t in data.texts]
        return cls(ids, np.asarray(data.labels, dtype=np.int32), max_len, bucket)

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        """{"ids": (B, T) int32, "lengths": (B,) int32, "labels": (B,) int32} for rows `idx`."""
        ids, lengths = pad_batch([self.ids[i] for i in idx], pad_id=0, max_len=self.max_len)
        T = -(-ids.shape[1] // self.bucket) * self.bucket  # round up to the bucket
        if self.max_len is not None:
            T = min(T, self.max_len)
        ids = np.pad(ids, ((0, 0), (0, T - ids.shape[1])))  # (B, T), <pad> = 0 on the right
        return {
            "ids": ids.astype(np.int32),
            "lengths": lengths.astype(np.int32),
            "labels": self.labels[idx],
        }


def pretrained_embeddings(
    vocab: Vocab, vectors: Mapping[str, np.ndarray] | Any, seed: int = 0
) -> Float[np.ndarray, "V D"]:
    """An embedding matrix (len(vocab), D) from pretrained word vectors (e.g. `GloVe`).

    Row i is the vector of `vocab.itos[i]` when `vectors` has the word; the other rows are drawn
    from N(0, σ²), σ the standard deviation of the known rows, so they start on the same scale;
    row 0 (`<pad>`) is zero. `vectors` needs `word in vectors` and `vectors[word]`.
    """
    known = [i for i, w in enumerate(vocab.itos) if i > 1 and w in vectors]
    if not known:
        raise ValueError("none of the vocabulary's words has a pretrained vector")
    rows = np.stack([np.asarray(vectors[vocab.itos[i]], dtype=np.float32) for i in known])
    out = np.random.default_rng(seed).normal(0, rows.std(), (len(vocab), rows.shape[1]))
    out = out.astype(np.float32)
    out[known] = rows
    out[0] = 0
    return out
