"""MiniLM sentence embeddings: minienc (NumPy, JAX) vs sentence-transformers on CPU, in one run.

    python bench/embed.py [--out bench/results/embed_cpu.json] [--repeats 1] [--n 1000] [--all]

all-MiniLM-L6-v2, float32, the first `--n` (1,000) movie-review snippets of
`minienc.data.sentiment()`, batch size 32 on every side (DESIGN §7: JAX ≥ 1.0× the peer's
sentences/s, NumPy reported). Every side tokenizes with the same Hugging Face fast tokenizer
(truncation at 256 tokens, as sentence-transformers does), so the ratio compares the models:
ours is `minienc.embed_ids(tokenized)`, the peer `SentenceTransformer.encode`. Both sort the
sentences by length into batches. JAX's warm-up call compiles its batch shapes.

Each side is timed in blocks of its own (bench/_timing.py), the best call counts. Prints one line
per case: shape, ours, peer (sentences/s), ratio, the worst |difference| of the unit-length
embeddings against the peer's, versions; writes JSON with --out. `--all` then compares all
10,568 snippets once (minutes on 2 cores) and prints the worst difference per backend.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before sentence-transformers is imported

import jax
import numpy as np
import sentence_transformers
import torch
import transformers
from _timing import best_seconds  # bench/ is sys.path[0] when a script here runs
from encoder import blas_threads

import minienc
from minienc.data import sentiment
from minienc.data.pretrained import minilm_dir

BATCH, MAX_LEN = 32, 256
PEER = "sentence-transformers"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the results as JSON to this file")
    parser.add_argument("--repeats", type=int, default=1, help="timed calls per block")
    parser.add_argument("--n", type=int, default=1000, help="sentences per call")
    parser.add_argument("--all", action="store_true", help="also compare every snippet once")
    args = parser.parse_args()

    folder = str(minilm_dir())
    reference = sentence_transformers.SentenceTransformer(folder, device="cpu")
    tokenizer = transformers.BertTokenizerFast.from_pretrained(folder)
    texts = list(sentiment().texts)
    sentences = texts[: args.n]

    def ours(backend: str, batch: list[str]) -> np.ndarray:
        enc = tokenizer(
            batch, padding=True, truncation=True, max_length=MAX_LEN, return_tensors="np"
        )
        return minienc.embed_ids(enc["input_ids"], enc["attention_mask"], backend, BATCH)

    def peer(batch: list[str]) -> np.ndarray:
        return reference.encode(batch, batch_size=BATCH)

    expected = peer(sentences)
    diffs = {b: float(np.abs(ours(b, sentences) - expected).max()) for b in ("numpy", "jax")}
    fns = {
        "numpy": lambda: ours("numpy", sentences),
        "jax": lambda: ours("jax", sentences),
        "peer": lambda: peer(sentences),
    }
    best = best_seconds(fns, args.repeats)
    versions = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "jax": jax.__version__,
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy_blas_threads": blas_threads(),
        "cpus": os.cpu_count(),
    }
    shape = f"MiniLM-L6 embed {len(sentences)} sentences B={BATCH} fp32 cpu"
    cases = []
    for backend in ("numpy", "jax"):
        rate, peer_rate = len(sentences) / best[backend], len(sentences) / best["peer"]
        print(
            f"{shape} {backend} | ours {rate:,.0f} sent/s | {PEER} {peer_rate:,.0f} sent/s"
            f" | ratio {rate / peer_rate:.2f}x | worst |diff| {diffs[backend]:.1e} | "
            + " ".join(f"{k} {v}" for k, v in versions.items())
        )
        cases.append(
            {
                "case": {"backend": backend, "sentences": len(sentences), "batch": BATCH},
                "ours_sentences_per_s": rate,
                "peer": PEER,
                "peer_sentences_per_s": peer_rate,
                "ratio": rate / peer_rate,
                "max_abs_diff": diffs[backend],
            }
        )
    result = {"cases": cases, "versions": versions}
    if args.all:
        expected = peer(texts)
        worst = {b: float(np.abs(ours(b, texts) - expected).max()) for b in ("numpy", "jax")}
        for backend, diff in worst.items():
            print(f"MiniLM-L6 embed all {len(texts)} snippets {backend} | worst |diff| {diff:.1e}")
        result["all"] = {"sentences": len(texts), "max_abs_diff": worst}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
