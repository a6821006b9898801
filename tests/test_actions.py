"""Exception workflows in embedded mode: policy, escalations, notifications, derived exceptions, the CS API.

Carrier documents go in through the webhook intake and the real normalizer;
the actions stage runs as in `serve`. Deliveries go through the real file
channel (notifications.jsonl in the test's folder). RabbitMQ-mode scenarios
are in test_actions_amqp.py.
"""
from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from service.actions.policy import PolicyError, load_policy
from service.app import create_app
from service.config import SOURCES, Settings
from service.keys import ACTIONS, STORE
from service.signatures import StandardWebhooks
from tests.backend import execute
from tests.reading import READ_TOKEN, READER
from tests.settling import normalized

TN = "1Z999AA10123456784"
CS = {"Authorization": "Bearer cs-token"}
API = {"Authorization": "Bearer api-token"}


def ups(tn: str, scans: list[tuple[str, str, str, str, str]]) -> bytes:
    """A Track API document; scans are (type, code, description, yyyymmdd, hhmmss)."""
    activity = [{"location": {"address": {"city": "ATLANTA", "stateProvince": "GA", "country": "US"}},
                 "status": {"type": t, "code": c, "description": d}, "date": day, "time": clock}
                for t, c, d, day, clock in scans]
    return json.dumps({"trackResponse": {"shipment": [{"inquiryNumber": tn, "package": [
        {"trackingNumber": tn, "activity": activity}]}]}}).encode()


NOW = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
ATLANTA = ZoneInfo("America/New_York")


def scan(kind: str, code: str, text: str, hours_ago: float) -> tuple[str, str, str, str, str]:
    """A scan `hours_ago` before this hour, in Atlanta wall time as UPS reports it: fresh news to the policy."""
    local = (NOW - timedelta(hours=hours_ago)).astimezone(ATLANTA)
    return kind, code, text, local.strftime("%Y%m%d"), local.strftime("%H%M%S")


def occurred(hours_ago: float) -> datetime:
    return NOW - timedelta(hours=hours_ago)


ARRIVED = scan("I", "AR", "Arrived at Facility", 60)
WEATHER = scan("X", "7W", "Severe weather conditions have delayed delivery.", 40)
DELIVERED = scan("D", "FS", "Delivered", 20)
LOST = scan("X", "AJ", "Merchandise is missing. UPS will notify the sender with additional details.", 39)
ATTEMPT = scan("X", "48", "The receiver was not available for delivery. We'll make a second attempt the next "
               "business day.", 38)


@pytest.fixture
def settings(tmp_path: Path, db: str) -> Settings:
    return Settings(db=db, open_sources=frozenset(SOURCES), cs_token="cs-token", read_token=READ_TOKEN,
                    api_token="api-token", notify_file=str(tmp_path / "notifications.jsonl"))


@pytest.fixture
async def client(aiohttp_client, settings):
    return await aiohttp_client(create_app(settings))


async def settle(client) -> None:
    """Normalize what intake stored, then run the actions stage over the new events and send what is due."""
    await normalized(client, tries=200)
    engine = client.app[ACTIONS]
    await engine.act()
    await engine.send_due()
    for _ in range(200):  # the stage's own loop may hold a notification it is sending right now
        if not any(n["state"] == "pending" for n in await client.app[STORE].notifications_for("ups", TN)):
            return
        await asyncio.sleep(0.01)
        await engine.send_due()


async def post(client, body: bytes) -> None:
    assert (await client.post("/webhooks/ups", data=body)).status == 202
    await settle(client)


async def register(client, tn: str = TN, **customer) -> None:
    body = {"tracking_number": tn, "carrier": "ups", "order_id": "SO-7", "locale": "en",
            "customer": customer or {"name": "Ada Lovelace", "email": "ada@example.com"}}
    assert (await client.post("/v1/trackings", json=body, headers=API)).status in (200, 201)


async def escalations(client, **filters) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    return (await (await client.get(f"/v1/escalations?{query}", headers=CS)).json())["items"]


def sent(settings: Settings) -> list[dict]:
    path = Path(settings.notify_file)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_a_lost_parcel_escalates_to_claims_once_without_customer_spam(client, settings):
    await register(client)
    await post(client, ups(TN, [ARRIVED]))
    await post(client, ups(TN, [ARRIVED, LOST]))
    items = await escalations(client)
    assert [(e["exception_class"], e["owner_role"], e["severity"], e["state"]) for e in items] == [
        ("lost", "cs_claims", "high", "open")]
    created, due = (datetime.fromisoformat(items[0][k]) for k in ("created_at", "sla_due_at"))
    assert due - created == timedelta(hours=24)
    assert [n["template"] for n in sent(settings)] == []  # the customer is not told "lost" by a robot


