"""Token buckets: intake's per-source limit (refuse with 429) and the poller's per-carrier limit (wait)."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """`rate` tokens per second, holding at most `capacity` (default one second's worth). Rate 0: unlimited.

    `pause_until` lets a caller honour a Retry-After: no token is handed out
    before that moment, whatever the bucket holds.
    """

    __slots__ = ("rate", "capacity", "tokens", "stamp", "paused_until", "_clock")

    def __init__(self, rate: float, capacity: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate if capacity is None else capacity)
        self.tokens = self.capacity
        self._clock = clock
        self.stamp = clock()
        self.paused_until = 0.0

    def take(self, now: float | None = None) -> float:
        """0 when a token was taken, else the seconds until one may be (nothing taken)."""
        if self.rate <= 0:
            return 0.0
        now = self._clock() if now is None else now
        if now < self.paused_until:
            return self.paused_until - now
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    async def acquire(self) -> None:
        """Wait for a token (the poller's way: it never sends a request over the carrier's limit)."""
        while (wait := self.take()) > 0:
            await asyncio.sleep(wait)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self._clock() + seconds)
        self.tokens = 0.0


class ClientBudget:
    """Per client address: how many refused requests (not authenticated, too slow) it may still cost us.

    Each refusal takes a token; a client with none left is answered 429 before
    anything else is done for it (no body read, no slot, no source budget). A
    sender with valid credentials is never refused, so it never spends this.
    At most `clients` addresses are remembered (the least recently refused
    go first): a flood from many addresses cannot grow it without bound.
    """

    def __init__(self, rate: float = 2.0, capacity: float = 20.0, clients: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.capacity, self.clients = rate, capacity, clients
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def wait(self, client: str) -> float:
        """0 if the client may still be served, else the seconds until it may (nothing taken)."""
        bucket = self._buckets.get(client)
        if bucket is None or self.rate <= 0:
            return 0.0
        now = self._clock()
        tokens = min(bucket.capacity, bucket.tokens + (now - bucket.stamp) * bucket.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / bucket.rate

    def refused(self, client: str) -> None:
        """Charge one refusal to the client."""
        if self.rate <= 0:
            return
        bucket = self._buckets.pop(client, None)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.capacity, self._clock)
            while len(self._buckets) >= self.clients:
                del self._buckets[next(iter(self._buckets))]
        bucket.take()
        self._buckets[client] = bucket  # most recently refused last
