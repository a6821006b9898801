"""One subscription's delivery loop: its feed cursor, batch by batch, each shipment's events in order.

A batch is up to 500 feed events after the stored cursor. The matching
ones are grouped by shipment (CloudEvent `source` + `subject`); shipments go
concurrently (the subscription's request budget is shared), and within a
shipment each event waits for the previous one's 2xx. A failed event is
retried on its own schedule (`schedule.next_delay`, paced by the age of
the subscription's failing streak, or the receiver's Retry-After, which
also holds the subscription's other requests back) and holds the later
events of its shipment; the other shipments go on. Only
when every matching event of the batch was delivered does the cursor move
(compare-and-set, to the batch's last scanned position), so a crash, a
stop or a lost lease at any point leaves the cursor where it was: the
batch is sent again (at-least-once; receivers dedupe on `webhook-id`),
never skipped. The failing streak (`failing_since`, `next_attempt_at`,
`last_error`) is written to the subscription as it changes, so every
process and the API see it, and the give-up counts across processes and
restarts.
"""
from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import replace

import orjson

from .. import metrics
from ..duties import HOLDER, Duty
from ..rows import DeliveryAttempt, OutEvent, Subscription
from ..store.ports import Subscriptions
from . import schedule
from .filters import matches
from .sender import Outcome, Sender
from .times import epoch, stamp

log = logging.getLogger(__name__)
BATCH = 500
REFRESH = 1.0  # seconds between readings of the stored subscription while following it


class GivenUp(Exception):
    """The subscription failed past the give-up limit and was disabled: the batch ends unfinished."""


class LeaseLost(Exception):
    """Another process holds the subscription now: stop sending, leave the cursor to it."""


class HandedOver(LeaseLost):
    """The subscription is another dispatcher's share now and this batch cannot finish soon (it waits for a
    retry): stop here, leave the cursor and the failing streak to the new owner."""


_SHIPMENTS: dict[str, str] = {}  # event id -> shipment key, shared by this process's followers
_SHIPMENTS_MAX = 65_536


def shipment_of(event: OutEvent) -> str:
    """The ordering key: events of one shipment are delivered one after the other.

    Every subscription reads the same events; the body is parsed once per process, not once per subscriber
    (an event id is derived from its shipment, so the id alone keys the answer)."""
    key = _SHIPMENTS.get(event.event_id)
    if key is None:
        if len(_SHIPMENTS) >= _SHIPMENTS_MAX:
            _SHIPMENTS.clear()
        try:
            body = orjson.loads(event.body)
            key = f"{body.get('source')}\x00{body.get('subject')}"
        except (orjson.JSONDecodeError, AttributeError):
            return f"seq:{event.seq}"  # not a CloudEvent object: ordered with nothing else
        _SHIPMENTS[event.event_id] = key
    return key


