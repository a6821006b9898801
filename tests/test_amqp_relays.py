"""On RabbitMQ: the same scans from the carrier and from an aggregator are one message each, both provenances
kept; a replay after a mapping fix publishes the corrected event once, as a correction."""
from __future__ import annotations

import asyncio

import pytest

from service.keys import STORE
from taxonomy.mapping import use_local_tables
from tests import relays
from tests.test_amqp_support import (  # noqa: F401 - fixtures
    aiohttp_client, broker, client, eventually, settings, subscriber, topology)
from tests.test_corrections import ARRIVED, TN, WORMHOLE, document
from tests.test_relays import post, shipment


async def settled(client) -> None:
    store = client.app[STORE]

    async def done() -> bool:
        counts = await store.counts()
        return not any(counts.get(f"inbox_{s}", 0) for s in ("pending", "queued")) and counts["outbox_unsent"] == 0

    await eventually(done, 15, lambda: "rows still pending or events unsent")


@pytest.fixture
def shipped_tables_afterwards():
    yield
    use_local_tables(None)  # mapping tables are process-wide


async def test_one_message_per_scan_with_both_provenances_kept(client, subscriber):
    body, scans = relays.direct("fedex_track_json/delivered_signed_duplicate_scan.json")
    tn = scans[0].tracking_number
    await post(client, "fedex", body)
    await post(client, "aftership", relays.aftership("fedex", tn, scans))
    await subscriber.wait_for(len(scans))
    await settled(client)
    await asyncio.sleep(0.3)  # room for a second copy to show up
    assert len(subscriber.messages) == len(scans)
    assert len({m["event"]["id"] for m in subscriber.messages}) == len(scans)
    assert {m["event"]["data"]["event"]["provenance"]["parser"] for m in subscriber.messages} == {"fedex.track_json"}
    stored = await shipment(client, "fedex", tn)
    assert sorted(s["event_id"] for s in stored["sources"]) == sorted(subscriber.ids)
    assert {s["provenance"]["parser"] for s in stored["sources"]} == {"aftership.json"}


async def test_a_replay_after_a_mapping_fix_publishes_one_correction(client, subscriber, tmp_path,
                                                                     shipped_tables_afterwards):
    await post(client, "ups", document(ARRIVED, WORMHOLE))
    await subscriber.wait_for(2)
    await settled(client)
    [original] = [m for m in subscriber.messages if m["event"]["data"]["event"]["carrier_code"] == "ZQ"]
    assert original["routing_key"] == "exception.other.ups"
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "ups.toml").write_text('[codes]\n"X:ZQ" = { status = "exception", exception_class = "lost", '
                                   'text = "Parcel entered a wormhole" }\n')
    use_local_tables(str(maps))  # what a restart with CARRIER_EVENTS_MAPS_DIR does
    admin = {"Authorization": "Bearer s3cret"}
    resp = await client.post("/v1/admin/replay", json={"states": ["done"]}, headers=admin)
    assert resp.status == 202
    await subscriber.wait_for(3)
    await settled(client)
    await asyncio.sleep(0.3)  # room for anything else to show up
    [correction] = subscriber.messages[2:]
    event_id = original["event"]["id"]
    assert (correction["routing_key"], correction["message_id"]) == ("exception.lost.ups", f"{event_id}-r2")
    assert (correction["event"]["type"], correction["event"]["revision"]) == ("shipment.event.corrected.v1", 2)
    assert correction["event"]["data"]["event"]["event_id"] == event_id
    assert (await shipment(client, "ups", TN))["exception_class"] == "lost"
