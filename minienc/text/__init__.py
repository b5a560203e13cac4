"""Text to integers: words and vocabularies, padding and batching, WordPiece and its trainer."""

from minienc.text.batching import batch_indices, pad_batch
from minienc.text.bert_basic import BasicTokenizer
from minienc.text.wordpiece import WordPiece
from minienc.text.wordpiece_train import count_words, train_wordpiece
from minienc.text.words import PAD, UNK, Vocab, tokenize

__all__ = [
    "PAD",
    "UNK",
    "Vocab",
    "tokenize",
    "pad_batch",
    "batch_indices",
    "BasicTokenizer",
    "WordPiece",
    "count_words",
    "train_wordpiece",
]
