"""Corrections that correct: replaying stored documents after a mapping fix re-derives their events.

A UPS code the shipped table does not know is mapped by UPS's coarse type
letter; the operator teaches a local overlay (maps_dir) the code, restarts and
replays the done documents. The stored event is rewritten, published again as
`shipment.event.corrected.v1` with the same event_id and revision 2, the
shipment state follows, and the actions stage acts on it like on any change.
Through the HTTP API on both backends.
"""
from __future__ import annotations

import json

import pytest

from service.app import create_app
from service.config import SOURCES, Settings
from service.keys import ACTIONS
from taxonomy.mapping import use_local_tables
from tests.reading import READ_TOKEN, READER
from tests.test_actions import scan
from tests.test_operations import settle

TN = "1Z999AA10123456784"
ADMIN = {"Authorization": "Bearer ops-token"}
CS = {"Authorization": "Bearer cs-token"}
ARRIVED = scan("I", "AR", "Arrived at Facility", 30)
WORMHOLE = scan("X", "ZQ", "Parcel entered a wormhole", 20)


def document(*scans) -> bytes:
    activity = [{"location": {"address": {"city": "ATLANTA", "stateProvince": "GA", "country": "US"}},
                 "status": {"type": t, "code": c, "description": d}, "date": day, "time": clock}
                for t, c, d, day, clock in scans]
    return json.dumps({"trackResponse": {"shipment": [{"inquiryNumber": TN, "package": [
        {"trackingNumber": TN, "activity": activity}]}]}}).encode()


@pytest.fixture(autouse=True)
def shipped_tables_afterwards():
    yield
    use_local_tables(None)  # mapping tables are process-wide


def settings(db: str, maps_dir: str | None = None) -> Settings:
    return Settings(db=db, open_sources=frozenset(SOURCES), admin_token="ops-token", cs_token="cs-token", read_token=READ_TOKEN,
                    maps_dir=maps_dir)


async def feed(client) -> list[dict]:
    return (await (await client.get("/v1/events?after=0&limit=1000", headers=READER)).json())["events"]


async def test_a_replay_after_a_mapping_fix_corrects_the_stored_event(aiohttp_client, tmp_path, db):
    client = await aiohttp_client(create_app(settings(db)))
    assert (await client.post("/webhooks/ups", data=document(ARRIVED, WORMHOLE))).status == 202
    await settle(client)
    await client.app[ACTIONS].act()
    before = await feed(client)
    [original] = [e for e in before if e["data"]["event"]["carrier_code"] == "ZQ"]
    assert (original["data"]["event"]["status"], original["data"]["event"]["exception_class"]) == (
        "exception", "other")  # UPS's type letter X: an exception, nothing more specific
    assert original["revision"] == 1 and original["type"] == "shipment.event.v1"
    await client.close()

    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "ups.toml").write_text('[codes]\n"X:ZQ" = { status = "exception", exception_class = "lost", '
                                   'text = "Parcel entered a wormhole" }\n"ZQ" = { status = "exception", '
                                   'exception_class = "lost", text = "Parcel entered a wormhole" }\n')
    client = await aiohttp_client(create_app(settings(db, str(maps))))
    dry = await client.post("/v1/admin/replay", json={"states": ["done"], "dry_run": True}, headers=ADMIN)
    assert dry.status == 200
    assert (await dry.json())["changes"] == [  # by carrier and code: the arrival scan would not change
        {"carrier": "ups", "carrier_code": "ZQ", "change": "corrected", "events": 1,
         "from": {"status": "exception", "exception_class": "other"},
         "to": {"status": "exception", "exception_class": "lost"}}]
    assert await feed(client) == before  # a dry run changes nothing
    resp = await client.post("/v1/admin/replay", json={"states": ["done"], "source": "ups"}, headers=ADMIN)
    assert resp.status == 202 and (await resp.json())["count"] == 1
    await settle(client)
    after = await feed(client)
    [correction] = after[len(before):]  # the unchanged scan is not published again
    event_id = original["data"]["event"]["event_id"]
    assert (correction["type"], correction["id"], correction["revision"]) == (
        "shipment.event.corrected.v1", f"{event_id}-r2", 2)
    assert correction["data"]["event"]["event_id"] == event_id
    assert (correction["data"]["event"]["exception_class"], correction["data"]["shipment"]["exception_class"]) == (
        "lost", "lost")
    shipment = await (await client.get(f"/v1/shipments/ups/{TN}", headers=READER)).json()
    assert (shipment["status"], shipment["exception_class"]) == ("exception", "lost")
    assert [e["exception_class"] for e in shipment["events"] if e["event_id"] == event_id] == ["lost"]
    assert len(shipment["events"]) == 2
    # the actions stage treats the correction like any change: a lost parcel goes to claims
    await client.app[ACTIONS].act()
    items = (await (await client.get("/v1/escalations", headers=CS)).json())["items"]
    assert ("lost", "cs_claims") in {(e["exception_class"], e["owner_role"]) for e in items}
    # replaying again corrects nothing more
    resp = await client.post("/v1/admin/replay", json={"states": ["done"]}, headers=ADMIN)
    await settle(client)
    assert await feed(client) == after
