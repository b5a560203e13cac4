"""minienc's WordPiece gives the exact ids of Hugging Face's BertTokenizerFast (the oracle).

Fast mode (MINIENC_FAST=1) compares samples of the real data; otherwise everything. The full
comparison, with timings, is also `python bench/tokenizer.py`.
"""

import json
import os
import shutil
import unicodedata

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported

from minienc.data import minilm_dir, sentiment, wikitext2  # noqa: E402
from minienc.text import BasicTokenizer, WordPiece  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:`max_length` is ignored:UserWarning")
FAST = os.environ.get("MINIENC_FAST") == "1"
KEYS = ("input_ids", "token_type_ids", "attention_mask")

HARD = [
    "",
    " ",
    "Hello, world!",
    "Héllo wörld, naïve café, Ærøskøbing, São Paulo, Ångström",
    "decomposed: cafe\u0301 nai\u0308ve e\u0301le\u0300ve",
    "ΟΔΟΣ ΣΑΣ — Greek capitals end in sigma; İstanbul; straße; ﬁne ligature",
    "我喜欢自然语言处理。中文没有空格！",
    "日本語のテキストとカタカナ、ひらがな。한국어 텍스트",
    "emoji 😀🥰👍🏽 👨‍👩‍👧 ❤️ and ☃ snow",
    "control\x00chars\x07and\x1b[0m escapes\x7f, \ufffd replacement",
    "zero\u200bwidth\u200djoiner\u200cnon-joiner\ufeffbom\u2060word-joiner",
    "no\u00a0break\u2009thin\u3000ideographic\u2028line\u2029para\tTab\nNL\r\nCRLF\x0bVT\x0cFF",
    "x" * 300,
    "a" * 100 + " " + "b" * 101,
    "!!!??? ... --- ''' \"\"\" ((()))[[]]{{}} @#$%^&*_+=~`|\\/<> ¡¿ «» „“ ‹›",
    "3.14159 1,000,000 -42 +7 1e-10 0x1F 50% $19.99 €5 ½ ² ①",
    "https://example.com/a/b?c=d&e=f#frag user@mail.org C:\\path\\file.txt",
    "Don't stop; it's the U.S.A.'s best! Isn't it? Yes-no. e.g. i.e. Ph.D.",
    "hello [SEP] world [MASK]x [cls] [PAD][UNK] [ CLS ] [SEP",
    "unaffable tokenization untranslatable antidisestablishmentarianism",
    "ﾊﾝｶｸ full-width ＡＢＣ１２３ and math 𝐀𝐁𝐂 and Ⅻ",
    "Привет, мир! Ελληνικά. עברית. العربية. हिन्दी। ไทย",
    "the " * 300,
    " ".join(["longword" * 3] * 200) + " end",
]
PAIRS = [
    ("one two three four five six seven eight nine ten", "alpha beta gamma delta"),
    ("short", "a much longer second text with many more words in it than the first"),
    ("same length here", "equal size text"),
    ("", "only the second"),
    ("Héllo 中文!", ""),
]


@pytest.fixture(scope="module")
def ref():
    from transformers import BertTokenizerFast

    return BertTokenizerFast.from_pretrained(str(minilm_dir()))


@pytest.fixture(scope="module")
def ours():
    return WordPiece.from_pretrained(minilm_dir())


def call(fn, *args, **kwargs):
    """fn's result, or the string "error" when it raises (the reference raises Exception)."""
    try:
        out = fn(*args, **kwargs)
    except Exception:
        return "error"
    return {k: out[k] for k in KEYS}


@pytest.mark.parametrize("text", HARD, ids=range(len(HARD)))
def test_hard_strings(ref, ours, text):
    assert ours.encode(text) == call(ref, text)
    assert ours.tokenize(text) == ref.tokenize(text)
    ids = ours.encode(text)["input_ids"]
    for skip in (False, True):
        assert ours.decode(ids, skip_special_tokens=skip) == ref.decode(
            ids, skip_special_tokens=skip
        )


