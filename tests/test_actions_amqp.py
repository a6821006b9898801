"""Exception workflows through the real pipeline with RabbitMQ: webhook -> broker -> normalizer -> actions.

The scenarios of the exception-workflows issue, in broker mode: documents go
through the raw exchange and the normalize queue like production traffic, the
actions stage follows the outbox, and escalation changes come out on the
`cs-escalations` exchange, read here by a plain aio-pika consumer.
"""
from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage

from service.app import create_app
from service.config import SOURCES, Settings
from service.keys import ACTIONS, STORE
from service.web.bodies import EscalationChanged
from tests.reading import READ_TOKEN, READER
from tests.test_actions import (ARRIVED, ATTEMPT, CS, DELIVERED, LOST, TN, WEATHER, escalations, occurred, register,
                                scan, sent, ups)
from tests.test_amqp_support import (  # noqa: F401 - fixtures
    AMQP_URL, RETRY_MS, aiohttp_client, broker, client, eventually, topology)


@pytest.fixture
def settings(tmp_path: Path, topology) -> Settings:
    return Settings(db=str(tmp_path / "events.db"), amqp_url=AMQP_URL, retry_delays_ms=RETRY_MS,
                    shutdown_timeout=5.0, open_sources=frozenset(SOURCES), cs_token="cs-token",
                    api_token="api-token", notify_file=str(tmp_path / "notifications.jsonl"), read_token=READ_TOKEN)


class CsQueue:
    """A CS tool stand-in: its own queue on `cs-escalations`."""

    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        self.messages.append({"routing_key": message.routing_key, "message_id": message.message_id,
                              "persistent": message.delivery_mode == 2, "event": orjson.loads(message.body)})
        await message.ack()

    def changes(self) -> list[tuple[str, str]]:
        return [(m["routing_key"], m["event"]["data"]["change"]["action"]) for m in self.messages]


@pytest.fixture
async def cs_queue(broker: AbstractConnection, topology):
    channel = await broker.channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(topology.escalations, routing_key="#")
    consumer = CsQueue()
    await queue.consume(consumer.on_message)
    yield consumer
    await channel.close()


async def post(client, body: bytes) -> None:
    """One webhook through the broker; returns once normalized, published, acted on and sent."""
    store = client.app[STORE]
    before = (await store.counts()).get("inbox_done", 0)
    assert (await client.post("/webhooks/ups", data=body)).status == 202

    async def through() -> bool:
        counts = await store.counts()
        return counts.get("inbox_done", 0) > before and not counts.get("inbox_pending") and not counts.get(
            "inbox_queued") and counts["outbox_unsent"] == 0

    await eventually(through, 15, lambda: "the document did not come through the broker")
    engine = client.app[ACTIONS]
    await engine.act()
    await engine.send_due()


async def test_a_lost_parcel_is_one_claims_escalation_on_the_exchange_and_no_customer_mail(client, settings,
                                                                                          cs_queue):
    await register(client)
    await post(client, ups(TN, [ARRIVED]))
    await post(client, ups(TN, [ARRIVED, LOST]))
    [item] = await escalations(client)
    assert (item["owner_role"], item["severity"], item["exception_class"]) == ("cs_claims", "high", "lost")
    created, due = (datetime.fromisoformat(item[k]) for k in ("created_at", "sla_due_at"))
    assert due - created == timedelta(hours=24)
    assert sent(settings) == []
    await eventually(lambda: len(cs_queue.messages) >= 1, 10, lambda: "no escalation on cs-escalations")
    [message] = cs_queue.messages
    assert message["routing_key"] == "high.cs_claims.lost" and message["persistent"]
    event = message["event"]
    assert event["type"] == "escalation.changed.v1" and message["message_id"] == event["id"]
    assert event["data"]["escalation"]["id"] == item["id"] and event["data"]["change"]["action"] == "opened"
    EscalationChanged.model_validate(event)  # the published contract
    # CS acknowledges in the API: the change follows on the exchange
    url = f"/v1/escalations/{item['id']}/acknowledge"
    assert (await client.post(url, json={"by": "grace"}, headers=CS)).status == 200
    await eventually(lambda: len(cs_queue.messages) >= 2, 10, lambda: str(cs_queue.changes()))
    assert cs_queue.changes() == [("high.cs_claims.lost", "opened"), ("high.cs_claims.lost", "acknowledged")]
    assert cs_queue.messages[1]["event"]["data"]["change"]["actor"] == "grace"


