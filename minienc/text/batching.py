"""Padding variable-length id sequences into a batch, and shuffled mini-batch indices."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

__all__ = ["pad_batch", "batch_indices"]


def pad_batch(
    seqs: Sequence[Sequence[int]], pad_id: int = 0, max_len: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Stack sequences into `ids` (B, T), padded with `pad_id` after each one's end.

    Sequences longer than `max_len` are cut to it; empty sequences keep one `pad_id` token so that
    every length is ≥ 1 (a recurrent layer needs a last real step). Returns `(ids, lengths)` with
    `lengths` (B,) int64, and `key_padding_mask = ids_positions >= lengths` recoverable from them.
    """
    if len(seqs) == 0:
        raise ValueError("pad_batch needs at least one sequence")
    if max_len is not None and max_len < 1:
        raise ValueError(f"max_len must be ≥ 1, got {max_len}")
    lengths = np.array([max(1, len(s)) for s in seqs], dtype=np.int64)
    if max_len is not None:
        lengths = np.minimum(lengths, max_len)
    ids = np.full((len(seqs), int(lengths.max())), pad_id, dtype=np.int64)
    for row, (s, n) in enumerate(zip(seqs, lengths)):
        ids[row, : min(len(s), n)] = s[:n]
    return ids, lengths


def batch_indices(
    n: int, batch_size: int, rng: np.random.Generator | None = None
) -> Iterator[np.ndarray]:
    """Yield index arrays covering range(n) in batches; shuffled when `rng` is given."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]
