"""Outbound webhooks in RabbitMQ mode: the events the relay publishes to the broker also reach a subscriber's URL
(the outbox is the feed in both modes), and publishing to the bus does not wait for the subscriber."""
from __future__ import annotations

import orjson
import pytest

from service.config import SOURCES, Settings
from service.keys import OUTBOUND, STORE
from tests.outbound_support import LOOPBACK, eventually, fill, new_subscription, per_shipment
from tests.receivers import Receiver
from tests.test_amqp_support import (  # noqa: F401 - fixtures
    AMQP_URL, RETRY_MS, aiohttp_client, broker, client, subscriber, topology)


@pytest.fixture
def settings(db: str, topology) -> Settings:
    return Settings(db=db, amqp_url=AMQP_URL, retry_delays_ms=RETRY_MS, shutdown_timeout=5.0,
                    open_sources=frozenset(SOURCES), poll=False, actions=False, drain_seconds=0,
                    outbound_allow_nets=LOOPBACK)


async def test_events_reach_the_broker_and_the_subscriber_alike(client, subscriber):
    rec = await Receiver().start()
    try:
        sub = new_subscription(rec.url, ("#",))
        await client.app[STORE].create_subscription(sub)
        client.app[OUTBOUND].wake()
        feed = await fill(client, 2)
        await subscriber.wait_for(len(feed))
        await rec.wait_for(lambda: len(rec.accepted()) >= len(feed), what="every event at the subscriber")
        events = rec.verified_events(sub.secret)
        assert sorted(e["id"] for e in events) == sorted(subscriber.ids) == sorted(e.event_id for e in feed)
        assert per_shipment(events) == per_shipment([orjson.loads(e.body) for e in feed])
        await eventually(lambda: _cursor(client, sub.id, feed[-1].seq), what="cursor at the head")
    finally:
        await rec.stop()


async def _cursor(client, sub_id: str, seq: int) -> bool:
    return (await client.app[STORE].subscription(sub_id)).cursor == seq