class Follower:
    def __init__(self, store: Subscriptions, sender: Sender, subscription: Subscription, *, concurrency: int,
                 give_up: float, idle: float = 0.2, lease_ttl: float = 15.0,
                 rng: Callable[[], float] = random.random, clock: Callable[[], float] = time.time,
                 delay: Callable[..., float] = schedule.next_delay, holder: str = HOLDER) -> None:
        self.id = subscription.id
        self.subscription = subscription  # the latest seen; re-read from the store at every batch
        self._store, self._sender, self._concurrency = store, sender, concurrency
        self._give_up, self._idle, self._rng, self._clock, self._delay = give_up, idle, rng, clock, delay
        self.duty = Duty(store, f"webhooks:{subscription.id}", ttl=lease_ttl, holder=holder)
        self._lease_ttl = lease_ttl
        self._poked = asyncio.Event()  # replaced at each poke (new feed events): ends an idle wait only
        self._nudged = asyncio.Event()  # replaced at each nudge, so every waiter of the old one wakes once
        self._log: list[DeliveryAttempt] = []  # attempts not yet written
        self._failing: dict[int, tuple[float, float]] = {}  # seq -> (first failure, next try) of failing events
        self._streak_floor: float | None = None  # a failing streak another process (or run) started
        self._not_before = 0.0  # monotonic: a Retry-After holds every request of the subscription back
        self._redelivery_failures = 0
        self._redeliver_at = 0.0
        self._delivered = metrics.WEBHOOK_DELIVERIES.labels(self.id, "delivered")  # looked up once, counted often
        self._failed_count = metrics.WEBHOOK_DELIVERIES.labels(self.id, "failed")
        self._cursor = subscription.cursor  # this follower's idea of the stored cursor (the CAS's expectation)
        self._refresh_at = 0.0  # monotonic: when to read the stored subscription again
        self._resume_at: float | None = None  # a stored streak's next attempt, honoured before the next batch
        self._leaving = False  # handed over to another dispatcher: stop after this batch

    # --- the loop ---------------------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while not self._leaving:
                try:
                    if not await self.duty.held():
                        self._refresh_at = 0.0  # whoever held it may have moved the cursor
                        await self._pause(max(1.0, self._lease_ttl / 3))
                        continue
                    did = await self._refresh() if time.monotonic() >= self._refresh_at else False
                    if not await self._batch() and not did:
                        await self._pause(self._idle, new_events=True)
                except (GivenUp, LeaseLost):
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:  # a store hiccup, a bug on one event: logged, tried again shortly
                    log.exception("webhooks %s: delivery loop failed; retrying", self.id)
                    self._refresh_at = 0.0
                    await asyncio.sleep(1.0)
        finally:
            await asyncio.shield(self._release())

    async def _release(self) -> None:
        try:
            await self.duty.release()
        except Exception:  # noqa: BLE001 - the store may be closing; the lease then just runs out
            log.debug("webhooks %s: lease not released", self.id, exc_info=True)

    def nudge(self, subscription: Subscription | None = None) -> None:
        """The subscription changed (URL, secret, cursor, enabled): use it, read it again, and cut any wait
        short, so a fixed URL is tried at once rather than at the end of an hour's backoff."""
        if subscription is not None:
            self.subscription = subscription
        self.refresh_soon()
        self._nudged.set()
        self._nudged = asyncio.Event()

    def hand_over(self) -> None:
        """The subscription is another dispatcher's share now: finish the batch being sent (its cursor moves as
        usual), then stop and release the lease, so the new owner takes it at once rather than when it runs
        out. A batch waiting for a retry ends there instead (the cursor stays; the new owner sends the batch
        again, paced by the stored streak): a receiver that is down must not hold the hand-over for an hour."""
        if not self._leaving:
            self._leaving = True
            self._nudged.set()  # ends an idle wait, or a wait for the lease
            self._nudged = asyncio.Event()

    def stay(self) -> None:
        """The subscription is this dispatcher's share again before the hand-over ended: keep following it."""
        self._leaving = False

    @property
    def leaving(self) -> bool:
        return self._leaving

    def poke(self) -> None:
        """New events in the feed: cut an idle wait short (a backoff is not cut by it, see `_hold`)."""
        self._poked.set()
        self._poked = asyncio.Event()

    def refresh_soon(self) -> None:
        """Read the subscription and its queued redeliveries at the next turn (an operator asked for one)."""
        self._refresh_at = 0.0

    async def _pause(self, seconds: float, *, new_events: bool = False) -> bool:
        """Sleep up to `seconds`; True if nudged meanwhile. `new_events`: new feed events end it too."""
        nudged = self._nudged
        waits = [asyncio.ensure_future(nudged.wait())]
        if new_events:
            waits.append(asyncio.ensure_future(self._poked.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        return nudged.is_set()

    async def _refresh(self) -> bool:
        """Read the stored subscription (about once a second, and after a change) and send its queued
        redeliveries; True if some were sent. Between readings the loop asks only for new feed events."""
        sub = await self._store.subscription(self.id)
        if sub is None or not sub.enabled:
            raise LeaseLost  # deleted or disabled: the supervisor stops following it
        self.subscription, self._cursor = sub, sub.cursor
        self._streak_floor = epoch(sub.failing_since) if sub.failing_since else None
        self._resume_at = epoch(sub.next_attempt_at) if sub.next_attempt_at else None
        self._refresh_at = time.monotonic() + REFRESH
        return await self._redeliver(sub)

    async def _batch(self) -> bool:
        """The next batch after the cursor, delivered completely, then the cursor moved; False if none."""
        sub, expected = self.subscription, self._cursor
        events = await self._store.outbox_after(expected, BATCH)
        if not events:
            return False
        if self._resume_at is not None:  # a failing streak from before (another process, a restart)
            wait, self._resume_at = self._resume_at - self._clock(), None
            if wait > 0:
                await self._hold(wait)
            sub = self.subscription  # perhaps changed meanwhile (a corrected URL)
        wanted = [e for e in events if matches(sub.filter, e.routing_key)]
        groups: dict[str, list[OutEvent]] = {}
        for event in wanted:
            groups.setdefault(shipment_of(event), []).append(event)
        budget = asyncio.Semaphore(self._concurrency)
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._shipment(shipment, budget)) for shipment in groups.values()]
                group.create_task(self._keep_lease(tasks))
        except BaseExceptionGroup as failed:  # one shipment's give-up (or a lost lease) ends the whole batch
            for kind in (GivenUp, LeaseLost):
                if failed.subgroup(kind) is not None:
                    raise kind from None
            raise
        attempts, self._log = self._log, []
        self._failing.clear()
        if await self._store.advance_subscription(self.id, expected, events[-1].seq, attempts):
            self._cursor = events[-1].seq
            self.subscription = replace(self.subscription, cursor=self._cursor, failing_since=None,
                                        next_attempt_at=None, last_error=None)
            self._streak_floor = None
        else:
            log.info("webhooks %s: cursor moved elsewhere (a replay); reading again", self.id)
            self._refresh_at = 0.0
        return True

    async def _keep_lease(self, tasks: list[asyncio.Task]) -> None:
        """Renew the lease while a batch runs (a slow receiver may take longer than the lease); stop sending
        if it went to another process."""
        while not all(task.done() for task in tasks):
            await asyncio.wait(tasks, timeout=self._lease_ttl / 3)
            if not all(task.done() for task in tasks) and not await self.duty.held():
                raise LeaseLost

    # --- one shipment -----------------------------------------------------------------------------------------

    async def _shipment(self, events: list[OutEvent], budget: asyncio.Semaphore) -> None:
        """Each event until it is delivered, then the next. An event keeps its slot of the budget while it
        waits for its retry: a receiver that is down gets at most `concurrency` requests per backoff
        period, however many shipments the batch holds, while one failing event leaves the others slots."""
        for event in events:
            async with budget:
                attempt = 1
                while True:
                    wait = self._not_before - time.monotonic()
                    if wait > 0:
                        await self._hold(wait)
                    outcome = await self._sender.send(self.subscription, event.event_id, event.body)
                    self._note(event, attempt, outcome)
                    if outcome.ok:
                        await self._recovered(event)
                        break
                    await self._failed(event, attempt, outcome)
                    attempt += 1

    def _note(self, event: OutEvent, attempt: int, outcome: Outcome, fresh: bool = True) -> None:
        """Counted, and kept for the delivery log; `fresh`: a first pass over the feed (not a redelivery),
        whose delivery time since the commit is measured."""
        self._log.append(DeliveryAttempt(self.id, event.seq, event.event_id, attempt, outcome.ok, outcome.status,
                                         round(outcome.latency_ms, 3), outcome.error, stamp(self._clock())))
        (self._delivered if outcome.ok else self._failed_count).inc()
        if outcome.ok and fresh:
            try:
                metrics.WEBHOOK_DELIVERY_SECONDS.observe(max(0.0, self._clock() - epoch(event.created_at)))
            except ValueError:
                pass

    async def _recovered(self, event: OutEvent) -> None:
        """A delivery went through: once no event is failing, the streak (this run's or a stored one) ends."""
        was_failing = self._failing.pop(event.seq, None) is not None
        if self._failing or not (was_failing or self._streak_floor is not None):
            return
        self._streak_floor = None
        log.info("webhooks %s: delivering again", self.id)
        await self._store.update_subscription(self.id, {"failing_since": None, "next_attempt_at": None,
                                                        "last_error": None})

    async def _failed(self, event: OutEvent, attempt: int, outcome: Outcome) -> None:
        now = self._clock()
        first = self._failing.get(event.seq, (now, now))[0]
        starts = [first, *(f for f, _ in self._failing.values())]
        if self._streak_floor is not None:
            starts.append(self._streak_floor)
        since = min(starts)
        if schedule.give_up(since, now, self._give_up):
            await self._disable(since, outcome)
        # A streak older than this event's tries (other events, another process) sets the pace: an event
        # failing for the first time an hour into an outage waits like the hour-old ones, not 1 s.
        failures = max(attempt, int(math.log2(max(0.0, now - since) + 1)) + 1)
        delay = self._delay(failures, retry_after=outcome.retry_after, remaining=since + self._give_up - now,
                            rng=self._rng)
        self._failing[event.seq] = (first, now + delay)
        if outcome.retry_after is not None:  # the receiver asked for a pause: all of this subscription's requests
            self._not_before = max(self._not_before, time.monotonic() + delay)
        next_try = min(t for _, t in self._failing.values())
        log.warning("webhooks %s: event %s attempt %d failed (%s); next try in %.1f s", self.id, event.event_id,
                    attempt, outcome.error, delay)
        attempts, self._log = self._log, []
        await self._store.record_attempts(attempts)
        await self._store.update_subscription(self.id, {"failing_since": stamp(since), "next_attempt_at":
                                                        stamp(next_try), "last_error": (outcome.error or "")[:500]})
        await self._hold(delay)

    async def _disable(self, since: float, outcome: Outcome) -> None:
        reason = (f"gave up after failing since {stamp(since)} ({self._give_up:g} s without a delivery); "
                  f"last error: {outcome.error}")[:500]
        attempts, self._log = self._log, []
        await self._store.record_attempts(attempts)
        await self._store.update_subscription(self.id, {"enabled": False, "disabled_reason": reason,
                                                        "disabled_at": stamp(self._clock()),
                                                        "failing_since": stamp(since), "next_attempt_at": None,
                                                        "last_error": (outcome.error or "")[:500]})
        metrics.WEBHOOK_DISABLED.labels(self.id).set(1)
        log.error("webhooks %s: disabled: %s", self.id, reason)
        raise GivenUp

    async def _hold(self, seconds: float) -> None:
        """Wait (a nudge ends it early), renewing the lease meanwhile: a retry may be an hour away."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._leaving:
                raise HandedOver
            if await self._pause(min(left, self._lease_ttl / 3)):
                if self._leaving:
                    raise HandedOver
                return
            if not await self.duty.held():
                raise LeaseLost

    # --- operator's redeliveries ------------------------------------------------------------------------------

    async def _redeliver(self, sub: Subscription) -> bool:
        """Queued redeliveries, each tried once per round, oldest first; failures stay queued with a backoff."""
        if time.monotonic() < self._redeliver_at:
            return False
        queued = await self._store.take_redeliveries(self.id)
        if not queued:
            return False
        done: list[int] = []
        for event in queued:
            outcome = await self._sender.send(sub, event.event_id, event.body)
            self._note(event, 1, outcome, fresh=False)
            if not outcome.ok:
                self._redelivery_failures += 1
                self._redeliver_at = time.monotonic() + self._delay(
                    self._redelivery_failures, retry_after=outcome.retry_after, rng=self._rng)
                break
            done.append(event.seq)
            self._redelivery_failures = 0
        attempts, self._log = self._log, []
        await self._store.record_attempts(attempts)
        if done:
            await self._store.done_redeliveries(self.id, done)
        return True
