"""The data path, the same for both backends: text → token ids → length-bucketed padded batches.

    data = TokenizedText.from_dataset(sentiment("train"), vocab, max_len=64)
    for idx in epoch_batches(data.lengths, batch_size=32, seed=0, epoch=0, bucket=20):
        batch = data.batch(idx)        # {"ids": (B, T), "lengths": (B,), "labels": (B,)}

A batch is padded with `<pad>` = 0 to its longest sentence, rounded up to a multiple of `pad_to`.
NumPy gains nothing from rounding (pad_to=1); `jax.jit` compiles once per shape, so the JAX
backend rounds up to 16 and meets only a handful of shapes. Padding never changes a sentence's
logits (masks), only the cost.

`pretrained_embeddings` builds the embedding matrix of a vocabulary from word vectors (GloVe).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from jaxtyping import Float, Int

from minienc.data.dataset import TextDataset
from minienc.data.pretrained import GloVe
from minienc.text import Vocab, pad_batch

__all__ = ["TokenizedText", "epoch_batches", "length_batches", "pretrained_embeddings"]


@dataclass(frozen=True, eq=False)
class TokenizedText:
    """Token ids of every text (cut at `max_len`), with integer labels and their names."""

    ids: list[np.ndarray]
    labels: Int[np.ndarray, " N"]
    label_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.labels):
            raise ValueError(f"there are {len(self.ids)} texts but {len(self.labels)} labels")

    @classmethod
    def from_texts(
        cls,
        texts: Sequence[str],
        labels: Sequence[int],
        vocab: Vocab,
        max_len: int | None = None,
        label_names: tuple[str, ...] = (),
    ) -> TokenizedText:
        """Tokenize and look up every text (unknown words become `<unk>`), cut at `max_len`."""
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings, got one str")
        if not isinstance(vocab, Vocab):
            raise TypeError(f"vocab must be a Vocab, got {type(vocab).__name__}")
        if len(texts) != len(labels):
            raise ValueError(f"there are {len(texts)} texts but {len(labels)} labels")
        if len(labels) and not np.issubdtype(np.asarray(labels).dtype, np.integer):
            raise TypeError(f"labels must be integers, got dtype {np.asarray(labels).dtype}")
        ids = [np.array(vocab.encode(t)[:max_len], dtype=np.int64) for t in texts]
        return cls(ids, np.asarray(labels, dtype=np.int64), tuple(label_names))

    @classmethod
    def from_dataset(
        cls, data: TextDataset, vocab: Vocab, max_len: int | None = None
    ) -> TokenizedText:
        """`from_texts` on a `TextDataset` (e.g. `minienc.data.sentiment("train")`)."""
        if not isinstance(data, TextDataset):
            raise TypeError(f"data must be a TextDataset, got {type(data).__name__}")
        return cls.from_texts(data.texts, data.labels, vocab, max_len, data.label_names)

    def __len__(self) -> int:
        return len(self.ids)

    def check(self, vocab_size: int, num_classes: int, name: str = "data") -> None:
        """Raise ValueError unless every id lies in [0, vocab_size) and every label in
        [0, num_classes). The data path checks here, where the values are known: inside
        `jax.jit` an out-of-range id or label would be clamped or dropped without a word."""
        for i, ids in enumerate(self.ids):
            if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
                raise ValueError(
                    f"{name}.ids[{i}] must lie in [0, vocab_size = {vocab_size}), got values "
                    f"from {ids.min()} to {ids.max()}"
                )
        bad = (self.labels < 0) | (self.labels >= num_classes)
        if bad.any():
            raise ValueError(
                f"{name}.labels must lie in [0, num_classes = {num_classes}), got "
                f"{self.labels[bad][0]} at row {np.flatnonzero(bad)[0]}"
            )

    @property
    def lengths(self) -> Int[np.ndarray, " N"]:
        """Tokens per text (an empty text counts as one `<pad>`, see `pad_batch`)."""
        return np.array([max(1, len(s)) for s in self.ids], dtype=np.int64)

    def batch(self, idx: Int[np.ndarray, " B"], pad_to: int = 1) -> dict[str, np.ndarray]:
        """{"ids": (B, T), "lengths": (B,), "labels": (B,)} for rows `idx`, int64, with T the
        longest length rounded up to a multiple of `pad_to`."""
        ids, lengths = pad_batch([self.ids[i] for i in idx])
        T = -(-ids.shape[1] // pad_to) * pad_to
        ids = np.pad(ids, ((0, 0), (0, T - ids.shape[1])))  # (B, T), <pad> = 0 on the right
        return {"ids": ids, "lengths": lengths, "labels": self.labels[idx]}


def epoch_batches(
    lengths: Int[np.ndarray, " N"], batch_size: int, seed: int, epoch: int, bucket: int = 0
) -> list[Int[np.ndarray, " B"]]:
    """The row indices of each batch of one epoch, every row once, the last batch maybe smaller.

    The order comes from `np.random.default_rng((seed, epoch))`, so a run can be repeated, or
    resumed at an epoch. With `bucket` > 0, each pool of `bucket · batch_size` shuffled rows is
    sorted by length and cut into batches, and the batches are shuffled: similar lengths share a
    batch, so there is little padding, yet every epoch still mixes the data differently.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    rng = np.random.default_rng((seed, epoch))
    order = rng.permutation(len(lengths))
    if not bucket:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    batches = []
    pool_size = batch_size * bucket
    for start in range(0, len(order), pool_size):
        pool = order[start : start + pool_size]
        pool = pool[np.argsort(lengths[pool], kind="stable")]  # short to long
        batches += [pool[i : i + batch_size] for i in range(0, len(pool), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def length_batches(lengths: Int[np.ndarray, " N"], batch_size: int) -> list[np.ndarray]:
    """Batches of rows sorted by length, for evaluation: least padding, the same scores."""
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def pretrained_embeddings(
    vocab: Vocab, vectors: GloVe, seed: int = 0
) -> tuple[Float[np.ndarray, "V E"], float]:
    """An embedding matrix (len(vocab), E) from pretrained word vectors, and their coverage.

    Row i is the vector of `vocab.itos[i]` when `vectors` has the word; the other rows are drawn
    from N(0, σ²), σ the standard deviation of the pretrained entries, so that they look alike;
    row 0 (`<pad>`) is zero. The coverage is the fraction of words after `<pad>` and `<unk>` found.
    Returns float64; `init` casts to the model's dtype.
    """
    if not isinstance(vocab, Vocab):
        raise TypeError(f"vocab must be a Vocab, got {type(vocab).__name__}")
    if not isinstance(vectors, GloVe):
        raise TypeError(f"vectors must be a GloVe (GloVe.load()), got {type(vectors).__name__}")
    index = vectors.index
    rows = np.array([index.get(w, -1) for w in vocab.itos])  # (V,) row of each word, -1: none
    table = np.asarray(vectors.vectors, dtype=np.float64)
    rng = np.random.default_rng(seed)
    out = table.std() * rng.standard_normal((len(vocab), table.shape[1]))
    found = rows >= 0
    out[found] = table[rows[found]]
    out[0] = 0.0
    coverage = float(found[2:].mean()) if len(vocab) > 2 else 0.0
    return out, coverage
