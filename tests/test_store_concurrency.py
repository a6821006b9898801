"""What holds with many processes sharing one store: each scenario opens several stores on the same database,
as separate processes (on separate machines, with PostgreSQL) would, and races them.

- duplicates are recognized whichever process stored the first copy;
- claims split the work, and a dead claimer's rows are taken over after its lease;
- one shipment's events are decided by one transaction at a time;
- the feed never skips a committed event, whatever order writers commit in;
- duties have one holder, budgets are shared, the actions stage and SLA checks act once.
"""
from __future__ import annotations

import asyncio
import os
import time
from datetime import datetime, timezone

import orjson

from service import normalizer
from service.actions.derived import _event
from service.actions.policy import load_policy
from service.polling.budget import SharedLimit
from service.store import Incoming, Store, Tracking, open_store
from taxonomy import ExceptionClass
from tests.backend import execute
from tests.docs import ups_track

JSON = "application/json"


async def stores(db: str, n: int) -> list[Store]:
    opened = [open_store(db) for _ in range(n)]
    for s in opened:
        await s.open()
    return opened


async def close(opened: list[Store]) -> None:
    for s in opened:
        await s.close()


async def test_the_same_body_at_two_processes_at_once_is_one_document(db):
    a, b = both = await stores(db, 2)
    try:
        for i in range(20):
            body = ups_track(f"1ZDUP{i:013d}", [("origin", "20260301", "180000")])
            first, second = await asyncio.gather(a.accept([Incoming("ups", body, JSON, {})]),
                                                 b.accept([Incoming("ups", body, JSON, {})]))
            assert first[0].id == second[0].id
            assert sorted([first[0].duplicate, second[0].duplicate]) == [False, True]
    finally:
        await close(both)


async def test_a_replayed_delivery_id_is_a_duplicate_at_any_process(db):
    a, b = both = await stores(db, 2)
    try:
        [original] = await a.accept([Incoming("usps", b'{"n": 1}', JSON, {}, delivery_id="msg_1")])
        [replayed] = await b.accept([Incoming("usps", b'{"n": 1, "resent": true}', JSON, {}, delivery_id="msg_1")])
        assert (replayed.id, replayed.duplicate, original.duplicate) == (original.id, True, False)
        racing = await asyncio.gather(*(s.accept([Incoming("usps", f'{{"m": {k}}}'.encode(), JSON, {},
                                                          delivery_id="msg_2")]) for k, s in enumerate(both)))
        ids = {r[0].id for r in racing}
        assert len(ids) == 1 and sorted(r[0].duplicate for r in racing) == [False, True]
        assert (await a.counts())["inbox_pending"] == 2  # one row per delivery id, not per copy
    finally:
        await close(both)


async def test_claims_split_the_rows_and_a_dead_claimers_rows_are_taken_over(db):
    a, b = both = await stores(db, 2)
    try:
        await a.accept([Incoming("ups", f"doc {i}".encode(), JSON, {}) for i in range(60)])
        taken: list[list[int]] = []
        for _ in range(3):
            rounds = await asyncio.gather(a.claim(10, 30), b.claim(10, 30))
            taken += [[r.id for r in rows] for rows in rounds]
        ids = [i for rows in taken for i in rows]
        assert len(ids) == len(set(ids)) == 60  # every row to one claimer
        await a.mark(ids, "pending")  # back to the start, then a claimer that dies holding rows
        dead = [r.id for r in await a.claim(5, 1.0)]
        assert not {r.id for r in await b.claim(100, 30)} & set(dead)  # still leased
        await asyncio.sleep(2.2)  # a lease is kept in whole seconds: it may last up to a second longer
        assert {r.id for r in await b.claim(100, 30)} == set(dead)  # the lease ran out: taken over
    finally:
        await close(both)


async def test_a_relay_renewing_its_lease_keeps_its_rows_and_a_dead_relays_rows_go_out_again(db):
    a, b = both = await stores(db, 2)
    try:
        await a.accept([Incoming("ups", f"relay doc {i}".encode(), JSON, {}) for i in range(20)])
        waiting = [r.id for r in await a.claim_for_relay(5, 1.0)]  # a window waiting for slow confirms
        dead = [r.id for r in await a.claim_for_relay(5, 1.0)]  # a relay that was killed holding these
        await a.renew_for_relay(waiting, 30.0)
        assert not {r.id for r in await b.claim_for_relay(100, 30.0)} & set(waiting + dead)
        await asyncio.sleep(2.2)  # past the first lease (kept in whole seconds in SQLite)
        taken = {r.id for r in await b.claim_for_relay(100, 30.0)}
        assert taken == set(dead)  # the dead relay's rows, not the renewed ones
    finally:
        await close(both)


