"""minienc: text encoders built three times — NumPy by hand, JAX with autodiff, Triton kernels.

Submodules are imported on use (`from minienc.numpy import linear`), so importing `minienc` stays
cheap and never pulls in torch or JAX. `minienc.embed` and `minienc.embed_ids` (sentence
embeddings with pretrained MiniLM, from `minienc.sentence_embeddings`) load on first use too.
"""

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {"embed": "minienc.sentence_embeddings", "embed_ids": "minienc.sentence_embeddings"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'minienc' has no attribute {name!r}")
