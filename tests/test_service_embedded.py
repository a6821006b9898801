"""The service in embedded mode (no broker): intake, normalizer, state, feed, admin, shutdown."""
from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from service.app import create_app
from service.config import SOURCES, Settings
from service.keys import COMMITTER, STORE
from tests.docs import ups_track
from tests.reading import READ_TOKEN, READER
from tests.settling import normalized

OPEN = frozenset(SOURCES)  # these tests post unsigned webhooks

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
JSON = {"Content-Type": "application/json"}
TN = "1Z999AA10123456784"


@pytest.fixture
def settings(db: str) -> Settings:
    return Settings(db=db, admin_token="s3cret", open_sources=OPEN, read_token=READ_TOKEN)


@pytest.fixture
async def client(aiohttp_client, settings):
    return await aiohttp_client(create_app(settings))


async def settle(client) -> None:
    """Let the embedded normalizers (the background one and this drain) finish what intake stored."""
    await normalized(client)


async def feed(client, after: int = 0) -> list[dict]:
    events, cursor = [], after
    while True:
        resp = await client.get("/v1/events", params={"after": cursor, "limit": 1000}, headers=READER)
        assert resp.status == 200
        body = await resp.json()
        if not body["events"]:
            return events
        events.extend(body["events"])
        cursor = body["next"]


async def post(client, body: bytes, source: str = "ups", headers: dict | None = None):
    return await client.post(f"/webhooks/{source}", data=body, headers=headers or JSON)


async def test_accepted_document_becomes_events_state_and_feed(client):
    doc = ups_track(TN, [("label", "20260301", "080000"), ("origin", "20260301", "180000"),
                         ("delivered", "20260303", "141500")])
    resp = await post(client, doc)
    assert resp.status == 202
    accepted = await resp.json()
    assert accepted["duplicate"] is False and accepted["id"].isdigit()
    await settle(client)
    events = await feed(client)
    assert [e["data"]["event"]["status"] for e in events] == ["label_created", "picked_up", "delivered"]
    first = events[0]
    assert first["specversion"] == "1.0" and first["type"] == "shipment.event.v1"
    assert first["source"] == "/carriers/ups" and first["subject"] == TN
    assert first["id"] == first["data"]["event"]["event_id"]
    assert first["data"]["event"]["provenance"]["inbox_id"] == accepted["id"]
    assert first["data"]["event"]["provenance"]["channel"] == "webhook"
    assert [e["data"]["shipment"]["status"] for e in events] == ["label_created", "picked_up", "delivered"]
    assert events[-1]["data"]["shipment"]["status_before"] == "picked_up"
    assert events[-1]["data"]["shipment"]["status_changed"] is True
    resp = await client.get(f"/v1/shipments/ups/{TN}", headers=READER)
    shipment = await resp.json()
    assert shipment["status"] == "delivered" and len(shipment["events"]) == 3
    assert shipment["events"][0]["status"] == "delivered"  # newest first


async def test_redelivery_is_recognized_and_changes_nothing(client):
    doc = ups_track(TN, [("origin", "20260301", "180000")])
    answers = [await (await post(client, doc)).json() for _ in range(5)]
    assert len({a["id"] for a in answers}) == 1
    assert [a["duplicate"] for a in answers] == [False, True, True, True, True]
    await settle(client)
    assert len(await feed(client)) == 1


async def test_same_scan_by_two_routes_is_one_event(client):
    scan = [("arrived", "20260302", "031500")]
    await post(client, ups_track(TN, scan))
    # Byte-different document (another source, extra scan, other formatting) carrying the same scan.
    other = orjson.loads(ups_track(TN, scan + [("out", "20260302", "090000")]))
    await post(client, orjson.dumps(other, option=orjson.OPT_INDENT_2), source="generic")
    await settle(client)
    events = await feed(client)
    assert sorted(e["data"]["event"]["status"] for e in events) == ["in_transit", "out_for_delivery"]
    assert len({e["id"] for e in events}) == len(events)


