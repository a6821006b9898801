"""The SQLite store's one writer thread, serving intake's commits before everything else.

Every write of the process goes through one thread (SQLite has one writer).
Queued first-come-first-served, a webhook's commit would wait behind every
unit of work queued before it: a large document's parts, the actions
stage's batches, the relay's marks. Here it waits only for the unit in
progress: units are taken by priority (intake first), then in order. A
large document's intake commit (`core.intake.large`) comes after the small
ones queued with it and before everything else.
"""
from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

INTAKE, INTAKE_LARGE, NORMAL = 0, 1, 2


class PriorityWriter:
    """A single worker thread taking calls by (priority, arrival); `run_in_executor`'s shape, priorities added."""

    def __init__(self, name: str = "store-write") -> None:
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def call(self, priority: int, fn: Callable[..., Any], *args: Any) -> asyncio.Future:
        future: Future = Future()
        self._queue.put((priority, next(self._order), future, fn, args))
        return asyncio.wrap_future(future)

    def _work(self) -> None:
        while True:
            _, _, future, fn, args = self._queue.get()
            if fn is None:
                future.set_result(None)
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to the awaiting coroutine, as an executor does
                future.set_exception(exc)

    async def shutdown(self, last: Callable[[], Any]) -> None:
        """Run `last` on the thread after everything queued, then stop the thread."""
        await self.call(NORMAL + 1, last)
        done: Future = Future()
        self._queue.put((NORMAL + 2, next(self._order), done, None, ()))
        await asyncio.wrap_future(done)
        self._thread.join()
