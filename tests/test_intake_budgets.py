"""Shared intake budgets are spent only by senders who prove who they are (a live server, real sockets).

An unsigned flood at a source's rate must not leave the source's signed
webhooks 429; slow unsigned uploads must not hold the slots signed webhooks
need (503); a forger sharing an address with a carrier must not lock the
carrier out.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
from pathlib import Path

import pytest

from service.app import create_app
from service.config import Settings
from service.keys import GUARDS
from service.ratelimit import ClientBudget

BODY = (b'{"trackResponse":{"shipment":[{"inquiryNumber":"1Z999AA10123456784","package":[{"trackingNumber":'
        b'"1Z999AA10123456784","activity":[{"status":{"type":"I","description":"Arrived","code":"AR"},'
        b'"date":"20260310","time":"080000"}]}]}]}')
SIGNED = {"credential": "ups-credential", "Content-Type": "application/json"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db=str(tmp_path / "budgets.db"), secrets={"ups": ("ups-credential",), "easypost": ("ep",)},
                    rates={"ups": 5.0, "easypost": 5.0}, max_in_flight=4, body_timeout=30.0)


@pytest.fixture
async def client(aiohttp_client, settings):
    return await aiohttp_client(create_app(settings))


async def test_an_unsigned_flood_at_the_sources_rate_leaves_its_signed_webhooks_their_budget(client):
    unsigned = [(await client.post("/webhooks/ups", data=BODY)).status for _ in range(60)]
    assert set(unsigned) <= {401, 429} and unsigned[:20] == [401] * 20  # its own budget, then 429
    signed = [(await client.post("/webhooks/ups", data=BODY + b" " * i, headers=SIGNED)).status for i in range(5)]
    assert signed == [202] * 5  # the source's bucket (5/s) was not touched by the flood


async def test_a_wrong_credential_does_not_spend_the_sources_budget(client):
    for _ in range(10):
        assert (await client.post("/webhooks/ups", data=BODY, headers={"credential": "guess"})).status == 401
    assert (await client.post("/webhooks/ups", data=BODY, headers=SIGNED)).status == 202


async def _slow_upload(port: int, headers: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A request whose head promises a body that never comes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"POST /webhooks/ups HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}"
                 "Content-Length: 100000\r\n\r\n{".encode())
    await writer.drain()
    return reader, writer


async def test_slow_unsigned_uploads_do_not_hold_the_slots_signed_webhooks_need(client):
    port = client.server.port
    uploads = [await _slow_upload(port, "") for _ in range(12)]  # 3x max_in_flight
    try:
        for reader, _ in uploads:  # refused from the head alone: no body read, no slot held
            assert (await asyncio.wait_for(reader.readline(), 5)).split()[1] in (b"401", b"429")
        assert client.app[GUARDS].in_flight == 0
        signed = [(await client.post("/webhooks/ups", data=BODY + b" " * i, headers=SIGNED)).status
                  for i in range(4)]
        assert signed == [202] * 4
    finally:
        for _, writer in uploads:
            writer.close()


async def test_a_forger_sharing_the_carriers_address_gets_few_slots_and_the_carrier_still_gets_in(client):
    guards = client.app[GUARDS]
    guards.clients = ClientBudget(rate=0.001, capacity=3)
    forged = {"X-Hmac-Signature": "hmac-sha256-hex=" + "00" * 32, "Content-Type": "application/json"}
    for _ in range(3):  # plausible signatures that do not match: each costs the address's budget
        assert (await client.post("/webhooks/easypost", data=BODY, headers=forged)).status == 401
    port = client.server.port
    # Now over budget: plausible but slow uploads from the address go to the few suspect slots
    slow = [await _slow_upload(port, "credential: ups-credential\r\n") for _ in range(guards.max_suspect + 4)]
    try:
        await asyncio.sleep(0.2)
        assert guards.in_flight == 0 and guards.suspect_in_flight <= guards.max_suspect
        statuses = [(await asyncio.wait_for(r.readline(), 10)).split()[1] for r, _ in slow]
        assert set(statuses) <= {b"408", b"429"}  # cut short (2 s), or no suspect slot left
    finally:
        for _, writer in slow:
            writer.close()
    key = b"ep"
    signature = hmac.new(key, BODY, hashlib.sha256).hexdigest()
    ok = await client.post("/webhooks/easypost", data=BODY,
                           headers={"X-Hmac-Signature": f"hmac-sha256-hex={signature}",
                                    "Content-Type": "application/json"})
    assert ok.status == 202  # same address, valid signature: served from the suspect slots