async def test_a_weather_delay_notifies_once_and_the_delivery_resolves_it(client, settings, cs_queue):
    await register(client)
    await post(client, ups(TN, [ARRIVED, WEATHER]))
    assert [n["template"] for n in sent(settings)] == ["delay"]
    [waiting] = await escalations(client)
    assert waiting["state"] == "waiting"  # CS sees it only if it lasts
    await post(client, ups(TN, [ARRIVED, WEATHER, DELIVERED]))
    assert (await escalations(client, active="true")) == []
    templates = [n["template"] for n in sent(settings)]
    assert templates.count("delay") == 1
    await eventually(lambda: len(cs_queue.messages) >= 2, 10, lambda: str(cs_queue.changes()))
    assert cs_queue.changes() == [("low.cs_tier1.weather_delay", "waiting"),
                                  ("low.cs_tier1.weather_delay", "resolved")]


async def test_an_attempted_delivery_tells_the_customer_the_carriers_next_step(client, settings):
    await register(client)
    await post(client, ups(TN, [ARRIVED, ATTEMPT]))
    [note] = sent(settings)
    assert note["template"] == "delivery_attempted" and note["recipient"]["email"] == "ada@example.com"
    assert "We'll make a second attempt the next business day." in note["text"]


async def test_the_same_exception_three_times_is_one_notification_and_one_escalation(client, settings, cs_queue):
    await register(client)
    scans = [ARRIVED]
    for hours_ago in (30, 20, 10):
        scans.append(scan("X", "ZR", "The address is incorrect", hours_ago))
        await post(client, ups(TN, scans))
    assert [n["template"] for n in sent(settings)] == ["address_issue"]
    [escalation] = await escalations(client)
    detail = await (await client.get(f"/v1/escalations/{escalation['id']}", headers=CS)).json()
    assert [a["action"] for a in detail["audit"]] == ["waiting", "repeated", "repeated"]
    await eventually(lambda: len(cs_queue.messages) >= 3, 10, lambda: str(cs_queue.changes()))
    assert len({m["event"]["data"]["escalation"]["id"] for m in cs_queue.messages}) == 1


async def test_a_stalled_shipment_is_found_by_the_sweep(client, settings):
    await register(client)
    await post(client, ups(TN, [ARRIVED]))
    later = occurred(60) + timedelta(hours=73)
    assert await client.app[ACTIONS].sweep(now=later) == 1
    await client.app[ACTIONS].act()
    await client.app[ACTIONS].send_due()
    [escalation] = await escalations(client, exception_class="stalled")
    assert escalation["state"] == "open"
    assert [n["template"] for n in sent(settings)] == ["stalled"]
    shipment = await (await client.get(f"/v1/shipments/ups/{TN}", headers=READER)).json()
    assert shipment["events"][0]["exception_class"] == "stalled"


async def test_escalation_changes_survive_a_restart_without_a_broker_and_arrive_once(
        aiohttp_client, settings, cs_queue):
    """Changes made while no relay could publish go out after the next start; already published ones don't."""
    first = await aiohttp_client(create_app(settings))
    await register(first)
    # scanned hours ago, not in March: the start-up sweep must not find this shipment stalled
    recent = datetime.now(timezone.utc) - timedelta(hours=8)
    scans = [(*scan[:3], recent.strftime("%Y%m%d"), clock) for scan, clock in ((ARRIVED, "010000"), (LOST, "020000"))]
    await post(first, ups(TN, scans))
    await eventually(lambda: len(cs_queue.messages) >= 1, 10, lambda: "nothing published")
    await first.close()
    # a change made while the service is down (an operator tool writing the store directly is the same path)
    offline = replace(settings, amqp_url=None)
    second = await aiohttp_client(create_app(offline))
    [item] = await escalations(second)
    assert (await second.post(f"/v1/escalations/{item['id']}/resolve", json={"by": "alan"},
                              headers=CS)).status == 200
    await second.close()
    third = await aiohttp_client(create_app(settings))
    await eventually(lambda: len(cs_queue.messages) >= 2, 10, lambda: str(cs_queue.changes()))
    await asyncio.sleep(0.5)  # room for a duplicate to show up
    assert cs_queue.changes() == [("high.cs_claims.lost", "opened"), ("high.cs_claims.lost", "resolved")], [
        (m["routing_key"], m["event"]["data"]["change"]) for m in cs_queue.messages]
    await third.close()


async def test_customer_messages_follow_the_shipment_through_the_broker(client, settings):
    """The notification bar in broker mode: an old document tells nobody; a fresh three-scan one, one message."""
    from tests.test_customer_messages import ATTEMPT as FRESH_ATTEMPT, FIXTURE, IN_TRANSIT, JANUARY_TN, OUT_FOR_DELIVERY

    await register(client, JANUARY_TN)
    await post(client, FIXTURE.read_bytes())
    assert sent(settings) == []
    await register(client)
    await post(client, ups(TN, [IN_TRANSIT, OUT_FOR_DELIVERY, FRESH_ATTEMPT]))
    [note] = sent(settings)
    assert (note["template"], note["recipient"]["email"]) == ("delivery_attempted", "ada@example.com")
