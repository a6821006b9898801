"""The relays: store rows -> broker, marked only after the broker confirmed them.

Both follow one loop: wait until the link is ready, read a window of rows,
publish them all at once (up to `publish_window` unconfirmed publishes in
flight: ~8,500 msg/s here, against ~1,300 when awaiting each confirm), and
record only the rows whose confirm arrived. A row whose publish failed
(nack, return, connection lost, timeout) stays pending/unsent and goes out
again on a later pass: at-least-once, and consumers are idempotent.

- `InboxRelay`: `pending` inbox rows -> `carrier-events.raw`, routing key
  `normalize`, **mandatory** on a channel with `on_return_raises`: the
  normalize queue must always exist, so an unroutable document is an error
  that keeps the row pending, never a silent drop. Rows become `queued`.
- `OutboxRelay`: `unsent` outbox rows -> `shipment-events` with the row's
  routing key, **not mandatory**: an exchange without subscribers is a normal
  state (no OMS queue bound yet), and with mandatory publishing every such
  event would bounce forever and block the rows behind it. The event is
  "sent" once the broker has taken it; `/v1/events` keeps the full feed.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import aio_pika
import aiormq.abc
from aio_pika.abc import AbstractRobustChannel
from pamqp.commands import Basic

from .. import metrics, tracing
from ..cloudevents import CONTENT_TYPE, CORRECTED_TYPE, EVENT_TYPE
from ..duties import Duty
from ..rows import InboxRow, OutboxRow
from ..store.ports import Coordination, EscalationChanges, Inbox, Outbox
from ..store.shapes import CHANGE_TYPE
from .link import Link
from .topology import NORMALIZE_KEY

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT = 30.0  # seconds for one publish and its confirm
OUTBOX_LEASE = 10.0  # seconds new outbox rows handed to this process's relay are reserved for it (as a claim)
POLL_INTERVAL = 1.0  # seconds between passes when nothing woke the relay
T = TypeVar("T")
Properties = Basic.Properties


class Unconfirmed(Exception):
    """Some publishes of a window were not confirmed; their rows stay pending/unsent."""


def _raw_headers(row: InboxRow, attempt: int, traceparent: str | None = None) -> dict:
    headers = {"inbox-id": row.id, "source": row.source, "content-type": row.content_type or "", "attempt": attempt}
    if traceparent:
        headers[tracing.HEADER] = traceparent
    return headers


def raw_message(row: InboxRow, attempt: int = 0) -> aio_pika.Message:
    """The normalize queue's message: the stored document verbatim, the row id to load it by."""
    return aio_pika.Message(
        row.body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, content_type=row.content_type,
        message_id=f"inbox-{row.id}", headers=_raw_headers(row, attempt))


def raw_properties(row: InboxRow, attempt: int = 0, traceparent: str | None = None) -> Properties:
    """`raw_message`'s properties, built directly for the relay's publish path (no Message object)."""
    return Properties(delivery_mode=2, content_type=row.content_type, message_id=f"inbox-{row.id}",
                      headers=_raw_headers(row, attempt, traceparent))


def event_properties(event_id: str, traceparent: str | None = None) -> Properties:
    """A CloudEvent in structured mode; message_id = the CloudEvent id, so subscribers can dedupe (a
    correction's id is `<event_id>-r<revision>`, and its type `shipment.event.corrected.v1`)."""
    kind = CORRECTED_TYPE if "-r" in event_id else EVENT_TYPE
    return Properties(delivery_mode=2, content_type=CONTENT_TYPE, message_id=event_id, message_type=kind,
                      headers={tracing.HEADER: traceparent} if traceparent else None)


def start_window(items: Sequence[T], publish: Callable[[T], Awaitable[object]]) -> asyncio.Future:
    """Publish all items concurrently; the future resolves to each one's confirm (or exception), in order.

    Publishes pass `wait=False`: each one only queues its frames (in order,
    under the channel lock) instead of holding the lock until its bytes are
    written, so a window leaves in a few socket writes (`coalesce`). The
    confirms still bound what is in flight.

    `publish` bounds its own wait (aiormq's `timeout`): a task per publish
    for `wait_for` would cost more than the publish itself.
    """
    return asyncio.gather(*(publish(i) for i in items), return_exceptions=True)


