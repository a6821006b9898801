"""The poller: due trackings -> carrier API calls (within the carrier's limits) -> the inbox, like webhooks.

One loop per carrier with a client. Each takes due trackings under a lease,
splits them into the carrier's batch size, and calls the API at most at the
carrier's rate (a token bucket in the store, shared by every process that
polls; a 429's Retry-After pauses it for all of them) with
a circuit breaker in front (an API failing again and again is left alone for
a while, then tried with one call). A response is stored verbatim in the
inbox (channel `poll`) and goes through the same normalizer as a webhook, so
a scan seen both ways is one event. The next poll is set from the shipment's
status; failures back off with jitter.
"""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone

from taxonomy.models import utc_text

from .. import metrics
from ..carriers.base import AuthFailed, CarrierClient, CarrierError, PollDocument, RateLimited, Rejected
from ..duties import Duty
from ..rows import Due, Incoming, Reschedule
from ..store.ports import Polls
from .breaker import STATES, CircuitBreaker
from .budget import SharedLimit
from .schedule import PollPolicy, after_failure, after_success

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _at(moment: datetime) -> str:
    """A schedule time in the store's whole seconds, rounded up: never sooner than a carrier's Retry-After."""
    return utc_text(moment + timedelta(seconds=1) if moment.microsecond else moment)


