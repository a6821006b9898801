"""The PostgreSQL store: the same ports as SQLite, for any number of processes on any number of machines.

Every unit of work takes a connection from this process's asyncpg pool and
runs as one transaction (the SQL lives in the sibling modules, the decisions
in `service.core`). A deadlock or serialization failure (another process
took the same rows in another order) restarts the unit of work; a lost
connection or a database that cannot answer is `StoreUnavailable`: intake
answers 503, stages retry later, nothing half-done is committed.

asyncpg rather than psycopg 3: `python -m bench.pg_drivers` measures the
store's two hot transactions with both on this machine, and asyncpg runs them
in about half the wall time and a quarter of the CPU (its binary protocol
and array parameters, which every batched statement here uses).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

import asyncpg

from parsers.normalize import NormalizedShipment
from taxonomy.models import utc_text

from ...actions.policy import Policy
from ...core.actions import Acted
from ...core.apply import Applied, TrackCache
from ...rows import (Accepted, ActiveShipment, DeliveryAttempt, Due, DueNotification, EscalationChange,
                     EscalationCount, FeedItem, Incoming, InboxRow, Normalized, OutboxRow, OutEvent, Reschedule,
                     Subscription, Tracking)
from .. import webhooks
from ..errors import StoreUnavailable
from ..repair import ReplayFilter
from . import actions, coordination, escalations, inbox, migrations, polls, reads, repair, subscriptions, trackings
from .apply import active_shipments, apply_derived, apply_outcomes

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
UNAVAILABLE = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError,
               asyncpg.ReadOnlySQLTransactionError, asyncpg.InsufficientResourcesError, OSError, ConnectionError,
               asyncio.TimeoutError)
ATTEMPTS = 5
FORGET_EVERY = 60.0  # seconds between deletes of delivery ids past their memory


def _now() -> datetime:
    """Whole seconds, as every time crossing the store's seam is written (RFC 3339 text has no fraction):
    a row stamped now and compared with a `now` that went through text compares as it does in SQLite."""
    return datetime.now(timezone.utc).replace(microsecond=0)


class PostgresStore:
    kind = "postgresql"

    def __init__(self, dsn: str, *, pool_size: int = 10, command_timeout: float = 60.0) -> None:
        self.dsn = dsn
        self._pool_size = max(2, pool_size)
        self._command_timeout = command_timeout
        self._tracks = TrackCache()  # long histories between a large document's parts
        self._pool: asyncpg.Pool | None = None
        self._relaxed: asyncpg.Pool | None = None
        self._forgotten = 0.0

    # --- plumbing -----------------------------------------------------------------------
    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self._pool_size,
                                                   command_timeout=self._command_timeout)
            self._relaxed = await asyncpg.create_pool(
                self.dsn, min_size=1, max_size=max(2, self._pool_size // 2), command_timeout=self._command_timeout,
                server_settings={"synchronous_commit": "off"})
            async with self._pool.acquire() as conn:
                await migrations.migrate(conn)
        except (*UNAVAILABLE, asyncpg.PostgresError) as exc:
            raise StoreUnavailable(f"PostgreSQL at {_where(self.dsn)}: {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        for pool in (self._pool, self._relaxed):
            if pool is not None:
                await pool.close()
        self._pool = self._relaxed = None

    async def _run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """One unit of work on a pooled connection, restarted when it lost a deadlock or a serialization race."""
        return await self._on(self._pool, fn, args)

    async def _run_relaxed(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """A unit of work whose loss in a database crash only repeats work (a claim, a lease, a `queued` or
        `sent` mark): committed without waiting for the WAL flush (`synchronous_commit = off`), as the
        SQLite store writes these without an fsync. A crash of the server may forget the last of them, never
        half of one, and never a document or an event (those commits wait for the flush)."""
        return await self._on(self._relaxed, fn, args)

    async def _on(self, pool: asyncpg.Pool | None, fn: Callable[..., Awaitable[T]], args: tuple) -> T:
        if pool is None:
            raise StoreUnavailable("the PostgreSQL store is not open")
        for attempt in range(ATTEMPTS):
            try:
                async with pool.acquire() as conn:
                    return await fn(conn, *args)
            except RETRYABLE as exc:
                if attempt == ATTEMPTS - 1:
                    raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
                log.info("%s lost a race (%s); restarting it", getattr(fn, "__name__", fn), type(exc).__name__)
                await asyncio.sleep(0.005 * 2 ** attempt)
            except UNAVAILABLE as exc:
                raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")

    # --- intake and inbox -----------------------------------------------------------------
    async def accept(self, items: list[Incoming]) -> list[Accepted]:
        forget = None
        if time.monotonic() - self._forgotten >= FORGET_EVERY:
            self._forgotten = time.monotonic()
            forget = time.time() - inbox.DELIVERY_MEMORY_SECONDS
        return await self._run(inbox.accept, items, forget)

    async def claim(self, limit: int, lease_seconds: float = 5.0) -> list[InboxRow]:
        return await self._run_relaxed(inbox.claim, limit, lease_seconds)

    async def claim_for_relay(self, limit: int, lease_seconds: float = 30.0) -> list[InboxRow]:
        return await self._run_relaxed(inbox.claim_for_relay, limit, lease_seconds)

    async def release_for_relay(self, ids: list[int]) -> None:
        await self._run_relaxed(inbox.release_for_relay, ids)

    async def renew_for_relay(self, ids: list[int], lease_seconds: float) -> None:
        await self._run_relaxed(inbox.renew_for_relay, ids, lease_seconds)

    async def inbox_rows(self, ids: list[int]) -> list[InboxRow]:
        return await self._run(inbox.rows_by_id, ids)

    async def mark(self, ids: list[int], state: str, reason: str | None = None, *, attempt: bool = False) -> None:
        await self._run(inbox.mark, ids, state, reason, attempt)

    async def count_attempts(self, ids: list[int], delta: int) -> None:
        await self._run(inbox.count_attempts, ids, delta)

    async def requeue_stale(self, older_than_seconds: float) -> int:
        return await self._run(inbox.requeue_stale, older_than_seconds)

    async def mark_queued(self, ids: list[int]) -> None:
        await self._run_relaxed(inbox.mark_queued, ids)

    async def apply(self, results: list[Normalized], traces: dict[int, str] | None = None,
                    lease_seconds: float | None = None) -> Applied:
        return await self._run(apply_outcomes, results, traces, lease_seconds, self._tracks)

    # --- outbox and feed --------------------------------------------------------------------
    async def events_after(self, after: int, limit: int) -> list[FeedItem]:
        return await self._run(inbox.events_after, after, limit)

    async def claim_unsent(self, limit: int, lease_seconds: float = 10.0) -> list[OutboxRow]:
        return await self._run_relaxed(inbox.claim_unsent, limit, lease_seconds)

    async def mark_sent(self, seqs: list[int]) -> None:
        await self._run_relaxed(inbox.mark_sent, seqs)

    # --- reads and operations ---------------------------------------------------------------
    async def shipment(self, carrier: str, tracking_number: str) -> dict | None:
        return await self._run(reads.shipment, carrier, tracking_number)

    async def problems(self, limit: int, after: int = 0) -> list[InboxRow]:
        return await self._run(inbox.rows_in_state, ("quarantined", "dead"), limit, after)

    async def replay(self, selection: ReplayFilter, *, dry_run: bool = False) -> list[int]:
        if dry_run:
            return await self._run(repair.select_replay, selection)
        return await self._run(repair.mark_replay, selection, _now())

    async def unmapped(self, limit: int = 500, offset: int = 0) -> list[dict]:
        return await self._run(repair.unmapped_codes, limit, offset)

    async def counts(self) -> dict[str, int]:
        return await self._run(reads.counts)

    async def writable(self) -> bool:
        try:
            await self._run(reads.touch)
            return True
        except (StoreUnavailable, asyncpg.PostgresError):
            return False

    # --- trackings and polls ----------------------------------------------------------------
    async def register(self, items: list[Tracking]) -> list[bool]:
        return await self._run(trackings.upsert, items, _now())

    async def tracking(self, carrier: str, tracking_number: str) -> dict | None:
        return await self._run(trackings.get, carrier, tracking_number)

    async def trackings(self, carrier: str | None, after: tuple[str, str] | None, limit: int) -> list[dict]:
        return await self._run(trackings.listing, carrier, after, limit)

    async def deregister(self, carrier: str, tracking_number: str) -> bool:
        return await self._run(trackings.delete, carrier, tracking_number)

    async def claim_due(self, carrier: str, now: str, lease_until: str, limit: int) -> list[Due]:
        return await self._run_relaxed(polls.claim_due, carrier, now, lease_until, limit)

    async def reschedule(self, items: list[Reschedule]) -> None:
        await self._run_relaxed(polls.reschedule, items, _now())

    async def park_without_client(self, carriers: list[str]) -> int:
        return await self._run(polls.park_without_client, carriers, _now())

    async def unpark(self, carriers: list[str]) -> int:
        return await self._run(polls.unpark, carriers, _now())

    async def reconcile(self, carriers: list[str], silent_since: dict[str, str], limit: int = 1000) -> int:
        return await self._run(polls.reconcile, carriers, silent_since, _now(), limit)

    # --- coordination -----------------------------------------------------------------------
    async def lease(self, name: str, holder: str, seconds: float) -> bool:
        return await self._run_relaxed(coordination.lease, name, holder, seconds)

    async def release(self, name: str, holder: str) -> None:
        await self._run_relaxed(coordination.release, name, holder)

    async def lease_holders(self, prefix: str) -> list[str]:
        return await self._run(coordination.lease_holders, prefix)

    async def take_tokens(self, bucket: str, rate: float, capacity: float) -> float:
        return await self._run_relaxed(coordination.take_tokens, bucket, rate, capacity)

    async def pause_tokens(self, bucket: str, seconds: float) -> None:
        await self._run_relaxed(coordination.pause_tokens, bucket, seconds)

    # --- the actions stage and escalations --------------------------------------------------
    async def start_actions(self) -> int:
        return await self._run(actions.start_cursor)

    async def act(self, policy: Policy, limit: int) -> Acted:
        return await self._run(actions.act, policy, limit, _now())

    async def promote_and_breach(self) -> tuple[int, int]:
        return await self._run(actions.promote_and_breach, _now())

    async def claim_notifications(self, limit: int = 100) -> list[DueNotification]:
        return await self._run(actions.claim_notifications, _now(), limit)

    async def record_send(self, key: str, ok: bool, detail: str, retry_in: float | None) -> None:
        await self._run(actions.record_send, key, ok, detail, retry_in, _now())

    async def notifications_for(self, carrier: str, tracking_number: str) -> list[dict]:
        return await self._run(actions.notifications_for, carrier, tracking_number)

    async def active_shipments(self) -> list[ActiveShipment]:
        return await self._run(active_shipments)

    async def apply_derived(self, shipments: list[NormalizedShipment]) -> Applied:
        return await self._run(apply_derived, shipments)

    async def escalations(self, filters: dict[str, str], limit: int = 200, offset: int = 0) -> list[dict]:
        return await self._run(escalations.listing, filters, limit, offset)

    async def escalation(self, escalation_id: int) -> dict | None:
        return await self._run(escalations.get, escalation_id)

    async def shipment_notices(self, carrier: str, tracking_number: str) -> list[dict]:
        found = await self._run(escalations.notices, [(carrier, tracking_number)])
        return found.get((carrier, tracking_number), [])

    async def transition(self, escalation_id: int, action: str, actor: str, assignee: str | None = None,
                         note: str | None = None) -> dict | None:
        return await self._run(escalations.transition, escalation_id, action, actor, _now(), assignee, note)

    async def open_escalation_counts(self) -> list[EscalationCount]:
        return await self._run(escalations.open_counts)

    async def escalation_changes(self, cursor_key: str, limit: int = 200) -> list[EscalationChange]:
        return await self._run(escalations.changes, cursor_key, limit)

    async def advance_escalation_cursor(self, cursor_key: str, seq: int) -> None:
        await self._run(escalations.advance, cursor_key, seq)

    # --- outbound webhooks ------------------------------------------------------------------
    async def create_subscription(self, subscription: Subscription) -> None:
        await self._run(subscriptions.create, subscription)

    async def subscription(self, subscription_id: str) -> Subscription | None:
        return await self._run(subscriptions.get, subscription_id)

    async def subscriptions(self, after: str | None = None, limit: int = 100) -> list[Subscription]:
        return await self._run(subscriptions.listing, after, limit)

    async def update_subscription(self, subscription_id: str, changes: dict[str, object]) -> Subscription | None:
        return await self._run(subscriptions.update, subscription_id, webhooks.changes(changes, utc_text(_now())))

    async def delete_subscription(self, subscription_id: str) -> bool:
        return await self._run(subscriptions.delete, subscription_id)

    async def outbox_after(self, after: int, limit: int) -> list[OutEvent]:
        return await self._run(subscriptions.outbox_after, after, limit)

    async def feed_head(self) -> int:
        return await self._run(subscriptions.feed_head)

    async def feed_position_at(self, moment: str) -> int:
        return await self._run(subscriptions.feed_position_at, moment)

    async def advance_subscription(self, subscription_id: str, expected: int, cursor: int,
                                   attempts: list[DeliveryAttempt]) -> bool:
        """Committed after the WAL flush: the cursor is what at-least-once delivery rests on."""
        return await self._run(subscriptions.advance, subscription_id, expected, cursor, attempts)

    async def record_attempts(self, attempts: list[DeliveryAttempt]) -> None:
        """On the relaxed pool: a database crash may lose the log's last rows, never a cursor."""
        if attempts:
            await self._run_relaxed(subscriptions.record_attempts, attempts)

    async def delivery_log(self, subscription_id: str, limit: int = 100,
                           before: tuple[str, int, int] | None = None) -> list[DeliveryAttempt]:
        return await self._run(subscriptions.delivery_log, subscription_id, limit, before)

    async def queue_redelivery(self, subscription_id: str, event_id: str) -> bool:
        return await self._run(subscriptions.queue_redelivery, subscription_id, event_id, _now())

    async def take_redeliveries(self, subscription_id: str, limit: int = 100) -> list[OutEvent]:
        return await self._run(subscriptions.take_redeliveries, subscription_id, limit)

    async def done_redeliveries(self, subscription_id: str, seqs: list[int]) -> None:
        if seqs:
            await self._run_relaxed(subscriptions.done_redeliveries, subscription_id, seqs)

    async def prune_delivery_log(self, older_than: str, keep_per_subscription: int, limit: int = 5000) -> int:
        return await self._run_relaxed(subscriptions.prune_delivery_log, older_than, keep_per_subscription, limit)


def _where(dsn: str) -> str:
    """The URL without its password, for messages."""
    head, _, tail = dsn.partition("://")
    if "@" in tail:
        credentials, _, host = tail.rpartition("@")
        tail = credentials.split(":", 1)[0] + "@" + host
    return f"{head}://{tail}"
