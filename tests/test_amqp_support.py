"""Fixtures for the RabbitMQ tests (imported by the other test_amqp modules), and the topology's own tests.

Everything runs against the real broker (CARRIER_EVENTS_TEST_AMQP_URL, default
the local one). Unreachable broker: the tests skip, unless CI=true, where they
fail. Each test gets its own name prefix (`topology.NAME_PREFIX`), so tests and
concurrent runs never share a queue, and deletes what it declared.
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aio_pika
import orjson
import pytest
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage

from service.amqp import topology as topology_module
from service.amqp.topology import NORMALIZE_KEY, Topology
from service.app import create_app
from service.config import SOURCES, Settings
from tests import settling
from tests.reading import READ_TOKEN

AMQP_URL = os.environ.get("CARRIER_EVENTS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
RETRY_MS = (200, 400)  # short tiers: a retry round trip costs well under a second
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
async def broker() -> AsyncIterator[AbstractConnection]:
    """A plain connection for the test's own declarations, publishes and subscriptions."""
    try:
        connection = await asyncio.wait_for(aio_pika.connect(AMQP_URL), 5)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the broker
        if os.environ.get("CI") == "true":
            pytest.fail(f"RabbitMQ at {AMQP_URL} is unreachable and CI=true: {type(exc).__name__}: {exc}")
        pytest.skip(f"RabbitMQ at {AMQP_URL} is unreachable ({type(exc).__name__}: {exc}); "
                    "start it (`rabbitmq-server -detached`) or set CI=true to make this a failure")
    yield connection
    await connection.close()


@pytest.fixture
async def topology(broker: AbstractConnection, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Topology]:
    prefix = f"test-{uuid.uuid4().hex[:10]}."
    monkeypatch.setattr(topology_module, "NAME_PREFIX", prefix)  # every bus built in this test uses it
    topo = Topology(delivery_limit=5, retry_delays_ms=RETRY_MS, prefix=prefix)
    channel = await broker.channel()
    await topo.declare(await channel.get_underlay_channel())
    yield topo
    await topo.delete(await channel.get_underlay_channel())
    await channel.close()


@pytest.fixture
async def aiohttp_client(topology: Topology, aiohttp_client):
    """pytest-aiohttp's factory, set up after the topology so that it is torn down before it: apps stop
    consuming before their queues are deleted (a robust channel would re-declare a queue deleted under it)."""
    return aiohttp_client


@pytest.fixture
def settings(db: str, topology: Topology) -> Settings:
    return Settings(db=db, amqp_url=AMQP_URL, retry_delays_ms=RETRY_MS,
                    admin_token="s3cret", shutdown_timeout=5.0, open_sources=frozenset(SOURCES),
                    read_token=READ_TOKEN)


@pytest.fixture
async def client(aiohttp_client, settings: Settings):
    return await aiohttp_client(create_app(settings))


class Subscriber:
    """An OMS stand-in: its own queue on `shipment-events`, bound with `#`."""

    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        self.messages.append({"routing_key": message.routing_key, "message_id": message.message_id,
                              "content_type": message.content_type, "persistent": message.delivery_mode == 2,
                              "event": orjson.loads(message.body)})
        await message.ack()

    @property
    def ids(self) -> list[str]:
        return [m["event"]["id"] for m in self.messages]

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[dict]:
        await eventually(lambda: len(self.messages) >= count, timeout,
                         lambda: f"{len(self.messages)} of {count} events arrived")
        return self.messages


@pytest.fixture
async def subscriber(broker: AbstractConnection, topology: Topology) -> AsyncIterator[Subscriber]:
    channel = await broker.channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(topology.events, routing_key="#")
    sub = Subscriber()
    await queue.consume(sub.on_message)
    yield sub
    await channel.close()


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float = 15.0,
                     describe: Callable[[], str] = lambda: "") -> None:
    """Poll until `check` holds; fail with what was seen otherwise (the broker tests pass `describe` second)."""
    await settling.eventually(check, timeout, what="condition not met:", describe=describe, every=0.05)