async def test_one_shipments_documents_are_decided_one_transaction_at_a_time(db):
    a, b = both = await stores(db, 2)
    try:
        for k in range(15):
            tn = f"1ZRACE{k:012d}"
            docs = [ups_track(tn, [("arrived", "20260302", "080000")]), ups_track(tn, [("out", "20260303", "080000")])]
            accepted = await a.accept([Incoming("ups", d, JSON, {}) for d in docs])
            rows = await a.inbox_rows([x.id for x in accepted])
            await asyncio.gather(*(s.apply([(row.id, normalizer.normalize_row(row))]) for s, row in zip(both, rows)))
            shipment = await a.shipment("ups", tn)
            assert shipment["status"] == "out_for_delivery"
        events = [orjson.loads(item.body) for item in await a.events_after(0, 1000)]
        for tn in {e["subject"] for e in events}:
            chain = [e["data"]["shipment"] for e in events if e["subject"] == tn]
            # each event's "before" is what the previous one left: no two transactions decided from one history
            assert [c["status_before"] for c in chain] == ["unknown", chain[0]["status"]], chain
    finally:
        await close(both)


def _batch(writer: int, start: int, size: int):
    now = datetime.now(timezone.utc)
    moment = datetime(2026, 3, 1, tzinfo=timezone.utc)
    return [_event("ups", f"1ZFEED{writer:02d}{start + i:010d}", ExceptionClass.STALLED, "STALLED", "feed test",
                   moment, now) for i in range(size)]


