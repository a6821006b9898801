"""Stored raw documents -> normalized events, state and outbox, one transaction per batch.

The same step serves both bus modes: the embedded loop feeds it rows from the
inbox, RabbitMQ consumers feed it the rows their messages name. Parsing never
raises (the core returns `ok=False` with the reason); what cannot be parsed is
quarantined with that reason and can be replayed after a parser fix.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from parsers import normalize_document
from parsers.normalize import Outcome
from taxonomy import Channel, ErrorEntry, Status
from taxonomy.mapping import carrier_of as carrier_of_table

from . import metrics, tracing
from .core import sources
from .core.apply import Applied
from .rows import InboxRow, Normalized
from .store.ports import Apply, Normalizing

log = logging.getLogger(__name__)
_CHANNELS = {c.value: c for c in Channel}
CHUNK_EVENTS = 2_000  # events per normalizer transaction before the rest of a batch waits for the next one


def requested_number(row: InboxRow) -> str | None:
    """The number a stored poll answer was requested for, when the poll asked for exactly one.

    Some carriers answer without repeating the number (it was in the request);
    the poller stores the numbers it asked for in `x-poll-numbers`. Only poll
    rows are trusted with it: webhook headers come from outside.
    """
    if row.channel != "poll":
        return None
    numbers = [n.strip() for n in (row.headers or {}).get("x-poll-numbers", "").split(",") if n.strip()]
    return numbers[0] if len(numbers) == 1 else None


def normalize_row(row: InboxRow) -> Outcome | str:
    """The core's outcome for one stored document, or why it could not even be tried."""
    try:
        return normalize_document(row.body, content_type=row.content_type,
                                  channel=_CHANNELS.get(row.channel, Channel.WEBHOOK), inbox_id=str(row.id),
                                  received_at=datetime.fromisoformat(row.received_at),
                                  tracking_number=requested_number(row))
    except Exception as exc:  # the core promises not to raise; if it does, the row is kept, not lost
        log.exception("normalizer failed on inbox row %s", row.id)
        return f"normalizer error: {type(exc).__name__}: {exc}"


def strict_mapping(outcome: Outcome | str) -> Outcome | str:
    """Quarantine a document with an event no rung of the mapping ladder could classify.

    For deployments whose consumers must never see `unknown`: the document
    waits in the DLQ, named by its codes, until the mapping table learns them
    and an operator replays it. Its unknown codes are still counted.
    """
    if isinstance(outcome, str) or not outcome.ok:
        return outcome
    unknown = [e for s in outcome.shipments for e in s.events if e.status is Status.UNKNOWN]
    if not unknown:
        return outcome
    names = "; ".join(sorted({f"{e.carrier} {e.carrier_code or '-'} {e.description!r}" for e in unknown}))
    return replace(outcome, ok=False, shipments=[],
                   errors=[ErrorEntry.model_construct(kind="unmapped", message=f"no mapping for {names}"[:500])])


async def process(store: Apply, rows: list[InboxRow], *, quarantine_unmapped: bool = False,
                  parents: dict[int, str] | None = None, lease_outbox: float | None = None,
                  stop: Callable[[list[Normalized]], bool] | None = None,
                  left: list[InboxRow] | None = None) -> Applied:
    """Normalize rows (yielding to the loop between documents) and apply them in one transaction.

    `stop` is asked before each document, with the outcomes so far: once it
    says so (the transaction is big enough, or shutdown ran out of time), the
    documents parsed so far are applied and the others are put in `left`,
    untouched, for the caller to hand back as pending.

    With tracing on, each document gets a `normalize` span, a child of
    `parents[row.id]` (the broker message's context) or else of the context
    stored with the row; its context goes into the document's outbox rows.
    `lease_outbox`: see `Store.apply` (a consumer handing new events to its relay).
    """
    results: list[Normalized] = []
    spans = {}
    kind = tracing.CONSUMER if parents else tracing.INTERNAL
    for index, row in enumerate(rows):
        if stop is not None and left is not None and results and stop(results):
            left.extend(rows[index:])
            break
        started = tracing.start("normalize", (parents or {}).get(row.id) or row.traceparent, kind,
                                {"inbox.id": row.id, "webhook.source": row.source, "channel": row.channel})
        outcome = sources.bind(row.source, row.channel, normalize_row(row))  # a carrier's source: its documents only
        outcome = strict_mapping(outcome) if quarantine_unmapped else outcome
        results.append(Normalized(row.id, outcome))
        if started is not None:
            spans[row.id] = started
            _describe(started, outcome)
        await asyncio.sleep(0)  # intake requests interleave with a long batch
    if not results:
        return Applied()
    try:
        applied = await store.apply(results, {i: tracing.traceparent_of(sp) for i, sp in spans.items()},
                                    lease_outbox)
    finally:
        tracing.end(spans)
    _observe(results, applied)
    return applied


def _describe(span, outcome: Outcome | str) -> None:
    if isinstance(outcome, str):
        span.set_attribute("normalize.result", "failed")
        return
    statuses = sorted({e.status.value for s in outcome.shipments for e in s.events})
    span.set_attributes({"carrier": outcome.carrier or "unknown", "parser": outcome.parser or "none",
                         "normalize.result": "normalized" if outcome.ok else "quarantined",
                         "normalize.fallback": -1 if outcome.fallback_level is None else outcome.fallback_level,
                         "status": statuses, "events": sum(len(s.events) for s in outcome.shipments)})


