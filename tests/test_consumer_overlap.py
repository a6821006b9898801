"""The normalize consumer overlaps two batches, yet never acks a delivery before its transaction committed."""
from __future__ import annotations

import asyncio

from service import normalizer
from service.amqp.consumer import NormalizeConsumer
from service.config import Settings
from service.store import Applied, InboxRow


class FakeDelivery:
    def __init__(self, tag: int, acks: list) -> None:
        self.headers, self.message_id, self.delivery_tag, self._acks = {"inbox-id": tag}, f"m{tag}", tag, acks

    async def ack(self, multiple: bool = False) -> None:
        self._acks.append((self.delivery_tag, multiple))


class FakeStore:
    async def inbox_rows(self, ids: list[int]) -> list[InboxRow]:
        return [InboxRow(i, "ups", "2026-03-01T00:00:00Z", "webhook", "application/json", b"{}", "pending", 0, None)
                for i in ids]


async def test_the_second_batch_acks_only_after_the_first_committed(monkeypatch):
    acks: list[tuple[int, bool]] = []
    committed: list[int] = []

    async def process(store, rows, **options):
        first_batch = rows[0].id == 1
        await asyncio.sleep(0.2 if first_batch else 0.0)  # the first commit is slow, the second quick
        committed.append(rows[-1].id)
        return Applied()

    monkeypatch.setattr(normalizer, "process", process)
    consumer = NormalizeConsumer(FakeStore(), None, Settings())  # type: ignore[arg-type]
    one = [FakeDelivery(t, acks) for t in (1, 2, 3)]
    two = [FakeDelivery(t, acks) for t in (4, 5)]
    first = asyncio.create_task(consumer._guarded(one, None))
    second = asyncio.create_task(consumer._guarded(two, first))
    await asyncio.gather(first, second)
    assert committed == [5, 3]  # the second batch was done first ...
    assert acks == [(3, True), (5, True)]  # ... but its multiple-ack waited: it would have covered 1-3
    assert consumer.processed == 5


async def test_a_failing_first_batch_is_settled_before_the_second_acks(monkeypatch):
    acks: list[tuple[int, bool]] = []
    failed: list[int] = []

    async def process(store, rows, **options):
        if any(r.id == 2 for r in rows):
            await asyncio.sleep(0.1)
            raise RuntimeError("injected")
        return Applied()

    async def fail(message, row, exc):
        failed.append(row.id)
        await message.ack()  # as the retry tier path does after republishing

    monkeypatch.setattr(normalizer, "process", process)
    consumer = NormalizeConsumer(FakeStore(), None, Settings())  # type: ignore[arg-type]
    monkeypatch.setattr(consumer, "_failed", fail)
    one = [FakeDelivery(t, acks) for t in (1, 2)]
    two = [FakeDelivery(3, acks)]
    first = asyncio.create_task(consumer._guarded(one, None))
    second = asyncio.create_task(consumer._guarded(two, first))
    await asyncio.gather(first, second)
    assert failed == [2]
    assert acks == [(1, True), (2, False), (3, True)]  # 1 alone, 2 after its retry publish, then batch two