async def queue_depth(broker: AbstractConnection, name: str) -> int:
    channel = await broker.channel()
    try:
        ok = await (await channel.get_underlay_channel()).queue_declare(queue=name, passive=True)
        return ok.message_count or 0
    finally:
        await channel.close()


async def rabbitmqctl(*args: str) -> str:
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed here (a remote broker); this test closes connections with it")
    proc = await asyncio.create_subprocess_exec("rabbitmqctl", "-q", *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def close_connections_named(name: str) -> int:
    """Close, from the broker side, the connections a client named `name` (only those: others keep running)."""
    listing = await rabbitmqctl("list_connections", "--no-table-headers", "pid", "client_properties")
    pids = [line.split("\t")[0] for line in listing.splitlines() if f'{{"connection_name","{name}"}}' in line]
    for pid in pids:
        await rabbitmqctl("close_connection", pid, "test: simulated broker outage")
    return len(pids)


# --- the topology itself -----------------------------------------------------------------------
async def test_declaring_twice_is_idempotent_and_arguments_are_explicit(broker, topology):
    channel = await broker.channel()
    await topology.declare(await channel.get_underlay_channel())  # second time: same definitions, no error
    await channel.close()
    listing = await rabbitmqctl("list_queues", "--no-table-headers", "name", "type", "arguments")
    rows = {line.split("\t")[0]: line for line in listing.splitlines() if line.startswith(topology.prefix)}
    assert set(rows) == {topology.normalize, topology.dlq, *topology.retry_tiers}
    assert all("\tquorum\t" in row for row in rows.values())
    assert _arguments(rows[topology.normalize]) == {
        "x-queue-type": "quorum", "x-delivery-limit": "5", "x-dead-letter-exchange": topology.dlx,
        "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
    assert _arguments(rows[topology.retry_tiers[1]]) == {
        "x-queue-type": "quorum", "x-message-ttl": "400", "x-dead-letter-exchange": topology.raw,
        "x-dead-letter-routing-key": NORMALIZE_KEY, "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish"}


def _arguments(listing_row: str) -> dict[str, str]:
    """`[{"x-delivery-limit",5},{"x-overflow","reject-publish"}]` -> {name: value as text}."""
    return {k: v.strip('"') for k, v in re.findall(r'\{"([^"]+)",([^}]*)\}', listing_row.split("\t")[2])}


async def test_a_retry_tier_delays_then_returns_the_message_to_normalize(broker, topology):
    channel = await broker.channel(publisher_confirms=True, on_return_raises=True)
    retry = await channel.get_exchange(topology.retry, ensure=False)
    sent = time.monotonic()
    await retry.publish(aio_pika.Message(b"doc", headers={"inbox-id": 7, "attempt": 1}),
                        routing_key=topology.retry_tiers[0], mandatory=True)
    normalize = await channel.get_queue(topology.normalize, ensure=False)
    message = None
    while message is None and time.monotonic() - sent < 5:
        message = await normalize.get(fail=False)
        if message is None:
            await asyncio.sleep(0.02)
    assert message is not None, "the message never came back from the retry tier"
    assert time.monotonic() - sent >= RETRY_MS[0] / 1000 * 0.8  # it waited out the tier's TTL
    assert message.body == b"doc" and message.headers["inbox-id"] == 7 and message.routing_key == NORMALIZE_KEY
    await message.ack()
    await channel.close()


async def test_the_dead_letter_exchange_feeds_the_dlq(broker, topology):
    channel = await broker.channel(publisher_confirms=True, on_return_raises=True)
    dlx = await channel.get_exchange(topology.dlx, ensure=False)
    await dlx.publish(aio_pika.Message(b"poison"), routing_key="anything", mandatory=True)
    await eventually(lambda: _depth_is(broker, topology.dlq, 1), 5, lambda: "the DLQ stayed empty")
    await channel.close()


async def _depth_is(broker: AbstractConnection, name: str, expected: int) -> bool:
    return await queue_depth(broker, name) == expected
