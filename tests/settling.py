"""Waiting for the embedded normalizer in scenario tests: what intake stored is normalized before asserting."""
from __future__ import annotations

import asyncio

from service.keys import BUS, STORE


async def normalized(client, tries: int = 500) -> None:
    """Drain the in-process normalizer until no inbox row is pending or claimed (the background normalizer may
    hold a batch this drain does not see); fail with the counts if it never settles."""
    counts: dict[str, int] = {}
    for _ in range(tries):
        await client.app[BUS].normalizer.drain()
        counts = await client.app[STORE].counts()
        if not counts.get("inbox_pending") and not counts.get("inbox_claimed"):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"normalizer did not settle: {counts}")
