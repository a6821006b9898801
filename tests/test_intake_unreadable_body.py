"""A webhook answered before its whole body was read closes its connection after the answer.

aiohttp drains whatever is left of a request body after the answer; for a body
whose Content-Encoding does not decode that drain fails and drops the
connection, so the answer (refused early: 401, 415 ...) or the sender's next
request on a kept-alive connection was lost without an answer.
"""
from __future__ import annotations

import os

import pytest

from service.app import create_app
from service.config import Settings

GZIP = {"Content-Type": "application/json", "Content-Encoding": "gzip"}


@pytest.mark.parametrize("path, headers, status", [
    ("/webhooks/ups", GZIP, 400),                                            # read, does not decode
    ("/webhooks/ups", {**GZIP, "Content-Type": "image/png"}, 415),          # refused before reading
    ("/webhooks/fedex", GZIP, 401),                                          # no secret, not open
])
async def test_every_request_on_a_kept_alive_connection_gets_its_answer(aiohttp_client, tmp_path, path, headers,
                                                                        status):
    client = await aiohttp_client(create_app(Settings(db=str(tmp_path / "t.db"), open_sources=frozenset({"ups"}))))

    async def body():  # the body after the head, as a slow sender sends it
        yield b"\x1f\x8b"
        yield os.urandom(600)

    for _ in range(6):
        resp = await client.post(path, data=body(), headers=headers)
        assert resp.status == status
        await resp.read()


async def test_a_good_webhook_keeps_its_connection(aiohttp_client, tmp_path):
    client = await aiohttp_client(create_app(Settings(db=str(tmp_path / "t.db"), open_sources=frozenset({"ups"}))))
    resp = await client.post("/webhooks/ups", data=b'{"trackResponse": {"shipment": []}}',
                             headers={"Content-Type": "application/json"})
    assert resp.status == 202 and resp.headers.get("Connection", "").lower() != "close"
