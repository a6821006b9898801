"""A carrier's webhook source speaks for that carrier only; aggregators and format channels speak for any.

Through the HTTP API (both stores): a FedEx document posted to `/webhooks/ups`
is accepted (the sender authenticated) but quarantined with the reason and
never applied; the same document on FedEx's own source, or a UPS scan relayed
by EasyPost, is applied. The rule itself is pure (service.core.sources).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from parsers import normalize_document
from service.app import create_app
from service.config import SOURCES, Settings
from service.core import sources
from tests.reading import READ_TOKEN, READER
from tests.settling import normalized

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FEDEX = (FIXTURES / "fedex_track_json" / "delivered_signed_duplicate_scan.json").read_bytes()
FEDEX_TN = "794612378800"
EASYPOST_UPS = (FIXTURES / "easypost_json" / "tracker_delivered_ups.json").read_bytes()
EASYPOST_TN = "1Z4E27W90391846620"
JSON = {"Content-Type": "application/json"}
ADMIN = {"Authorization": "Bearer admin"}


@pytest.fixture
async def client(aiohttp_client, db: str, tmp_path: Path):
    settings = Settings(db=db, admin_token="admin", read_token=READ_TOKEN, open_sources=frozenset(SOURCES), poll=False,
                        notify_file=str(tmp_path / "sent.jsonl"))
    return await aiohttp_client(create_app(settings))


async def settle(client) -> None:
    await normalized(client)


async def test_a_carrier_source_quarantines_another_carriers_document(client):
    resp = await client.post("/webhooks/ups", data=FEDEX, headers=JSON)
    assert resp.status == 202  # authenticated and stored: nothing accepted is lost
    row = (await resp.json())["id"]
    await settle(client)
    dlq = await (await client.get("/v1/admin/dlq", headers=ADMIN)).json()
    [item] = dlq["items"]
    assert item["id"] == row and item["state"] == "quarantined"
    assert item["reason"].startswith("source_mismatch: webhook source ups accepts ups documents only")
    assert "fedex" in item["reason"]
    feed = await (await client.get("/v1/events", headers=READER)).json()
    assert feed["events"] == []  # never applied
    assert (await client.get(f"/v1/shipments/fedex/{FEDEX_TN}", headers=READER)).status == 404

    # The same document on FedEx's own source is applied.
    assert (await client.post("/webhooks/fedex", data=FEDEX, headers=JSON)).status == 202
    await settle(client)
    shipment = await (await client.get(f"/v1/shipments/fedex/{FEDEX_TN}", headers=READER)).json()
    assert shipment["status"] == "delivered"
    # Replaying the misdirected copy changes nothing: the rule holds on replay too.
    assert (await client.post(f"/v1/admin/dlq/{row}/replay", headers=ADMIN)).status == 202
    await settle(client)
    again = await (await client.get("/v1/admin/dlq", headers=ADMIN)).json()
    assert [i["id"] for i in again["items"]] == [row]


async def test_aggregator_and_generic_sources_report_any_carrier(client):
    assert (await client.post("/webhooks/easypost", data=EASYPOST_UPS, headers=JSON)).status == 202
    assert (await client.post("/webhooks/generic", data=FEDEX, headers=JSON)).status == 202
    await settle(client)
    assert (await (await client.get("/v1/admin/dlq", headers=ADMIN)).json())["items"] == []
    ups = await (await client.get(f"/v1/shipments/ups/{EASYPOST_TN}", headers=READER)).json()
    assert ups["carrier"] == "ups" and ups["events"]
    assert (await client.get(f"/v1/shipments/fedex/{FEDEX_TN}", headers=READER)).status == 200


def test_the_rule_reads_the_registry():
    assert sources.bound_carrier("ups") == "ups" and sources.bound_carrier("canadapost") == "canadapost"
    assert {s for s in SOURCES if sources.bound_carrier(s) is None} == {"easypost", "shippo", "aftership",
                                                                        "shipengine", "x12", "generic"}
    fedex = normalize_document(FEDEX, content_type="application/json")
    assert sources.foreign_carriers("ups", fedex) == ["fedex"] and sources.foreign_carriers("fedex", fedex) == []
    quarantined = sources.bind("ups", "webhook", fedex)
    assert not quarantined.ok and quarantined.shipments == [] and quarantined.errors[0].kind == sources.KIND
    assert sources.bind("ups", "poll", fedex) is fedex  # polls ask the carrier's own API
    assert sources.bind("aftership", "webhook", fedex) is fedex
