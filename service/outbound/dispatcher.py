"""Outbound webhooks in a running service: which subscriptions this process follows, and the API's hooks.

Every process runs a `WebhookDispatcher` (unless `CARRIER_EVENTS_WEBHOOKS_OUT`
is off). Each one announces itself with a lease of its own,
`webhooks-node:<holder>`, renewed while it runs, and about once a second
reads who else is alive and lists the subscriptions. Its share of them
(`placement.share`: rendezvous hashing over the live dispatchers, so one
joining or leaving moves only its share) gets a `Follower` task each,
which sends only while this dispatcher holds the lease `webhooks:<id>`
(`service.duties.Duty`): each subscription has exactly one sender, even
while two dispatchers' views of who is alive differ. A follower whose
subscription became another's share finishes its batch and releases the
lease (`Follower.hand_over`); one whose process died is taken over when
its leases run out. With one process, it sends everything. Followers are
independent, so a slow or failing subscriber never delays another, nor the
bus (delivery reads the stored feed; nothing upstream waits for it).

One aiohttp session serves all subscriptions; its resolver is the SSRF
guard's (`guard.GuardedResolver`). At shutdown the followers are
cancelled: requests in flight are abandoned, and since a cursor moves only
after its whole batch was answered, nothing is lost (the batch goes out
again at the next start; receivers dedupe on `webhook-id`).
"""
from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timezone

import aiohttp
import orjson

from taxonomy.models import utc_text

from .. import metrics
from ..config import Settings
from ..duties import Duty, instance_holder
from ..rows import DeliveryAttempt, Subscription
from ..store.ports import Subscriptions
from . import placement, schedule
from .follower import Follower
from .times import stamp
from .guard import GuardedResolver, IPNetwork, parse_nets, refuse_reason
from .sender import Sender

log = logging.getLogger(__name__)
TEST_TYPE = "shipment.event.test.v1"
NODES = "webhooks-node:"  # the lease family of the live dispatchers, one `webhooks-node:<holder>` each


