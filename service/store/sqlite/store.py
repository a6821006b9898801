"""The embedded store: one SQLite file in WAL mode, reached from asyncio through two threads.

Every unit of work (a group of intake inserts, one normalizer transaction, a
read) runs as one call on a store thread with a plain sqlite3 connection, so
a transaction costs one thread hop instead of one per statement. Writes go
through a single writer thread (SQLite has one writer anyway); reads use their
own thread and connection and never wait for a write in WAL mode. Processes
sharing the file (`worker`) each open their own store; SQLite's lock and the
busy timeout serialize them.

The class is the async facade of every store port (`service.store.ports`):
each method is one line handing a function of a sibling module (inbox,
apply, actions, escalations, trackings, polls, repair, reads, coordination,
subscriptions) to a thread. It is long because the store has many operations; the SQL lives
in those modules and the decisions in `service.core`.
"""
from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from parsers.normalize import NormalizedShipment
from taxonomy.models import utc_text

from ...actions.policy import Policy
from ...core.actions import Acted
from ...core.apply import Applied, TrackCache
from ...core.intake import large
from ..errors import StoreUnavailable
from ..repair import ReplayFilter
from ...rows import (Accepted, ActiveShipment, DeliveryAttempt, Due, DueNotification, EscalationChange,
                    EscalationCount, FeedItem, Incoming, InboxRow, Normalized, OutboxRow, OutEvent, Reschedule,
                    Subscription, Tracking)
from .. import webhooks
from . import actions, coordination, inbox, migrations, polls, reads, repair, subscriptions
from . import escalations as escalation_rows
from . import trackings as tracking_rows
from .apply import active_shipments, apply_derived, apply_outcomes
from .writer import INTAKE, INTAKE_LARGE, NORMAL, PriorityWriter

T = TypeVar("T")


def _now() -> str:
    return utc_text(datetime.now(timezone.utc))