def test_data_sample(ref, ours):
    texts = list(sentiment().texts)
    wiki = [line for line in wikitext2("valid") if line.strip()][:2000]
    pairs = list(zip(texts[::2][:1000], texts[1::2][:1000]))
    if FAST:  # a spread-out sample
        texts, wiki, pairs = texts[:: len(texts) // 500][:500], wiki[:300], pairs[:200]
    batch = texts + wiki
    assert ours.encode_batch(batch) == call(ref, batch)
    for text in batch:
        ids = ours.encode(text)["input_ids"]
        assert ours.decode(ids) == ref.decode(ids), text
    a, b = map(list, zip(*pairs))
    assert ours.encode_batch(a, b) == call(ref, a, b)
    kwargs = {"max_length": 24, "truncation": True, "padding": "max_length"}
    assert ours.encode_batch(a, b, **kwargs) == call(ref, a, b, **kwargs)
    kwargs = {"max_length": 64, "truncation": True, "padding": True}
    assert ours.encode_batch(wiki, **kwargs) == call(ref, wiki, **kwargs)


@pytest.mark.parametrize("strategy", [True, "longest_first", "only_first", "only_second"])
@pytest.mark.parametrize("max_length", [3, 4, 5, 6, 7, 8, 9, 11, 13, 17, 20, 64])
def test_pair_truncation(ref, ours, strategy, max_length):
    for a, b in PAIRS:
        kwargs = {"max_length": max_length, "truncation": strategy}
        assert call(ours.encode, a, b, **kwargs) == call(ref, a, b, **kwargs), (a, b)


@pytest.mark.parametrize("strategy", [None, True, False, "only_first", "only_second"])
@pytest.mark.parametrize("max_length", [2, 3, 5, 17, None])
def test_single_truncation(ref, ours, strategy, max_length):
    for text in ("one two three four five six", "", "short", HARD[3]):
        kwargs = {"max_length": max_length, "truncation": strategy}
        assert call(ours.encode, text, **kwargs) == call(ref, text, **kwargs), text


def test_long_text_is_cut_only_when_asked(ref, ours):
    text = "word " * 600
    assert len(ours.encode(text)["input_ids"]) == len(ref(text)["input_ids"]) == 602
    assert ours.encode(text, truncation=True) == call(ref, text, truncation=True)
    assert len(ours.encode(text, truncation=True)["input_ids"]) == 512  # model_max_length
    assert ours.encode(text, padding="max_length") == call(ref, text, padding="max_length")


@pytest.mark.parametrize("padding", [False, True, "longest", "max_length", "do_not_pad"])
@pytest.mark.parametrize(
    ("max_length", "truncation"), [(None, None), (12, None), (12, True), (40, False)]
)
def test_padding(ref, ours, padding, max_length, truncation):
    texts = ["a", "a b c d e f g h i j k l m n o", "", "中文 é"]
    kwargs = {"max_length": max_length, "truncation": truncation, "padding": padding}
    assert ours.encode_batch(texts, **kwargs) == call(ref, texts, **kwargs)
    assert ours.encode_batch(texts, texts[::-1], **kwargs) == call(
        ref, texts, texts[::-1], **kwargs
    )
    for text in texts:
        assert ours.encode(text, **kwargs) == call(ref, text, **kwargs)
        assert ours.encode(text, "x y", **kwargs) == call(ref, text, "x y", **kwargs)


def test_decode(ref, ours):
    ids = [101, 2123, 1005, 1056, 2644, 1010, 2002, 2056, 1012, 100, 2000, 102, 0, 0]
    ids += [ours.stoi[t] for t in ("##s", "do", "not", "'", "s", "##ing", "?", "[MASK]")]
    for skip in (False, True):
        assert ours.decode(ids, skip_special_tokens=skip) == ref.decode(
            ids, skip_special_tokens=skip
        )
    assert ours.decode([ours.stoi["##ing"], 2000]) == ref.decode([ours.stoi["##ing"], 2000])
    assert ours.decode([]) == ""


def test_config_from_folder(ref, ours, tmp_path):
    """Missing keys default as BERT's do; the folder's keys are obeyed (compared to the oracle)."""
    from transformers import BertTokenizerFast

    shutil.copy(minilm_dir() / "vocab.txt", tmp_path / "vocab.txt")
    plain = WordPiece.from_pretrained(tmp_path)  # no tokenizer_config.json at all
    assert (plain.basic.lowercase, plain.basic.strip_accents) == (True, True)
    assert plain.basic.tokenize_chinese_chars and plain.model_max_length is None
    assert plain.encode(HARD[3]) == ours.encode(HARD[3])
    config = {"do_lower_case": False, "strip_accents": True, "tokenize_chinese_chars": False}
    config["model_max_length"] = int(1e30)  # how the reference writes "no limit"
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    cased, cased_ref = (
        WordPiece.from_pretrained(tmp_path),
        BertTokenizerFast.from_pretrained(str(tmp_path)),
    )
    assert cased.model_max_length is None
    for text in HARD[:8] + HARD[-2:]:
        assert cased.encode(text) == call(cased_ref, text), text
        assert cased.encode(text, truncation=True) == call(cased_ref, text, truncation=True)


def test_errors(ours, tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}.*vocab.txt"):
        WordPiece.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="special tokens"):
        WordPiece(["a", "b"])
    with pytest.raises(TypeError, match="text must be a str, got bytes"):
        ours.encode(b"hello")
    with pytest.raises(TypeError, match="text_pair must be a str, got int"):
        ours.encode("hello", 3)
    with pytest.raises(TypeError, match="text must be a str"):
        ours.tokenize(None)
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str"):
        ours.encode_batch(["a", 1])
    with pytest.raises(TypeError, match="texts must be a list of str"):
        ours.encode_batch("a text")
    with pytest.raises(ValueError, match="texts has 2 items but text_pairs has 1"):
        ours.encode_batch(["a", "b"], ["c"])
    with pytest.raises(ValueError, match="max_length=1 leaves no room for the 2 special"):
        ours.encode("a b c", max_length=1)
    with pytest.raises(ValueError, match="max_length=2 leaves no room for the 3 special"):
        ours.encode("a", "b", max_length=2, truncation="only_first")
    with pytest.raises(TypeError, match="max_length must be an int"):
        ours.encode("a", max_length=3.0)
    with pytest.raises(ValueError, match="truncation must be .* got 'longest'"):
        ours.encode("a", truncation="longest")
    with pytest.raises(ValueError, match="padding must be .* got 'max'"):
        ours.encode("a", padding="max")
    with pytest.raises(ValueError, match="only_second' needs a text_pair"):
        ours.encode("a b c d", max_length=4, truncation="only_second")
    with pytest.raises(ValueError, match="only_first' cannot reach max_length=5"):
        ours.encode("a b", "c d e f g h", max_length=5, truncation="only_first")
    with pytest.raises(ValueError, match="ids holds 99999, outside the vocabulary of size 30522"):
        ours.decode([101, 99999])


