"""The normalize consumer: messages name inbox rows; the store does the work, then we ack.

A message carries the raw document, but the row in the shared store is
the source of truth: the consumer loads it by `inbox-id` and hands a batch of
rows to `normalizer.process`, which applies them in one transaction. Acks go
out only after that commit, so a crash in between means a redelivery, and a
redelivery is harmless: rows already done/quarantined/dead are acked without
work, and event ids already stored insert nothing.

Failures are routed, never spun on: an exception while processing (the
parsers do not raise; this is the store or a bug) republishes a copy to the
next retry tier (with a confirm) and acks the original; after the last tier
the row is marked `dead` with the reason (the store is the DLQ of record,
listed and replayed by the admin API). A message redelivered up to the queue's
delivery limit (a consumer crashing on it, or losing its connection each time)
A message that names no row of this store goes to the broker DLQ (`reject`),
where an operator can see it.

Only failures on a document's own content count toward `dead`. A consumer
killed or disconnected returns all its unacked deliveries, most of them never
looked at, with their delivery count raised; so the count only makes a row a
suspect. Suspects are normalized with an attempt recorded first: a batch of
them once, then each alone, so a consumer that keeps dying on one document
raises that document's attempts and nobody else's, and a row worked on
`delivery_limit` times is marked dead with the reason (on its last delivery
the queue allows). A failure that is
not the document's (the store unavailable or locked, a lost connection) takes
its recorded attempt back and returns the delivery after a pause.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aio_pika
import aiormq.abc
from aio_pika.abc import AbstractExchange, AbstractQueue, AbstractRobustChannel

from .. import normalizer, tracing
from ..config import Settings
from ..rows import InboxRow, OutboxRow
from ..store.errors import StoreUnavailable
from ..store.ports import Normalizing
from .link import Link
from .relay import OUTBOX_LEASE, PUBLISH_TIMEOUT

log = logging.getLogger(__name__)

FINAL = ("done", "quarantined", "dead")  # states a message for the row has nothing left to do
# Failures of the store or the network, not of the document: they never count toward `dead`.
TRANSIENT: tuple[type[BaseException], ...] = (StoreUnavailable, OSError, ConnectionError, asyncio.TimeoutError)
_STOP = None


class Delivery:
    """One delivered message, read straight off the protocol channel.

    aio-pika's IncomingMessage and its per-message consumer wrapper cost
    about as much CPU as normalizing the document; this keeps only what the
    consumer uses. Settling goes to the channel the message came on: after a
    reconnect that channel is gone, the settle fails harmlessly and the
    broker redelivers.
    """

    __slots__ = ("body", "headers", "message_id", "content_type", "delivery_tag", "_channel")

    def __init__(self, message: aiormq.abc.DeliveredMessage) -> None:
        properties = message.header.properties
        self.body: bytes = message.body
        self.headers: dict = properties.headers or {}
        self.message_id: str | None = properties.message_id
        self.content_type: str | None = properties.content_type
        self.delivery_tag: int | None = getattr(message.delivery, "delivery_tag", None)
        self._channel = message.channel

    async def ack(self, multiple: bool = False) -> None:
        await self._channel.basic_ack(self.delivery_tag, multiple=multiple)

    async def nack(self, requeue: bool = True) -> None:
        await self._channel.basic_nack(self.delivery_tag, requeue=requeue)

    async def reject(self, requeue: bool = False) -> None:
        await self._channel.basic_reject(self.delivery_tag, requeue=requeue)


def _int_header(message: Delivery, name: str) -> int | None:
    value = (message.headers or {}).get(name)
    try:
        return int(value) if value is not None else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


async def _settle(action: Awaitable[None]) -> None:
    """Await an ack/nack/reject; after a lost channel the tag is void and the broker redelivers (harmless)."""
    try:
        await action
    except Exception as exc:
        log.debug("could not settle a delivery (%s); it will be redelivered", exc)


class NormalizeConsumer:
    def __init__(self, store: Normalizing, link: Link, settings: Settings,
                 on_events: Callable[[list[OutboxRow]], None] | None = None) -> None:
        """`on_events` takes the new outbox rows of each committed batch, leased to this process's relay
        (`OutboxRelay.offer`): they go out without another transaction to claim them."""
        self._store, self._link, self._settings, self._on_events = store, link, settings, on_events
        self._deliveries: asyncio.Queue[Delivery | None] = asyncio.Queue()
        self._channel: AbstractRobustChannel | None = None
        self._publisher: AbstractRobustChannel | None = None
        self._retry: AbstractExchange | None = None
        self._queue: AbstractQueue | None = None
        self._raw: aiormq.abc.AbstractChannel | None = None
        self._tag: str | None = None
        self._task: asyncio.Task | None = None
        self.subscribed = asyncio.Event()
        self.processed = self.skipped = self.retried = self.dead = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="normalize-consumer")

    # --- subscription --------------------------------------------------------------------
    async def _subscribe(self) -> None:
        topology = self._link.topology
        while True:
            try:
                self._publisher = await self._link.channel(confirms=True, on_return_raises=True)
                self._retry = await self._publisher.get_exchange(topology.retry, ensure=False)
                self._channel = await self._link.channel(prefetch=self._settings.prefetch)
                # Declared here too (same arguments) so the robust channel restores queue and consumer.
                self._queue = await self._channel.declare_queue(
                    topology.normalize, durable=True, arguments=topology.normalize_arguments())
                await self._consume()
                self._channel.reopen_callbacks.add(self._on_reopen)
                self.subscribed.set()
                return
            except Exception as exc:
                log.warning("normalize consumer could not subscribe (%s: %s); retrying", type(exc).__name__, exc)
                await self._close_channels()
                await asyncio.sleep(1.0)

    async def _consume(self) -> None:
        """basic.consume on the protocol channel under the robust one (see `Delivery`)."""
        assert self._channel is not None
        self._raw = await self._channel.get_underlay_channel()
        ok = await self._raw.basic_consume(self._link.topology.normalize, self._on_delivery, no_ack=False)
        self._tag = ok.consumer_tag

    async def _on_reopen(self, _channel: object) -> None:
        """The robust channel came back (after a reconnect): it restored the queue, not this consumer."""
        try:
            await self._consume()
        except Exception as exc:
            log.warning("normalize consumer could not resubscribe (%s); the next reopen tries again", exc)

    def _on_delivery(self, message: aiormq.abc.DeliveredMessage) -> None:
        self._deliveries.put_nowait(Delivery(message))

    async def _run(self) -> None:
        """Batches overlap by one: the next batch is parsed while the previous one commits.

        Their transactions may commit in either order (PostgreSQL runs them
        side by side), but a batch acks (with `multiple`) only after the
        previous batch is settled, so an ack
        never covers a delivery whose transaction has not committed.
        """
        await self._subscribe()
        limit = max(1, self._settings.normalize_batch)
        inflight: set[asyncio.Task] = set()
        try:
            await self._batches(limit, inflight)
        finally:  # cut short (stop's timeout): unacked deliveries go back to the queue, nothing is lost
            for task in inflight:
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)

    async def _batches(self, limit: int, inflight: set[asyncio.Task]) -> None:
        previous: asyncio.Task | None = None
        while True:
            first = await self._deliveries.get()
            if first is _STOP:
                if previous is not None:
                    await asyncio.wait({previous})
                return
            linger = self._settings.batch_linger_ms / 1000
            if linger and self._deliveries.qsize() < limit - 1:
                await asyncio.sleep(linger)  # a steady stream: more documents per transaction and ack
            batch = [first]
            stop = False
            while len(batch) < limit and not self._deliveries.empty():
                item = self._deliveries.get_nowait()
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            current = asyncio.create_task(self._guarded(batch, previous))
            inflight.add(current)
            current.add_done_callback(inflight.discard)
            if previous is not None:
                await asyncio.wait({previous})  # two batches in flight at most
            previous = current
            if stop:
                await asyncio.wait({previous})
                return

    async def _guarded(self, batch: list[Delivery], before: asyncio.Task | None) -> None:
        try:
            await self._handle(batch, before)
        except Exception:  # never lose the loop; unsettled deliveries come back after a reconnect
            log.exception("normalize batch of %d failed unexpectedly", len(batch))
            for message in batch:
                await _settle(message.nack(requeue=True))
            await asyncio.sleep(1.0)

    # --- one batch ---------------------------------------------------------------------
    async def _handle(self, batch: list[Delivery], before: asyncio.Task | None = None) -> None:
        ids = {id(m): _int_header(m, "inbox-id") for m in batch}
        known = {row.id: row for row in await self._store.inbox_rows(
            sorted({i for i in ids.values() if i is not None}))}
        fresh: list[tuple[Delivery, InboxRow]] = []
        suspects: list[tuple[Delivery, InboxRow]] = []  # redelivered, never yet attempted on their own
        repeat: list[tuple[Delivery, InboxRow]] = []  # attempted before, and back: one at a time
        for message in batch:
            row = known.get(ids[id(message)])  # type: ignore[arg-type]
            if row is None:
                log.error("message %s names no inbox row of this store; sent to the DLQ", message.message_id)
                await _settle(message.reject(requeue=False))
            elif row.state in FINAL:
                self.skipped += 1
                await _settle(message.ack())
            elif row.attempts >= max(1, self._settings.delivery_limit - 1):  # before the broker's own limit
                await self._dead(message, row, f"normalizing it failed {row.attempts + 1} times (the consumer "
                                               "died, or raised, while working on this document)")
            elif not _int_header(message, "x-delivery-count"):
                fresh.append((message, row))
            elif row.attempts == 0:
                suspects.append((message, row))
            else:
                repeat.append((message, row))
        # With suspects in the batch, acks name each delivery: one with `multiple` could cover a suspect of
        # a lower tag before its turn.
        each = bool(suspects or repeat)
        if fresh:
            await self._process(fresh, before, each=each)
        if suspects:
            await self._process(suspects, before, record=True, each=True)
        for item in repeat:
            await self._process([item], before, record=True, each=True)

    async def _process(self, todo: list[tuple[Delivery, InboxRow]], before: asyncio.Task | None = None,
                       record: bool = False, each: bool = False) -> None:
        """`record`: count an attempt on each row before working on it (it is a suspect, see the module);
        `each`: ack every delivery by itself."""
        ids = [row.id for _, row in todo]
        try:
            if record:
                await self._store.count_attempts(ids, +1)
            parents = {row.id: tp for message, row in todo if (tp := tracing.from_headers(message.headers))}
            applied = await normalizer.process(
                self._store, [row for _, row in todo], parents=parents,
                lease_outbox=OUTBOX_LEASE if self._on_events is not None else None)
        except TRANSIENT as exc:
            await self._not_their_fault(todo, exc, recorded=record)
            return
        except Exception as exc:
            if len(todo) > 1:  # find the row(s) at fault; the others should not pay for them
                for item in todo:
                    await self._process([item], before, each=each)
                return
            await self._failed(*todo[0], exc)
            return
        # The transaction committed: now, and only now, ack. One ack with `multiple` covers the batch:
        # deliveries arrive in tag order, and once the batch before is settled every earlier one is.
        if before is not None and not before.done():
            await asyncio.wait({before})
        if each:
            for message, _ in todo:
                await _settle(message.ack())
        else:
            last = max((m for m, _ in todo), key=lambda m: m.delivery_tag or 0)
            await _settle(last.ack(multiple=True))
        self.processed += len(todo)
        if applied.outbox_rows and self._on_events is not None:
            self._on_events(applied.outbox_rows)

    async def _failed(self, message: Delivery, row: InboxRow, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"[:1000]
        attempt = _int_header(message, "attempt") or 0
        tiers = self._link.topology.retry_tiers
        if attempt >= len(tiers):
            await self._dead(message, row, f"failed {attempt + 1} times; last error: {reason}")
            return
        log.warning("inbox row %s failed (attempt %d): %s; retrying via %s", row.id, attempt, reason, tiers[attempt])
        # Broker-set headers (x-delivery-count, x-death, ...) describe the old message, not the copy.
        headers = {k: v for k, v in (message.headers or {}).items() if not k.startswith("x-")}
        headers.update({"attempt": attempt + 1, "x-last-error": reason})
        copy = aio_pika.Message(message.body, headers=headers, content_type=message.content_type,
                                message_id=message.message_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        try:
            assert self._retry is not None
            await asyncio.wait_for(self._retry.publish(copy, routing_key=tiers[attempt], mandatory=True),
                                   PUBLISH_TIMEOUT)
        except Exception as publish_exc:  # the original is not acked: it comes back, nothing is lost
            log.warning("retry publish for row %s failed (%s); requeueing", row.id, publish_exc)
            await asyncio.sleep(1.0)
            await _settle(message.nack(requeue=True))
            return
        try:
            await self._store.mark([row.id], "queued", reason, attempt=True)  # visible in the store
        except Exception:
            log.debug("could not record the attempt of row %s", row.id, exc_info=True)
        self.retried += 1
        await _settle(message.ack())

    async def _not_their_fault(self, todo: list[tuple[Delivery, InboxRow]], exc: BaseException,
                               recorded: bool) -> None:
        """The store or the network failed, not the documents: no attempt stays counted; back to the queue
        after a pause (their next delivery finds them suspects, and records its attempt again)."""
        log.warning("normalize batch of %d could not be done (%s: %s); not the documents' fault, returned to "
                    "the queue", len(todo), type(exc).__name__, exc)
        if recorded:
            try:
                await self._store.count_attempts([row.id for _, row in todo], -1)
            except Exception:  # still away: the count stays one higher, which one limit's margin covers
                log.debug("could not take back the attempts of %d rows", len(todo), exc_info=True)
        await asyncio.sleep(1.0)
        for message, _ in todo:
            await _settle(message.nack(requeue=True))

    async def _dead(self, message: Delivery, row: InboxRow, reason: str) -> None:
        try:
            await self._store.mark([row.id], "dead", reason, attempt=True)
        except Exception as exc:
            log.warning("could not mark row %s dead (%s); requeueing", row.id, exc)
            await asyncio.sleep(1.0)
            await _settle(message.nack(requeue=True))
            return
        log.error("inbox row %s is dead: %s", row.id, reason)
        self.dead += 1
        await _settle(message.ack())

    # --- shutdown ----------------------------------------------------------------------
    async def stop(self, timeout: float) -> None:
        """Stop deliveries, finish what was delivered (bounded), close the channels.

        What is still unacked when the channels close goes back to the queue
        for another consumer: finishing is a courtesy, not a requirement.
        """
        if self._channel is not None:
            self._channel.reopen_callbacks.discard(self._on_reopen)
        if self._raw is not None and self._tag is not None and self._link.connected:
            try:
                await asyncio.wait_for(self._raw.basic_cancel(self._tag), 5.0)
            except Exception as exc:
                log.debug("basic.cancel failed (%s)", exc)
        task, self._task = self._task, None
        if task is not None:
            if self.subscribed.is_set():
                self._deliveries.put_nowait(_STOP)
                await asyncio.wait({task}, timeout=timeout)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._close_channels()

    async def _close_channels(self) -> None:
        channels, self._channel, self._publisher = (self._channel, self._publisher), None, None
        if not self._link.connected:
            return  # nothing to say to an absent broker; closing the connection ends the channels
        for channel in channels:
            if channel is not None and not channel.is_closed:
                try:
                    await asyncio.wait_for(channel.close(), 5.0)
                except Exception as exc:
                    log.debug("channel close failed (%s)", exc)
