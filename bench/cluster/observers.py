"""The receiving side of a run: an OMS consuming CloudEvents from RabbitMQ, a reader following `/v1/events`
through the balancer, and the accounting of every 202 against what both of them saw."""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
import orjson

from .nodes import ADMIN_TOKEN, AMQP_URL


@dataclass
class Seen:
    """Each event id with how often it arrived, and each subject (tracking number) with its event ids."""

    ids: Counter = field(default_factory=Counter)
    subjects: dict[str, set[str]] = field(default_factory=dict)
    last: float = 0.0  # monotonic time of the latest arrival
    derived: set[str] = field(default_factory=set)  # ids of events the service derived (sweeps), not scans

    def add(self, event: dict) -> None:
        self.last = time.monotonic()
        if event["data"]["event"]["provenance"].get("channel") == "derived":
            self.derived.add(event["id"])
            return
        self.ids[event["id"]] += 1
        self.subjects.setdefault(event["subject"], set()).add(event["id"])


class OmsConsumer:
    """A plain aio-pika consumer bound to the run's `shipment-events` with `#` (an exclusive queue: the OMS of
    the run), taking deliveries without acks so its own cost stays small."""

    def __init__(self, prefix: str) -> None:
        self.prefix, self.seen = prefix, Seen()

    async def __aenter__(self) -> OmsConsumer:
        import aio_pika

        from service.amqp.topology import Topology

        self._connection = await aio_pika.connect(AMQP_URL)
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=2000)
        await Topology(prefix=self.prefix).declare(await channel.get_underlay_channel())
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(f"{self.prefix}shipment-events", routing_key="#")

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            self.seen.add(orjson.loads(message.body))

        await queue.consume(on_message, no_ack=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._connection.close()


class FeedReader:
    """Follows `/v1/events` cursors through the balancer, as an OMS without a broker would; a refused or
    failed page is simply asked again."""

    def __init__(self, lb_url: str) -> None:
        self.url, self.seen, self.cursor, self.errors = lb_url, Seen(), "0", 0
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> FeedReader:
        self._task = asyncio.create_task(self._follow())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _follow(self) -> None:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            while True:
                try:
                    async with session.get(f"{self.url}/v1/events",
                                           params={"after": self.cursor, "limit": "1000"}) as resp:
                        if resp.status != 200:
                            self.errors += 1
                            await asyncio.sleep(0.2)
                            continue
                        page = orjson.loads(await resp.read())
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    self.errors += 1
                    await asyncio.sleep(0.2)
                    continue
                for event in page["events"]:
                    self.seen.add(event)
                self.cursor = str(page["next"])
                if not page["events"]:
                    await asyncio.sleep(0.2)


@dataclass
class Account:
    """What became of every 202 of a run."""

    accepted: int
    refused: Counter
    lost_bus: int  # acknowledged tracking numbers with no event on the bus
    duplicated_bus: int  # tracking numbers with more than one distinct event id on the bus (one scan each)
    redelivered_bus: int  # deliveries of an id already delivered (at least once; the OMS dedupes by id)
    lost_feed: int
    duplicated_feed: int  # event ids the feed reader was given twice
    unacknowledged_stored: int  # events for requests that got no 202 (stored before the reply was lost)
    derived: int  # events the service derived itself (a stalled sweep), counted apart from scans

    def ok(self) -> bool:
        return not (self.lost_bus or self.duplicated_bus or self.lost_feed or self.duplicated_feed)


def account(accepted: list[str], refused: list[tuple[float, int]], bus: Seen, feed: Seen) -> Account:
    wanted = set(accepted)
    return Account(
        accepted=len(wanted),
        refused=Counter(status for _, status in refused),
        lost_bus=sum(1 for tn in wanted if tn not in bus.subjects),
        duplicated_bus=sum(1 for ids in bus.subjects.values() if len(ids) > 1),
        redelivered_bus=sum(n - 1 for n in bus.ids.values()),
        lost_feed=sum(1 for tn in wanted if tn not in feed.subjects),
        duplicated_feed=sum(n - 1 for n in feed.ids.values()),
        unacknowledged_stored=len(set(bus.subjects) - wanted),
        derived=len(bus.derived),
    )


async def settle(accepted: list[str], bus: Seen, feed: Seen, timeout: float) -> float:
    """Wait until every 202 shows on the bus and in the feed (or `timeout`); the seconds it took."""
    start = time.monotonic()
    wanted = set(accepted)
    while time.monotonic() - start < timeout:
        if wanted <= bus.subjects.keys() and wanted <= feed.subjects.keys():
            await asyncio.sleep(1.0)  # late redeliveries and duplicates would show now
            return time.monotonic() - start
        await asyncio.sleep(0.25)
    return time.monotonic() - start
