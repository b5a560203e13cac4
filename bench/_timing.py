"""Timing shared by the CPU benchmarks: ours and the peer take turns, the best call counts."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_seconds(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """The fastest of `repeats` timed calls of each function, after one warm-up call each.

    The calls alternate (ours, peer, ours, peer, ...) so that both see the same machine load.
    Each function must block until its result is ready.
    """
    best = {name: float("inf") for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best