async def test_events_out_of_order_never_publish_a_regression(client):
    await post(client, ups_track(TN, [("delivered", "20260303", "141500")]))
    await settle(client)
    await post(client, ups_track(TN, [("origin", "20260301", "180000"), ("out", "20260303", "080000")]))
    await settle(client)
    events = await feed(client)
    assert len(events) == 3
    late = events[1:]
    assert all(e["data"]["shipment"]["status"] == "delivered" for e in late)
    assert all(e["data"]["shipment"]["status_changed"] is False for e in late)
    shipment = await (await client.get(f"/v1/shipments/ups/{TN}", headers=READER)).json()
    assert shipment["status"] == "delivered"
    assert [e["status"] for e in shipment["events"]] == ["delivered", "out_for_delivery", "picked_up"]


async def test_later_exception_after_delivery_is_an_anomaly_not_a_regression(client):
    await post(client, ups_track(TN, [("delivered", "20260303", "141500")]))
    await settle(client)  # the delivery is stored; then the exception arrives
    await post(client, ups_track(TN, [("weather", "20260304", "090000")]))
    await settle(client)
    events = await feed(client)
    assert events[-1]["data"]["shipment"] == {
        "carrier": "ups", "tracking_number": TN, "status_before": "delivered", "status": "delivered",
        "exception_class": None, "status_changed": False, "anomaly": True,
        "tracking_url": f"https://www.ups.com/track?tracknum={TN}"}
    shipment = await (await client.get(f"/v1/shipments/ups/{TN}", headers=READER)).json()
    assert shipment["status"] == "delivered" and shipment["anomalies"] == [events[-1]["id"]]
    assert shipment["tracking_url"] == f"https://www.ups.com/track?tracknum={TN}"


@pytest.mark.parametrize("body", [
    b"{not json",
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
    b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>',
    b"[" * 5000 + b"]" * 5000,
    b"\x00\xff\xfe garbage",
], ids=["malformed-json", "xxe", "entity-bomb", "deep-nesting", "binary"])
async def test_bad_content_is_accepted_and_quarantined_with_a_reason(client, body):
    resp = await post(client, body, source="generic", headers={"Content-Type": "application/octet-stream"})
    assert resp.status == 202
    row_id = (await resp.json())["id"]
    await settle(client)
    dlq = await (await client.get("/v1/admin/dlq", headers={"Authorization": "Bearer s3cret"})).json()
    assert [(i["id"], i["state"]) for i in dlq["items"]] == [(row_id, "quarantined")]
    assert dlq["items"][0]["reason"]
    assert await feed(client) == []


async def test_replay_after_quarantine_goes_through_the_normalizer_again(client):
    body = b'{"nothing": "a parser can read"}'
    row_id = (await (await post(client, body, source="generic")).json())["id"]
    await settle(client)
    admin = {"Authorization": "Bearer s3cret"}
    assert (await client.post(f"/v1/admin/dlq/{row_id}/replay")).status == 401
    resp = await client.post(f"/v1/admin/dlq/{row_id}/replay", headers=admin)
    assert resp.status == 202 and (await resp.json())["state"] == "pending"  # the normalizer may take it at once
    await settle(client)
    assert (await client.app[STORE].inbox_rows([int(row_id)]))[0].state == "quarantined"  # still unreadable
    assert (await client.post("/v1/admin/dlq/999999/replay", headers=admin)).status == 404


async def test_protocol_violations_get_clear_errors_and_store_nothing(aiohttp_client, tmp_path):
    client = await aiohttp_client(create_app(Settings(db=str(tmp_path / "x.db"), max_body_bytes=1000, open_sources=OPEN)))
    cases = [
        (await post(client, b"{}", source="nosuchcarrier"), 404),
        (await post(client, b"{}", headers={"Content-Type": "text/html"}), 415),
        (await post(client, b"{" + b" " * 2000 + b"}"), 413),
        (await post(client, b""), 400),
    ]
    for resp, status in cases:
        assert resp.status == status
        assert "error" in await resp.json()
    assert (await client.app[STORE].counts()).get("inbox_pending", 0) == 0
    assert (await client.get("/v1/admin/dlq")).status == 403  # no admin token configured


