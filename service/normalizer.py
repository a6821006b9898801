"""Stored raw documents -> normalized events, state and outbox, one transaction per batch.

The same step serves both bus modes: the embedded loop feeds it rows from the
inbox, RabbitMQ consumers feed it the rows their messages name. Parsing never
raises (the core returns `ok=False` with the reason); what cannot be parsed is
quarantined with that reason and can be replayed after a parser fix.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from parsers import normalize_document
from parsers.normalize import Outcome
from taxonomy import Channel

from .store import Applied, InboxRow, Store

log = logging.getLogger(__name__)
_CHANNELS = {c.value: c for c in Channel}


def normalize_row(row: InboxRow) -> Outcome | str:
    """The core's outcome for one stored document, or why it could not even be tried."""
    try:
        return normalize_document(row.body, content_type=row.content_type,
                                  channel=_CHANNELS.get(row.channel, Channel.WEBHOOK), inbox_id=str(row.id),
                                  received_at=datetime.fromisoformat(row.received_at))
    except Exception as exc:  # the core promises not to raise; if it does, the row is kept, not lost
        log.exception("normalizer failed on inbox row %s", row.id)
        return f"normalizer error: {type(exc).__name__}: {exc}"


async def process(store: Store, rows: list[InboxRow]) -> Applied:
    """Normalize rows (yielding to the loop between documents) and apply them in one transaction."""
    results: list[tuple[int, Outcome | str]] = []
    for row in rows:
        results.append((row.id, normalize_row(row)))
        await asyncio.sleep(0)  # intake requests interleave with a long batch
    return await store.apply(results)


class EmbeddedNormalizer:
    """Drains the inbox: the embedded bus's normalize stage (in `serve`, or in `worker` processes).

    Intake wakes an in-process normalizer directly; one in another process
    cannot be woken and polls every `idle_poll` seconds while idle.
    """

    def __init__(self, store: Store, wake: asyncio.Event, *, batch: int = 64, idle_poll: float = 1.0,
                 max_attempts: int = 5, linger: float = 0.0) -> None:
        self._store, self._wake, self._batch, self._idle_poll = store, wake, batch, idle_poll
        self._linger = linger
        # How many webhook requests wait for their commit in this process (0 in a worker process).
        self.intake_waiting: Callable[[], int] = lambda: 0
        self._max_attempts = max_attempts
        self._task: asyncio.Task | None = None
        self._stopping = False
        self.processed = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="embedded-normalizer")

    async def drain(self) -> int:
        """Process pending rows until none are left; the count processed."""
        total = 0
        while True:
            rows = await self._store.claim(self._batch)
            if not rows:
                return total
            try:
                await process(self._store, rows)
            except Exception:
                log.exception("normalizer transaction failed for %d rows; retrying them one by one", len(rows))
                await self._one_by_one(rows)
            total += len(rows)
            if self.intake_waiting() and not self._stopping:
                await asyncio.sleep(self._yield_time())
            self.processed += len(rows)

    async def _one_by_one(self, rows: list[InboxRow]) -> None:
        """Isolate the row that breaks a batch: it is retried a bounded number of times, then dead."""
        for row in rows:
            try:
                await process(self._store, [row])
            except Exception as exc:
                attempts = row.attempts + 1
                state = "dead" if attempts >= self._max_attempts else "pending"
                reason = f"attempt {attempts}: {type(exc).__name__}: {exc}"
                log.warning("inbox row %s failed (%s); now %s", row.id, reason, state)
                await self._store.mark([row.id], state, reason, attempt=True)

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.drain()
            except Exception:  # a store error: keep the rows pending and try again shortly
                log.exception("normalize pass failed; retrying")
                await asyncio.sleep(1.0)
                continue
            if self._stopping:
                return
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._idle_poll)
            except asyncio.TimeoutError:
                continue
            if self._linger:
                await asyncio.sleep(self._yield_time())  # a steady stream: several documents per transaction

    def _yield_time(self) -> float:
        """Intake first: the busier intake is, the longer the normalizer waits between batches.

        A 202 is what the carrier waits for; events may trail by some
        milliseconds. Waiting longer also makes batches bigger, which costs
        less per document, so the normalizer keeps up with less CPU.
        """
        return self._linger * (1 + min(self.intake_waiting() / 32, 4))

    async def close(self) -> None:
        """Finish the pass in flight (and what intake stored before it stopped), then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.drain()