async def test_a_weather_delay_notifies_once_and_is_resolved_by_the_delivery(client, settings):
    await register(client)
    await post(client, ups(TN, [ARRIVED]))
    await post(client, ups(TN, [ARRIVED, WEATHER]))
    notes = sent(settings)
    assert [(n["template"], n["recipient"]["email"]) for n in notes] == [("delay", "ada@example.com")]
    assert "weather" in notes[0]["text"].lower()
    [waiting] = await escalations(client)
    assert (waiting["exception_class"], waiting["state"]) == ("weather_delay", "waiting")  # CS only if it lasts
    await post(client, ups(TN, [ARRIVED, WEATHER, DELIVERED]))
    detail = await (await client.get(f"/v1/escalations/{waiting['id']}", headers=CS)).json()
    assert detail["state"] == "resolved" and detail["audit"][-1]["actor"] == "policy"
    assert "delivered event" in detail["audit"][-1]["detail"]
    assert [n["template"] for n in sent(settings)] == ["delay", "delivered"]


async def test_an_attempted_delivery_notification_carries_the_carriers_next_step(client, settings):
    await register(client)
    await post(client, ups(TN, [ARRIVED, ATTEMPT]))
    [note] = sent(settings)
    assert note["template"] == "delivery_attempted"
    assert "We'll make a second attempt the next business day." in note["text"]
    local = occurred(38).astimezone(ATLANTA)
    assert f"on {local:%B %d at %H:%M}" in note["text"]  # the scan's wall time, as UPS reported it


async def test_the_same_exception_three_times_is_one_notification_and_one_escalation(client, settings):
    await register(client)
    scans = [ARRIVED]
    for hours_ago in (30, 20, 10):  # three distinct scans of the same problem
        scans.append(scan("X", "ZR", "The address is incorrect", hours_ago))
        await post(client, ups(TN, scans))
    assert [n["template"] for n in sent(settings)] == ["address_issue"]
    [escalation] = await escalations(client)
    detail = await (await client.get(f"/v1/escalations/{escalation['id']}", headers=CS)).json()
    assert [a["action"] for a in detail["audit"]] == ["waiting", "repeated", "repeated"]
    rows = await client.app[STORE].notifications_for("ups", TN)
    assert sorted(r["state"] for r in rows) == ["sent", "suppressed", "suppressed"]


async def test_without_a_recipient_the_notification_is_recorded_as_skipped(client, settings):
    await post(client, ups(TN, [ARRIVED, WEATHER]))  # never registered: nobody to tell
    [row] = await client.app[STORE].notifications_for("ups", TN)
    assert row["state"] == "skipped" and "no recipient" in row["reason"] and sent(settings) == []


async def test_a_stalled_shipment_is_found_by_the_sweep_and_escalated(client, settings):
    await register(client)
    await post(client, ups(TN, [ARRIVED]))
    engine = client.app[ACTIONS]
    later = occurred(60) + timedelta(hours=73)  # in transit: 72 h allowed
    assert await engine.sweep(now=later) == 1
    assert await engine.sweep(now=later + timedelta(hours=1)) == 0  # the same silence: the same event, once
    await settle(client)
    events = (await (await client.get("/v1/events?after=0", headers=READER)).json())["events"]
    derived = events[-1]["data"]["event"]
    assert (derived["status"], derived["exception_class"], derived["provenance"]["channel"]) == (
        "exception", "stalled", "derived")
    [escalation] = await escalations(client, exception_class="stalled")
    assert escalation["owner_role"] == "cs_tier1" and escalation["state"] == "open"
    assert [n["template"] for n in sent(settings)] == ["stalled"]


async def test_the_sweep_leaves_shipments_customer_service_is_already_working_on(client):
    await register(client)
    await post(client, ups(TN, [ARRIVED, LOST]))  # an open claim
    engine = client.app[ACTIONS]
    ten_days_later = occurred(39) + timedelta(days=10)  # exception: 96 h of silence allowed
    assert await engine.sweep(now=ten_days_later) == 0  # silence is expected while the claim runs
    [claim] = await escalations(client)
    await client.post(f"/v1/escalations/{claim['id']}/resolve", json={"by": "alan"}, headers=CS)
    assert await engine.sweep(now=ten_days_later) == 1  # closed, and still no scan: now it is stalled
    assert await engine.sweep(now=ten_days_later + timedelta(days=72)) == 0  # the same event, once


async def test_the_sweep_ignores_silence_older_than_its_horizon(client):
    """Shipments abandoned long ago (history loaded, a long outage) are not a storm of stalled cases."""
    await post(client, ups(TN, [ARRIVED]))
    engine = client.app[ACTIONS]
    assert await engine.sweep(now=occurred(60) + timedelta(days=31)) == 0  # 31 days of silence
    assert await engine.sweep(now=occurred(60) + timedelta(days=10)) == 1  # within the horizon