def _observe(results: list[Normalized], applied: Applied) -> None:
    for _, result in results:
        if isinstance(result, str):
            metrics.DOCUMENTS.labels("unknown", "none", "failed", "none").inc()
            continue
        fallback = "none" if result.fallback_level is None else str(result.fallback_level)
        metrics.DOCUMENTS.labels(result.carrier or "unknown", result.parser or "none",
                                 "normalized" if result.ok else "quarantined", fallback).inc()
        for table, _code, _text in result.unmapped:
            metrics.UNMAPPED.labels(carrier_of_table(table)).inc()
    if applied.duplicate_events:
        metrics.DUPLICATES.labels("event").inc(applied.duplicate_events)
    if applied.relayed_events:
        metrics.DUPLICATES.labels("relayed").inc(applied.relayed_events)
    if applied.corrected_events:
        log.info("%d stored event(s) corrected by documents derived again", applied.corrected_events)
    for event in applied.fresh:
        metrics.EVENTS.labels(event.carrier, event.status.value).inc()
        provenance = event.provenance
        if provenance.received_at is not None:
            lag = (provenance.received_at - event.occurred_at).total_seconds()
            metrics.CARRIER_LAG.labels(event.carrier).observe(max(0.0, lag))
    metrics.observe_lags("committed", applied.received)


class EmbeddedNormalizer:
    """Drains the inbox: the embedded bus's normalize stage (in `serve`, or in `worker` processes).

    Intake wakes an in-process normalizer directly; one in another process
    cannot be woken and polls every `idle_poll` seconds while idle.
    """

    def __init__(self, store: Normalizing, wake: asyncio.Event, *, batch: int = 64, idle_poll: float = 1.0,
                 max_attempts: int = 5, linger: float = 0.0, quarantine_unmapped: bool = False,
                 shutdown_budget: float = 5.0) -> None:
        self._store, self._wake, self._batch, self._idle_poll = store, wake, batch, idle_poll
        self._linger = linger
        self._strict = quarantine_unmapped
        # How many webhook requests wait for their commit in this process (0 in a worker process).
        self.intake_waiting: Callable[[], int] = lambda: 0
        self._max_attempts = max_attempts
        self._task: asyncio.Task | None = None
        self._stopping = False
        # On close: seconds left for normalizing before the rest is left pending for the next start.
        self._budget = shutdown_budget
        self._deadline: float | None = None
        self.processed = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="embedded-normalizer")

    async def drain(self) -> int:
        """Process pending rows until none are left; the count processed."""
        total = 0
        while not self._out_of_time():
            rows = await self._store.claim(self._batch)
            if not rows:
                return total
            left: list[InboxRow] = []
            try:
                await process(self._store, rows, quarantine_unmapped=self._strict, stop=self._enough, left=left)
                if left:  # a big transaction already, or shutting down: the rest waits, pending
                    await self._store.mark([r.id for r in left], "pending")
                    if self._out_of_time():
                        log.info("shutdown: %d stored document(s) left pending for the next start", len(left))
                    rows = rows[:len(rows) - len(left)]
            except Exception:
                log.exception("normalizer transaction failed for %d rows; retrying them one by one", len(rows))
                await self._one_by_one(rows)
            total += len(rows)
            if self.intake_waiting() and not self._stopping:
                await asyncio.sleep(self._yield_time())
            self.processed += len(rows)
        return total

    async def _one_by_one(self, rows: list[InboxRow]) -> None:
        """Isolate the row that breaks a batch: it is retried a bounded number of times, then dead."""
        for index, row in enumerate(rows):
            if self._out_of_time():  # shutting down: the rest waits, pending, for the next start
                await self._store.mark([r.id for r in rows[index:]], "pending")
                return
            try:
                await process(self._store, [row], quarantine_unmapped=self._strict)
            except Exception as exc:
                attempts = row.attempts + 1
                state = "dead" if attempts >= self._max_attempts else "pending"
                reason = f"attempt {attempts}: {type(exc).__name__}: {exc}"
                log.warning("inbox row %s failed (%s); now %s", row.id, reason, state)
                metrics.RETRIES.labels("normalize").inc()
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

    def _enough(self, parsed: list[Normalized]) -> bool:
        """Apply what is parsed now: shutdown's budget is spent, or one transaction holds enough events
        already (a 20,000-scan document is a transaction of its own, so shutdown waits for one at most)."""
        if self._out_of_time():
            return True
        return sum(len(s.events) for _, r in parsed if not isinstance(r, str) for s in r.shipments) >= CHUNK_EVENTS

    def _out_of_time(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def begin_shutdown(self) -> None:
        """Start the shutdown budget now (at the signal, not when the bus's turn to close comes: a long
        batch would otherwise spend the whole limit before `close` is even called)."""
        if self._deadline is None:
            self._deadline = time.monotonic() + self._budget

    async def close(self) -> None:
        """Finish the pass in flight (and what intake stored before it stopped), then stop; within the
        shutdown budget: between documents, once it is spent, the rest stays pending for the next start
        (the process must exit before its supervisor's patience ends, e.g. Docker's 10 s)."""
        self._stopping = True
        self.begin_shutdown()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.drain()
