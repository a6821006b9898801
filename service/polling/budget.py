"""A carrier API's request budget, shared by every process that polls it (through the store).

Several `serve` processes on several machines poll the same carrier; its
quota is one, so the bucket lives in the store (`Coordination.take_tokens`)
rather than in each process's memory. A 429's Retry-After pauses it for all.
"""
from __future__ import annotations

import asyncio

from ..store.ports import Coordination


def budget_for(limit: float) -> tuple[float, float]:
    """(refill rate, capacity) of a bucket that never lets a sliding second hold more than `limit` requests.

    In any one-second window a bucket can hand out its capacity plus a
    second's refill, so the two add up to the limit; the small capacity evens
    the stream and absorbs a process waking a little late.
    """
    if limit < 2:
        return limit * 0.97, 1.0
    capacity = max(1.0, limit * 0.05)
    return limit - capacity, capacity


class SharedLimit:
    def __init__(self, store: Coordination, carrier: str, limit: float) -> None:
        self._store, self.name = store, f"poll:{carrier}"
        self.rate, self.capacity = budget_for(limit)

    async def take(self) -> float:
        """One request's token: 0 if taken, else the seconds to wait (nothing taken)."""
        return await self._store.take_tokens(self.name, self.rate, self.capacity)

    async def acquire(self) -> None:
        """Wait for a token: no process ever sends a request over the carrier's limit."""
        while (wait := await self.take()) > 0:
            await asyncio.sleep(wait)

    async def pause(self, seconds: float) -> None:
        await self._store.pause_tokens(self.name, seconds)
