"""What the outbound-webhook scenario tests share: subscriptions, events in the feed, a dispatcher with a short
schedule, and waiting for a receiver; and the fixtures `receivers` and `running` (import them into a test
module to use them)."""
from __future__ import annotations

import asyncio
import functools
import secrets

import pytest

from service.config import SOURCES, Settings
from service.keys import BUS, STORE
from service.outbound import schedule
from service.outbound.dispatcher import WebhookDispatcher
from service.rows import OutEvent, Subscription
from tests.docs import ups_track
from tests.receivers import Receiver, new_secret
from tests.settling import eventually  # noqa: F401 - the outbound tests import it from here

LOOPBACK = "127.0.0.0/8"
SCANS = [("label", "20260301", "080000"), ("origin", "20260301", "180000"), ("arrived", "20260302", "031500"),
         ("out", "20260303", "080000"), ("delivered", "20260303", "141500")]
# A short schedule (the real one starts at 1 s): retries of a test come a tenth of a second apart.
FAST = functools.partial(schedule.next_delay, base=0.1, cap=0.3)


def app_settings(db: str, **changes) -> Settings:
    base = dict(db=db, open_sources=frozenset(SOURCES), poll=False, actions=False,
                outbound_allow_nets=LOOPBACK, drain_seconds=0)
    return Settings(**{**base, **changes})


def new_subscription(url: str, filter: tuple[str, ...] = ("#",), **changes) -> Subscription:
    now = "2026-03-01T00:00:00Z"
    base = dict(id="sub_" + secrets.token_hex(12), url=url, filter=filter, description="test", enabled=True,
                secret=new_secret(), cursor=0, created_at=now, updated_at=now)
    return Subscription(**{**base, **changes})


def dispatcher(store, **changes) -> WebhookDispatcher:
    """A dispatcher with test pacing: listing every 0.1 s, the short schedule, loopback allowed."""
    options = dict(allow_nets=LOOPBACK, list_every=0.1, idle=0.05, lease_ttl=3.0, delay=FAST)
    return WebhookDispatcher(store, **{**options, **changes})


@pytest.fixture
async def receivers():
    """Start a receiver (`await receivers(behaviour)`); all are stopped at the test's end."""
    started: list[Receiver] = []

    async def start(behaviour=None) -> Receiver:
        rec = Receiver() if behaviour is None else Receiver(behaviour)
        started.append(await rec.start())
        return rec

    yield start
    for rec in started:
        await rec.stop()


@pytest.fixture
async def running():
    """Start a dispatcher with test pacing (`await running(store, **changes)`); all are closed at the test's
    end (closing one earlier is fine)."""
    started: list[WebhookDispatcher] = []

    async def start(store, **changes) -> WebhookDispatcher:
        d = dispatcher(store, **changes)
        await d.start()
        started.append(d)
        return d

    yield start
    for d in started:
        await d.close()


async def fill(client, shipments: int, scans: list = SCANS, first: int = 0) -> list[OutEvent]:
    """`shipments` UPS documents of `scans` each, normalized; the whole outbox (feed) afterwards."""
    for i in range(first, first + shipments):
        resp = await client.post("/webhooks/ups", data=ups_track(f"1ZOUTBOUND{i:08d}", scans),
                                 headers={"Content-Type": "application/json"})
        assert resp.status == 202, await resp.text()
    store = client.app[STORE]
    normalizer = getattr(client.app[BUS], "normalizer", None)
    for _ in range(1000):
        if normalizer is not None:
            await normalizer.drain()
        counts = await store.counts()
        if not any(counts.get(f"inbox_{s}", 0) for s in ("pending", "claimed", "queued")):
            break
        await asyncio.sleep(0.01)
    return await store.outbox_after(0, 100_000)


def per_shipment(events: list[dict]) -> dict[str, list[str]]:
    """Event ids in arrival order, per shipment (CloudEvent source + subject)."""
    shipments: dict[str, list[str]] = {}
    for event in events:
        shipments.setdefault(f"{event['source']} {event['subject']}", []).append(event["id"])
    return shipments


def first_deliveries(ids: list[str]) -> list[str]:
    """Each id once, at its first arrival."""
    seen: dict[str, None] = {}
    for i in ids:
        seen.setdefault(i, None)
    return list(seen)
