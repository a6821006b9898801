"""The delivery log's pruning duty on both stores: each subscription's newest attempts kept, nothing older
than the retention, deleted in short chunks."""
from __future__ import annotations

from datetime import timedelta

import pytest

from service.outbound import pruning
from service.outbound.pruning import LogPruner
from tests.test_subscriptions_store import T0, attempt, opened, subscription


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(pruning, "CHUNK", 4)  # several chunks per round, as a large log takes


async def test_a_round_keeps_each_subscriptions_newest_attempts_and_none_past_the_retention(db):
    store = await opened(db)
    try:
        busy, quiet = subscription(1), subscription(2)
        for sub in (busy, quiet):
            await store.create_subscription(sub)
        day = 86_400
        await store.record_attempts([attempt(busy, seq, 1, moment=10 * day + seq) for seq in range(1, 31)]
                                    + [attempt(quiet, seq, 1, moment=seq) for seq in range(1, 4)]  # 10 days old
                                    + [attempt(quiet, 10, 1, moment=10 * day)])
        pruner = LogPruner(store, keep=10, days=7, pause=0, now=lambda: T0 + timedelta(days=10, hours=1))
        assert await pruner.prune() == 20 + 3
        assert [a.seq for a in await store.delivery_log(busy.id)] == list(range(30, 20, -1))
        assert [a.seq for a in await store.delivery_log(quiet.id)] == [10]  # the old ones went though few
        assert await pruner.prune() == 0
    finally:
        await store.close()


async def test_one_process_among_several_prunes(db):
    one, two = await opened(db), await opened(db)
    try:
        first, second = LogPruner(one, keep=1, days=7), LogPruner(two, keep=1, days=7)
        assert await first.duty.held() and not await second.duty.held()
        await first.close()  # a clean stop hands the duty on at once
        assert await second.duty.held()
        await second.close()
    finally:
        await one.close()
        await two.close()
