"""A circuit breaker per carrier: stop calling an API that keeps failing, try again later, one call at a time.

closed     calls go through; `threshold` consecutive failures open it.
open       no calls until `reset_after` seconds passed; then half-open.
half_open  one trial call at a time; success closes, failure opens again.
Rate limiting (429) is not a failure here: the carrier answered and said when.
"""
from __future__ import annotations

import time
from collections.abc import Callable

STATES = ("closed", "half_open", "open")


class CircuitBreaker:
    def __init__(self, threshold: int = 5, reset_after: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold, self.reset_after, self._clock = threshold, reset_after, clock
        self.failures = 0
        self._opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._clock() - self._opened_at >= self.reset_after else "open"

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._trial:
            self._trial = True
            return True
        return False

    def retry_in(self) -> float:
        """Seconds until a call may be tried (0 when one may now)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.reset_after - self._clock())

    def success(self) -> None:
        self.failures, self._opened_at, self._trial = 0, None, False

    def failure(self) -> None:
        self.failures += 1
        self._trial = False
        if self._opened_at is not None or self.failures >= self.threshold:
            self._opened_at = self._clock()  # (re)open: a failed trial waits a full period again
