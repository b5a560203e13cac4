"""Text to integers: word-level tokenization, vocabularies, padding and batching."""

from minienc.text.batching import batch_indices, pad_batch
from minienc.text.words import PAD, UNK, Vocab, tokenize

__all__ = ["PAD", "UNK", "Vocab", "tokenize", "pad_batch", "batch_indices"]