async def test_waiting_escalations_open_and_sla_breaches_raise_the_severity(client):
    await register(client)
    await post(client, ups(TN, [ARRIVED, LOST]))
    [lost] = await escalations(client)
    store = client.app[STORE]
    await execute(store, "UPDATE escalations SET sla_due_at = '2020-01-01T00:00:00Z'")
    opened, breached = await client.app[ACTIONS].promote_and_breach()
    assert (opened, breached) == (0, 1)
    detail = await (await client.get(f"/v1/escalations/{lost['id']}", headers=CS)).json()
    assert (detail["severity"], detail["breached"], detail["audit"][-1]["action"]) == ("critical", True,
                                                                                      "sla_breached")
    assert await client.app[ACTIONS].promote_and_breach() == (0, 0)  # breached once, raised once
    scrape = await (await client.get("/metrics")).text()
    assert ('carrier_events_open_escalations{breached="true",exception_class="lost",severity="critical"} 1.0'
            in scrape)
    assert 'exception_class="lost",severity="high"' not in scrape  # the series moved, none left stale


async def test_cs_api_acknowledge_assign_resolve_with_audit_and_auth(client):
    await register(client)
    await post(client, ups(TN, [ARRIVED, LOST]))
    [item] = await escalations(client, state="open", owner_role="cs_claims")
    url = f"/v1/escalations/{item['id']}"
    assert (await client.post(url + "/acknowledge")).status == 401
    ack = await client.post(url + "/acknowledge", json={"by": "grace"}, headers=CS)
    assert ack.status == 200 and (await ack.json())["state"] == "acknowledged"
    assert (await client.post(url + "/acknowledge", json={"by": "grace"}, headers=CS)).status == 409
    assigned = await client.post(url + "/assign", json={"by": "grace", "assignee": "alan"}, headers=CS)
    assert (await assigned.json())["assignee"] == "alan"
    assert (await client.post(url + "/assign", json={"by": "grace"}, headers=CS)).status == 422
    done = await (await client.post(url + "/resolve", json={"by": "alan", "note": "refund issued"},
                                    headers=CS)).json()
    assert done["state"] == "resolved" and done["resolved_at"]
    assert [(a["actor"], a["action"]) for a in done["audit"]] == [
        ("policy", "opened"), ("grace", "acknowledged"), ("grace", "assigned"), ("alan", "resolved")]
    assert await escalations(client, active="true") == []
    assert (await client.get("/v1/escalations/999", headers=CS)).status == 404


def test_a_broken_policy_stops_the_start_with_the_rule_named(tmp_path):
    bad = tmp_path / "policy.toml"
    bad.write_text('version = 1\n[[rules]]\nmatch = { status = "exception" }\n'
                   'escalate = { severity = "urgent", owner = "cs_tier1", sla_hours = 4 }\n')
    with pytest.raises(PolicyError, match="rule 1.escalate.severity"):
        load_policy(bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('version = 1\n[[rules]]\nmatch = { status = "exception" }\nnotify = { template = "nope" }\n')
    with pytest.raises(PolicyError, match="templates that do not exist: nope"):
        create_app(Settings(db=str(tmp_path / "x.db"), policy=str(unknown)))


async def test_escalation_changes_reach_a_ticketing_webhook_signed_in_order(aiohttp_client, aiohttp_server, tmp_path,
                                                                           db):
    secret = "whsec_" + base64.b64encode(b"ticketing-secret-0123456789").decode()
    received: list[tuple[bool, dict]] = []
    answers = [503]  # the ticketing system is briefly down: the change waits, nothing after it overtakes it

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        verdict = StandardWebhooks([secret]).verify(body, request.headers, request.query, time.time())
        received.append((verdict.ok, json.loads(body)))
        return web.Response(status=answers.pop(0) if answers else 204)

    receiver = web.Application()
    receiver.router.add_post("/tickets", hook)
    server = await aiohttp_server(receiver)
    settings = Settings(db=db, open_sources=frozenset(SOURCES), cs_token="cs-token", read_token=READ_TOKEN,
                        api_token="api-token", notify_file=str(tmp_path / "n.jsonl"),
                        ticket_webhook_url=str(server.make_url("/tickets")), ticket_webhook_secret=secret)
    client = await aiohttp_client(create_app(settings))
    await register(client)
    await post(client, ups(TN, [ARRIVED, LOST]))
    engine = client.app[ACTIONS]
    await engine.forward_tickets()  # 503: kept for later
    assert len(received) == 1 and not answers
    engine._tickets._not_before = 0  # the pause after a failure, cut short for the test
    [item] = await escalations(client)
    await client.post(f"/v1/escalations/{item['id']}/acknowledge", json={"by": "grace"}, headers=CS)
    for _ in range(100):  # the stage's own loop may forward them first: either way, each goes once
        await engine.forward_tickets()
        if len(received) >= 3:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.6)  # one more pass of the stage's loop: nothing is sent twice
    assert len(received) == 3 and all(ok for ok, _ in received)
    actions = [(body["id"], body["data"]["change"]["action"]) for _, body in received]
    assert [a for _, a in actions] == ["opened", "opened", "acknowledged"]  # the first try, the retry, the next
    assert actions[0][0] == actions[1][0]  # the retry carries the same id: the receiver can dedupe
