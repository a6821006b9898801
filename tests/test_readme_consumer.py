"""The README's example OMS consumer, run as written against the real broker and the running service."""
from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

from service.app import create_app
from service.config import SOURCES, Settings
from tests.docs import ups_track
from tests.test_amqp_support import AMQP_URL, broker  # noqa: F401 - the fixture skips/fails without a broker

README = Path(__file__).resolve().parent.parent / "README.md"


def _example() -> dict:
    block = re.search(r"```python\n(# oms_consumer\.py.*?)```", README.read_text("utf-8"), re.S)
    assert block, "the README lost its consumer example"
    namespace: dict = {"__name__": "oms_example"}
    exec(compile(block.group(1), "README.md:oms_consumer.py", "exec"), namespace)  # noqa: S102
    return namespace


async def test_readme_consumer_receives_bound_events(aiohttp_client, tmp_path, broker):  # noqa: F811
    example = _example()
    prefix = f"readme-{uuid.uuid4().hex[:8]}."
    settings = Settings(db=str(tmp_path / "r.db"), amqp_url=AMQP_URL, amqp_prefix=prefix, shutdown_timeout=5.0,
                        open_sources=frozenset(SOURCES))
    client = await aiohttp_client(create_app(settings))
    received: list[tuple[str, str]] = []
    stop = asyncio.Event()

    async def handle(routing_key: str, event: dict) -> None:
        received.append((routing_key, event["data"]["shipment"]["status"]))
        if any(key.startswith("delivered.") for key, _ in received):
            stop.set()

    queue_name = f"{prefix}oms"
    consumer = asyncio.create_task(example["main"](handle, url=AMQP_URL, exchange=f"{prefix}shipment-events",
                                                   queue_name=queue_name, stop=stop))
    try:
        await asyncio.sleep(1.0)  # the example declares and binds its queue
        doc = ups_track("1Z999AA10123456784", [("origin", "20260301", "180000"), ("delivered", "20260303", "141500")])
        for _ in range(2):  # a redelivered webhook changes nothing downstream
            assert (await client.post("/webhooks/ups", data=doc,
                                      headers={"Content-Type": "application/json"})).status == 202
        await asyncio.wait_for(stop.wait(), 20)
    finally:
        stop.set()
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        await client.close()  # the app stops before its topology goes, or it would declare it again
        channel = await broker.channel()
        await channel.queue_delete(queue_name)
        from service.amqp.topology import Topology
        await Topology(prefix=prefix).delete(await channel.get_underlay_channel())
        await channel.close()
    # Bound: delivered.# and *.*.ups; both events are UPS, so both arrive, once each.
    assert received == [("picked_up.none.ups", "picked_up"), ("delivered.none.ups", "delivered")]