def confirmed_of(items: Sequence[T], results: Sequence[object]) -> list[T]:
    """The items the broker confirmed, in order; the others are logged (they will be retried)."""
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        log.warning("%d of %d publishes not confirmed (first: %s: %s); they will be retried",
                    len(failures), len(items), type(failures[0]).__name__, failures[0])
    return [item for item, r in zip(items, results) if not isinstance(r, BaseException)]


async def publish_window(items: Sequence[T], publish: Callable[[T], Awaitable[object]]) -> list[T]:
    """Publish all items concurrently; the items the broker confirmed, in order."""
    return confirmed_of(items, await start_window(items, publish))


def _retrieved(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()


@dataclass
class Window:
    """Rows whose publishes are out, and the future of their confirms."""

    rows: list
    confirms: asyncio.Future
    full: bool  # the read was limited by the window size: more rows may be waiting


class _Relay:
    """The shared loop: wake on an event or poll, back off on failure.

    Windows overlap by one (`overlap = 2`): the next window is read and
    published while the previous one waits for its confirms and its mark,
    so rows committed meanwhile do not queue behind the broker's fsync. A
    relay whose reads depend on the previous window's mark (a cursor) keeps
    `overlap = 1`.
    """

    name = "relay"
    overlap = 2

    _store: object  # the port each relay reads (typed in each subclass)

    def __init__(self, store, link: Link, wake: asyncio.Event, window: int, linger: float = 0.0) -> None:
        self._store, self._link, self._wake, self._window = store, link, wake, max(1, window)
        self._linger = linger
        self._channel: AbstractRobustChannel | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._busy = False  # inside a pass: stop() lets it finish rather than cut it between confirm and mark
        self._settling: asyncio.Task | None = None  # the previous window, waiting for confirms and its mark
        self.published = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def _publisher(self, *, on_return_raises: bool) -> aiormq.abc.AbstractChannel:
        """The protocol channel under this relay's robust channel (it changes after a reconnect).

        Publishing on it directly skips building an aio-pika Message per row,
        which costs more CPU than the publish itself; confirms, mandatory
        returns (`on_return_raises`) and nacks behave the same.
        """
        if self._channel is None or self._channel.is_closed:
            # A robust channel outlives reconnects; one closed for good (rare) is replaced.
            self._channel = await self._link.channel(confirms=True, on_return_raises=on_return_raises)
        return await self._channel.get_underlay_channel()

    async def _run(self) -> None:
        try:
            await self._loop()
        finally:
            if self._settling is not None:  # stop(): the window in flight may finish (bounded by stop)
                await asyncio.gather(self._settling, return_exceptions=True)

    async def _loop(self) -> None:
        while not self._stopping:
            await self._link.ready.wait()
            self._wake.clear()
            self._busy = True
            failed = full = False
            try:
                window = await self._publish()
                if window is not None:
                    full = window.full
                    if self.overlap > 1:
                        previous, self._settling = self._settling, asyncio.create_task(self._settle(window))
                        self._settling.add_done_callback(_retrieved)  # a failure is also seen where awaited
                        if previous is not None:
                            await previous  # two windows in flight at most
                    else:
                        await self._settle(window)
            except Unconfirmed:
                failed = True  # already logged
            except Exception:
                log.exception("%s pass failed; retrying", self.name)
                failed = True
            finally:
                self._busy = False
            if self._stopping:
                return
            if failed:
                await self._drain_settling()
                await asyncio.sleep(POLL_INTERVAL)  # back off; the rows are still pending/unsent
                continue
            if full:
                continue  # more rows are waiting: no sleep between full windows
            try:
                await asyncio.wait_for(self._wake.wait(), POLL_INTERVAL)
            except asyncio.TimeoutError:
                continue
            if self._linger and self._lingers():
                await asyncio.sleep(self._linger)  # a steady stream: more rows per publish window

    async def _drain_settling(self) -> None:
        previous, self._settling = self._settling, None
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)  # its failure is logged already

    def _lingers(self) -> bool:
        return True

    async def _publish(self) -> Window | None:
        """Read the next rows and send them; None when nothing is waiting."""
        raise NotImplementedError

    async def _settle(self, window: Window) -> None:
        """Wait for the window's confirms and record the confirmed rows; raises `Unconfirmed` (after
        recording what was confirmed) if some publishes were not."""
        raise NotImplementedError

    async def pass_once(self) -> bool:
        """Publish one window and settle it; True if it was full (more may wait)."""
        window = await self._publish()
        if window is None:
            return False
        await self._settle(window)
        return window.full

    async def flush(self, deadline: float) -> None:
        """Publish what is waiting, once, until done or the monotonic deadline (shutdown)."""
        while self._link.connected and time.monotonic() < deadline:
            try:
                full = await asyncio.wait_for(self.pass_once(), max(0.1, deadline - time.monotonic()))
            except (Exception, asyncio.TimeoutError):  # Unconfirmed included: no retry loop at shutdown
                log.warning("%s flush stopped early; rows stay for the next start", self.name, exc_info=True)
                return
            if not full:
                return

    async def stop(self, timeout: float) -> None:
        """Stop the loop; a pass in flight may finish (bounded), an idle wait is cut at once."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is None:
            return
        if self._busy or (self._settling is not None and not self._settling.done()):
            await asyncio.wait({task}, timeout=timeout)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if self._settling is not None:
            self._settling.cancel()
            await asyncio.gather(self._settling, return_exceptions=True)
            self._settling = None

    async def close_channel(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None and not channel.is_closed:
            try:
                await asyncio.wait_for(channel.close(), 5.0)
            except Exception as exc:  # the connection closes next anyway
                log.debug("%s channel close failed (%s)", self.name, exc)


class InboxRelay(_Relay):
    """Also the sweeper of documents the broker confirmed but never delivered (see `Inbox.requeue_stale`).

    Rows are claimed under a lease (`claim_for_relay`) and stay `pending`
    until their confirm is recorded, so relays in several processes never
    publish the same rows at once, and rows of a relay that died go out
    again when its lease ends. Rows whose publish failed are released at once.
    The lease is short, so a killed node's rows wait seconds, not a minute;
    a window still waiting for its confirms renews it (`renew_for_relay`).
    """

    name = "inbox-relay"
    _store: Inbox
    STALE_AFTER = 600.0  # seconds a `queued` row may wait for its normalizer before it is published again
    SWEEP_EVERY = 60.0
    LEASE = 10.0  # seconds; renewed every third of it while a window waits for its confirms
    _swept = 0.0

    async def _publish(self) -> Window | None:
        now = time.monotonic()
        if now - self._swept >= self.SWEEP_EVERY:
            self._swept = now
            requeued = await self._store.requeue_stale(self.STALE_AFTER)
            if requeued:
                log.warning("%d documents queued over %.0f s ago were never finished; publishing them again",
                            requeued, self.STALE_AFTER)
        rows = await self._store.claim_for_relay(self._window, self.LEASE)
        if not rows:
            return None
        channel, exchange = await self._publisher(on_return_raises=True), self._link.topology.raw
        spans = {row.id: tracing.start("inbox.publish", row.traceparent, tracing.PRODUCER,
                                       {"inbox.id": row.id, "messaging.destination.name": exchange})
                 for row in rows if row.traceparent} if tracing.enabled() else {}
        try:
            confirms = start_window(rows, lambda row: channel.basic_publish(
                row.body, exchange=exchange, routing_key=NORMALIZE_KEY, mandatory=True, timeout=PUBLISH_TIMEOUT,
                wait=False, properties=raw_properties(row, traceparent=tracing.traceparent_of(spans.get(row.id)))))
        finally:
            tracing.end(spans)
        return Window(rows, confirms, len(rows) == self._window)

    async def _settle(self, window: Window) -> None:
        while True:  # the confirms, renewing the rows' lease while the broker takes its time
            done, _ = await asyncio.wait((window.confirms,), timeout=self.LEASE / 3)
            if done:
                break
            await self._store.renew_for_relay([row.id for row in window.rows], self.LEASE)
        confirmed = confirmed_of(window.rows, window.confirms.result())
        if confirmed:
            await self._store.mark_queued([row.id for row in confirmed])
            self.published += len(confirmed)
        if len(confirmed) < len(window.rows):
            done = {row.id for row in confirmed}
            await self._store.release_for_relay([row.id for row in window.rows if row.id not in done])
            raise Unconfirmed(len(window.rows) - len(confirmed))


class OutboxRelay(_Relay):
    """Publishes rows handed over by the consumer of its process first (`offer`), then claims the rest.

    Handed rows were leased to this process in the normalizer's transaction;
    publishing them from memory saves a claiming transaction and the wait
    for it on every event's path. A row still in hand when its lease is
    nearly over is dropped from memory and found again by `claim_unsent`
    (by this relay or another), so nothing waits forever behind a broker
    outage, and no row is in hand and claimable at once. Claimed rows are
    leased too, so overlapping windows never hold the same row.
    """

    name = "outbox-relay"
    _store: Outbox

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._handed: collections.deque[tuple[float, OutboxRow]] = collections.deque()

    def offer(self, rows: list[OutboxRow]) -> None:
        stamp = time.monotonic()
        self._handed.extend((stamp, row) for row in rows)
        self._wake.set()

    def _lingers(self) -> bool:
        return not self._handed  # handed rows come in a committed batch already

    def _take_handed(self) -> list[OutboxRow]:
        fresh_after = time.monotonic() - OUTBOX_LEASE / 2  # half the lease left at least, to publish in
        rows = []
        while self._handed and len(rows) < self._window:
            stamp, row = self._handed.popleft()
            if stamp >= fresh_after:
                rows.append(row)
        return rows

    async def _publish(self) -> Window | None:
        rows = self._take_handed() or await self._store.claim_unsent(self._window)
        if not rows:
            return None
        channel, exchange = await self._publisher(on_return_raises=False), self._link.topology.events
        spans = {row.seq: tracing.start("event.publish", row.traceparent, tracing.PRODUCER,
                                        {"event.id": row.event_id, "messaging.destination.name": exchange,
                                         "messaging.rabbitmq.destination.routing_key": row.routing_key})
                 for row in rows if row.traceparent} if tracing.enabled() else {}
        try:
            confirms = start_window(rows, lambda row: channel.basic_publish(
                row.body, exchange=exchange, routing_key=row.routing_key, mandatory=False, timeout=PUBLISH_TIMEOUT,
                wait=False, properties=event_properties(row.event_id, tracing.traceparent_of(spans.get(row.seq)))))
        finally:
            tracing.end(spans)
        return Window(rows, confirms, len(rows) == self._window or bool(self._handed))

    async def _settle(self, window: Window) -> None:
        confirmed = confirmed_of(window.rows, await window.confirms)
        if confirmed:
            await self._store.mark_sent([row.seq for row in confirmed])
            self.published += len(confirmed)
            for row in confirmed:
                metrics.PUBLISHED.labels(row.routing_key.rsplit(".", 1)[-1]).inc()
            metrics.observe_lags("published", [row.received_epoch for row in confirmed
                                               if row.received_epoch is not None])
        if len(confirmed) < len(window.rows):
            raise Unconfirmed(len(window.rows) - len(confirmed))


class EscalationRelay(_Relay):
    """Escalation changes in audit order behind a cursor: one window at a time (the cursor moves only
    over a confirmed prefix, so the next read depends on this one's result).

    One cursor, one publisher: among all processes only the holder of the
    cursor's duty (a lease in the store) publishes, so no change goes out
    twice because two `serve` processes read the same cursor.
    """

    name = "escalation-relay"
    CURSOR = "escalations.amqp"
    overlap = 1
    _store: EscalationChanges

    def __init__(self, store: EscalationChanges, coordination: Coordination, link: Link, wake: asyncio.Event,
                 window: int, linger: float = 0.0) -> None:
        super().__init__(store, link, wake, window, linger)
        self.duty = Duty(coordination, f"cursor:{self.CURSOR}")

    async def _publish(self) -> Window | None:
        if not await self.duty.held():
            return None
        rows = await self._store.escalation_changes(self.CURSOR, self._window)
        if not rows:
            return None
        channel, exchange = await self._publisher(on_return_raises=False), self._link.topology.escalations
        confirms = start_window(rows, lambda row: channel.basic_publish(
            row.body, exchange=exchange, routing_key=row.routing_key, mandatory=False, timeout=PUBLISH_TIMEOUT,
            wait=False,
            properties=Properties(delivery_mode=2, content_type=CONTENT_TYPE, message_id=row.id,
                                  message_type=CHANGE_TYPE)))
        return Window(rows, confirms, len(rows) == self._window)

    async def _settle(self, window: Window) -> None:
        rows = window.rows
        confirmed = confirmed_of(rows, await window.confirms)
        done = {row.seq for row in confirmed}
        prefix = 0
        for row in rows:
            if row.seq not in done:
                break
            prefix = row.seq
        if prefix:
            await self._store.advance_escalation_cursor(self.CURSOR, prefix)
            self.published += len(confirmed)
        if len(confirmed) < len(rows):
            raise Unconfirmed(len(rows) - len(confirmed))
