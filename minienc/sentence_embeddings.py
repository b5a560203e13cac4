"""Sentence embeddings from a pretrained BERT (all-MiniLM-L6-v2 by default), in NumPy or JAX.

    vectors = minienc.embed(["a gripping thriller", "dull and slow"])   # (2, 384) float32

`embed` tokenizes with minienc's WordPiece, then calls `embed_ids`, which sorts the sentences by
length into batches (so a batch pads to its own longest sentence, not the longest of all), runs
`bert.sentence_embedding` of the chosen backend and puts the rows back in input order. Texts
longer than the model's `max_seq_length` (256 for MiniLM, from `sentence_bert_config.json`) keep
their first tokens and their final [SEP], as the Hugging Face tokenizer truncates them.
JAX compiles once per batch shape, so `embed_ids` pads every JAX batch of a call to the same number
of rows and its length to a multiple of 8 (padding never changes an embedding).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from jaxtyping import Float, Int
from tqdm.auto import tqdm

from minienc.text.wordpiece import WordPiece

__all__ = ["BACKENDS", "embed", "embed_ids"]

BACKENDS = ("numpy", "jax")
_PROGRESS_FROM = 1000  # show a progress bar from this many sentences on
_JAX_STEP = 8  # JAX batches pad their length to a multiple of this


def _folder(folder: str | Path | None) -> str:
    if folder is None:
        from minienc.data.pretrained import minilm_dir

        folder = minilm_dir()
    return str(Path(folder).resolve())


@functools.lru_cache(maxsize=4)
def _model(folder: str, backend: str) -> tuple[Any, Any, Any]:
    """(config, params, sentence_embedding) of `backend`, loaded once per folder."""
    if backend == "numpy":
        from minienc.numpy import bert

        return bert.load_config(folder), bert.load_params(folder), bert.sentence_embedding
    import jax

    from minienc.jax import bert

    fn = jax.jit(bert.sentence_embedding, static_argnames=("config", "normalize"))
    return bert.load_config(folder), bert.load_params(folder), fn


@functools.lru_cache(maxsize=4)
def _tokenizer(folder: str) -> WordPiece:
    return WordPiece.from_pretrained(folder)


def _max_length(folder: str) -> int:
    """sentence-transformers' `max_seq_length` if the folder has one, else the positions."""
    st_config = Path(folder) / "sentence_bert_config.json"
    if st_config.exists():
        return int(json.loads(st_config.read_text(encoding="utf-8"))["max_seq_length"])
    return json.loads((Path(folder) / "config.json").read_text())["max_position_embeddings"]


def _truncate(ids: np.ndarray, mask: np.ndarray, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows longer than max_len keep their first max_len - 1 tokens and their last one ([SEP])."""
    lengths = mask.sum(axis=1)
    for row in np.flatnonzero(lengths > max_len):
        ids[row, max_len - 1] = ids[row, lengths[row] - 1]
        mask[row, max_len:] = 0
    return ids[:, :max_len], mask[:, :max_len]


def embed(
    sentences: Sequence[str],
    backend: str = "numpy",
    batch_size: int = 32,
    normalize: bool = True,
    folder: str | Path | None = None,
) -> Float[np.ndarray, "N D"]:
    """Embed each sentence as one vector, row i for sentences[i].

    Args:
        sentences: a non-empty list of strings.
        backend: "numpy" or "jax".
        batch_size: sentences per forward pass.
        normalize: L2-normalise each vector (as sentence-transformers does for MiniLM).
        folder: a BERT folder (config.json, model.safetensors, vocab.txt); None for MiniLM.

    Returns:
        float32 array of shape (N, D).
    """
    if isinstance(sentences, str) or not isinstance(sentences, Sequence):
        raise TypeError(f"sentences must be a list of strings, got {type(sentences).__name__}")
    if len(sentences) == 0:
        raise ValueError("sentences is empty: nothing to embed")
    for i, s in enumerate(sentences):
        if not isinstance(s, str):
            raise TypeError(f"sentences[{i}] must be a str, got {type(s).__name__}")
    _check_options(backend, batch_size)
    folder = _folder(folder)
    encoded = _tokenizer(folder).encode_batch(list(sentences), padding=True)
    ids = np.asarray(encoded["input_ids"], dtype=np.int64)  # (N, T)
    mask = np.asarray(encoded["attention_mask"], dtype=np.int64)
    ids, mask = _truncate(ids, mask, _max_length(folder))
    return embed_ids(ids, mask, backend, batch_size, normalize, folder)


def _check_options(backend: str, batch_size: int) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


def embed_ids(
    input_ids: Int[np.ndarray, "N T"],
    attention_mask: Int[np.ndarray, "N T"],
    backend: str = "numpy",
    batch_size: int = 32,
    normalize: bool = True,
    folder: str | Path | None = None,
) -> Float[np.ndarray, "N D"]:
    """`embed` for sentences already tokenized: padded ids (N, T) and their mask, 1 = token.

    The other arguments are those of `embed`. Returns float32 (N, D), rows in input order.
    """
    ids, mask = np.asarray(input_ids), np.asarray(attention_mask)
    if ids.ndim != 2 or mask.shape != ids.shape:
        raise ValueError(
            f"input_ids and attention_mask must both have shape (N, T), got {ids.shape} and "
            f"{mask.shape}"
        )
    if len(ids) == 0:
        raise ValueError("input_ids is empty: nothing to embed")
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"input_ids must be an integer array, got dtype {ids.dtype}")
    _check_options(backend, batch_size)
    config, params, sentence_embedding = _model(_folder(folder), backend)
    real = mask != 0
    order = np.argsort(-real.sum(axis=1), kind="stable")  # longest first
    out = np.empty((len(ids), config.hidden_size), dtype=np.float32)
    with tqdm(total=len(ids), disable=len(ids) < _PROGRESS_FROM, unit="sentence") as bar:
        for start in range(0, len(ids), batch_size):
            rows = order[start : start + batch_size]
            T = max(int(np.flatnonzero(real[rows].any(axis=0)).max(initial=0)) + 1, 1)
            n = len(rows)
            if backend == "jax":  # one compiled shape for many batches
                T = min(-(-T // _JAX_STEP) * _JAX_STEP, max(T, config.max_position_embeddings))
                n = min(batch_size, len(ids))  # every batch of this call: one shape
            b_ids = np.zeros((n, T), dtype=ids.dtype)  # (n, T), padded with id 0, mask 0
            b_mask = np.zeros((n, T), dtype=np.int64)
            width = min(T, ids.shape[1])
            b_ids[: len(rows), :width] = ids[rows, :width]
            b_mask[: len(rows), :width] = real[rows, :width]
            y = sentence_embedding(params, b_ids, b_mask, config, normalize)
            out[rows] = np.asarray(y)[: len(rows)]
            bar.update(len(rows))
    return out
