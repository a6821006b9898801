"""The actions stage: events -> policy -> escalations and notification rows (one transaction), then sends.

Runs in `serve`. It follows the outbox with its own cursor, so it sees every
new event once in either bus mode; periodic sweeps open escalations whose
wait ran out, raise the severity of those past their SLA, and derive
`stalled` and `delivery_overdue` events. Notifications are sent from their
rows after the commit that created them; a failed send stays pending with a
later attempt time, so a restart resumes instead of forgetting it, and the
row's key keeps a resend recognizable (message id, webhook id).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .. import metrics, tracing
from ..duties import Duty
from ..rows import DueNotification
from ..store.ports import Actions
from . import derived
from .policy import Policy
from .tickets import TicketForwarder

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SendOutcome:
    ok: bool
    detail: str
    retry_in: float | None = None  # seconds until another attempt; None with ok False: failed for good


Deliver = Callable[[DueNotification], Awaitable[SendOutcome]]
MAX_ATTEMPTS = 8
SWEEP_BATCH = 500  # derived events stored per transaction by a sweep


class ActionsEngine:
    def __init__(self, store: Actions, policy: Policy, deliver: Deliver, *, poll: float = 0.5, batch: int = 200,
                 breach_every: float = 60.0, tickets: TicketForwarder | None = None,
                 changed: asyncio.Event | None = None) -> None:
        """`tickets` forwards escalation changes to a ticketing webhook; `changed` is set when escalations
        changed (it wakes the `cs-escalations` relay)."""
        self._store, self.policy, self._deliver = store, policy, deliver
        self._tickets, self.changed = tickets, changed or asyncio.Event()
        self._poll, self._batch, self._breach_every = poll, batch, breach_every
        # Once among all processes: the SLA check and the sweep belong to whoever holds their duty.
        self._sla = Duty(store, "sla", ttl=max(30.0, breach_every * 3))
        self._sweeping = Duty(store, "sweep", ttl=max(60.0, policy.sweep.every_minutes * 60 * 3))
        self._task: asyncio.Task | None = None
        self._stopping = asyncio.Event()
        self.wake = asyncio.Event()

    async def start(self) -> None:
        await self._store.start_actions()
        self._task = asyncio.create_task(self._run(), name="actions")

    async def close(self) -> None:
        """Finish the pass in flight, then act on what the bus drained last and send what is due."""
        self._stopping.set()
        self.wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        try:
            await self.act()
            await self.send_due()
            await self.forward_tickets()
            for duty in (self._sla, self._sweeping, *([self._tickets.duty] if self._tickets else [])):
                await duty.release()  # another process takes them over now, not when the leases run out
        except Exception:  # nothing is lost: the cursor and the rows wait for the next start
            log.exception("final actions pass failed")

    async def _run(self) -> None:
        last_breach = last_sweep = float("-inf")  # both at once on start (monotonic time may be small)
        while not self._stopping.is_set():
            try:
                await self.act()
                now = time.monotonic()
                if now - last_breach >= self._breach_every:
                    last_breach = now
                    if await self._sla.held():
                        await self.promote_and_breach()
                if now - last_sweep >= self.policy.sweep.every_minutes * 60:
                    last_sweep = now
                    if await self._sweeping.held():
                        await self.sweep()
                await self.send_due()
                await self.forward_tickets()
            except Exception:  # the store failing: nothing is lost (cursor and rows), try again shortly
                log.exception("actions pass failed; retrying")
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), self._poll)
            except asyncio.TimeoutError:
                pass

    async def act(self) -> int:
        """Every event after the cursor through the policy; the number of events looked at."""
        total = 0
        while True:
            acted = await self._store.act(self.policy, self._batch)
            total += acted.events
            for traceparent, attributes in acted.traced:
                tracing.end([tracing.start("actions.policy", traceparent, attributes=attributes)])
            if acted.escalated or acted.resolved or acted.repeats:
                self.changed.set()
            if acted.escalated:
                metrics.ESCALATIONS.labels("opened").inc(acted.escalated)
            if acted.resolved:
                metrics.ESCALATIONS.labels("auto_resolved").inc(acted.resolved)
            for state, count in acted.notifications.items():
                metrics.NOTIFICATIONS.labels(state).inc(count)
            if acted.events < self._batch:
                return total

    async def promote_and_breach(self) -> tuple[int, int]:
        opened, breached = await self._store.promote_and_breach()
        if opened or breached:
            self.changed.set()
        if breached:
            metrics.ESCALATIONS.labels("sla_breached").inc(breached)
            log.warning("%d escalation(s) breached their SLA; severity raised", breached)
        return opened, breached

    async def sweep(self, now: datetime | None = None) -> int:
        """Derive stalled and overdue events for unfinished shipments; the number of new events stored.

        Stored `SWEEP_BATCH` shipments per transaction: the first sweep after a long pause may find tens
        of thousands, and one transaction of them all would hold the store (and every webhook's commit)
        for seconds. The escalations they lead to are opened by `act`, `batch` events per transaction.
        """
        now = now or datetime.now(timezone.utc)
        horizon = now - timedelta(days=self.policy.sweep.ignore_after_days)
        found = []
        for s in await self._store.active_shipments():
            made = None
            if s.last_occurred_at and datetime.fromisoformat(s.last_occurred_at) >= horizon:
                made = derived.stalled(self.policy, s.carrier, s.tracking_number, s.status,
                                       datetime.fromisoformat(s.last_occurred_at), now)
            if made is None and s.estimated_delivery:
                made = derived.overdue(self.policy, s.carrier, s.tracking_number, s.estimated_delivery, now, horizon)
            if made is not None:
                found.append(made)
        new = 0
        for start in range(0, len(found), SWEEP_BATCH):  # bounded transactions: intake commits in between
            applied = await self._store.apply_derived(found[start:start + SWEEP_BATCH])
            new += applied.new_events
            if applied.new_events:
                self.wake.set()
            await asyncio.sleep(0)
        if new:
            log.info("sweep: %d derived exception event(s)", new)
        return new

    async def forward_tickets(self) -> int:
        return await self._tickets.forward() if self._tickets is not None else 0

    async def send_due(self) -> int:
        sent = 0
        for row in await self._store.claim_notifications():
            try:
                outcome = await self._deliver(row)
            except Exception as exc:  # a bug in a channel must not stop the stage; the row is retried later
                log.exception("notification %s failed to send", row.key[:12])
                outcome = SendOutcome(False, f"{type(exc).__name__}: {exc}", 60.0)
            retry = outcome.retry_in if row.attempts + 1 < MAX_ATTEMPTS else None
            await self._store.record_send(row.key, outcome.ok, outcome.detail, None if outcome.ok else retry)
            state = "sent" if outcome.ok else ("retrying" if retry is not None else "failed")
            metrics.NOTIFICATIONS.labels(state).inc()
            sent += outcome.ok
        return sent
