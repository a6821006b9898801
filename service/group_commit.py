"""Many intake requests, one commit: durable and fast at once.

Each request hands its document to `GroupCommitter.submit` and waits; a single
task takes everything queued (up to `max_batch`), stores it in one
transaction, and only then releases the waiters. Under load one fsync covers
many requests; `linger` (about a millisecond) lets requests arriving a moment
apart share a commit too.

Large bodies (`core.intake.LARGE_BODY_BYTES`) take a second lane: hashed on
a thread, then committed one at a time by a task of their own, concurrently
with the small ones' commits. In one queue, every small webhook arriving
while megabytes were stored and synced waited for them (about a hundred
milliseconds for 9 MB), and so did those in the same group. PostgreSQL runs
both lanes' transactions at once; SQLite's single writer takes the small
groups queued before a large one (see `store.sqlite.writer`).
"""
from __future__ import annotations

import asyncio
import logging

from .core.intake import large
from .store.ports import Intake
from .rows import Accepted, Incoming

log = logging.getLogger(__name__)


class GroupCommitter:
    def __init__(self, store: Intake, *, max_batch: int = 256, linger: float = 0.0) -> None:
        self._store = store
        self._max_batch = max_batch
        self._linger = linger
        # (item, its answer), or None: stop; the large lane's items are the tasks hashing them
        self._queue: asyncio.Queue[tuple[Incoming, asyncio.Future[Accepted]] | None] = asyncio.Queue()
        self._large: asyncio.Queue[tuple[asyncio.Future[Incoming], asyncio.Future[Accepted]] | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []
        self.batches = 0
        self.waiting = 0  # requests submitted and not yet answered: how busy intake is right now

    def start(self) -> None:
        small = self._run(self._queue, self._max_batch, self._linger)
        self._tasks = [asyncio.create_task(small, name="group-commit"),
                       asyncio.create_task(self._run(self._large, 1, 0.0), name="group-commit-large")]

    async def submit(self, item: Incoming) -> Accepted:
        future: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        self.waiting += 1
        future.add_done_callback(self._answered)
        if large(item):  # queued at once, hashed meanwhile: `close` finds it in its lane
            self._large.put_nowait((asyncio.ensure_future(asyncio.to_thread(item.hashed)), future))
        else:
            self._queue.put_nowait((item, future))
        # Awaited directly: if the request is cancelled, only this future is; the item is already with
        # the committing task, which commits it anyway and skips answering a cancelled future.
        return await future

    def _answered(self, _future: asyncio.Future) -> None:
        self.waiting -= 1

    async def _run(self, queue: asyncio.Queue, max_batch: int, linger: float) -> None:
        stopping = False
        while not stopping:
            first = await queue.get()
            if first is None:
                return
            batch = [first]
            if linger and queue.empty():
                await asyncio.sleep(linger)  # let concurrent requests join this commit
            while len(batch) < max_batch and not queue.empty():
                item = queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            ready = await _hashed(batch)
            if ready:
                await self._commit(ready)

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
        if self._tasks:
            for queue in (self._queue, self._large):
                queue.put_nowait(None)
            await asyncio.gather(*self._tasks)
            self._tasks = []


async def _hashed(batch: list[tuple]) -> list[tuple[Incoming, asyncio.Future]]:
    """The batch with each large item's hashing awaited; an item whose hashing failed fails only itself."""
    ready = []
    for item, future in batch:
        if isinstance(item, asyncio.Future):
            try:
                item = await item
            except Exception as exc:
                log.exception("hashing a large body failed")
                if not future.done():
                    future.set_exception(exc)
                    future.exception()  # retrieved here: a client that hung up must not leave it unobserved
                continue
        ready.append((item, future))
    return ready
