"""Bounded work and clocks, end to end on both stores (the `db` fixture).

A large document is applied in parts and ends as one document would; the
sweep stores its derived events in bounded transactions; a `stalled` dated
by a clock running ahead is superseded by the next real scan; /metrics stays
small whatever carriers generic documents name.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
import pytest

import service.actions.engine as engine_module
from bench.documents import many_scans
from service.app import create_app
from service.config import SOURCES, Settings
from service.core import apply as core
from service.keys import ACTIONS, STORE
from tests.backend import feed_of
from tests.reading import READ_TOKEN, READER
from tests.test_actions import TN, settle, ups

ARRIVED = ("I", "AR", "Arrived at Facility", "20260310", "080000")  # Atlanta wall time, as UPS reports it


@pytest.fixture
def settings(tmp_path, db: str) -> Settings:
    return Settings(db=db, open_sources=frozenset(SOURCES), cs_token="cs-token", read_token=READ_TOKEN,
                    notify_file=str(tmp_path / "notifications.jsonl"))


@pytest.fixture
async def client(aiohttp_client, settings):
    return await aiohttp_client(create_app(settings))


async def _post(client, body: bytes, source: str = "ups") -> None:
    assert (await client.post(f"/webhooks/{source}", data=body)).status == 202
    await settle(client)


async def _shipment(client, tn: str = TN) -> dict:
    return await (await client.get(f"/v1/shipments/ups/{tn}", headers=READER)).json()


async def test_a_large_document_is_applied_in_parts_and_ends_as_one(client, settings, monkeypatch):
    monkeypatch.setattr(core, "PART_EVENTS", 100)
    store = client.app[STORE]
    calls: list[int] = []
    apply = store.apply

    async def counting(results, *args, **kwargs):
        calls.append(sum(len(s.events) for r in results if not isinstance(r[1], str) for s in r[1].shipments))
        return await apply(results, *args, **kwargs)

    monkeypatch.setattr(store, "apply", counting)
    await _post(client, many_scans(450, tn=TN))
    assert max(calls) <= 100 and sum(calls) == 450  # five transactions of at most 100 events
    shipment = await _shipment(client)
    assert shipment["status"] == "in_transit" and len(shipment["events"]) == 450
    feed = await feed_of(settings.db)
    assert len(feed) == 450 and len({e["id"] for e in feed}) == 450
    await _post(client, many_scans(450, tn=TN))  # the same document again: nothing new
    assert len(await feed_of(settings.db)) == 450


async def test_the_sweep_stores_derived_events_in_bounded_transactions(client, monkeypatch):
    monkeypatch.setattr(engine_module, "SWEEP_BATCH", 2)
    numbers = [f"1Z999AA1012345678{i}" for i in range(5)]
    for tn in numbers:
        assert (await client.post("/webhooks/ups", data=ups(tn, [ARRIVED]))).status == 202
    await settle(client)
    store = client.app[STORE]
    sizes: list[int] = []
    apply_derived = store.apply_derived

    async def counting(shipments):
        sizes.append(len(shipments))
        return await apply_derived(shipments)

    monkeypatch.setattr(store, "apply_derived", counting)
    later = datetime(2026, 3, 10, 13, tzinfo=timezone.utc) + timedelta(hours=73)
    assert await client.app[ACTIONS].sweep(now=later) == 5
    assert sizes == [2, 2, 1]


async def test_a_stalled_dated_by_a_clock_ahead_is_superseded_by_the_next_real_scan(client, settings):
    await _post(client, ups(TN, [ARRIVED]))  # 2026-03-10 08:00 Atlanta
    engine = client.app[ACTIONS]
    clock_ahead = datetime(2026, 3, 14, 14, tzinfo=timezone.utc)  # the true time is 2026-03-10 14:00
    assert await engine.sweep(now=clock_ahead) == 1
    await settle(client)
    stalled = await _shipment(client)
    assert (stalled["status"], stalled["exception_class"]) == ("exception", "stalled")
    derived_at = datetime.fromisoformat(stalled["events"][0]["occurred_at"].replace("Z", "+00:00"))
    assert derived_at <= clock_ahead  # never after the clock that derived it
    # The clock is fixed; the carrier's next scan is dated before the derived event
    departed = ("I", "DP", "Departed from Facility", "20260311", "060000")
    assert datetime(2026, 3, 11, 11, tzinfo=timezone.utc) < derived_at
    await _post(client, ups(TN, [ARRIVED, departed]))
    after = await _shipment(client)
    assert (after["status"], after["exception_class"]) == ("in_transit", None)
    assert {e["exception_class"] for e in after["events"]} >= {"stalled"}  # kept as history
    last = (await feed_of(settings.db))[-1]["data"]
    assert (last["shipment"]["status_before"], last["shipment"]["status"]) == ("exception", "in_transit")
    # The sweep, clock right, sees a shipment scanned an hour ago: nothing to derive
    assert await engine.sweep(now=datetime(2026, 3, 11, 12, tzinfo=timezone.utc)) == 0


async def test_metrics_stay_small_whatever_carriers_generic_documents_name(client, settings):
    before = len(await (await client.get("/metrics")).read())
    doc = orjson.dumps({"shipments": [{"carrier": f"madeup{i}", "tracking_number": f"MU{i:08d}X", "events": [
        {"timestamp": "2026-03-10T08:00:00Z", "status": "in_transit", "description": "Arrived at facility"}]}
        for i in range(5_000)]})
    await _post(client, doc, "generic")
    text = (await (await client.get("/metrics")).read()).decode()
    assert "madeup" not in text
    assert len(text) - before < 20_000  # a few new series (carrier="other"), not 5,000 of each
    feed = await feed_of(settings.db)
    assert len({e["data"]["event"]["carrier"] for e in feed if e["data"]["event"]["carrier"].startswith("madeup")}) \
        == 5_000  # the events keep the carrier as the document named it


async def test_unknown_codes_worklist_stays_bounded_whatever_codes_documents_invent(client, settings):
    from service.cardinality import UNMAPPED_CODES_PER_TABLE, UNMAPPED_OVERFLOW

    invented = UNMAPPED_CODES_PER_TABLE + 150
    scans = [("I", f"Q{i:05d}" + "x" * 300, "Processed at facility", "20260310",
              f"{i // 3600 % 24:02d}{i // 60 % 60:02d}{i % 60:02d}") for i in range(invented)]
    await _post(client, ups("1ZUNMAPPED0000001", scans))
    ups_rows = [i for i in await client.app[STORE].unmapped(5000) if i["mapping_table"] == "ups"]
    assert len(ups_rows) == UNMAPPED_CODES_PER_TABLE + 1  # the table's bound, plus the overflow row
    overflow = next(i for i in ups_rows if i["code"] == UNMAPPED_OVERFLOW)
    assert overflow["count"] == invented - UNMAPPED_CODES_PER_TABLE  # every further code still counted
    assert max(len(i["code"]) for i in ups_rows) <= 120
