"""Stored raw documents -> normalized events, state and outbox, one transaction per batch.

The same step serves both bus modes: the embedded loop feeds it rows from the
inbox, RabbitMQ consumers feed it the rows their messages name. Parsing never
raises (the core returns `ok=False` with the reason); what cannot be parsed is
quarantined with that reason and can be replayed after a parser fix.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime

from parsers import normalize_document
from parsers.normalize import Outcome
from taxonomy import Channel, ErrorEntry, Status
from taxonomy.mapping import carrier_of as carrier_of_table

from . import metrics, tracing
from .cardinality import carrier_label
from .core import sources
from .core.apply import Applied, split
from .rows import InboxRow, Normalized
from .store.ports import Apply, Normalizing

log = logging.getLogger(__name__)
_CHANNELS = {c.value: c for c in Channel}
CHUNK_EVENTS = 2_000  # events per normalizer transaction before the rest of a batch waits for the next one

# Documents larger than this are parsed on a worker thread, not the event loop: parsing a few megabytes
# takes a second or more, which on the loop would hold every webhook's 202 and /readyz that long. Small
# ones (nearly all) are parsed in place: a thread hop would cost more than their parse.
OFF_LOOP_BYTES = 32 * 1024
_PARSER = ThreadPoolExecutor(1, thread_name_prefix="normalize")  # one at a time: parsing is CPU-bound


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

    A document of more than `PART_EVENTS` events is applied in parts first, one transaction each (see
    `service.core.apply.split`); its last part goes with the rest of the batch.

    Large documents are parsed on a worker thread (`OFF_LOOP_BYTES`), so intake keeps answering meanwhile.

    With tracing on, each document gets a `normalize` span, a child of
    `parents[row.id]` (the broker message's context) or else of the context
    stored with the row; its context goes into the document's outbox rows.
    `lease_outbox`: see `Store.apply` (a consumer handing new events to its relay).
    """
    with _collector_held(any(len(row.body) > OFF_LOOP_BYTES for row in rows)):
        return await _process(store, rows, quarantine_unmapped, parents, lease_outbox, stop, left)


async def _process(store: Apply, rows: list[InboxRow], quarantine_unmapped: bool, parents: dict[int, str] | None,
                   lease_outbox: float | None, stop: Callable[[list[Normalized]], bool] | None,
                   left: list[InboxRow] | None) -> Applied:
    parsed: list[tuple[int, list[Outcome | str]]] = []  # each document as its parts (most: one)
    spans = {}
    kind = tracing.CONSUMER if parents else tracing.INTERNAL
    for index, row in enumerate(rows):
        if stop is not None and left is not None and parsed and stop(_finals(parsed)):
            left.extend(rows[index:])
            break
        started = tracing.start("normalize", (parents or {}).get(row.id) or row.traceparent, kind,
                                {"inbox.id": row.id, "webhook.source": row.source, "channel": row.channel})
        if len(row.body) > OFF_LOOP_BYTES:
            _loop_first()
            parts = await asyncio.get_running_loop().run_in_executor(_PARSER, _parts, row, quarantine_unmapped)
        else:
            parts = _parts(row, quarantine_unmapped)
        parsed.append((row.id, parts))
        if started is not None:
            spans[row.id] = started
            _describe(started, parts)
        await asyncio.sleep(0)  # intake requests interleave with a long batch
    if not parsed:
        return Applied()
    try:
        applied = Applied()
        cut: set[int] = set()  # large documents left unfinished: shutdown's budget ran out between their parts
        finals = _finals(parsed)
        for i, parts in parsed:  # a large document's leading parts, each in its own transaction
            while len(parts) > 1:
                if stop is not None and left is not None and stop([]):
                    cut.add(i)  # its stored parts are duplicates when it is normalized again: nothing is lost
                    break
                # Taken out of the list as applied: each part is freed after its transaction, not a whole
                # document's objects at once at the end (30-40 ms on the loop for a 6.7 MB X12 file).
                leading = [Normalized(i, parts.pop(0), final=False)]
                done = await store.apply(leading, _traces(spans, leading), lease_outbox)
                _observe_events(done.fresh)  # a part's metrics now: the loop does a part's worth at a time
                done.fresh = []
                merge(applied, done)
        if cut and left is not None:
            left.extend(row for row in rows if row.id in cut)
        final = [n for n in finals if n.inbox_id not in cut]
        if final:
            merge(applied, await store.apply(final, _traces(spans, final), lease_outbox))
    finally:
        tracing.end(spans)
    _observe(final, applied)
    return applied


# How long a thread may keep the interpreter lock while another waits for it (Python's default: 5 ms)
SWITCH_INTERVAL = 0.001


def _loop_first() -> None:
    """Hand the interpreter lock back to the event loop within 1 ms once parsing runs on a thread.

    The loop releases the lock at every socket call and must win it back
    each time; at the default 5 ms, against a parsing thread, one small
    webhook waited tens of milliseconds and the loop fell hundreds behind
    (measured with bench.big_documents: the loop's lag during a 6.7 MB X12
    file fell from 265-700 ms to under 90 ms).
    """
    if sys.getswitchinterval() > SWITCH_INTERVAL:
        sys.setswitchinterval(SWITCH_INTERVAL)


