"""Many intake requests, one commit: durable and fast at once.

Each request hands its document to `GroupCommitter.submit` and waits; a single
task takes everything queued (up to `max_batch`), stores it in one
transaction, and only then releases the waiters. Under load one fsync covers
many requests; `linger` (about a millisecond) lets requests arriving a moment
apart share a commit too.
"""
from __future__ import annotations

import asyncio
import logging

from .store.ports import Intake
from .rows import Accepted, Incoming

log = logging.getLogger(__name__)


class GroupCommitter:
    def __init__(self, store: Intake, *, max_batch: int = 256, linger: float = 0.0) -> None:
        self._store = store
        self._max_batch = max_batch
        self._linger = linger
        self._queue: asyncio.Queue[tuple[Incoming, asyncio.Future[Accepted]] | None] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self.batches = 0
        self.waiting = 0  # requests submitted and not yet answered: how busy intake is right now

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def submit(self, item: Incoming) -> Accepted:
        future: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        self.waiting += 1
        future.add_done_callback(self._answered)
        self._queue.put_nowait((item, future))
        # Awaited directly: if the request is cancelled, only this future is; the item is already with
        # the committing task, which commits it anyway and skips answering a cancelled future.
        return await future

    def _answered(self, _future: asyncio.Future) -> None:
        self.waiting -= 1

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            if self._linger and self._queue.empty():
                await asyncio.sleep(self._linger)  # let concurrent requests join this commit
            while len(batch) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            await self._commit(batch)

    async def _commit(self, batch: list[tuple[Incoming, asyncio.Future]]) -> None:
        """One commit for the batch; if it fails, each item alone, so one bad item fails only itself."""
        try:
            results = await self._store.accept([item for item, _ in batch])
        except Exception as exc:
            if len(batch) > 1:
                log.warning("inbox commit of %d documents failed (%s); committing them one by one",
                            len(batch), type(exc).__name__)
                for one in batch:
                    await self._commit([one])
                return
            log.exception("inbox commit failed")
            _, future = batch[0]
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved here: a client that hung up must not leave it unobserved
            return
        self.batches += 1
        for (_, future), result in zip(batch, results):
            if not future.done():
                future.set_result(result)

    async def close(self) -> None:
        """Commit everything submitted so far, then stop."""
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
