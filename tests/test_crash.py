"""Killed with SIGKILL in the middle of a stream, restarted: every 202 shows up as events, none twice."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp

from tests.backend import counts_of, feed_of
from tests.docs import stream_number, ups_track
from tests.reading import READ_TOKEN, READER
from tests.test_amqp_support import broker  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(db: str, port: int, amqp: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "CARRIER_EVENTS_DB": str(db), "CARRIER_EVENTS_PORT": str(port),
           "CARRIER_EVENTS_OPEN_SOURCES": "all", "CARRIER_EVENTS_RATE_LIMIT": "0",
           "CARRIER_EVENTS_DRAIN_SECONDS": "0",  # no balancer in front: stop at once
           "CARRIER_EVENTS_READ_TOKEN": READ_TOKEN}
    env.pop("CARRIER_EVENTS_AMQP_URL", None)
    env.update(amqp or {})
    return subprocess.Popen([sys.executable, "-m", "service", "serve"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _wait_ready(session: aiohttp.ClientSession, base: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with session.get(f"{base}/readyz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("service did not become ready")


async def _feed(session: aiohttp.ClientSession, base: str) -> list[dict]:
    events, cursor = [], 0
    while True:
        async with session.get(f"{base}/v1/events", params={"after": cursor, "limit": 1000}, headers=READER) as resp:
            body = await resp.json()
        if not body["events"]:
            return events
        events.extend(body["events"])
        cursor = body["next"]


async def _stream_then_signal(proc: subprocess.Popen, base: str, accepted: dict[str, str], at_least: int,
                           sig: signal.Signals = signal.SIGKILL) -> int:
    """Eight senders post distinct documents; `sig` once `at_least` got their 202. The exit status."""
    async with aiohttp.ClientSession() as session:
        await _wait_ready(session, base)
        counter = iter(range(1_000_000))

        async def sender() -> None:
            while True:
                tn = stream_number(next(counter))
                body = ups_track(tn, [("origin", "20260301", "180000")])
                try:
                    async with session.post(f"{base}/webhooks/ups", data=body,
                                            headers={"Content-Type": "application/json"}) as resp:
                        if resp.status == 202:
                            accepted[tn] = (await resp.json())["id"]
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    return  # the server is gone: this request was never acknowledged

        senders = [asyncio.create_task(sender()) for _ in range(8)]
        while len(accepted) < at_least:
            await asyncio.sleep(0.01)
        proc.send_signal(sig)
        await asyncio.wait_for(asyncio.gather(*senders), timeout=30)
    return proc.wait(timeout=30)


def _check(accepted: dict[str, str], events: list[dict]) -> None:
    subjects = {e["subject"] for e in events}
    missing = set(accepted) - subjects
    assert not missing, f"{len(missing)} of {len(accepted)} acknowledged webhooks have no event"
    by_subject = {e["subject"]: e["data"]["event"]["provenance"]["inbox_id"] for e in events}
    assert all(by_subject[tn] == inbox_id for tn, inbox_id in accepted.items())


async def test_sigkill_mid_stream_loses_nothing_and_duplicates_nothing(db):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    accepted: dict[str, str] = {}  # tracking number -> inbox id, for every 202
    proc = _start(db, port)
    try:
        assert await _stream_then_signal(proc, base, accepted, 300) == -signal.SIGKILL
        proc = _start(db, port)
        async with aiohttp.ClientSession() as session:
            await _wait_ready(session, base)
            deadline = time.monotonic() + 30
            events = await _feed(session, base)
            while not set(accepted) <= {e["subject"] for e in events} and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                events = await _feed(session, base)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)), "an event was published twice"
    _check(accepted, events)


async def test_sigkill_in_rabbitmq_mode_every_202_reaches_the_bus(db, broker):
    """Same crash, RabbitMQ mode: count the CloudEvents a plain consumer receives on `shipment-events`."""
    from service.amqp.topology import Topology
    from tests.test_amqp_support import AMQP_URL, Subscriber

    prefix = f"crash-{uuid.uuid4().hex[:8]}."
    topology = Topology(prefix=prefix)
    channel = await broker.channel()
    await topology.declare(await channel.get_underlay_channel())
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(topology.events, routing_key="#")
    subscriber = Subscriber()
    await queue.consume(subscriber.on_message)
    amqp = {"CARRIER_EVENTS_AMQP_URL": AMQP_URL, "CARRIER_EVENTS_AMQP_PREFIX": prefix}
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    accepted: dict[str, str] = {}
    proc = _start(db, port, amqp)
    try:
        assert await _stream_then_signal(proc, base, accepted, 300) == -signal.SIGKILL
        proc = _start(db, port, amqp)
        async with aiohttp.ClientSession() as session:
            await _wait_ready(session, base)
        deadline = time.monotonic() + 45
        while not set(accepted) <= {m["event"]["subject"] for m in subscriber.messages} \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        await topology.delete(await channel.get_underlay_channel())
        await channel.close()
    unique = {m["event"]["id"]: m["event"] for m in subscriber.messages}  # at-least-once: dedupe by id
    _check(accepted, list(unique.values()))
    per_subject = [e["subject"] for e in unique.values()]
    assert len(per_subject) == len(set(per_subject)), "one scan became two events"


async def test_sigterm_mid_stream_drains_everything_accepted_before_exit(db):
    """Graceful shutdown: stop listening, finish in-flight requests, normalize what was stored, then exit."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    accepted: dict[str, str] = {}
    proc = _start(db, port)
    assert await _stream_then_signal(proc, base, accepted, 300, signal.SIGTERM) == 0
    states = {k for k, n in (await counts_of(db)).items() if k.startswith("inbox_") and n}
    subjects = {e["subject"] for e in await feed_of(db)}
    assert states == {"inbox_done"}, states  # nothing left pending or claimed at exit
    assert set(accepted) <= subjects