async def test_concurrent_requests_share_commits(client):
    docs = [ups_track(f"1ZCONC{i:012d}", [("origin", "20260301", "180000")]) for i in range(60)]
    answers = await asyncio.gather(*(post(client, d) for d in docs))
    assert all(a.status == 202 for a in answers)
    ids = {(await a.json())["id"] for a in answers}
    assert len(ids) == 60
    assert client.app[COMMITTER].batches < 60


async def test_feed_cursor_and_limits(client):
    for i in range(3):
        await post(client, ups_track(f"1ZFEED{i:012d}", [("origin", "20260301", "180000")]))
    await settle(client)
    first = await (await client.get("/v1/events", params={"limit": 2}, headers=READER)).json()
    assert len(first["events"]) == 2
    rest = await (await client.get("/v1/events", params={"after": first["next"]}, headers=READER)).json()
    assert len(rest["events"]) == 1 and rest["events"][0]["id"] not in {e["id"] for e in first["events"]}
    assert (await client.get("/v1/events", params={"after": "x"}, headers=READER)).status == 400
    assert (await client.get("/v1/shipments/ups/NOPE", headers=READER)).status == 404


async def test_health_and_readiness(client):
    assert (await (await client.get("/healthz")).json()) == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status == 200 and (await ready.json())["broker"] == "n/a"


async def test_shutdown_drains_what_was_accepted(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings))
    for i in range(20):
        assert (await post(client, ups_track(f"1ZDRAIN{i:011d}", [("origin", "20260301", "180000")]))).status == 202
    await client.close()  # cleanup_ctx: commit, drain the normalizer, close the store
    reopened = await aiohttp_client(create_app(settings))
    assert len(await feed(reopened)) == 20
    assert (await reopened.app[STORE].counts()).get("inbox_pending", 0) == 0


def test_event_data_is_the_contract_serialization():
    """The hand-built JSON equals pydantic's for every fixture event (and odd offsets and microseconds)."""
    from datetime import datetime, timedelta, timezone
    from zoneinfo import ZoneInfo

    from parsers import normalize_document
    from service.cloudevents import event_data
    from taxonomy import Channel
    from tests.goldens import payloads

    received = [datetime(2026, 1, 1, 1, 2, 3, 456789, tzinfo=timezone.utc),
                datetime(2026, 1, 1, 1, 2, 3, tzinfo=ZoneInfo("Europe/London")),
                datetime(2026, 7, 1, 1, 2, 3, tzinfo=timezone(timedelta(hours=-4)))]
    checked = 0
    for i, path in enumerate(payloads()):
        outcome = normalize_document(path.read_bytes(), channel=Channel.WEBHOOK, inbox_id=str(i),
                                     received_at=received[i % 3])
        for shipment in outcome.shipments:
            for event in shipment.events:
                assert event_data(event) == event.model_dump(mode="json"), path
                checked += 1
    assert checked > 100


async def test_two_normalizers_sharing_the_store_split_the_work(aiohttp_client, db):
    from service.normalizer import EmbeddedNormalizer
    from service.store import open_store

    settings = Settings(db=db, in_process_normalizer=False, open_sources=OPEN, read_token=READ_TOKEN)
    client = await aiohttp_client(create_app(settings))
    for i in range(120):
        assert (await post(client, ups_track(f"1ZSPLIT{i:011d}", [("origin", "20260301", "180000")]))).status == 202
    stores = [open_store(settings.db), open_store(settings.db)]
    for s in stores:
        await s.open()
    workers = [EmbeddedNormalizer(s, asyncio.Event(), batch=8) for s in stores]
    try:
        await asyncio.gather(*(w.drain() for w in workers))
    finally:
        for s in stores:
            await s.close()
    assert sum(w.processed for w in workers) == 120  # every row once: claims keep them apart
    assert all(w.processed > 0 for w in workers)
    events = await feed(client)
    assert len(events) == len({e["id"] for e in events}) == 120


