"""BERT's WordPiece tokenizer, in plain Python, giving the ids of Hugging Face's BertTokenizerFast.

Text -> ids in four steps:

1. special tokens written in the text ("[SEP]", "[MASK]", ... exactly, case and all) are cut out
   first and kept whole;
2. the basic tokenizer (`minienc.text.bert_basic`) cleans, lowercases, strips accents and splits
   each remaining piece into words and punctuation marks;
3. WordPiece splits each word greedily, longest match first: take the longest prefix that is in
   the vocabulary, then the longest "##"-marked continuation of the rest, and so on. A word with
   no such split (some rest matches nothing), or longer than `max_input_chars_per_word`
   characters, becomes one [UNK]. With BERT's vocabulary "unaffable" -> "una", "##ffa", "##ble";
4. `encode` adds [CLS] a [SEP] (b [SEP]), truncates, pads, and returns the model inputs;
   `minienc.text.bert_inputs` holds those rules.

Speed: a word's split depends on the word alone, so each distinct word is split once and its ids
kept in a dict (`_SplitCache`); the basic tokenizer reads per-character tables.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from itertools import chain
from pathlib import Path

from minienc.text.bert_basic import BasicTokenizer
from minienc.text.bert_inputs import Encoding, assemble, check_text, pad_batch, plan

__all__ = ["WordPiece", "SPECIAL_TOKENS"]

_KEYS = ("input_ids", "token_type_ids", "attention_mask")
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# Word-level cleanup of the decoder, applied to each token with its leading space.
_DECODE_CLEANUP = (
    (" .", "."),
    (" ?", "?"),
    (" !", "!"),
    (" ,", ","),
    (" ' ", "'"),
    (" n't", "n't"),
    (" 'm", "'m"),
    (" do not", " don't"),
    (" 's", "'s"),
    (" 've", "'ve"),
    (" 're", "'re"),
)


class _SplitCache(dict[str, list[int]]):
    """word -> its WordPiece ids, split on first sight (dict lookups from C via `map`)."""

    def __init__(self, tokenizer: WordPiece) -> None:
        super().__init__()
        self.split = tokenizer.split_ids

    def __missing__(self, word: str) -> list[int]:
        if len(self) >= 1 << 18:  # bound the memory on endless streams of new words
            self.clear()
        ids = self[word] = self.split(word)
        return ids


class WordPiece:
    """BERT's tokenizer: `WordPiece.from_pretrained(minilm_dir()).encode("Hello!")`.

    `vocab` lists the tokens in id order (or maps token -> id); it must hold [UNK], [CLS], [SEP]
    and [PAD]. The other arguments are those of BERT's tokenizer_config.json.
    """

    def __init__(
        self,
        vocab: Sequence[str] | dict[str, int],
        do_lower_case: bool = True,
        strip_accents: bool | None = None,
        tokenize_chinese_chars: bool = True,
        model_max_length: int | None = None,
        max_input_chars_per_word: int = 100,
    ) -> None:
        stoi = dict(vocab) if isinstance(vocab, dict) else {t: i for i, t in enumerate(vocab)}
        missing = [t for t in SPECIAL_TOKENS[:4] if t not in stoi]
        if missing:
            raise ValueError(f"vocab must hold the special tokens {missing}")
        self.stoi = stoi
        self.itos = (
            {i: t for t, i in stoi.items()} if isinstance(vocab, dict) else dict(enumerate(vocab))
        )
        self.basic = BasicTokenizer(do_lower_case, strip_accents, tokenize_chinese_chars)
        self.model_max_length = model_max_length
        self.max_input_chars_per_word = max_input_chars_per_word
        self.pad_id, self.unk_id, self.cls_id, self.sep_id = (stoi[t] for t in SPECIAL_TOKENS[:4])
        specials = [t for t in SPECIAL_TOKENS if t in stoi]
        self.special_ids = frozenset(stoi[t] for t in specials)
        self._special = re.compile("(" + "|".join(map(re.escape, specials)) + ")")
        self._max_piece = max(map(len, stoi))  # no match can be longer than this
        self._cache = _SplitCache(self)

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> WordPiece:
        """Read `vocab.txt` (one token per line, id = line number) and `tokenizer_config.json`.

        Missing config keys take BERT's defaults: lowercase, accents stripped when lowercasing,
        CJK ideographs split; no config file at all means all defaults.
        """
        folder = Path(folder)
        vocab_file = folder / "vocab.txt"
        if not vocab_file.is_file():
            raise FileNotFoundError(f"{folder} has no vocab.txt: expected a BERT model folder")
        tokens = vocab_file.read_text(encoding="utf-8").split("\n")
        if tokens[-1] == "":  # the file ends with a newline
            tokens.pop()
        config_file = folder / "tokenizer_config.json"
        config = json.loads(config_file.read_text("utf-8")) if config_file.is_file() else {}
        max_length = config.get("model_max_length")
        return cls(
            tokens,
            do_lower_case=config.get("do_lower_case", True),
            strip_accents=config.get("strip_accents"),
            tokenize_chinese_chars=config.get("tokenize_chinese_chars", True),
            # the reference writes "no limit" as a huge number (1e30)
            model_max_length=max_length
            if isinstance(max_length, int) and max_length < 1e20
            else None,
        )

    def __len__(self) -> int:
        return len(self.stoi)

    def split_ids(self, word: str) -> list[int]:
        """WordPiece ids of one word: greedy longest match first, [UNK] if it cannot be split."""
        n, stoi = len(word), self.stoi
        if n > self.max_input_chars_per_word:
            return [self.unk_id]
        ids, start, prefix = [], 0, ""
        while start < n:
            end = min(n, start + self._max_piece)
            while end > start and (piece := prefix + word[start:end]) not in stoi:
                end -= 1
            if end == start:  # nothing in the vocabulary starts this rest
                return [self.unk_id]
            ids.append(stoi[piece])
            start, prefix = end, "##"
        return ids

    def ids(self, text: str) -> list[int]:
        """Token ids of `text` without [CLS]/[SEP] (steps 1-3 of the module docstring)."""
        if "[" not in text:
            return list(chain.from_iterable(map(self._cache.__getitem__, self.basic(text))))
        ids: list[int] = []
        for k, part in enumerate(self._special.split(text)):
            if k % 2:  # odd parts are the special tokens the split kept
                ids.append(self.stoi[part])
            elif part:
                ids.extend(chain.from_iterable(map(self._cache.__getitem__, self.basic(part))))
        return ids

    def tokenize(self, text: str) -> list[str]:
        """Tokens of `text`: `tokenize("Unaffable!")` -> `["una", "##ffa", "##ble", "!"]`."""
        check_text(text, "text")
        itos = self.itos
        return [itos[i] for i in self.ids(text)]

    def encode(
        self,
        text: str,
        text_pair: str | None = None,
        max_length: int | None = None,
        truncation: bool | str | None = None,
        padding: bool | str = False,
    ) -> Encoding:
        """Model inputs of `text` (and `text_pair`), as BertTokenizerFast's `__call__` gives them.

        Returns `{"input_ids", "token_type_ids", "attention_mask"}`, lists of ints: [CLS] a [SEP]
        (b [SEP]), token types 0 for a and 1 for b (and its [SEP]), mask 1 on tokens, 0 on pads.
        `truncation`: False/"do_not_truncate", True/"longest_first" (cut the longer text first;
        the rules are in `bert_inputs`), "only_first", "only_second"; None (the default) truncates
        "longest_first" when only `max_length` is given, as the reference does. `padding`:
        False, True/"longest" (nothing to do for one text), "max_length". Without `max_length`,
        truncation and "max_length" padding use `model_max_length`. An empty `text_pair` counts
        as none (so does the reference's, in single calls but not in batches).
        """
        check_text(text, "text")
        if text_pair is not None:
            check_text(text_pair, "text_pair")
        text_pair = text_pair or None  # the reference encodes one text when the pair is ""
        length, strategy, pad_to = plan(
            self.model_max_length, max_length, truncation, padding, text_pair is not None
        )
        a = self.ids(text)
        b = None if text_pair is None else self.ids(text_pair)
        encoding = assemble(a, b, self.cls_id, self.sep_id, length, strategy)
        return pad_batch([encoding], self.pad_id, pad_to)[0]

    def encode_batch(
        self,
        texts: Sequence[str],
        text_pairs: Sequence[str] | None = None,
        max_length: int | None = None,
        truncation: bool | str | None = None,
        padding: bool | str = False,
    ) -> dict[str, list[list[int]]]:
        """`encode` for many texts (or pairs): each key holds one list per text.

        `padding=True`/"longest" pads to the longest encoding of the batch.
        """
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise TypeError(f"texts must be a list of str, got {type(texts).__name__}")
        if text_pairs is not None and len(text_pairs) != len(texts):
            raise ValueError(f"texts has {len(texts)} items but text_pairs has {len(text_pairs)}")
        for k, text in enumerate(texts):
            check_text(text, f"texts[{k}]")
        for k, text in enumerate(text_pairs or ()):
            check_text(text, f"text_pairs[{k}]")
        pairs = text_pairs if text_pairs is not None else [None] * len(texts)
        length, strategy, pad_to = plan(
            self.model_max_length, max_length, truncation, padding, text_pairs is not None
        )
        ids, cls_id, sep_id = self.ids, self.cls_id, self.sep_id
        encodings = [
            assemble(ids(a), None if b is None else ids(b), cls_id, sep_id, length, strategy)
            for a, b in zip(texts, pairs, strict=True)
        ]
        encodings = pad_batch(encodings, self.pad_id, pad_to)
        return {key: [e[key] for e in encodings] for key in _KEYS}

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        """Text of `ids`: "##" pieces glued to the token before, other tokens space-separated.

        As the reference's decoder does, a space goes before each token but the first, except
        before ".", "?", "!" and ","; "##" is dropped from continuations. Lowercasing, stripped
        accents and the spaces around punctuation inside words are not undone.
        """
        tokens = []
        for i in ids:
            if (i := int(i)) not in self.itos:
                raise ValueError(f"ids holds {i}, outside the vocabulary of size {len(self)}")
            if not (skip_special_tokens and i in self.special_ids):
                tokens.append(self.itos[i])
        out = tokens[:1]
        for token in tokens[1:]:
            if token.startswith("##"):
                out.append(token[2:])
                continue
            token = " " + token
            for dirty, clean in _DECODE_CLEANUP:
                token = token.replace(dirty, clean)
            out.append(token)
        return "".join(out)