class SqliteStore:
    kind = "sqlite"

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        self.path = str(path)
        self._synchronous = synchronous
        self._writer = PriorityWriter()
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="store-read")
        self._local = threading.local()
        self._tracks = TrackCache()  # used on the writer thread only

    # --- plumbing -----------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=0, isolation_level="DEFERRED", check_same_thread=True)
            _retrying(lambda c: c.execute("PRAGMA journal_mode = WAL"), conn)
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            self._local.conn = conn
        return conn

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._writer.call(NORMAL, self._call, _immediate(fn), args)

    async def _write_relaxed(self, fn: Callable[..., T], *args: Any) -> T:
        """A write whose loss in a power cut only repeats work (a claim, a `queued`/`sent` mark): no fsync.

        The next durable commit syncs it anyway; a process crash never loses
        it in WAL mode. Saving the fsync matters because these marks follow
        every publish window.
        """
        return await self._writer.call(NORMAL, self._call_relaxed, _immediate(fn), args)

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._reader, self._call, _snapshot(fn), args)

    def _call(self, fn: Callable[..., T], args: tuple) -> T:
        try:
            return _retrying(fn, self._conn(), *args)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def _call_relaxed(self, fn: Callable[..., T], args: tuple) -> T:
        try:
            conn = self._conn()
            conn.execute("PRAGMA synchronous = NORMAL")
            try:
                return _retrying(fn, conn, *args)
            finally:
                conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        await self._writer.call(NORMAL, self._call, migrations.create_or_upgrade, ())

    async def close(self) -> None:
        await self._writer.shutdown(self._close_thread)
        await asyncio.get_running_loop().run_in_executor(self._reader, self._close_thread)
        self._reader.shutdown(wait=True)

    def _close_thread(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # --- intake and inbox -----------------------------------------------------------------
    async def accept(self, items: list[Incoming]) -> list[Accepted]:
        """Store a group of documents in one commit; byte-identical redeliveries come back as duplicates."""
        priority = INTAKE_LARGE if any(large(i) for i in items) else INTAKE
        return await self._writer.call(priority, self._call, _immediate(inbox.accept), (items,))

    async def claim(self, limit: int, lease_seconds: float = 5.0) -> list[InboxRow]:
        """Take up to `limit` pending rows (or rows whose claimer's lease ran out) for one normalizer.

        The bodies are read afterwards on the reader thread: copying a 9 MB body on the writer would hold
        every webhook's commit meanwhile.
        """
        rows = await self._write_relaxed(inbox.claim, limit, lease_seconds)
        if not rows:
            return rows
        stored = await self._read(inbox.bodies, [r.id for r in rows])
        return [replace(r, body=stored.get(r.id, b"")) for r in rows]

    async def claim_for_relay(self, limit: int, lease_seconds: float = 30.0) -> list[InboxRow]:
        return await self._write_relaxed(inbox.claim_for_relay, limit, lease_seconds)

    async def release_for_relay(self, ids: list[int]) -> None:
        await self._write_relaxed(inbox.release_for_relay, ids)

    async def renew_for_relay(self, ids: list[int], lease_seconds: float) -> None:
        await self._write_relaxed(inbox.renew_for_relay, ids, lease_seconds)

    async def inbox_rows(self, ids: list[int]) -> list[InboxRow]:
        return await self._read(inbox.rows_by_id, ids)

    async def mark(self, ids: list[int], state: str, reason: str | None = None, *, attempt: bool = False) -> None:
        await self._write(inbox.mark, ids, state, reason, attempt)

    async def count_attempts(self, ids: list[int], delta: int) -> None:
        await self._write(inbox.count_attempts, ids, delta)

    async def requeue_stale(self, older_than_seconds: float) -> int:
        """queued -> pending for rows handed to the broker longer ago than that and still not finished.

        A confirmed message can still vanish (a queue deleted or purged by an
        operator, a broker's data lost); the row then waits for nothing.
        Publishing it again is safe: normalizing is idempotent.
        """
        return await self._write(inbox.requeue_stale, older_than_seconds)

    async def mark_queued(self, ids: list[int]) -> None:
        """pending -> queued (the broker confirmed the document), and only from pending: a consumer may have
        finished or quarantined the row before the relay saw the confirm; that later state must stand."""
        await self._write_relaxed(inbox.mark_queued, ids)

    async def apply(self, results: list[Normalized], traces: dict[int, str] | None = None,
                    lease_seconds: float | None = None) -> Applied:
        """`traces`: inbox id -> the normalize span's traceparent, stored with the document's outbox rows;
        `lease_seconds`: lease the new outbox rows to the caller's relay (see `apply.apply_outcomes`)."""
        return await self._write(apply_outcomes, results, traces, lease_seconds, self._tracks)

    # --- outbox and feed --------------------------------------------------------------------
    async def events_after(self, after: int, limit: int) -> list[FeedItem]:
        return await self._read(inbox.events_after, after, limit)

    async def claim_unsent(self, limit: int, lease_seconds: float = 10.0) -> list[OutboxRow]:
        """Up to `limit` unsent outbox rows for one relay (rows under another relay's lease are left)."""
        return await self._write_relaxed(inbox.claim_unsent, limit, lease_seconds)

    async def mark_sent(self, seqs: list[int]) -> None:
        await self._write_relaxed(inbox.mark_sent, seqs)

    # --- reads and operations ---------------------------------------------------------------
    async def shipment(self, carrier: str, tracking_number: str) -> dict | None:
        return await self._read(reads.shipment, carrier, tracking_number)

    async def problems(self, limit: int, after: int = 0) -> list[InboxRow]:
        return await self._read(inbox.rows_in_state, ("quarantined", "dead"), limit, after)

    async def replay(self, selection: ReplayFilter, *, dry_run: bool = False) -> list[int]:
        """Re-normalize stored documents (see store.repair); with dry_run only say which."""
        if dry_run:
            return await self._read(repair.select_replay, selection)
        return await self._write(repair.mark_replay, selection, _now())

    async def unmapped(self, limit: int = 500, offset: int = 0) -> list[dict]:
        return await self._read(repair.unmapped_codes, limit, offset)

    async def counts(self) -> dict[str, int]:
        return await self._read(reads.counts)

    async def writable(self) -> bool:
        try:
            await self._write(reads.touch)
            return True
        except StoreUnavailable:
            return False

    # --- trackings and polls ----------------------------------------------------------------
    async def register(self, items: list[Tracking]) -> list[bool]:
        return await self._write(tracking_rows.upsert, items, _now())

    async def tracking(self, carrier: str, tracking_number: str) -> dict | None:
        return await self._read(tracking_rows.get, carrier, tracking_number)

    async def trackings(self, carrier: str | None, after: tuple[str, str] | None, limit: int) -> list[dict]:
        return await self._read(tracking_rows.listing, carrier, after, limit)

    async def deregister(self, carrier: str, tracking_number: str) -> bool:
        return await self._write(tracking_rows.delete, carrier, tracking_number)

    async def claim_due(self, carrier: str, now: str, lease_until: str, limit: int) -> list[Due]:
        return await self._write_relaxed(polls.claim_due, carrier, now, lease_until, limit)

    async def reschedule(self, items: list[Reschedule]) -> None:
        await self._write_relaxed(polls.reschedule, items, _now())

    async def park_without_client(self, carriers: list[str]) -> int:
        return await self._write(polls.park_without_client, carriers, _now())

    async def unpark(self, carriers: list[str]) -> int:
        return await self._write(polls.unpark, carriers, _now())

    async def reconcile(self, carriers: list[str], silent_since: dict[str, str], limit: int = 1000) -> int:
        return await self._write(polls.reconcile, carriers, silent_since, _now(), limit)

    # --- coordination -----------------------------------------------------------------------
    async def lease(self, name: str, holder: str, seconds: float) -> bool:
        return await self._write_relaxed(coordination.lease, name, holder, seconds)

    async def release(self, name: str, holder: str) -> None:
        await self._write_relaxed(coordination.release, name, holder)

    async def lease_holders(self, prefix: str) -> list[str]:
        return await self._read(coordination.lease_holders, prefix)

    async def take_tokens(self, bucket: str, rate: float, capacity: float) -> float:
        return await self._write_relaxed(coordination.take_tokens, bucket, rate, capacity)

    async def pause_tokens(self, bucket: str, seconds: float) -> None:
        await self._write_relaxed(coordination.pause_tokens, bucket, seconds)

    # --- the actions stage and escalations --------------------------------------------------
    async def start_actions(self) -> int:
        return await self._write(actions.start_cursor)

    async def act(self, policy: Policy, limit: int) -> Acted:
        return await self._write(actions.act, policy, limit, datetime.now(timezone.utc))

    async def promote_and_breach(self) -> tuple[int, int]:
        return await self._write(actions.promote_and_breach, datetime.now(timezone.utc))

    async def claim_notifications(self, limit: int = 100) -> list[DueNotification]:
        return await self._write(actions.claim_notifications, datetime.now(timezone.utc), limit)

    async def record_send(self, key: str, ok: bool, detail: str, retry_in: float | None) -> None:
        await self._write(actions.record_send, key, ok, detail, retry_in, datetime.now(timezone.utc))

    async def notifications_for(self, carrier: str, tracking_number: str) -> list[dict]:
        return await self._read(actions.notifications_for, carrier, tracking_number)

    async def active_shipments(self) -> list[ActiveShipment]:
        return await self._read(active_shipments)

    async def apply_derived(self, shipments: list[NormalizedShipment]) -> Applied:
        return await self._write(apply_derived, shipments)

    async def escalations(self, filters: dict[str, str], limit: int = 200, offset: int = 0) -> list[dict]:
        return await self._read(escalation_rows.listing, filters, limit, offset)

    async def escalation(self, escalation_id: int) -> dict | None:
        return await self._read(escalation_rows.get, escalation_id)

    async def shipment_notices(self, carrier: str, tracking_number: str) -> list[dict]:
        found = await self._read(escalation_rows.notices, [(carrier, tracking_number)])
        return found.get((carrier, tracking_number), [])

    async def transition(self, escalation_id: int, action: str, actor: str, assignee: str | None = None,
                         note: str | None = None) -> dict | None:
        return await self._write(escalation_rows.transition, escalation_id, action, actor, _now(), assignee, note)

    async def open_escalation_counts(self) -> list[EscalationCount]:
        return await self._read(escalation_rows.open_counts)

    async def escalation_changes(self, cursor_key: str, limit: int = 200) -> list[EscalationChange]:
        return await self._write(escalation_rows.changes, cursor_key, limit)

    async def advance_escalation_cursor(self, cursor_key: str, seq: int) -> None:
        await self._write(escalation_rows.advance, cursor_key, seq)

    # --- outbound webhooks ------------------------------------------------------------------
    async def create_subscription(self, subscription: Subscription) -> None:
        await self._write(subscriptions.create, subscription)

    async def subscription(self, subscription_id: str) -> Subscription | None:
        return await self._read(subscriptions.get, subscription_id)

    async def subscriptions(self, after: str | None = None, limit: int = 100) -> list[Subscription]:
        return await self._read(subscriptions.listing, after, limit)

    async def update_subscription(self, subscription_id: str, changes: dict[str, object]) -> Subscription | None:
        return await self._write(subscriptions.update, subscription_id, webhooks.changes(changes, _now()))

    async def delete_subscription(self, subscription_id: str) -> bool:
        return await self._write(subscriptions.delete, subscription_id)

    async def outbox_after(self, after: int, limit: int) -> list[OutEvent]:
        return await self._read(subscriptions.outbox_after, after, limit)

    async def feed_head(self) -> int:
        return await self._read(subscriptions.feed_head)

    async def feed_position_at(self, moment: str) -> int:
        return await self._read(subscriptions.feed_position_at, webhooks.utc(moment))

    async def advance_subscription(self, subscription_id: str, expected: int, cursor: int,
                                   attempts: list[DeliveryAttempt]) -> bool:
        """Durable (fsynced): the cursor is what at-least-once delivery rests on."""
        return await self._write(subscriptions.advance, subscription_id, expected, cursor, attempts)

    async def record_attempts(self, attempts: list[DeliveryAttempt]) -> None:
        """Without an fsync: a power cut may lose the log's last rows, never a cursor."""
        if attempts:
            await self._write_relaxed(subscriptions.record_attempts, attempts)

    async def delivery_log(self, subscription_id: str, limit: int = 100,
                           before: tuple[str, int, int] | None = None) -> list[DeliveryAttempt]:
        return await self._read(subscriptions.delivery_log, subscription_id, limit, before)

    async def queue_redelivery(self, subscription_id: str, event_id: str) -> bool:
        """The event is looked up on the reader (it may scan the outbox), so the writer is held only to queue."""
        seq = await self._read(subscriptions.redelivery_seq, subscription_id, event_id)
        return seq is not None and await self._write(subscriptions.queue_redelivery, subscription_id, seq, _now())

    async def take_redeliveries(self, subscription_id: str, limit: int = 100) -> list[OutEvent]:
        return await self._read(subscriptions.take_redeliveries, subscription_id, limit)

    async def done_redeliveries(self, subscription_id: str, seqs: list[int]) -> None:
        if seqs:
            await self._write_relaxed(subscriptions.done_redeliveries, subscription_id, seqs)

    async def prune_delivery_log(self, older_than: str, keep_per_subscription: int, limit: int = 5000) -> int:
        return await self._write_relaxed(subscriptions.prune_delivery_log, webhooks.utc(older_than),
                                         keep_per_subscription, limit)


def _immediate(fn: Callable[..., T]) -> Callable[..., T]:
    """The unit of work inside `BEGIN IMMEDIATE`: the write lock is taken before its first read.

    Python's sqlite3 would begin the transaction only at the first write, so
    what a unit read first (a shipment's history, whether a body is known)
    could be stale by the time it writes, when another process shares the
    file. The functions' own `with conn:` then commits (or rolls back) it.
    """
    def unit(conn: sqlite3.Connection, *args: Any) -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn, *args)
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
        if conn.in_transaction:
            conn.commit()
        return result

    unit.__name__ = getattr(fn, "__name__", "unit")
    return unit


def _snapshot(fn: Callable[..., T]) -> Callable[..., T]:
    """A read unit inside one read transaction: its several queries see one state of the file."""
    def unit(conn: sqlite3.Connection, *args: Any) -> T:
        conn.execute("BEGIN")
        try:
            return fn(conn, *args)
        finally:
            if conn.in_transaction:
                conn.rollback()

    return unit


BUSY_PATIENCE = 30.0  # seconds a unit of work waits for another process's write lock


def _retrying(fn: Callable[..., T], conn: sqlite3.Connection, *args: Any) -> T:
    """Run one unit of work, restarting it while another process holds the write lock.

    SQLite's own busy handler sleeps 1, 2, 5, 10 ... 100 ms between tries; with
    `serve` and `worker` processes taking turns every few milliseconds that
    backoff, not the work, would set the latency. Every unit of work is one
    transaction (`with conn:` rolls back on the way out), so a restart is safe.
    """
    delay, deadline = 0.0002, time.monotonic() + BUSY_PATIENCE
    while True:
        try:
            return fn(conn, *args)
        except sqlite3.OperationalError as exc:
            message = str(exc)
            if ("locked" not in message and "busy" not in message) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.004)