async def test_worker_command_runs_until_told_to_stop(db):
    from service.worker import run_embedded_worker

    settings = Settings(db=db, open_sources=OPEN, read_token=READ_TOKEN)
    stop = asyncio.Event()
    task = asyncio.create_task(run_embedded_worker(settings, stop))
    await asyncio.sleep(0.2)
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, timeout=10)


async def test_oversized_chunked_body_without_length_is_refused(aiohttp_client, tmp_path):
    client = await aiohttp_client(create_app(
        Settings(db=str(tmp_path / "c.db"), max_body_bytes=1000, open_sources=OPEN)))

    async def chunks():
        for _ in range(10):
            yield b" " * 500

    resp = await client.post("/webhooks/ups", data=chunks(), headers=JSON)
    assert resp.status == 413
    assert (await client.app[STORE].counts()).get("inbox_pending", 0) == 0


async def test_a_document_that_breaks_the_transaction_is_retried_then_dead(client, monkeypatch):
    from service.core import apply

    real = apply._plan_shipment

    def broken(plan, shipment, *more, **options):
        if shipment.tracking_number == "1ZPOISON0000000001":
            raise RuntimeError("simulated defect")
        return real(plan, shipment, *more, **options)

    monkeypatch.setattr(apply, "_plan_shipment", broken)
    good = ups_track(TN, [("origin", "20260301", "180000")])
    poison = ups_track("1ZPOISON0000000001", [("origin", "20260301", "180000")])
    poison_id = (await (await post(client, poison)).json())["id"]
    await post(client, good)
    for _ in range(10):
        await settle(client)
        row = (await client.app[STORE].inbox_rows([int(poison_id)]))[0]
        if row.state == "dead":
            break
    assert row.state == "dead" and row.attempts == 5 and "simulated defect" in row.reason
    assert [e["subject"] for e in await feed(client)] == [TN]  # the good document was not held back
    dlq = await (await client.get("/v1/admin/dlq", headers={"Authorization": "Bearer s3cret"})).json()
    assert [i["id"] for i in dlq["items"]] == [poison_id]


async def test_a_failing_store_answers_503_with_retry_after_and_recovers(client, monkeypatch):
    store = client.app[STORE]
    real = store.accept

    async def disk_full(items):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "accept", disk_full)
    resp = await post(client, ups_track(TN, [("origin", "20260301", "180000")]))
    assert resp.status == 503 and resp.headers["Retry-After"] == "5"
    assert "retry" in (await resp.json())["error"]
    monkeypatch.setattr(store, "accept", real)
    assert (await post(client, ups_track(TN, [("origin", "20260301", "180000")]))).status == 202


async def test_a_failing_store_on_reads_is_503_not_500(client, monkeypatch):
    from service.store import StoreUnavailable

    async def locked(*args):
        raise StoreUnavailable("OperationalError: database is locked")

    monkeypatch.setattr(client.app[STORE], "events_after", locked)
    resp = await client.get("/v1/events", headers=READER)
    assert resp.status == 503 and resp.headers["Retry-After"] == "5"


def test_store_timestamps_are_utc_whatever_the_machine_zone(monkeypatch):
    import time
    from datetime import datetime, timezone

    from service.store.sqlite import apply, store

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        expected = datetime.now(timezone.utc).replace(microsecond=0)
        for stamp in (apply._now(), store._now()):
            assert abs((datetime.fromisoformat(stamp) - expected).total_seconds()) <= 2
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_settings_from_environment_and_flags():
    env = {"CARRIER_EVENTS_PORT": "9090", "CARRIER_EVENTS_IN_PROCESS_NORMALIZER": "0",
           "CARRIER_EVENTS_RETRY_DELAYS_MS": "100,200", "CARRIER_EVENTS_SECRET_UPS": "k1"}
    settings = Settings.from_env(env, port=None, db="/tmp/x.db")
    assert (settings.port, settings.in_process_normalizer, settings.retry_delays_ms) == (9090, False, (100, 200))
    assert settings.db == "/tmp/x.db" and settings.secrets == {"ups": ("k1",)}
    with pytest.raises(ValueError):
        Settings.from_env({"CARRIER_EVENTS_SQLITE_SYNCHRONOUS": "FULL; DROP TABLE inbox"})