_holding = 0  # process() calls now holding the cyclic garbage collector
_was_enabled = True


@contextlib.contextmanager
def _collector_held(large: bool):
    """No automatic cyclic garbage collection while a large document is processed.

    A large document is hundreds of thousands of objects; each full collection
    walks them all with the interpreter lock held (200 ms and more for a 6.7 MB
    X12 file, several times over), which stops the event loop whatever thread
    triggered it. Those objects hold no cycles (reference counting frees them),
    so collection waits until the document is done.
    """
    global _holding, _was_enabled
    if not large:
        yield
        return
    if _holding == 0:
        _was_enabled = gc.isenabled()
        gc.disable()
    _holding += 1
    try:
        yield
    finally:
        _holding -= 1
        if _holding == 0 and _was_enabled:
            gc.enable()


def _parts(row: InboxRow, strict: bool) -> list[Outcome | str]:
    """Parse, map and cut into parts: all of a document's CPU work before the store, in one call."""
    outcome = sources.bind(row.source, row.channel, normalize_row(row))  # a carrier's source: its documents only
    return split(strict_mapping(outcome) if strict else outcome)


def _finals(parsed: list[tuple[int, list[Outcome | str]]]) -> list[Normalized]:
    """Each document's last part (most documents: the whole), which finishes its inbox row."""
    return [Normalized(i, parts[-1], whole=len(parts) == 1) for i, parts in parsed]


def _traces(spans: dict, items: list[Normalized]) -> dict[int, str]:
    return {n.inbox_id: tracing.traceparent_of(spans[n.inbox_id]) for n in items if n.inbox_id in spans}


def merge(into: Applied, other: Applied) -> Applied:
    """Two transactions' reports as one (a large document's parts and the rest of its batch)."""
    for name in ("done", "quarantined", "skipped", "new_events", "duplicate_events", "relayed_events",
                 "corrected_events"):
        setattr(into, name, getattr(into, name) + getattr(other, name))
    for name in ("outbox_seqs", "outbox_rows", "fresh", "received"):
        getattr(into, name).extend(getattr(other, name))
    return into


def _describe(span, parts: list[Outcome | str]) -> None:
    outcome = parts[-1]
    if isinstance(outcome, str):
        span.set_attribute("normalize.result", "failed")
        return
    events = [e for part in parts if not isinstance(part, str) for s in part.shipments for e in s.events]
    span.set_attributes({"carrier": outcome.carrier or "unknown", "parser": outcome.parser or "none",
                         "normalize.result": "normalized" if outcome.ok else "quarantined",
                         "normalize.fallback": -1 if outcome.fallback_level is None else outcome.fallback_level,
                         "status": sorted({e.status.value for e in events}), "events": len(events)})


def _observe(results: list[Normalized], applied: Applied) -> None:
    for item in results:
        result = item.outcome
        if isinstance(result, str):
            metrics.DOCUMENTS.labels("unknown", "none", "failed", "none").inc()
            continue
        fallback = "none" if result.fallback_level is None else str(result.fallback_level)
        metrics.DOCUMENTS.labels(carrier_label(result.carrier), result.parser or "none",
                                 "normalized" if result.ok else "quarantined", fallback).inc()
        for table, _code, _text in result.unmapped:
            metrics.UNMAPPED.labels(carrier_label(carrier_of_table(table))).inc()
    if applied.duplicate_events:
        metrics.DUPLICATES.labels("event").inc(applied.duplicate_events)
    if applied.relayed_events:
        metrics.DUPLICATES.labels("relayed").inc(applied.relayed_events)
    if applied.corrected_events:
        log.info("%d stored event(s) corrected by documents derived again", applied.corrected_events)
    _observe_events(applied.fresh)
    metrics.observe_lags("committed", applied.received)


def _observe_events(fresh: list) -> None:
    """Counted per label, not per event: a 20,000-event document must not hold the loop for its metrics."""
    counts: Counter[tuple[str, str]] = Counter()
    lags: dict[str, list[float]] = {}
    for event in fresh:
        carrier = carrier_label(event.carrier)
        counts[(carrier, event.status.value)] += 1
        received = event.provenance.received_at
        if received is not None:
            lags.setdefault(carrier, []).append(max(0.0, (received - event.occurred_at).total_seconds()))
    for labels, count in counts.items():
        metrics.EVENTS.labels(*labels).inc(count)
    for carrier, values in lags.items():
        observe = metrics.CARRIER_LAG.labels(carrier).observe
        for value in values:
            observe(value)


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
                    waiting = {r.id for r in left}
                    rows = [r for r in rows if r.id not in waiting]
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
        return sum(len(s.events) for n in parsed if not isinstance(r := n.outcome, str) for s in r.shipments) >= CHUNK_EVENTS

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
