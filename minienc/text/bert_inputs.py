"""From token ids to BERT's model inputs: special tokens, truncation, padding.

One text a becomes [CLS] a [SEP]; a pair (a, b) becomes [CLS] a [SEP] b [SEP], with token type
0 up to the first [SEP] and 1 after it. Truncation keeps `max_length` tokens in all, special
tokens included, so `room = max_length - 2` (3 for a pair) is left for a and b:

- "longest_first": one text keeps its first `room` tokens. For a pair, with n1 <= n2 the
  shorter and longer lengths: the shorter keeps all when it leaves room, the longer keeps
  `max(n1, room - n1)`; when both must shrink, the shorter keeps room // 2 and the longer the
  rest (the second text counts as longer on a tie);
- "only_first" / "only_second": only that text loses tokens; an error when it has too few;
- `room == 0` empties both texts, whatever the strategy (as the reference does).

Padding appends [PAD] (token type 0, mask 0) up to `max_length` ("max_length") or up to the
longest encoding of the batch ("longest", or True).
"""

from __future__ import annotations

__all__ = ["Encoding", "check_text", "plan", "assemble", "pad_batch"]

Encoding = dict[str, list[int]]
TRUNCATIONS = ("longest_first", "only_first", "only_second", "do_not_truncate")
PADDINGS = ("longest", "max_length", "do_not_pad")


def check_text(text: object, name: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, got {type(text).__name__}")


def plan(
    model_max_length: int | None,
    max_length: int | None,
    truncation: bool | str | None,
    padding: bool | str,
    pair: bool,
) -> tuple[int | None, str, int | None]:
    """Resolve the arguments as the reference does -> (max_length, truncation, pad_to).

    `pad_to` is None (no padding), -1 (pad to the longest) or a length.
    """
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int)):
        raise TypeError(f"max_length must be an int or None, got {type(max_length).__name__}")
    if truncation is None:  # max_length alone asks for truncation
        truncation = max_length is not None and padding is False
    if isinstance(truncation, bool):
        truncation = "longest_first" if truncation else "do_not_truncate"
    if truncation not in TRUNCATIONS:
        raise ValueError(f"truncation must be a bool or one of {TRUNCATIONS}, got {truncation!r}")
    if isinstance(padding, bool):
        padding = "longest" if padding else "do_not_pad"
    if padding not in PADDINGS:
        raise ValueError(f"padding must be a bool or one of {PADDINGS}, got {padding!r}")
    if max_length is None:
        max_length = model_max_length
    if max_length is None:  # no limit known: nothing to truncate or pad to
        truncation = "do_not_truncate"
        padding = "longest" if padding == "longest" else "do_not_pad"
    n_special = 3 if pair else 2
    if truncation != "do_not_truncate" and max_length < n_special:
        raise ValueError(
            f"max_length={max_length} leaves no room for the {n_special} special tokens "
            f"([CLS] ... [SEP]{' ... [SEP]' if pair else ''}): use max_length >= {n_special}"
        )
    pad_to = {"do_not_pad": None, "longest": -1}.get(padding, max_length)
    return (max_length if truncation != "do_not_truncate" else None), truncation, pad_to


def _truncate(
    a: list[int], b: list[int] | None, max_length: int, strategy: str
) -> tuple[list[int], list[int] | None]:
    """a and b cut so that they fit in max_length with their special tokens."""
    room = max_length - (2 if b is None else 3)
    if room == 0:
        return [], None if b is None else []
    over = len(a) + (0 if b is None else len(b)) - room  # tokens that must go
    if over <= 0:
        return a, b
    if strategy == "longest_first":
        if b is None:
            return a[:room], None
        n1, n2 = sorted((len(a), len(b)))
        n2 = n1 if n1 > room else max(n1, room - n1)
        if n1 + n2 > room:
            n1, n2 = room // 2, room // 2 + room % 2
        if len(a) > len(b):
            n1, n2 = n2, n1
        return a[:n1], b[:n2]
    if strategy == "only_second" and b is None:
        raise ValueError(
            f"truncation='only_second' needs a text_pair, but the text alone is {len(a) + 2} "
            f"tokens long and max_length={max_length}"
        )
    first = strategy == "only_first"
    target = a if first else b
    assert target is not None
    if len(target) <= over:
        raise ValueError(
            f"truncation={strategy!r} cannot reach max_length={max_length}: "
            f"{over} tokens must go but the {'first' if first else 'second'} text has "
            f"{len(target)}; use truncation='longest_first' or a larger max_length"
        )
    target = target[: len(target) - over]
    return (target, b) if first else (a, target)


def assemble(
    a: list[int],
    b: list[int] | None,
    cls_id: int,
    sep_id: int,
    max_length: int | None,
    strategy: str,
) -> Encoding:
    """[CLS] a [SEP] (b [SEP]) after truncation (when `max_length` is not None)."""
    if max_length is not None:
        a, b = _truncate(a, b, max_length, strategy)
    ids = [cls_id, *a, sep_id]
    types = [0] * len(ids)
    if b is not None:
        ids += [*b, sep_id]
        types += [1] * (len(b) + 1)
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": [1] * len(ids)}


def pad_batch(encodings: list[Encoding], pad_id: int, pad_to: int | None) -> list[Encoding]:
    """Pad each encoding in place to `pad_to` (-1: the longest; None: no padding)."""
    if pad_to is None or not encodings:
        return encodings
    length = max(len(e["input_ids"]) for e in encodings) if pad_to < 0 else pad_to
    for e in encodings:
        n = length - len(e["input_ids"])
        if n > 0:
            e["input_ids"] += [pad_id] * n
            e["token_type_ids"] += [0] * n
            e["attention_mask"] += [0] * n
    return encodings
