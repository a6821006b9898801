"""Waiting in scenario tests: for the embedded normalizer to finish what intake stored, or for a condition."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

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


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float = 15.0, what: str = "",
                     describe: Callable[[], str] = lambda: "", every: float = 0.02) -> None:
    """Poll until `check` (plain or async) holds; fail naming `what` and what `describe` says was seen."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what} {describe()}".rstrip())
        await asyncio.sleep(every)
