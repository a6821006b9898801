"""The service in RabbitMQ mode, end to end: webhook in, CloudEvents out on `shipment-events`, real broker."""
from __future__ import annotations

import asyncio
import json

import aio_pika
import orjson

from service.amqp.relay import raw_message
from service.amqp.topology import NORMALIZE_KEY
from service.cardinality import carrier_label
from service.keys import BUS, STORE
from tests.docs import ups_track
from tests.reading import READER
from tests.test_amqp_support import (  # noqa: F401 - fixtures
    FIXTURES, aiohttp_client, broker, client, eventually, queue_depth, settings, subscriber, topology)

TN = "1Z999AA10123456784"
CONTENT_TYPES = {".json": "application/json", ".xml": "application/xml", ".edi": "application/edi-x12"}

# (webhook source, fixture): several carriers, formats and exception classes.
CARRIER_DOCS = [
    ("ups", "ups_track_json/in_transit_address_then_weather.json"),
    ("fedex", "fedex_track_json/intl_customs_weather_attempt_and_not_found.json"),
    ("usps", "usps_v3_json/delivered_signed_gmt.json"),
    ("canadapost", "canadapost_tracking_xml/attempt_pickup_weather_unknown_code.xml"),
    ("dhl", "dhl_unified_json/express_delivered_offsets.json"),
    ("x12", "x12_edi_214/attempts_refused_returned.edi"),
]


def expected_events(fixture: str) -> dict[str, str]:
    """event id -> routing key, from the fixture's golden normalized output (a carrier outside the
    registry, such as an X12 sender's SCAC, is `other` in the key)."""
    golden = json.loads((FIXTURES / fixture).with_suffix(".golden.json").read_text("utf-8"))
    return {e["event_id"]: f"{e['status']}.{e['exception_class'] or 'none'}.{carrier_label(s['carrier'])}"
            for s in golden["shipments"] for e in s["events"]}


async def post(client, body: bytes, source: str = "ups", content_type: str = "application/json"):
    resp = await client.post(f"/webhooks/{source}", data=body, headers={"Content-Type": content_type})
    assert resp.status == 202, await resp.text()
    return await resp.json()


async def settled(client) -> None:
    """Every accepted row normalized and every event confirmed by the broker."""
    store = client.app[STORE]

    async def done() -> bool:
        counts = await store.counts()
        return not any(counts.get(f"inbox_{s}", 0) for s in ("pending", "queued")) and counts["outbox_unsent"] == 0

    await eventually(done, 15, lambda: "rows still pending/queued or events unsent")


async def test_webhooks_from_several_carriers_become_cloudevents_with_routing_keys(client, subscriber):
    expected: dict[str, str] = {}
    for source, fixture in CARRIER_DOCS:
        path = FIXTURES / fixture
        await post(client, path.read_bytes(), source, CONTENT_TYPES[path.suffix])
        expected.update(expected_events(fixture))
    assert len(expected) > 30  # the documents really carry events
    messages = await subscriber.wait_for(len(expected))
    await settled(client)
    assert {m["event"]["id"]: m["routing_key"] for m in messages} == expected
    assert len(messages) == len(expected)  # nothing twice
    for m in messages:
        event = m["event"]
        assert m["message_id"] == event["id"] and m["content_type"] == "application/cloudevents+json"
        assert m["persistent"] and event["specversion"] == "1.0" and event["type"] == "shipment.event.v1"
        assert event["source"] == f"/carriers/{event['data']['event']['carrier']}"
        assert event["subject"] == event["data"]["event"]["tracking_number"]
    assert {m["routing_key"].split(".")[1] for m in messages} >= {
        "none", "address_issue", "weather_delay", "customs_hold", "refused", "recipient_unavailable"}


async def test_same_webhook_five_times_and_a_redelivered_message_give_one_set_of_events(
        client, subscriber, broker, topology):
    doc = ups_track(TN, [("label", "20260301", "080000"), ("origin", "20260301", "180000")])
    answers = [await post(client, doc) for _ in range(5)]
    assert [a["duplicate"] for a in answers] == [False, True, True, True, True]
    await subscriber.wait_for(2)
    await settled(client)
    # The broker hands the same document over again (a relay that crashed between confirm and mark).
    row = (await client.app[STORE].inbox_rows([int(answers[0]["id"])]))[0]
    assert row.state == "done"
    channel = await broker.channel(publisher_confirms=True, on_return_raises=True)
    raw = await channel.get_exchange(topology.raw, ensure=False)
    for _ in range(2):
        await raw.publish(raw_message(row), routing_key=NORMALIZE_KEY, mandatory=True)
    await channel.close()
    consumer = client.app[BUS].consumer
    await eventually(lambda: consumer.skipped >= 2, 10, lambda: f"skipped {consumer.skipped}")
    await eventually(lambda: _empty(broker, topology.normalize), 5, lambda: "normalize queue not drained")
    await asyncio.sleep(0.3)  # room for a wrong second publication to show up
    assert sorted(m["event"]["data"]["event"]["status"] for m in subscriber.messages) == ["label_created",
                                                                                            "picked_up"]
    assert (await client.app[STORE].counts())["events"] == 2