async def test_the_feed_never_skips_a_committed_event_with_concurrent_writers(db):
    """8 writers commit in whatever order the database lets them; one reader follows the cursor as it goes.
    Every event must be seen exactly once, in cursor order. `CARRIER_EVENTS_TEST_FEED_EVENTS` sets the size
    (16,000 by default, to keep the suite short; the release check runs it with 100,000)."""
    total = int(os.environ.get("CARRIER_EVENTS_TEST_FEED_EVENTS", 16_000))
    writers, batch = 8, 50
    opened = await stores(db, writers + 1)
    reader, writing = opened[0], opened[1:]
    seen: list[int] = []
    done = asyncio.Event()

    async def write(w: int) -> None:
        for start in range(0, total // writers, batch):
            await writing[w].apply_derived(_batch(w, start, batch))

    async def read() -> None:
        cursor = 0
        while True:
            finished = done.is_set()  # read once more after the writers finished
            items = await reader.events_after(cursor, 1000)
            seen.extend(item.seq for item in items)
            if items:
                cursor = items[-1].seq
            elif finished:
                return
            else:
                await asyncio.sleep(0.001)

    try:
        follower = asyncio.create_task(read())
        await asyncio.gather(*(write(w) for w in range(writers)))
        done.set()
        await follower
        committed = [item.seq for item in await reader.events_after(0, total * 2)]
    finally:
        await close(opened)
    assert len(committed) == total
    assert seen == committed  # each once, none skipped, in cursor order


async def test_a_duty_has_one_holder_and_is_taken_over_when_its_holder_stops(db):
    a, b = both = await stores(db, 2)
    try:
        assert await a.lease("sweep", "node-a", 1.0) and not await b.lease("sweep", "node-b", 1.0)
        assert await a.lease("sweep", "node-a", 1.0)  # renewed by its holder
        await asyncio.sleep(1.3)
        assert await b.lease("sweep", "node-b", 10.0) and not await a.lease("sweep", "node-a", 1.0)
        await b.release("sweep", "node-b")
        assert await a.lease("sweep", "node-a", 1.0)  # released: free at once
    finally:
        await close(both)


async def test_the_live_holders_of_a_lease_family_are_read_by_every_process(db):
    """Each process renews a lease of its own (`node:<holder>`); any process reads who is alive: the running
    leases of that family only, sorted; one released or expired drops out."""
    a, b, c = three = await stores(db, 3)
    try:
        assert await a.lease_holders("node:") == []
        assert await c.lease("node:gamma", "gamma", 10.0)
        assert await a.lease("node:alpha", "alpha", 10.0)
        assert await b.lease("node:beta", "beta", 1.0)
        assert await b.lease("node:Zeta", "Zeta", 10.0)  # sorted by code point, whatever the locale
        assert await a.lease("sweep", "delta", 10.0)  # another family: not a node
        assert await a.lease("nodes-all", "epsilon", 10.0)  # a name that only looks alike
        for reader in three:
            assert await reader.lease_holders("node:") == ["Zeta", "alpha", "beta", "gamma"]
        await c.release("node:gamma", "gamma")
        assert await b.lease_holders("node:") == ["Zeta", "alpha", "beta"]
        await asyncio.sleep(1.3)  # beta stopped renewing
        assert await c.lease_holders("node:") == ["Zeta", "alpha"]
        assert await c.lease_holders("sweep") == ["delta"]
    finally:
        await close(three)


async def test_a_poll_budget_holds_across_processes(db):
    """Three pollers of one carrier limited to 20 requests/s: no sliding second holds more than 20."""
    opened = await stores(db, 3)
    stamps: list[float] = []

    async def poll(store: Store) -> None:
        limit = SharedLimit(store, "ups", 20.0)
        end = time.monotonic() + 2.5
        while time.monotonic() < end:
            await limit.acquire()
            stamps.append(time.monotonic())

    try:
        await asyncio.gather(*(poll(s) for s in opened))
    finally:
        await close(opened)
    stamps.sort()
    busiest = max(sum(1 for t in stamps[i:] if t - start < 1.0) for i, start in enumerate(stamps))
    assert 15 <= busiest <= 20, busiest  # the limit, for all three together
    assert len(stamps) <= 20 + 2.5 * 20  # one full bucket plus the refill, not three


async def test_the_actions_stage_and_sla_checks_act_once_across_processes(db):
    a, b = both = await stores(db, 2)
    policy = load_policy()
    try:
        assert await a.start_actions() == await b.start_actions() == 0
        tn = "1ZONCE00000000001"
        await a.register([Tracking("ups", tn, customer={"email": "ada@example.com"})])
        # UPS X/AJ, merchandise missing: the shipped policy escalates to claims at once, and notifies on the
        # scan before (arrived: no rule) nothing
        body = ups_track(tn, [("arrived", "20260310", "080000"), ("lost", "20260311", "090000")])
        [accepted] = await a.accept([Incoming("ups", body, JSON, {})])
        [row] = await a.inbox_rows([accepted.id])
        await a.apply([(row.id, normalizer.normalize_row(row))])
        acted = await asyncio.gather(a.act(policy, 200), b.act(policy, 200))
        assert sum(x.events for x in acted) == 2  # each event acted on by one of them
        [escalation] = await a.escalations({"tracking_number": tn})
        detail = await a.escalation(int(escalation["id"]))
        assert [line["action"] for line in detail["audit"]] == ["opened"]
        await execute(a, "UPDATE escalations SET sla_due_at = '2020-01-01T00:00:00Z'")
        results = await asyncio.gather(a.promote_and_breach(), b.promote_and_breach())
        assert sum(breached for _, breached in results) == 1  # raised once
        detail = await a.escalation(int(escalation["id"]))
        assert [line["action"] for line in detail["audit"]] == ["opened", "sla_breached"]
    finally:
        await close(both)


async def test_escalation_changes_follow_their_cursor_in_commit_order(db):
    """Audit lines written by concurrent transactions come out of `escalation_changes` in id order with no
    gap a later commit could fill (the cursor moves past what it read)."""
    a, b = both = await stores(db, 2)
    policy = load_policy()
    try:
        await a.start_actions()
        for k in range(6):
            tn = f"1ZAUDIT{k:011d}"
            body = ups_track(tn, [("lost", "20260311", "090000")])
            [accepted] = await a.accept([Incoming("ups", body, JSON, {})])
            [row] = await a.inbox_rows([accepted.id])
            await a.apply([(row.id, normalizer.normalize_row(row))])
        await a.act(policy, 200)
        listed = await a.escalations({})
        ids = [int(e["id"]) for e in listed]
        await asyncio.gather(*(s.transition(i, "acknowledge", "grace") for s, i in zip(both * 3, ids)))
        changes = await b.escalation_changes("test.cursor", 1000)
        seqs = [c.seq for c in changes]
        assert seqs == sorted(seqs) and len(seqs) == 12  # 6 opened, 6 acknowledged
        await b.advance_escalation_cursor("test.cursor", seqs[-1])
        assert await a.escalation_changes("test.cursor", 1000) == []
    finally:
        await close(both)

