"""The delivery log kept to a size: each subscription's newest attempts, nothing older than the retention.

Every attempt is a row (thousands a second when subscribers keep up), so
without pruning the log would soon outweigh the events it describes. One
process among all (a duty) deletes, every `every` seconds, the rows past
each subscription's newest `keep` and every row older than `days`, in
transactions of at most `CHUNK` rows with a pause between them, so intake's
commits never queue behind one long delete on the store's writer.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from taxonomy.models import utc_text

from ..duties import Duty, instance_holder
from ..store.ports import Subscriptions

log = logging.getLogger(__name__)
CHUNK = 5000


class LogPruner:
    def __init__(self, store: Subscriptions, *, keep: int, days: float, every: float = 60.0,
                 pause: float = 0.05, now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 holder: str | None = None) -> None:
        self._store, self._keep, self._days, self._every, self._pause, self._now = store, keep, days, every, pause, now
        # this process, and this pruner in it (two services in one process are two candidates)
        self.duty = Duty(store, "webhooks:prune-log", holder=holder or instance_holder())
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhooks-prune-log")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.duty.release()

    async def prune(self) -> int:
        """One round: past the newest `keep` of each subscription, then older than `days`; rows deleted."""
        now = self._now()
        deleted = await self._chunks(utc_text(now), self._keep)
        return deleted + await self._chunks(utc_text(now - timedelta(days=self._days)), 0)

    async def _chunks(self, older_than: str, keep: int) -> int:
        deleted = 0
        while True:
            done = await self._store.prune_delivery_log(older_than, keep, CHUNK)
            deleted += done
            if done < CHUNK:
                return deleted
            await asyncio.sleep(self._pause)  # let the writer take intake's commits between chunks

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)  # not at start: a process starting has better things to do
            try:
                if await self.duty.held():
                    deleted = await self.prune()
                    if deleted:
                        log.info("webhooks: %d delivery-log rows pruned", deleted)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the store briefly unavailable: the next round prunes
                log.warning("webhooks: pruning the delivery log failed", exc_info=True)
