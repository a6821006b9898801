"""`/v1/subscriptions` over both stores: the lifecycle, every refusal as a named problem, and each answer checked
against its published body model (tests/test_contracts.py's `documented`)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from service.app import create_app
from service.config import SOURCES, Settings
from service.core import subscriptions as rules
from service.keys import STORE
from service.rows import DeliveryAttempt
from tests.docs import ups_track
from tests.receivers import Receiver
from tests.test_contracts import documented, settle

API, ADMIN = {"Authorization": "Bearer api"}, {"Authorization": "Bearer adm"}
TN = "1Z999AA10123456784"
ROOT, ONE = "/v1/subscriptions", "/v1/subscriptions/{id}"
PUBLIC_URL = "https://93.184.215.14/hooks/events"  # a global address: allowed, and never contacted (delivery off)


def _settings(db: str, tmp_path: Path, **changes: object) -> Settings:
    base: dict[str, object] = dict(db=db, api_token="api", admin_token="adm", open_sources=frozenset(SOURCES),
                                   poll=False, notify_file=str(tmp_path / "sent.jsonl"), webhooks_out=False)
    return Settings(**{**base, **changes})


@pytest.fixture
async def client(aiohttp_client, db: str, tmp_path: Path):
    return await aiohttp_client(create_app(_settings(db, tmp_path)))


async def _events(client, count: int = 2) -> None:
    """Events in the feed: a UPS document of `count` scans, normalized."""
    scans = [("label", "20260301", "080000"), ("origin", "20260301", "180000"), ("weather", "20260302", "090000"),
             ("delivered", "20260303", "141500")][:count]
    resp = await client.post("/webhooks/ups", data=ups_track(TN, scans), headers={"Content-Type": "application/json"})
    assert resp.status == 202
    await settle(client)


async def _create(client, path: str = ROOT, headers=API, **body: object) -> dict:
    resp = await client.post(ROOT, json={"url": PUBLIC_URL, **body}, headers=headers)
    assert resp.status == 201, await resp.text()
    return await documented(resp, path, "post")


async def _problem(resp, path: str, method: str, status: int, field: str | None = None) -> dict:
    assert resp.status == status, await resp.text()
    body = await documented(resp, path, method)
    assert body["type"].startswith("urn:carrier-events:problem:") and body["status"] == status
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


async def test_create_read_list_change_and_delete(client):
    await _events(client, 3)
    head = await client.app[STORE].feed_head()
    assert head > 0
    created = await _create(client, filter=["delivered.#", "exception.#"], description="OMS")
    assert rules.is_id(created["id"]) and created["secret"].startswith("whsec_")
    assert (created["cursor"], created["lag"], created["state"], created["enabled"]) == (head, 0, "active", True)
    assert created["filter"] == ["delivered.#", "exception.#"] and created["description"] == "OMS"
    one = await documented(await client.get(f"{ROOT}/{created['id']}", headers=API), ONE, "get")
    assert one == {k: v for k, v in created.items() if k != "secret"}

    whole = await _create(client, headers=ADMIN, **{"from": "beginning"})  # the admin token works too
    assert (whole["cursor"], whole["lag"]) == (0, head)
    third = await _create(client)
    ids = sorted([created["id"], whole["id"], third["id"]])
    first = await documented(await client.get(ROOT, params={"limit": 2}, headers=API), ROOT, "get")
    assert [s["id"] for s in first["items"]] == ids[:2] and first["has_more"] is True and first["next"] == ids[1]
    rest = await documented(await client.get(ROOT, params={"after": first["next"]}, headers=API), ROOT, "get")
    assert [s["id"] for s in rest["items"]] == ids[2:] and rest == {**rest, "next": None, "has_more": False}
    listed = str(first) + str(rest)
    assert all(s["secret"] not in listed for s in (created, whole, third))  # a list never carries a secret

    changed = await documented(await client.patch(f"{ROOT}/{created['id']}", headers=API, json={
        "filter": ["*.*.ups"], "description": "OMS (UPS only)", "url": PUBLIC_URL + "/v2"}), ONE, "patch")
    assert (changed["filter"], changed["description"], changed["url"]) == (["*.*.ups"], "OMS (UPS only)",
                                                                          PUBLIC_URL + "/v2")
    assert changed["cursor"] == head and created["secret"] not in str(changed)

    resp = await client.delete(f"{ROOT}/{created['id']}", headers=API)
    assert resp.status == 204 and await resp.read() == b""
    await _problem(await client.delete(f"{ROOT}/{created['id']}", headers=API), ONE, "delete", 404)
    await _problem(await client.get(f"{ROOT}/{created['id']}", headers=API), ONE, "get", 404)
    assert await client.app[STORE].subscription(created["id"]) is None


async def test_disabling_and_enabling_again_clears_the_failing_streak(client):
    sub = await _create(client)
    path = f"{ROOT}/{sub['id']}"
    off = await documented(await client.patch(path, json={"enabled": False}, headers=API), ONE, "patch")
    assert (off["enabled"], off["state"], off["disabled_reason"]) == (False, "disabled", rules.DISABLED_BY_API)
    assert off["disabled_at"] is not None
    # The dispatcher gave up on it: disabled, with a failing streak and its last error.
    await client.app[STORE].update_subscription(sub["id"], {
        "disabled_reason": "gave up after 3 days of failing", "failing_since": "2026-03-01T00:00:00Z",
        "next_attempt_at": "2026-03-04T00:00:00Z", "last_error": "503 Service Unavailable"})
    shown = await documented(await client.get(path, headers=API), ONE, "get")
    assert (shown["state"], shown["last_error"], shown["failing_since"]) == ("disabled", "503 Service Unavailable",
                                                                             "2026-03-01T00:00:00Z")
    on = await documented(await client.patch(path, json={"enabled": True}, headers=API), ONE, "patch")
    assert (on["enabled"], on["state"]) == (True, "active")
    assert on["disabled_reason"] is on["disabled_at"] is on["failing_since"] is on["next_attempt_at"] is \
        on["last_error"] is None
    assert on["cursor"] == sub["cursor"]  # resumes where it stopped
    same = await documented(await client.patch(path, json={}, headers=API), ONE, "patch")  # nothing to change
    assert same["updated_at"] == on["updated_at"]


async def test_refusals_name_what_is_wrong(client):
    async def post(body: object, status: int, field: str | None) -> dict:
        resp = await client.post(ROOT, json=body, headers=API)
        return await _problem(resp, ROOT, "post", status, field)

    assert "at most 32" in (await post({"url": PUBLIC_URL, "filter": ["#"] * 33}, 422, "body.filter"))["detail"]
    assert "word" in (await post({"url": PUBLIC_URL, "filter": ["Delivered.#"]}, 422, "body.filter"))["detail"]
    await post({"url": PUBLIC_URL, "filter": ["a..b"]}, 422, "body.filter")
    await post({"url": PUBLIC_URL, "filter": []}, 422, "body.filter")
    await post({"url": PUBLIC_URL, "filter": "#"}, 422, "body.filter")
    for url in ("http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://169.254.169.254/latest/meta-data",
                "http://[::1]/hook", "ftp://93.184.215.14/x", "https://user:pw@93.184.215.14/x", "not a url"):
        problem = await post({"url": url}, 422, "body.url")
        assert problem["errors"][0]["message"] and problem["detail"].startswith("body url:"), url
    await post({"filter": ["#"]}, 422, "body.url")
    await post({"url": PUBLIC_URL, "secret": "whsec_mine"}, 422, "body.secret")
    await post({"url": PUBLIC_URL, "from": "tomorrow"}, 422, "body.from")
    await post([PUBLIC_URL], 400, "body")
    resp = await client.post(ROOT, data=b"{", headers={**API, "Content-Type": "application/json"})
    await _problem(resp, ROOT, "post", 400, "body")
    await _problem(await client.get(ROOT, params={"after": "sub_x"}, headers=API), ROOT, "get", 400, "query.after")
    await _problem(await client.get(ROOT, params={"cursor": "1"}, headers=API), ROOT, "get", 400, "query.cursor")
    assert await client.app[STORE].subscriptions() == []  # nothing refused was stored

    sub = await _create(client)
    path = f"{ROOT}/{sub['id']}"
    for body, field in (({"url": None}, "body.url"), ({"enabled": "yes"}, "body.enabled"),
                        ({"filter": ["#", ""]}, "body.filter"), ({"url": "http://192.168.0.1/"}, "body.url"),
                        ({"cursor": 0}, "body.cursor")):
        await _problem(await client.patch(path, json=body, headers=API), ONE, "patch", 422, field)
    assert (await client.app[STORE].subscription(sub["id"])).url == PUBLIC_URL  # unchanged


async def test_ids_that_are_not_ids_are_unknown_and_tokens_are_required(client):
    sub = await _create(client)
    routes = [("get", ONE, ""), ("patch", ONE, ""), ("delete", ONE, ""),
              ("post", ONE + "/rotate-secret", ""), ("post", ONE + "/test", ""),
              ("get", ONE + "/deliveries", ""), ("post", ONE + "/redeliver", ""), ("post", ONE + "/replay", "")]
    bodies = {"patch": {"description": "x"}, "post": {}}
    for method, template, _ in routes:
        for wrong in ("sub_" + "0" * 24, "sub_" + "Z" * 24, "1", "sub_" + "0" * 25, "%00"):
            resp = await client.request(method, template.replace("{id}", wrong), headers=API,
                                        json=bodies.get(method))
            problem = await _problem(resp, template, method, 404)
            assert problem["detail"] == "no such subscription", (method, template, wrong)
        path = template.replace("{id}", sub["id"])
        await _problem(await client.request(method, path), template, method, 401)
        await _problem(await client.request(method, path, headers={"Authorization": "Bearer wrong"}), template,
                       method, 401)


async def test_without_api_or_admin_token_the_api_is_disabled(aiohttp_client, db, tmp_path):
    client = await aiohttp_client(create_app(_settings(db, tmp_path, api_token=None, admin_token=None,
                                                       read_token="r")))
    problem = await _problem(await client.get(ROOT, headers={"Authorization": "Bearer r"}), ROOT, "get", 403)
    assert "CARRIER_EVENTS_API_TOKEN" in problem["detail"]


async def test_rotation_keeps_the_previous_secret_for_the_overlap(client):
    sub = await _create(client)
    path = f"{ROOT}/{sub['id']}/rotate-secret"
    before = datetime.now(timezone.utc).replace(microsecond=0)
    rotated = await documented(await client.post(path, json={"overlap_seconds": 3600}, headers=API),
                               ONE + "/rotate-secret", "post")
    assert rotated["id"] == sub["id"] and rotated["secret"] != sub["secret"]
    until = datetime.fromisoformat(rotated["previous_secret_until"])
    assert before + timedelta(seconds=3600) <= until <= datetime.now(timezone.utc) + timedelta(seconds=3600)
    stored = await client.app[STORE].subscription(sub["id"])
    assert (stored.secret, stored.previous_secret) == (rotated["secret"], sub["secret"])
    shown = await documented(await client.get(f"{ROOT}/{sub['id']}", headers=API), ONE, "get")
    assert shown["previous_secret_until"] == rotated["previous_secret_until"]
    assert rotated["secret"] not in str(shown) and sub["secret"] not in str(shown)

    default = await documented(await client.post(path, headers=API), ONE + "/rotate-secret", "post")  # no body
    day = datetime.fromisoformat(default["previous_secret_until"]) - datetime.now(timezone.utc)
    assert timedelta(hours=23, minutes=59) < day <= timedelta(days=1)
    assert (await client.app[STORE].subscription(sub["id"])).previous_secret == rotated["secret"]
    now = await documented(await client.post(path, json={"overlap_seconds": 0}, headers=API), ONE + "/rotate-secret",
                           "post")
    assert now["previous_secret_until"] is None
    stored = await client.app[STORE].subscription(sub["id"])
    assert (stored.secret, stored.previous_secret) == (now["secret"], None)
    for body in ({"overlap_seconds": 604801}, {"overlap_seconds": -1}, {"overlap_seconds": "60"}, {"x": 1}):
        await _problem(await client.post(path, json=body, headers=API), ONE + "/rotate-secret", "post", 422)
    assert (await client.app[STORE].subscription(sub["id"])).secret == now["secret"]


async def test_replay_moves_the_cursor_by_position_or_time(client):
    await _events(client, 4)
    store = client.app[STORE]
    head = await store.feed_head()
    sub = await _create(client)
    path, doc = f"{ROOT}/{sub['id']}/replay", ONE + "/replay"
    moved = await documented(await client.post(path, json={"after": 1}, headers=API), doc, "post")
    assert moved == {"id": sub["id"], "cursor": 1, "lag": head - 1}
    assert (await store.subscription(sub["id"])).cursor == 1
    earliest = await documented(await client.post(path, json={"since": "2000-01-01T00:00:00+02:00"}, headers=API),
                                doc, "post")
    assert (earliest["cursor"], earliest["lag"]) == (0, head)
    latest = await documented(await client.post(path, json={"since": "2999-01-01T00:00:00Z"}, headers=API), doc,
                              "post")
    assert latest["cursor"] == await store.feed_position_at("2999-01-01T00:00:00Z") == head
    both = {"after": 1, "since": "2026-03-01T00:00:00Z"}
    for body, field in (({"after": head + 1}, "body.after"), ({}, "body"), (both, "body"),
                        ({"since": "last week"}, "body.since"), ({"since": "2026-03-01T00:00:00"}, "body.since"),
                        ({"after": "1"}, "body.after"), ({"after": -1}, "body.after"),
                        ({"since": "0001-01-01T00:00:00+01:00"}, "body.since")):
        await _problem(await client.post(path, json=body, headers=API), doc, "post", 422, field)
    assert (await store.subscription(sub["id"])).cursor == head


async def test_redeliver_queues_a_feed_event_and_refuses_an_unknown_one(client):
    await _events(client, 2)
    store = client.app[STORE]
    event = (await store.outbox_after(0, 1))[0]
    sub = await _create(client)
    path, doc = f"{ROOT}/{sub['id']}/redeliver", ONE + "/redeliver"
    queued = await documented(await client.post(path, json={"event_id": event.event_id}, headers=API), doc, "post")
    assert queued == {"id": sub["id"], "event_id": event.event_id}
    assert [e.event_id for e in await store.take_redeliveries(sub["id"])] == [event.event_id]
    await _problem(await client.post(path, json={"event_id": "f" * 32}, headers=API), doc, "post", 404,
                   "body.event_id")
    for body in ({}, {"event_id": 5}, {"event_id": ""}, {"event_id": event.event_id, "seq": 1}):
        await _problem(await client.post(path, json=body, headers=API), doc, "post", 422)


async def test_the_delivery_log_pages_newest_first_without_losing_same_second_attempts(client):
    sub = await _create(client)
    store = client.app[STORE]
    # 3 events over 3 seconds, each tried 3 times within its second: groups of one (at, seq)
    attempts = [DeliveryAttempt(sub["id"], seq, f"{seq:032x}", n, n == 3, 503 if n < 3 else 204, 1.5,
                                None if n == 3 else "503 Service Unavailable", f"2026-03-01T12:00:0{seq}Z")
                for seq in (1, 2, 3) for n in (1, 2, 3)]
    await store.record_attempts(attempts)
    doc = ONE + "/deliveries"
    seen: list[tuple[int, int]] = []
    after, pages = None, 0
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        page = await documented(await client.get(f"{ROOT}/{sub['id']}/deliveries", params=params, headers=API),
                                doc, "get")
        pages += 1
        seen += [(a["seq"], a["attempt"]) for a in page["items"]]
        if not page["has_more"]:
            break
        after = page["next"]
    assert sorted(seen) == sorted((a.seq, a.attempt) for a in attempts) and len(seen) == len(set(seen))
    assert [s for s, _ in seen] == [3, 3, 3, 2, 2, 2, 1, 1, 1]  # newest first
    assert pages > 2
    whole = await documented(await client.get(f"{ROOT}/{sub['id']}/deliveries", headers=API), doc, "get")
    assert len(whole["items"]) == 9 and whole["has_more"] is False and whole["items"][0]["at"] == \
        "2026-03-01T12:00:03Z"
    for junk in ("x", "3", "3_yesterday", "-1_2026-03-01T12:00:00Z", "9" * 19 + "_2026-03-01T12:00:00Z",
                 "1_0001-01-01T00:00:00+01:00", "3_1_yesterday", "3_-1_2026-03-01T12:00:00Z",
                 "1_1_0001-01-01T00:00:00+01:00"):
        await _problem(await client.get(f"{ROOT}/{sub['id']}/deliveries", params={"after": junk}, headers=API), doc,
                       "get", 400, "query.after")


async def test_the_test_event_is_refused_where_delivery_is_off(client):
    sub = await _create(client)
    problem = await _problem(await client.post(f"{ROOT}/{sub['id']}/test", headers=API), ONE + "/test", "post", 409)
    assert "delivery is off in this process" in problem["detail"]


async def test_a_test_event_is_sent_signed_and_logged(aiohttp_client, db, tmp_path):
    receiver = await Receiver().start()
    try:
        client = await aiohttp_client(create_app(_settings(db, tmp_path, webhooks_out=True,
                                                           outbound_allow_nets="127.0.0.0/8")))
        sub = await _create(client, url=receiver.url)
        outcome = await documented(await client.post(f"{ROOT}/{sub['id']}/test", headers=API), ONE + "/test", "post")
        assert (outcome["ok"], outcome["status"], outcome["seq"], outcome["error"]) == (True, 204, 0, None)
        [event] = receiver.verified_events(sub["secret"])  # the reference verifier accepts the signature
        assert event["type"] == "shipment.event.test.v1" and event["id"] == outcome["event_id"]
        log = await documented(await client.get(f"{ROOT}/{sub['id']}/deliveries", headers=API),
                               ONE + "/deliveries", "get")
        assert [a["event_id"] for a in log["items"]] == [outcome["event_id"]]
        assert (await client.app[STORE].subscription(sub["id"])).cursor == sub["cursor"]  # a test moves nothing
        await receiver.stop()  # down: the outcome says so, and the answer is still 200
        down = await documented(await client.post(f"{ROOT}/{sub['id']}/test", headers=API), ONE + "/test", "post")
        assert down["ok"] is False and down["status"] is None and down["error"]
    finally:
        await receiver.stop()
