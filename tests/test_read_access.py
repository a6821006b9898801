"""Who may read: the feed, shipment state and the OpenAPI document need a token unless reads are opened;
`/metrics` can need a token, or move to a port of its own."""
from __future__ import annotations

import logging
import socket
from pathlib import Path

import aiohttp
import pytest

from service.app import create_app
from service.config import SOURCES, Settings
from tests.docs import ups_track
from tests.test_intake_fuzz import _send_raw

READS = ("/v1/events", "/v1/shipments/ups/1Z999AA10123456784", "/openapi.json")
TOKENS = {"read_token": "r-token", "admin_token": "a-token", "api_token": "o-token", "cs_token": "c-token"}


def _settings(tmp_path: Path, **extra) -> Settings:
    return Settings(db=str(tmp_path / "events.db"), open_sources=frozenset(SOURCES), poll=False,
                    notify_file=str(tmp_path / "sent.jsonl"), **extra)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_reads_are_disabled_without_any_token(aiohttp_client, tmp_path: Path):
    client = await aiohttp_client(create_app(_settings(tmp_path)))
    for path in READS:
        resp = await client.get(path)
        problem = await resp.json()
        assert resp.status == 403 and resp.content_type == "application/problem+json", path
        assert problem["type"] == "urn:carrier-events:problem:api-disabled"
        assert "CARRIER_EVENTS_READ_TOKEN" in problem["error"] and "CARRIER_EVENTS_OPEN_READ" in problem["error"]


async def test_the_read_admin_api_and_cs_tokens_read_and_nothing_else_does(aiohttp_client, tmp_path: Path):
    client = await aiohttp_client(create_app(_settings(tmp_path, **TOKENS)))
    doc = ups_track("1Z999AA10123456784", [("origin", "20260301", "180000")])
    assert (await client.post("/webhooks/ups", data=doc, headers={"Content-Type": "application/json"})).status == 202
    for path in READS:
        for headers in ({}, _bearer("wrong"), _bearer(""), {"Authorization": "Basic x"}):
            resp = await client.get(path, headers=headers)
            assert resp.status == 401, (path, headers)
            assert resp.headers["WWW-Authenticate"] == 'Bearer realm="carrier-events read"'
            assert (await resp.json())["type"] == "urn:carrier-events:problem:unauthorized"
        for token in TOKENS.values():
            resp = await client.get(path, headers=_bearer(token))
            assert resp.status in (200, 404), (path, token)  # 404: the shipment may not be normalized yet
    # The read token opens nothing else.
    for path in ("/v1/admin/dlq", "/v1/escalations", "/v1/trackings"):
        assert (await client.get(path, headers=_bearer("r-token"))).status == 401, path


async def test_a_non_utf8_authorization_header_is_a_401_not_a_500(aiohttp_client, tmp_path: Path):
    client = await aiohttp_client(create_app(_settings(tmp_path, **TOKENS)))
    for path in ("/v1/events", "/v1/admin/dlq", "/v1/escalations", "/v1/trackings"):
        raw = (f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode() +
               b"Authorization: Bearer \xff\xfe\xc3\x28r-token\r\n\r\n")
        answer = await _send_raw(client.server.port, raw)
        assert answer.status == 401 and answer.content_type == "application/problem+json", (path, answer)


async def test_opened_reads_need_no_token_and_say_so_at_start(aiohttp_client, tmp_path: Path, caplog):
    with caplog.at_level(logging.WARNING, logger="service.app"):
        client = await aiohttp_client(create_app(_settings(tmp_path, open_read=True)))
    assert any("CARRIER_EVENTS_OPEN_READ is on" in r.getMessage() for r in caplog.records)
    assert (await client.get("/v1/events")).status == 200
    assert (await client.get("/openapi.json")).status == 200


async def test_metrics_can_require_a_token(aiohttp_client, tmp_path: Path):
    client = await aiohttp_client(create_app(_settings(tmp_path, metrics_token="m-token", admin_token="a-token")))
    resp = await client.get("/metrics")
    assert resp.status == 401 and (await resp.json())["type"].endswith(":unauthorized")
    assert (await client.get("/metrics", headers=_bearer("r-token"))).status == 401
    for token in ("m-token", "a-token"):
        resp = await client.get("/metrics", headers=_bearer(token))
        assert resp.status == 200 and "# TYPE" in await resp.text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_metrics_can_move_to_a_port_of_their_own(aiohttp_client, tmp_path: Path):
    port = _free_port()
    client = await aiohttp_client(create_app(_settings(tmp_path, metrics_port=port)))
    assert (await client.get("/metrics")).status == 404  # not on the public port any more
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
            assert resp.status == 200 and "carrier_events_" in await resp.text()
        async with session.get(f"http://127.0.0.1:{port}/v1/events") as resp:
            assert resp.status == 404 and resp.content_type == "application/problem+json"
        async with session.post(f"http://127.0.0.1:{port}/webhooks/ups", data=b"{}") as resp:
            assert resp.status == 404  # the metrics port takes no webhooks


def test_the_settings_come_from_the_environment():
    settings = Settings.from_env({"CARRIER_EVENTS_READ_TOKEN": "x", "CARRIER_EVENTS_OPEN_READ": "true",
                                  "CARRIER_EVENTS_METRICS_PORT": "9100", "CARRIER_EVENTS_METRICS_TOKEN": "m"})
    assert (settings.read_token, settings.open_read, settings.metrics_port, settings.metrics_token) == \
        ("x", True, 9100, "m")
    assert Settings.from_env({}).metrics_port is None and Settings.from_env({}).open_read is False
    with pytest.raises(ValueError):
        Settings.from_env({"CARRIER_EVENTS_METRICS_PORT": "many"})
