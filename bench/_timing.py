"""Timing shared by the CPU benchmarks: each side timed in its own blocks, the best call counts."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_seconds(
    fns: dict[str, Callable[[], object]], repeats: int, rounds: int = 2
) -> dict[str, float]:
    """The fastest timed call of each function, over `rounds` blocks of `repeats` calls each.

    Each function runs in a block of its own (one warm-up call, then the timed calls), and the
    blocks alternate between functions round after round, so both sides see the machine's load
    drift. Calls are not interleaved one by one: OpenBLAS's worker threads keep spinning for a
    while after NumPy's last matrix product and would slow the next torch call (seen here:
    nn.LSTM at 97k tokens/s when interleaved with NumPy calls, 188k on its own).
    Each function must block until its result is ready.
    """
    best = {name: float("inf") for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            fn()
            for _ in range(repeats):
                start = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - start)
    return best