def test_split_cache_and_greedy_split(ours):
    assert ours.tokenize("Unaffable!") == ["una", "##ffa", "##ble", "!"]
    assert ours.tokenize("x" * 101) == ["[UNK]"]
    assert ours.split_ids("unaffable") == [ours.stoi[t] for t in ("una", "##ffa", "##ble")]
    assert ours._cache["unaffable"] is ours._cache["unaffable"]  # split once, then looked up


@pytest.mark.parametrize(
    ("lowercase", "strip_accents", "chinese"),
    [(True, None, True), (False, None, False), (True, False, True), (False, True, True)],
)
def test_every_code_point(lowercase, strip_accents, chinese):
    """The basic tokenizer treats each character as the reference does, in and between words.

    Left out: code points unassigned in Python's Unicode tables (the reference lowercases
    some of them: its case tables are newer) and U+11938, whose decomposition (Unicode 13) the
    reference's NFD lacks. Fast mode takes every 7th code point.
    """
    from tokenizers import normalizers, pre_tokenizers

    norm = normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=chinese,
        strip_accents=strip_accents,
        lowercase=lowercase,
    )
    pre = pre_tokenizers.BertPreTokenizer()
    ours = BasicTokenizer(lowercase, strip_accents, chinese)

    def ref(text):
        return [word for word, _ in pre.pre_tokenize_str(norm.normalize_str(text))]

    chars = [chr(cp) for cp in range(0, 0x110000, 7 if FAST else 1)]
    chars = [c for c in chars if unicodedata.category(c) not in ("Cn", "Cs") and c != "\U00011938"]
    for start in range(0, len(chars), 4096):
        chunk = chars[start : start + 4096]
        text = " ".join(f"a{c}b {c}A{c}" for c in chunk)
        if ours(text) != ref(text):  # find the character, for the message
            for c in chunk:
                text = f"a{c}b {c}A{c}"
                name = unicodedata.name(c, "?")
                assert ours(text) == ref(text), f"U+{ord(c):04X} {name}"
