"""Operations: metrics after a scripted mix, unknown codes listed, replay after a mapping fix, JSON logs."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from service.config import SOURCES, Settings
from service.logs import JsonLines
from taxonomy.mapping import use_local_tables
from tests.docs import ups_track
from tests.reading import READ_TOKEN, READER
from tests.settling import normalized

ROOT = Path(__file__).resolve().parent.parent
OPEN = frozenset(SOURCES)
ADMIN = {"Authorization": "Bearer ops-token"}
TN = "1Z999AA10123456784"
WORMHOLE = json.dumps({"trackResponse": {"shipment": [{"inquiryNumber": TN, "package": [{
    "trackingNumber": TN, "activity": [{
        "location": {"address": {"city": "ATLANTA", "stateProvince": "GA", "country": "US"}},
        "status": {"type": "Z", "code": "ZQ", "description": "Parcel entered a wormhole"},
        "date": "20240311", "time": "101500"}]}]}]}}).encode()


@pytest.fixture(autouse=True)
def shipped_tables_afterwards():
    yield
    use_local_tables(None)  # mapping tables are process-wide: leave the shipped ones for other tests


async def settle(client) -> None:
    await normalized(client)


async def scrape(client) -> dict[tuple[str, tuple], float]:
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(await resp.text()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def delta(after: dict, before: dict, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_metrics_move_as_a_scripted_mix_goes_through(aiohttp_client, db):
    settings = Settings(db=db, open_sources=OPEN - {"usps"}, admin_token="ops-token", read_token=READ_TOKEN)
    client = await aiohttp_client(create_app(settings))
    before = await scrape(client)
    good = ups_track(TN, [("origin", "20240310", "080000"), ("arrived", "20240310", "200000")])
    assert (await client.post("/webhooks/ups", data=good)).status == 202
    assert (await (await client.post("/webhooks/ups", data=good)).json())["duplicate"] is True
    assert (await client.post("/webhooks/ups", data=WORMHOLE)).status == 202  # an unknown code
    assert (await client.post("/webhooks/fedex", data=b'{"output": [truncated')).status == 202  # malformed
    assert (await client.post("/webhooks/usps", data=b"{}")).status == 401  # not open, no secret
    assert (await client.post("/webhooks/nosuch", data=b"{}")).status == 404
    await settle(client)
    after = await scrape(client)
    m = "carrier_events_webhooks_total"
    assert delta(after, before, m, source="ups", outcome="accepted") == 2
    assert delta(after, before, m, source="ups", outcome="duplicate") == 1
    assert delta(after, before, m, source="fedex", outcome="accepted") == 1
    assert delta(after, before, m, source="usps", outcome="unauthenticated") == 1
    assert delta(after, before, m, source="unknown", outcome="unknown_source") == 1
    assert delta(after, before, "carrier_events_duplicates_dropped_total", kind="webhook") == 1
    d = "carrier_events_documents_total"
    assert delta(after, before, d, carrier="ups", parser="ups.track_json", result="normalized", fallback="0") == 2
    quarantined = sum(v - before.get(k, 0.0) for k, v in after.items()
                      if k[0] == d and ("result", "quarantined") in k[1])
    assert quarantined == 1
    assert delta(after, before, "carrier_events_unmapped_codes_total", carrier="ups") == 1
    ups_events = sum(v - before.get(k, 0.0) for k, v in after.items()
                     if k[0] == "carrier_events_events_total" and ("carrier", "ups") in k[1])
    assert ups_events == 3
    assert delta(after, before, "carrier_events_events_total", carrier="ups", status="unknown") == 1
    assert delta(after, before, "carrier_events_event_lag_seconds_count", path="committed") == 2
    assert delta(after, before, "carrier_events_carrier_lag_seconds_count", carrier="ups") == 3
    assert after[("carrier_events_dlq_documents", (("state", "quarantined"),))] == 1
    assert after[("carrier_events_backlog", (("queue", "inbox_pending"),))] == 0
    assert after[("carrier_events_stored_events", ())] == 3
    # a redelivery of a scan already stored counts as a dropped event duplicate
    again = ups_track(TN, [("arrived", "20240310", "200000"), ("out", "20240311", "070000")])
    await client.post("/webhooks/ups", data=again)
    await settle(client)
    final = await scrape(client)
    assert delta(final, after, "carrier_events_duplicates_dropped_total", kind="event") == 1
    assert delta(final, after, "carrier_events_events_total", carrier="ups", status="out_for_delivery") == 1


async def test_unknown_codes_are_listed_for_the_mapping_tables(aiohttp_client, db):
    client = await aiohttp_client(create_app(Settings(db=db, open_sources=OPEN, read_token=READ_TOKEN,
                                                      admin_token="ops-token")))
    for i in range(3):  # three documents with the same unknown code (distinct bodies)
        await client.post("/webhooks/ups", data=WORMHOLE + b" " * i)
    await settle(client)
    assert (await client.get("/v1/admin/unmapped")).status == 401
    items = (await (await client.get("/v1/admin/unmapped", headers=ADMIN)).json())["items"]
    wormhole = [i for i in items if "ZQ" in i["code"]]
    assert len(wormhole) == 1 and wormhole[0]["mapping_table"] == "ups"
    assert wormhole[0]["count"] == 3 and wormhole[0]["sample_description"] == "Parcel entered a wormhole"


async def test_replay_after_a_mapping_fix_publishes_the_event_once(aiohttp_client, tmp_path, db):
    maps = tmp_path / "maps"
    maps.mkdir()
    strict = Settings(db=db, open_sources=OPEN, admin_token="ops-token", quarantine_unmapped=True,
                      read_token=READ_TOKEN)
    client = await aiohttp_client(create_app(strict))
    row = (await (await client.post("/webhooks/ups", data=WORMHOLE)).json())["id"]
    await settle(client)
    dlq = (await (await client.get("/v1/admin/dlq", headers=ADMIN)).json())["items"]
    assert [(d["id"], d["state"]) for d in dlq] == [(row, "quarantined")]
    assert "no mapping for ups ZQ 'Parcel entered a wormhole'" in dlq[0]["reason"]
    assert await feed_events(client) == []
    await client.close()

    # the operator teaches the table the code and restarts with the local tables
    (maps / "ups.toml").write_text('[codes]\n"Z:ZQ" = { status = "exception", exception_class = "lost", '
                                   'text = "Parcel entered a wormhole" }\n"ZQ" = { status = "exception", '
                                   'exception_class = "lost", text = "Parcel entered a wormhole" }\n')
    fixed = Settings(db=db, open_sources=OPEN, admin_token="ops-token", quarantine_unmapped=True, read_token=READ_TOKEN,
                     maps_dir=str(maps))
    client = await aiohttp_client(create_app(fixed))
    dry = await client.post("/v1/admin/replay", json={"reason": "no mapping", "dry_run": True}, headers=ADMIN)
    assert (dry.status, (await dry.json())["ids"]) == (200, [row])
    resp = await client.post("/v1/admin/replay", json={"reason": "no mapping", "source": "ups"}, headers=ADMIN)
    assert resp.status == 202 and (await resp.json())["count"] == 1
    await settle(client)
    events = await feed_events(client)
    assert [(e["data"]["event"]["status"], e["data"]["event"]["exception_class"]) for e in events] == [
        ("exception", "lost")]
    # a second replay (done documents too) publishes nothing new
    resp = await client.post("/v1/admin/replay", json={"states": ["quarantined", "dead", "done"]}, headers=ADMIN)
    assert (await resp.json())["count"] == 1
    await settle(client)
    assert await feed_events(client) == events
    bad = await client.post("/v1/admin/replay", json={"states": ["pending"]}, headers=ADMIN)
    assert bad.status == 422 and "states" in (await bad.json())["error"]
    for body, field in (({"since": "yesterday"}, "since"), ({"dry_run": "false"}, "dry_run"), ({"limit": True}, "limit"),
                        ({"states": 5}, "states"), ({"carrier": "fedx"}, "carrier")):
        refused = await client.post("/v1/admin/replay", json=body, headers=ADMIN)
        problem = await refused.json()
        assert refused.status == 422 and refused.content_type == "application/problem+json", body
        assert [e["field"] for e in problem["errors"]][:1] == [f"body.{field}"], problem


async def feed_events(client) -> list[dict]:
    return (await (await client.get("/v1/events?after=0&limit=1000", headers=READER)).json())["events"]


def test_replay_command_marks_documents_and_a_broken_local_table_stops_the_start(tmp_path, db):
    import asyncio

    from service.store import Incoming, open_store

    async def seed() -> None:
        store = open_store(db)
        await store.open()
        accepted = await store.accept([Incoming("ups", b"not a document", "application/json", {})])
        await store.mark([accepted[0].id], "quarantined", "unparseable: nothing here")
        await store.close()

    asyncio.run(seed())
    run = [sys.executable, "-m", "service", "replay", "--db", db]
    dry = subprocess.run([*run, "--dry-run", "--reason", "unparseable"], capture_output=True, text=True, cwd=ROOT)
    assert dry.returncode == 0 and json.loads(dry.stdout) == {"count": 1, "ids": ["1"], "dry_run": True,
                                                       "changes": []}
    miss = subprocess.run([*run, "--source", "fedex"], capture_output=True, text=True, cwd=ROOT)
    assert json.loads(miss.stdout)["count"] == 0
    real = subprocess.run([*run, "--since", "2000-01-01"], capture_output=True, text=True, cwd=ROOT)
    assert json.loads(real.stdout) == {"count": 1, "ids": ["1"], "dry_run": False, "changes": None}
    bad = subprocess.run([*run, "--state", "pending"], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "states" in bad.stderr

    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "ups.toml").write_text('[codes]\n"ZQ" = { status = "teleported" }\n')
    env = {"CARRIER_EVENTS_MAPS_DIR": str(maps), "CARRIER_EVENTS_DB": str(db), "PATH": "/usr/bin:/bin"}
    serve = subprocess.run([sys.executable, "-m", "service", "serve", "--port", "0"], capture_output=True,
                           text=True, cwd=ROOT, env=env, timeout=30)
    assert serve.returncode == 2 and "teleported" in serve.stderr


def test_json_log_lines_carry_request_id_trace_ids_and_are_masked():
    from opentelemetry.sdk.trace import TracerProvider

    from service.logs import request_id
    from service.logmask import MaskSensitive

    tracer = TracerProvider().get_tracer("test")
    token = request_id.set("req-42")
    try:
        with tracer.start_as_current_span("webhook.receive") as span:
            record = logging.LogRecord("service", logging.WARNING, __file__, 1, "refused %s", (
                {"fdx-signature": "c2VjcmV0", "signed_by": "JANE ROE"},), None)
            MaskSensitive().filter(record)
            line = json.loads(JsonLines().format(record))
            context = span.get_span_context()
    finally:
        request_id.reset(token)
    assert line["request_id"] == "req-42" and line["level"] == "warning" and line["logger"] == "service"
    assert line["trace_id"] == format(context.trace_id, "032x") and line["span_id"] == format(context.span_id, "016x")
    assert "c2VjcmV0" not in line["message"] and "JANE ROE" not in line["message"]


async def test_every_response_has_a_request_id(aiohttp_client, tmp_path):
    client = await aiohttp_client(create_app(Settings(db=str(tmp_path / "i.db"))))
    assert (await client.get("/healthz", headers={"X-Request-Id": "abc"})).headers["X-Request-Id"] == "abc"
    assert len((await client.get("/healthz")).headers["X-Request-Id"]) == 16


async def test_unknown_paths_and_methods_get_json_errors(aiohttp_client, tmp_path):
    client = await aiohttp_client(create_app(Settings(db=str(tmp_path / "j.db"))))
    missing = await client.get("/no/such/thing")
    assert missing.status == 404 and "no such resource" in (await missing.json())["error"]
    wrong = await client.put("/webhooks/ups", data=b"{}")
    assert wrong.status == 405 and wrong.headers["Allow"] == "POST" and "error" in await wrong.json()
    expect = await client.post("/webhooks/ups", data=b"{}", headers={"Expect": "something-else"})
    assert expect.status == 417 and "Expect" in (await expect.json())["error"]
