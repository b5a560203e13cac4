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
    if isinstance(seqs, str | bytes) or not isinstance(seqs, Sequence | np.ndarray):
        raise TypeError(f"seqs must be a list of id sequences, got {type(seqs).__name__}")
    if len(seqs) == 0:
        raise ValueError("pad_batch needs at least one sequence, got 0")
    for i, s in enumerate(seqs):
        if isinstance(s, str | bytes) or not isinstance(s, Sequence | np.ndarray):
            raise TypeError(f"seqs[{i}] must be a sequence of int ids, got {type(s).__name__}")
        if len(s) and not np.issubdtype(np.asarray(s).dtype, np.integer):
            raise TypeError(f"seqs[{i}] must hold int ids, got dtype {np.asarray(s).dtype}")
    for name, value in (("pad_id", pad_id), ("max_len", max_len)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | np.integer)
        ):
            raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
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
    for name, value in (("n", n), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if n < 0:
        raise ValueError(f"n must be ≥ 0, got {n}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a np.random.Generator or None, got {type(rng).__name__}")
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]
