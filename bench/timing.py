"""Timing that shrugs off a noisy machine: interleaved passes, best sample per item.

Shared machines change speed for seconds at a time (other tenants, frequency
steps). Timing every item in one block would give some items only slow
samples, so `Timer` takes several passes over all items and keeps each
item's fastest sample: every item gets samples spread over the whole run, and
the fastest is what the code costs, as `timeit` reports.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Hashable

PASSES = 7


def sample(fn: Callable[[], object], seconds: float) -> float:
    """Seconds per call of fn, from calling it for about `seconds` (at least once)."""
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed / calls


class Timer:
    """Register items (key -> zero-argument callable), run the passes, read each item's best time."""

    def __init__(self) -> None:
        self._items: dict[Hashable, tuple[Callable[[], object], float]] = {}
        self.best: dict[Hashable, float] = {}

    def add(self, key: Hashable, fn: Callable[[], object], seconds: float) -> None:
        """`seconds` is the item's share of the whole run, split over the passes."""
        self._items[key] = (fn, seconds)

    def run(self, passes: int = PASSES) -> dict[Hashable, float]:
        for _ in range(passes):
            for key, (fn, seconds) in self._items.items():
                took = sample(fn, seconds / passes)
                self.best[key] = min(self.best.get(key, took), took)
        return self.best
