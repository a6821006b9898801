"""Timing that shrugs off a noisy machine: the best of several runs."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

REPEATS = 5


def best_round(fn: Callable[[bytes], object], docs: Sequence[bytes], seconds: float) -> float:
    """Seconds per round (fn over every doc), the best of REPEATS runs sharing `seconds`.

    The best run is the one least disturbed by the machine (other tenants,
    frequency changes); its figure is what the code costs, as timeit reports.
    """
    best = float("inf")
    for _ in range(REPEATS):
        rounds, start = 0, time.perf_counter()
        while True:
            for d in docs:
                fn(d)
            rounds += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / REPEATS:
                break
        best = min(best, elapsed / rounds)
    return best
