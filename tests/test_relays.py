"""One event per physical scan across routes: a carrier's own document and an aggregator's relay of it.

The direct documents are the carriers' fixtures; the relays are composed from
the same scans in EasyPost, Shippo and AfterShip formats (`tests.relays`:
codes and texts rewritten, places formatted differently, times rounded to the
minute). Through the webhook intake and the real normalizer, on both
backends; the RabbitMQ scenario is in test_amqp_relays.py.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from taxonomy import Status
from taxonomy.models import Location
from tests import relays
from tests.reading import READER
from tests.test_actions import client, settings  # noqa: F401 - fixtures
from tests.settling import normalized

# (direct fixture, carrier's webhook source, aggregator source, relay composer)
PAIRS = [
    ("fedex_track_json/delivered_signed_duplicate_scan.json", "fedex", "aftership", relays.aftership),
    ("ups_track_json/delivered_received_by.json", "ups", "easypost", relays.easypost),
    ("usps_v3_json/in_transit_attempt_late_unknown_code.json", "usps", "shippo", relays.shippo),
]


async def post(client, source: str, body: bytes) -> None:
    resp = await client.post(f"/webhooks/{source}", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 202, await resp.text()


async def drained(client) -> None:
    await normalized(client, tries=300)


async def feed(client, tn: str) -> list[dict]:
    events = (await (await client.get("/v1/events?after=0&limit=500", headers=READER)).json())["events"]
    return [e for e in events if e["subject"] == tn]


async def shipment(client, carrier: str, tn: str) -> dict:
    return await (await client.get(f"/v1/shipments/{carrier}/{tn}", headers=READER)).json()


@pytest.mark.parametrize("fixture,carrier,aggregator,relay", PAIRS, ids=[p[2] for p in PAIRS])
@pytest.mark.parametrize("relay_first", [False, True], ids=["direct-first", "relay-first"])
async def test_the_same_scans_from_the_carrier_and_an_aggregator_are_one_event_each(
        client, fixture, carrier, aggregator, relay, relay_first):
    body, scans = relays.direct(fixture)
    tn = scans[0].tracking_number
    documents = [(carrier, body), (aggregator, relay(carrier, tn, scans))]
    for source, document in (reversed(documents) if relay_first else documents):
        await post(client, source, document)
        await drained(client)
    published = await feed(client, tn)
    assert len(published) == len(scans)  # one per physical scan, not one per route
    assert sorted(e["data"]["event"]["status"] for e in published) == sorted(s.status.value for s in scans)
    first_parser = f"{aggregator}." if relay_first else f"{carrier}."
    assert all(e["data"]["event"]["provenance"]["parser"].startswith(first_parser) for e in published)
    stored = await shipment(client, carrier, tn)
    assert len(stored["events"]) == len(scans)
    # every event shows the second route as another provenance, under the relayed scan's own id
    assert sorted(s["event_id"] for s in stored["sources"]) == sorted(e["event_id"] for e in stored["events"])
    second = f"{carrier}." if relay_first else f"{aggregator}."
    assert all(s["provenance"]["parser"].startswith(second) for s in stored["sources"])
    assert all(s["provenance"]["event_id"] not in {e["event_id"] for e in stored["events"]} for s in stored["sources"])
    # a retry of the second route is a plain duplicate: nothing new anywhere
    await post(client, *documents[0 if relay_first else 1])
    await drained(client)
    assert len(await feed(client, tn)) == len(scans)
    assert len((await shipment(client, carrier, tn))["sources"]) == len(scans)


def _moved(scan, **changes):
    return type(scan).model_validate({**scan.model_dump(), **changes})


async def test_near_misses_stay_two_events(client):
    """A different status, ten minutes apart, another city, another postcode: different scans, not relays."""
    body, scans = relays.direct("usps_v3_json/in_transit_attempt_late_unknown_code.json")
    tn = scans[0].tracking_number
    by_status = {s.status: s for s in scans}
    picked, arrived = by_status[Status.PICKED_UP], scans[2]  # picked up in Seattle; arrived at Spokane's office
    attempt, out = by_status[Status.DELIVERY_ATTEMPTED], by_status[Status.OUT_FOR_DELIVERY]
    near_misses = [
        _moved(picked, occurred_at=picked.occurred_at + timedelta(minutes=10),
               occurred_at_local=picked.occurred_at_local + timedelta(minutes=10)),
        _moved(arrived, location=Location(city="Tacoma", region="WA", country="US")),
        _moved(out, location=Location(city="Spokane", region="WA", postal_code="99208", country="US")),
    ]
    wrong_status = _moved(attempt, status=Status.DELIVERED, exception_class=None)
    await post(client, "usps", body)
    await drained(client)
    await post(client, "shippo", relays.shippo("usps", tn, near_misses + [wrong_status]))
    await drained(client)
    published = await feed(client, tn)
    assert len(published) == len(scans) + 4
    assert (await shipment(client, "usps", tn))["sources"] == []


async def test_a_relay_of_scans_within_a_minute_matches_each_to_its_own_scan(client):
    """Two scans of one route a few seconds apart with the same status stay two, and each relay finds its own."""
    body, scans = relays.direct("fedex_track_json/delivered_signed_duplicate_scan.json")
    tn = scans[0].tracking_number
    hub = [s for s in scans if s.status is Status.IN_TRANSIT][0]
    twin = _moved(hub, occurred_at=hub.occurred_at + timedelta(seconds=20), description="Departed FedEx hub",
                  occurred_at_local=hub.occurred_at_local + timedelta(seconds=20))
    await post(client, "aftership", relays.aftership("fedex", tn, [hub, twin]))
    await drained(client)
    assert len(await feed(client, tn)) == 2  # the same route: never merged, however close
    await post(client, "fedex", body)
    await drained(client)
    stored = await shipment(client, "fedex", tn)
    assert len(stored["events"]) == len(scans) + 1  # the twin has no direct counterpart
    assert len(stored["sources"]) == 1  # the direct hub scan matched the closest relay, once