class WebhookDispatcher:
    def __init__(self, store: Subscriptions, *, allow_nets: str | tuple[IPNetwork, ...] = (), concurrency: int = 8,
                 timeout: float = 10.0, give_up: float = schedule.GIVE_UP, list_every: float = 1.0,
                 idle: float = 0.2, lease_ttl: float = 15.0, head_every: float = 0.025, rng: Callable[[], float] = random.random,
                 clock: Callable[[], float] = time.time, delay: Callable[..., float] = schedule.next_delay) -> None:
        self._store = store
        self.allow_nets = parse_nets(allow_nets) if isinstance(allow_nets, str) else tuple(allow_nets)
        self._concurrency, self._timeout, self._give_up = concurrency, timeout, give_up
        self._list_every, self._idle, self._lease_ttl = list_every, idle, lease_ttl
        self._head_every = head_every
        self._rng, self._clock, self._delay = rng, clock, delay
        self._session: aiohttp.ClientSession | None = None
        self._sender: Sender | None = None
        self._followers: dict[str, tuple[Follower, asyncio.Task]] = {}
        self._known: set[str] = set()  # subscription ids with gauge series
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._watch: asyncio.Task | None = None
        # The lease holder: this process, and this dispatcher in it (two services in one process, as tests
        # run them, are two senders that must not both hold a subscription).
        self.holder = instance_holder()
        self._node = Duty(store, NODES + self.holder, ttl=lease_ttl, holder=self.holder)
        self.holders: tuple[str, ...] = (self.holder,)  # the live dispatchers, as last read
        self._placed: dict[str, bool] = {}  # subscription id -> ours among `holders` (hashing once per change)

    @classmethod
    def from_settings(cls, store: Subscriptions, settings: Settings) -> WebhookDispatcher:
        return cls(store, allow_nets=settings.outbound_allow_nets, concurrency=settings.outbound_concurrency,
                   timeout=settings.outbound_timeout, give_up=settings.outbound_give_up)

    # --- life ---------------------------------------------------------------------------------------------

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.allow_nets), limit=0, ttl_dns_cache=10)
        self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        self._sender = Sender(self._session, self.allow_nets, self._timeout, clock=self._clock)
        self._task = asyncio.create_task(self._supervise(), name="webhooks-out")
        self._watch = asyncio.create_task(self._watch_head(), name="webhooks-out-head")

    async def close(self) -> None:
        tasks = [t for t in (self._task, self._watch, *(task for _, task in self._followers.values())) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._followers.clear()
        try:  # the others take this dispatcher's share at their next listing, not when the lease runs out
            await self._node.release()
        except Exception:  # noqa: BLE001 - the store may be closing; the announcement then just runs out
            log.debug("webhooks: announcement not withdrawn", exc_info=True)
        if self._session is not None:
            await self._session.close()

    def holding(self) -> frozenset[str]:
        """The subscriptions this dispatcher sends now: those whose lease its followers hold."""
        return frozenset(sid for sid, (follower, task) in self._followers.items()
                         if follower.duty.holds and not task.done())

    def wake(self) -> None:
        """A subscription was created or changed: list again now (and let its follower re-read it)."""
        self._wake.set()
        for follower, _ in self._followers.values():
            follower.refresh_soon()

    # --- the API's hooks ----------------------------------------------------------------------------------

    def check_url(self, url: str) -> str | None:
        """Why this URL cannot be a subscriber's, or None. Resolves the host with the system resolver."""
        return refuse_reason(url, self.allow_nets)

    async def send_test(self, subscription: Subscription) -> DeliveryAttempt:
        """A synthetic event (`shipment.event.test.v1`), signed like every delivery, sent once and logged with
        seq 0: lets an integrator check the endpoint and its signature verification."""
        if self._sender is None:
            raise RuntimeError("the dispatcher is not started")
        event_id = "test_" + secrets.token_hex(12)
        now = datetime.now(timezone.utc)
        body = orjson.dumps({"specversion": "1.0", "id": event_id, "source": "/carrier-events/subscriptions",
                             "type": TEST_TYPE, "subject": subscription.id, "time": utc_text(now),
                             "datacontenttype": "application/json",
                             "data": {"subscription": subscription.id,
                                      "message": "a test delivery; it is not a shipment event"}})
        outcome = await self._sender.send(subscription, event_id, body)
        attempt = DeliveryAttempt(subscription.id, 0, event_id, 1, outcome.ok, outcome.status,
                                  round(outcome.latency_ms, 3), outcome.error, stamp(self._clock()))
        await self._store.record_attempts([attempt])
        return attempt

    # --- following ------------------------------------------------------------------------------------------

    async def _supervise(self) -> None:
        while True:
            try:
                await self._reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:  # the store briefly unavailable: the followers go on, listing is retried
                log.exception("webhooks: listing subscriptions failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self._list_every)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def _watch_head(self) -> None:
        """One cheap read of the feed's head for all followers: a new event wakes the idle ones at once, so a
        delivery waits for neither a follower's idle poll nor the process that committed the event."""
        head = 0
        while True:
            if not self._followers:  # nothing to wake (no subscription is followed here): no store reads
                await asyncio.sleep(self._head_every * 10)
                continue
            try:
                now = await self._store.feed_head()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the store briefly unavailable: the followers poll on their own
                log.debug("webhooks: reading the feed head failed", exc_info=True)
                now = head
            if now > head:
                head = now
                for follower, _ in self._followers.values():
                    follower.poke()
            await asyncio.sleep(self._head_every)

    async def _reconcile(self) -> None:
        subscriptions: list[Subscription] = []
        after = None
        while page := await self._store.subscriptions(after, 500):
            subscriptions += page
            after = page[-1].id
            if len(page) < 500:
                break
        head = await self._store.feed_head() if subscriptions else 0  # (the lag gauges' only use of it)
        await self._node.held()  # announced (renewed when a third of it has passed)
        self._place(await self._store.lease_holders(NODES))
        seen = {s.id for s in subscriptions}
        for sub in subscriptions:
            metrics.WEBHOOK_LAG.labels(sub.id).set(max(0, head - sub.cursor))
            metrics.WEBHOOK_DISABLED.labels(sub.id).set(0 if sub.enabled else 1)
            running = self._followers.get(sub.id)
            if running is not None and running[1].done():
                self._followers.pop(sub.id)
                running = None
            if not sub.enabled:
                if running is not None:
                    running[1].cancel()
                    self._followers.pop(sub.id)
            elif not self._mine(sub.id):
                if running is not None:
                    running[0].hand_over()  # another dispatcher's share now: it stops after its batch
            elif running is None:
                follower = Follower(self._store, self._sender, sub, concurrency=self._concurrency,  # type: ignore[arg-type]
                                    give_up=self._give_up, idle=self._idle, lease_ttl=self._lease_ttl,
                                    rng=self._rng, clock=self._clock, delay=self._delay, holder=self.holder)
                self._followers[sub.id] = (follower, asyncio.create_task(follower.run(), name=f"webhooks-{sub.id}"))
            else:
                if running[0].leaving:
                    running[0].stay()  # ours again before it stopped
                if _delivery_view(sub) != _delivery_view(running[0].subscription):
                    running[0].nudge(sub)
        for gone in set(self._followers) - seen:
            self._followers.pop(gone)[1].cancel()
        for gone in self._known - seen:  # a deleted subscription's series disappear
            for series, labels in ((metrics.WEBHOOK_LAG, (gone,)), (metrics.WEBHOOK_DISABLED, (gone,)),
                                   (metrics.WEBHOOK_DELIVERIES, (gone, "delivered")),
                                   (metrics.WEBHOOK_DELIVERIES, (gone, "failed"))):
                try:
                    series.remove(*labels)
                except KeyError:
                    pass
        self._known = seen
        for gone in set(self._placed) - seen:
            del self._placed[gone]

    def _place(self, holders: list[str]) -> None:
        live = tuple(sorted({*holders, self.holder}))
        if live != self.holders:
            log.info("webhooks: %d dispatcher(s) alive; spreading the subscriptions over them", len(live))
            self.holders, self._placed = live, {}

    def _mine(self, subscription_id: str) -> bool:
        mine = self._placed.get(subscription_id)
        if mine is None:
            mine = self._placed[subscription_id] = placement.owner(self.holders, subscription_id) == self.holder
        return mine


def _delivery_view(sub: Subscription) -> tuple:
    """What a running delivery must notice at once: where, how signed, what, from where."""
    return (sub.url, sub.secret, sub.previous_secret, sub.previous_secret_until, sub.filter, sub.cursor)
