"""New events handed from a consumer to its relay: leased in the same transaction, never claimable twice."""
from __future__ import annotations

import time

from service import normalizer
from service.amqp.relay import OUTBOX_LEASE, OutboxRelay
from service.store import Incoming, Store, open_store
from tests.docs import ups_track


async def _stored(db: str, count: int = 2) -> tuple[Store, list]:
    store = open_store(db)
    await store.open()
    docs = [ups_track(f"1ZHANDOFF{i:09d}", [("origin", "20260301", "180000")]) for i in range(count)]
    accepted = await store.accept([Incoming(source="ups", body=d, content_type="application/json", headers={})
                                   for d in docs])
    return store, await store.inbox_rows([a.id for a in accepted])


async def test_leased_rows_come_back_to_the_caller_and_no_other_relay_can_claim_them(db):
    store, rows = await _stored(db)
    applied = await normalizer.process(store, rows, lease_outbox=OUTBOX_LEASE)
    assert len(applied.outbox_rows) == 2 == len(applied.outbox_seqs)
    seq, key, body, event_id, _trace, received = applied.outbox_rows[0]
    assert key == "picked_up.none.ups" and event_id.encode() in body and received > 0
    assert await store.claim_unsent(100) == []  # leased to the consumer's relay
    await store.close()


async def test_an_expired_lease_makes_the_rows_claimable_again(db):
    store, rows = await _stored(db)
    applied = await normalizer.process(store, rows, lease_outbox=-2.0)  # a lease that ran out (whole seconds)
    claimed = await store.claim_unsent(100)
    assert [r[0] for r in claimed] == applied.outbox_seqs
    await store.close()


async def test_without_a_lease_rows_are_only_claimed(db):
    store, rows = await _stored(db)
    applied = await normalizer.process(store, rows)
    assert applied.outbox_rows == [] and len(await store.claim_unsent(100)) == 2
    await store.close()


def test_a_relay_drops_handed_rows_whose_lease_is_nearly_over(tmp_path):
    import asyncio

    relay = OutboxRelay(None, None, asyncio.Event(), window=10)  # type: ignore[arg-type]
    relay.offer([("fresh",)])
    relay._handed.appendleft((time.monotonic() - OUTBOX_LEASE, ("stale",)))
    assert relay._take_handed() == [("fresh",)]  # the stale one is left for claim_unsent
