"""Relay windows overlap by one against the real broker: the next window goes out while the previous one
waits for its mark, a row in flight is never sent twice, and a third window waits for the first."""
from __future__ import annotations

import asyncio

from aio_pika.abc import AbstractConnection

from service.amqp.link import Link
from service.amqp.relay import InboxRelay
from service.amqp.topology import Topology
from service.store import Incoming, SqliteStore as Store
from tests.docs import stream_number, ups_track
from tests.test_amqp_support import AMQP_URL, broker, eventually, queue_depth, topology  # noqa: F401 - fixtures


class GatedStore(Store):
    """The first `mark_queued` waits for the test to open the gate (a slow commit, as under load)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.gate = asyncio.Event()
        self.marks: list[list[int]] = []

    async def mark_queued(self, ids: list[int]) -> None:
        if not self.marks:
            self.marks.append([])  # the first mark has started
            await self.gate.wait()
            self.marks[0] = list(ids)
        else:
            self.marks.append(list(ids))
        await super().mark_queued(ids)


async def _accept(store: Store, first: int, count: int) -> list[int]:
    accepted = await store.accept([
        Incoming(source="ups", body=ups_track(stream_number(n), [("origin", "20260301", "080000")]),
                 content_type="application/json", headers={}) for n in range(first, first + count)])
    return [a.id for a in accepted]


async def _message_ids(broker: AbstractConnection, queue: str, count: int) -> list[str]:
    channel = await broker.channel()
    try:
        q = await channel.get_queue(queue, ensure=False)
        ids = []
        for _ in range(count + 5):  # a few more than expected: a duplicate would show here
            message = await q.get(no_ack=True, fail=False, timeout=5)
            if message is None:
                break
            ids.append(message.message_id)
        return ids
    finally:
        await channel.close()


async def test_inbox_windows_overlap_by_one_and_never_send_a_row_twice(tmp_path, broker, topology: Topology):
    store = GatedStore(str(tmp_path / "r.db"))
    await store.open()
    link = Link(AMQP_URL, topology, role="test")
    link.open()
    assert await link.wait_ready(10)
    wake = asyncio.Event()
    relay = InboxRelay(store, link, wake, window=100)
    relay.start()
    try:
        first = await _accept(store, 0, 3)
        wake.set()
        await eventually(lambda: store.marks == [[]], 10, lambda: f"marks {store.marks}")  # window 1 is settling
        second = await _accept(store, 3, 2)
        wake.set()
        # Window 2 is published while window 1's mark still waits; window 1's rows are not sent again.
        await eventually(lambda: _depth_is(broker, topology.normalize, 5), 10,
                         lambda: "window 2 was not published during window 1's mark")
        third = await _accept(store, 5, 2)
        wake.set()
        await asyncio.sleep(0.5)
        assert await queue_depth(broker, topology.normalize) == 5  # a third window waits for the first to settle
        store.gate.set()
        await eventually(lambda: _depth_is(broker, topology.normalize, 7), 10, lambda: "window 3 never went out")
        await eventually(lambda: len(store.marks) == 3, 10, lambda: f"marks {store.marks}")
        assert store.marks == [first, second, third]
    finally:
        await relay.stop(5)
        await relay.close_channel()
        await link.close()
    ids = await _message_ids(broker, topology.normalize, 7)
    assert sorted(ids) == sorted(f"inbox-{i}" for i in first + second + third)  # each row once
    assert {row.state for row in await store.inbox_rows(first + second + third)} == {"queued"}
    await store.close()


async def _depth_is(broker: AbstractConnection, queue: str, depth: int) -> bool:
    return await queue_depth(broker, queue) == depth

