"""On RabbitMQ, the same scans from the carrier and from an aggregator are one message each, both provenances kept."""
from __future__ import annotations

import asyncio

from service.keys import STORE
from tests import relays
from tests.test_amqp_support import (  # noqa: F401 - fixtures
    aiohttp_client, broker, client, eventually, settings, subscriber, topology)
from tests.test_relays import post, shipment


async def test_one_message_per_scan_with_both_provenances_kept(client, subscriber):
    body, scans = relays.direct("fedex_track_json/delivered_signed_duplicate_scan.json")
    tn = scans[0].tracking_number
    await post(client, "fedex", body)
    await post(client, "aftership", relays.aftership("fedex", tn, scans))
    await subscriber.wait_for(len(scans))
    store = client.app[STORE]

    async def settled() -> bool:
        counts = await store.counts()
        return not any(counts.get(f"inbox_{s}", 0) for s in ("pending", "queued")) and counts["outbox_unsent"] == 0

    await eventually(settled, 15, lambda: "rows still pending or events unsent")
    await asyncio.sleep(0.3)  # room for a second copy to show up
    assert len(subscriber.messages) == len(scans)
    assert len({m["event"]["id"] for m in subscriber.messages}) == len(scans)
    assert {m["event"]["data"]["event"]["provenance"]["parser"] for m in subscriber.messages} == {"fedex.track_json"}
    stored = await shipment(client, "fedex", tn)
    assert sorted(s["event_id"] for s in stored["sources"]) == sorted(subscriber.ids)
    assert {s["provenance"]["parser"] for s in stored["sources"]} == {"aftership.json"}