async def _empty(broker, queue: str) -> bool:
    return await queue_depth(broker, queue) == 0


async def test_same_scan_by_two_routes_is_one_event(client, subscriber):
    alert = FIXTURES / "ups_track_alert_json/delivered_fs.json"
    # The same delivery scan as a Track API response (another shape, other bytes, same scan).
    scan = json.loads(alert.read_text("utf-8"))
    api = {"trackResponse": {"shipment": [{"inquiryNumber": scan["trackingNumber"], "package": [{
        "trackingNumber": scan["trackingNumber"], "activity": [{
            "location": {"address": {"city": "TUCSON", "stateProvince": "AZ", "postalCode": "85719",
                                     "country": "US"}},
            "status": {"type": "D", "code": "FS", "description": "Delivered"},
            "date": "20250614", "time": "153012", "gmtDate": "20250614", "gmtTime": "22:30:12",
            "gmtOffset": "-07:00"}]}]}]}}
    await post(client, orjson.dumps(api), "ups")
    await post(client, alert.read_bytes(), "ups")
    await subscriber.wait_for(1)
    await settled(client)
    await asyncio.sleep(0.3)
    assert subscriber.ids == list(expected_events("ups_track_alert_json/delivered_fs.json"))
    assert (await client.app[STORE].counts())["inbox_done"] == 2  # both documents were processed


async def test_out_of_order_documents_never_publish_a_regression(client, subscriber):
    await post(client, ups_track(TN, [("delivered", "20260303", "141500")]))
    await subscriber.wait_for(1)
    await post(client, ups_track(TN, [("origin", "20260301", "180000"), ("arrived", "20260302", "031500"),
                                      ("out", "20260303", "080000")]))
    messages = await subscriber.wait_for(4)
    await settled(client)
    snapshots = [m["event"]["data"]["shipment"] for m in messages]
    assert [s["status"] for s in snapshots] == ["delivered"] * 4  # once delivered, never back
    assert all(not s["status_changed"] for s in snapshots[1:])
    assert [m["routing_key"] for m in messages[1:]] == [
        "picked_up.none.ups", "in_transit.none.ups", "out_for_delivery.none.ups"]  # occurred_at order
    shipment = await (await client.get(f"/v1/shipments/ups/{TN}", headers=READER)).json()
    assert shipment["status"] == "delivered"
    assert [e["status"] for e in shipment["events"]] == ["delivered", "out_for_delivery", "in_transit",
                                                         "picked_up"]


async def test_unparseable_body_is_quarantined_once_and_not_retried(client, subscriber, broker, topology):
    answer = await post(client, b'{"trackResponse": [unterminated', "ups")
    store = client.app[STORE]

    async def quarantined() -> bool:
        return (await store.inbox_rows([int(answer["id"])]))[0].state == "quarantined"

    await eventually(quarantined, 10, lambda: "row never quarantined")
    await asyncio.sleep(sum(topology.retry_delays_ms) / 1000 + 0.3)  # longer than every retry tier
    row = (await store.inbox_rows([int(answer["id"])]))[0]
    assert row.state == "quarantined" and row.attempts == 1 and "malformed JSON" in row.reason
    for queue in (topology.normalize, *topology.retry_tiers, topology.dlq):
        assert await queue_depth(broker, queue) == 0, queue
    consumer = client.app[BUS].consumer
    assert consumer.retried == 0 and consumer.dead == 0
    assert subscriber.messages == []
    problems = await client.get("/v1/admin/dlq", headers={"Authorization": "Bearer s3cret"})
    assert [i["id"] for i in (await problems.json())["items"]] == [answer["id"]]


async def test_readyz_reports_the_broker(client):
    resp = await client.get("/readyz")
    assert resp.status == 200 and (await resp.json())["broker"] == "connected"


async def test_a_message_naming_no_row_of_this_store_goes_to_the_dlq(client, broker, topology):
    channel = await broker.channel(publisher_confirms=True, on_return_raises=True)
    raw = await channel.get_exchange(topology.raw, ensure=False)
    await raw.publish(aio_pika.Message(b"{}", headers={"inbox-id": 987654321, "attempt": 0}),
                      routing_key=NORMALIZE_KEY, mandatory=True)
    await channel.close()

    async def in_dlq() -> bool:
        return await queue_depth(broker, topology.dlq) == 1

    await eventually(in_dlq, 10, lambda: "the foreign message did not reach the DLQ")