class Poller:
    def __init__(self, store: Polls, stored: asyncio.Event, clients: Mapping[str, CarrierClient], *,
                 policy: PollPolicy | None = None, rates: Mapping[str, float] | None = None,
                 default_rate: float = 5.0, breaker_threshold: int = 5, breaker_reset: float = 60.0,
                 lease: float = 300.0, tick: float = 1.0, in_flight: int = 8, reconcile_every: float = 300.0,
                 now: Callable[[], datetime] = _utc_now, rng: random.Random | None = None) -> None:
        self._store, self._stored, self.clients = store, stored, dict(clients)
        self.policy = policy or PollPolicy()
        rates = rates or {}
        self.buckets = {c: SharedLimit(store, c, rates.get(c, default_rate)) for c in self.clients}
        self.breakers = {c: CircuitBreaker(breaker_threshold, breaker_reset) for c in self.clients}
        self._lease, self._tick, self._in_flight = lease, tick, in_flight
        self._reconcile_every = reconcile_every
        self._reconciling = Duty(store, "reconcile", ttl=max(30.0, reconcile_every * 2))
        self._now, self._rng = now, rng or random.Random()
        self._tasks: list[asyncio.Task] = []
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        carriers = sorted(self.clients)
        await self._store.park_without_client(carriers)
        await self._store.unpark(carriers)
        for carrier in carriers:
            self._tasks.append(asyncio.create_task(self._carrier_loop(carrier), name=f"poll-{carrier}"))
        if carriers and self._reconcile_every > 0:
            self._tasks.append(asyncio.create_task(self._reconcile_loop(), name="poll-reconcile"))
        log.info("polling %s", ", ".join(carriers) or "no carrier (no credentials configured)")

    async def close(self) -> None:
        """Stop taking new work; calls in flight finish (their results are stored), then the clients close."""
        self._stopping.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for client in self.clients.values():
            await client.close()
        try:
            await self._reconciling.release()
        except Exception as exc:  # the lease then simply runs out
            log.warning("could not release the reconciliation duty (%s)", exc)

    def breaker_states(self) -> dict[str, str]:
        return {carrier: breaker.state for carrier, breaker in self.breakers.items()}

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _carrier_loop(self, carrier: str) -> None:
        breaker = self.breakers[carrier]
        while not self._stopping.is_set():
            try:
                worked = await self.poll_once(carrier)
            except Exception:  # the store failing: keep the loop, the leases bring the rows back
                log.exception("polling %s failed; retrying", carrier)
                worked = False
            metrics.BREAKER.labels(carrier).set(STATES.index(breaker.state))
            if not worked:
                await self._sleep(max(self._tick, min(breaker.retry_in(), 30.0)))

    async def poll_once(self, carrier: str) -> bool:
        """Take one round of due trackings and poll them; False when there was nothing to do (or may not)."""
        client, breaker = self.clients[carrier], self.breakers[carrier]
        if breaker.state == "open":
            return False
        now = self._now()
        limit = client.batch_size * self._in_flight * 4
        due = await self._store.claim_due(carrier, utc_text(now), utc_text(now + timedelta(seconds=self._lease)),
                                          limit)
        if not due:
            return False
        batches = [due[i:i + client.batch_size] for i in range(0, len(due), client.batch_size)]
        gate = asyncio.Semaphore(self._in_flight)

        async def one(batch: list[Due]) -> None:
            async with gate:
                await self._poll_batch(carrier, batch)

        await asyncio.gather(*(one(b) for b in batches))
        return True

    async def _poll_batch(self, carrier: str, batch: Sequence[Due]) -> None:
        client, breaker, bucket = self.clients[carrier], self.breakers[carrier], self.buckets[carrier]
        if self._stopping.is_set():  # leave them to the lease: due again after a restart
            return
        await bucket.acquire()
        if not breaker.allow():
            await self._store.reschedule([self._later(d, breaker.retry_in(), d.failures, "breaker_open")
                                          for d in batch])
            metrics.POLLS.labels(carrier, "breaker_open").inc(len(batch))
            return
        try:
            documents = await client.track([d.tracking_number for d in batch])
        except RateLimited as exc:
            breaker.success()  # the carrier answered: it is up, just busy
            wait = exc.retry_after if exc.retry_after is not None else self.policy.backoff_base
            await bucket.pause(wait)
            await self._failed(carrier, batch, "rate_limited", exc.retry_after)
            return
        except Rejected as exc:
            breaker.success()
            log.warning("%s refused a poll of %d number(s): %s", carrier, len(batch), exc)
            await self._store.reschedule([self._later(d, 24 * 3600.0, d.failures + 1, "rejected") for d in batch])
            metrics.POLLS.labels(carrier, "rejected").inc(len(batch))
            return
        except (AuthFailed, CarrierError) as exc:
            breaker.failure()
            level = logging.ERROR if isinstance(exc, AuthFailed) else logging.WARNING
            log.log(level, "%s poll failed (%s): %s", carrier, type(exc).__name__, exc)
            await self._failed(carrier, batch, "auth_failed" if isinstance(exc, AuthFailed) else "unavailable",
                               getattr(exc, "retry_after", None))
            return
        breaker.success()
        await self._stored_documents(carrier, documents)
        now = self._now()
        updates = []
        for d in batch:
            following = after_success(self.policy, d.status, datetime.fromisoformat(d.registered_at), now,
                                      self._rng)
            updates.append(Reschedule(d.carrier, d.tracking_number,
                                      _at(following.at) if following.at else None, following.state, 0,
                                      utc_text(now)))
        await self._store.reschedule(updates)
        metrics.POLLS.labels(carrier, "ok").inc(len(batch))

    async def _stored_documents(self, carrier: str, documents: list[PollDocument]) -> None:
        items = [Incoming(source=carrier, body=d.body, content_type=d.content_type or None, channel="poll",
                          headers={"x-poll-numbers": ",".join(d.numbers), "x-poll-status": str(d.status)})
                 for d in documents if d.body]
        if items:
            await self._store.accept(items)
            self._stored.set()

    async def _failed(self, carrier: str, batch: Sequence[Due], outcome: str, retry_after: float | None) -> None:
        now = self._now()
        await self._store.reschedule([
            Reschedule(d.carrier, d.tracking_number,
                       _at(after_failure(self.policy, d.failures + 1, retry_after, now, self._rng)),
                       outcome, d.failures + 1, None) for d in batch])
        metrics.POLLS.labels(carrier, outcome).inc(len(batch))

    def _later(self, d: Due, seconds: float, failures: int, state: str) -> Reschedule:
        at = self._now() + timedelta(seconds=max(seconds, self._tick))
        return Reschedule(d.carrier, d.tracking_number, _at(at), state, failures, None)

    async def _reconcile_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                if await self._reconciling.held():  # one process reconciles for all
                    await self.reconcile()
            except Exception:
                log.exception("reconciliation sweep failed; retrying later")
            await self._sleep(self._reconcile_every)

    async def reconcile(self) -> int:
        """Give a poll to webhook-fed shipments of pollable carriers that went silent; the count added."""
        await self._store.park_without_client(sorted(self.clients))  # registered since for carriers we cannot poll
        now = self._now()
        silent_since = {status: utc_text(now - timedelta(seconds=s)) for status, s in self.policy.silence.items()}
        added = await self._store.reconcile(sorted(self.clients), silent_since)
        if added:
            log.info("reconciliation: %d silent shipment(s) will be polled", added)
            metrics.RECONCILED.inc(added)
        return added
