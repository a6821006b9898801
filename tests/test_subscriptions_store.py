"""The `Subscriptions` port on both stores: subscriptions, their cursors over the feed, the delivery log, queued
redeliveries; and the schema step that adds them to a store written by the previous version."""
from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from service.actions.derived import _event
from service.rows import DeliveryAttempt, Subscription
from service.store import Store, open_store
from taxonomy import ExceptionClass
from taxonomy.models import utc_text
from tests.backend import execute

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)


def at(seconds: int) -> str:
    return utc_text(T0 + timedelta(seconds=seconds))


def subscription(n: int, **fields) -> Subscription:
    base = Subscription(id=f"sub_{n:024x}", url=f"https://oms{n}.example/hooks", filter=("exception.#", "*.*.ups"),
                        description=f"OMS {n}", enabled=True, secret=f"whsec_secret{n}", cursor=0,
                        created_at=at(0), updated_at=at(0))
    return replace(base, **fields)


def attempt(sub: Subscription, seq: int, n: int, *, ok: bool = True, moment: int = 0,
            event_id: str | None = None) -> DeliveryAttempt:
    return DeliveryAttempt(sub.id, seq, event_id or f"event-{seq}", n, ok, 200 if ok else 503, 12.5,
                           None if ok else "503 Service Unavailable", at(moment))


async def opened(db: str) -> Store:
    store = open_store(db)
    await store.open()
    return store


async def add_events(store: Store, count: int, start: int = 0) -> list[int]:
    """`count` new events in the outbox (derived stalled events of distinct shipments); their positions."""
    now = datetime.now(timezone.utc)
    shipments = [_event("ups", f"1ZSUBS{start + i:012d}", ExceptionClass.STALLED, "STALLED", "subscriptions test",
                        T0, now) for i in range(count)]
    return (await store.apply_derived(shipments)).outbox_seqs


async def test_a_subscription_is_created_read_listed_in_pages_updated_and_deleted(db):
    store = await opened(db)
    try:
        created = [subscription(n) for n in (3, 1, 2)]
        for s in created:
            await store.create_subscription(s)
        with pytest.raises(ValueError, match="exists"):
            await store.create_subscription(created[0])
        assert await store.subscription(created[1].id) == created[1]
        assert await store.subscription("sub_" + "f" * 24) is None

        first = await store.subscriptions(limit=2)
        rest = await store.subscriptions(after=first[-1].id, limit=2)
        assert [s.id for s in first + rest] == sorted(s.id for s in created)
        assert await store.subscriptions(after=rest[-1].id) == []

        # A failing streak and a disabled subscription, then enabled again with the streak cleared by the caller.
        s = created[0]
        failing = await store.update_subscription(s.id, {
            "enabled": False, "disabled_reason": "failing for 3 days: 503", "disabled_at": at(60),
            "failing_since": "2026-03-01T07:00:00+00:00", "next_attempt_at": at(90), "last_error": "503",
            "filter": ("delivered.none.*",), "previous_secret": "whsec_old", "previous_secret_until": at(3600)})
        assert failing is not None and not failing.enabled
        assert failing.filter == ("delivered.none.*",)  # a tuple again
        assert failing.failing_since == "2026-03-01T07:00:00Z"  # times in the one spelling
        assert failing.updated_at > s.updated_at  # stamped now
        assert failing.created_at == s.created_at and failing.url == s.url and failing.secret == s.secret
        assert await store.subscription(s.id) == failing

        enabled = await store.update_subscription(s.id, {"enabled": True, "disabled_reason": None,
                                                         "disabled_at": None, "failing_since": None,
                                                         "next_attempt_at": None, "last_error": None})
        assert enabled == replace(failing, enabled=True, disabled_reason=None, disabled_at=None, failing_since=None,
                                  next_attempt_at=None, last_error=None, updated_at=enabled.updated_at)
        assert await store.update_subscription("sub_" + "f" * 24, {"description": "x"}) is None
        for wrong in ({"id": "sub_other"}, {"created_at": at(5)}, {"colour": "red"}):
            with pytest.raises(ValueError):
                await store.update_subscription(s.id, wrong)

        # Deleting takes the log and the queued redeliveries with it.
        [seq] = await add_events(store, 1)
        [event] = await store.outbox_after(seq - 1, 1)
        await store.record_attempts([attempt(s, seq, 1, event_id=event.event_id)])
        assert await store.queue_redelivery(s.id, event.event_id)
        assert await store.delete_subscription(s.id)
        assert not await store.delete_subscription(s.id)
        assert await store.subscription(s.id) is None
        await store.create_subscription(s)  # the same id again starts empty
        assert await store.delivery_log(s.id) == [] and await store.take_redeliveries(s.id) == []
    finally:
        await store.close()


async def test_outbox_after_reads_the_feed_with_routing_keys_event_ids_and_commit_times(db):
    store = await opened(db)
    try:
        assert await store.outbox_after(0, 10) == [] and await store.feed_head() == 0
        seqs = await add_events(store, 5)
        events = await store.outbox_after(0, 3) + await store.outbox_after(seqs[2], 10)
        assert [e.seq for e in events] == seqs
        feed = await store.events_after(0, 10)
        assert [e.body for e in events] == [item.body for item in feed]  # the same CloudEvents as the feed
        for e in events:
            cloud = orjson.loads(e.body)
            assert e.event_id == cloud["id"]
            assert e.routing_key == "exception.stalled.ups"
            assert abs(datetime.fromisoformat(e.created_at) - datetime.now(timezone.utc)) < timedelta(minutes=5)
            assert e.created_at.endswith("Z")
        assert await store.feed_head() == seqs[-1]
    finally:
        await store.close()


async def test_feed_position_at_a_moment_is_the_last_position_stamped_before_it(db):
    store = await opened(db)
    try:
        seqs = await add_events(store, 4)
        for seq, moment in zip(seqs, (at(0), at(10), at(10), at(20))):
            await execute(store, f"UPDATE outbox SET created_at = '{moment}' WHERE seq = {seq}")
        assert await store.feed_position_at(at(-5)) == 0  # before everything: replay it all
        assert await store.feed_position_at(at(5)) == seqs[0]
        assert await store.feed_position_at(at(10)) == seqs[0]  # at the moment counts as after it
        assert await store.feed_position_at("2026-03-01T09:00:10.500+01:00") == seqs[0]  # its second, other zone
        assert await store.feed_position_at(at(15)) == seqs[2]
        assert await store.feed_position_at(at(3600)) == seqs[3] == await store.feed_head()
        # A later position stamped earlier (its transaction began first, committed last): a replay from the
        # moment includes the positions stamped after it that precede it.
        await execute(store, f"UPDATE outbox SET created_at = '{at(5)}' WHERE seq = {seqs[2]}")
        assert await store.feed_position_at(at(8)) == seqs[0]
    finally:
        await store.close()


async def test_advancing_a_cursor_is_compare_and_set_and_records_the_attempts_either_way(db):
    store = await opened(db)
    try:
        s = subscription(1)
        await store.create_subscription(s)
        await store.update_subscription(s.id, {"failing_since": at(1), "next_attempt_at": at(2), "last_error": "x"})
        assert await store.advance_subscription(s.id, 0, 40, [attempt(s, 10, 1, ok=False), attempt(s, 10, 2)])
        moved = await store.subscription(s.id)
        assert moved.cursor == 40
        assert (moved.failing_since, moved.next_attempt_at, moved.last_error) == (None, None, None)

        # A loop that read cursor 0 before (an operator replayed meanwhile, or another process moved it).
        assert not await store.advance_subscription(s.id, 0, 50, [attempt(s, 45, 1)])
        assert (await store.subscription(s.id)).cursor == 40
        assert [(a.seq, a.attempt, a.ok) for a in await store.delivery_log(s.id)] == [
            (45, 1, True), (10, 2, True), (10, 1, False)]

        # The same cursor again: the attempts are kept, nothing else changes (a failing streak stays).
        await store.update_subscription(s.id, {"failing_since": at(3)})
        assert await store.advance_subscription(s.id, 40, 40, [attempt(s, 41, 1, ok=False, moment=1)])
        assert not await store.advance_subscription(s.id, 39, 39, [])
        kept = await store.subscription(s.id)
        assert kept.cursor == 40 and kept.failing_since == at(3)
        assert len(await store.delivery_log(s.id)) == 4

        # A subscription deleted while its deliveries were in flight gains no log rows.
        await store.delete_subscription(s.id)
        assert not await store.advance_subscription(s.id, 40, 60, [attempt(s, 50, 1)])
        await store.record_attempts([attempt(s, 51, 1)])
        await store.create_subscription(s)
        assert await store.delivery_log(s.id) == []
    finally:
        await store.close()


async def test_of_loops_in_two_processes_advancing_from_one_cursor_exactly_one_moves_it(db):
    a, b = await opened(db), await opened(db)
    try:
        s = subscription(1)
        await a.create_subscription(s)
        for expected in (0, 100):
            targets = [expected + 10 + n for n in range(8)]
            results = await asyncio.gather(*(
                (a if n % 2 else b).advance_subscription(s.id, expected, target, [attempt(s, target, 1)])
                for n, target in enumerate(targets)))
            assert results.count(True) == 1
            winner = targets[results.index(True)]
            assert (await b.subscription(s.id)).cursor == winner
            await a.update_subscription(s.id, {"cursor": 100})  # an operator's replay sets it outright
        assert len(await a.delivery_log(s.id)) == 16  # every loser's attempts are logged too
    finally:
        await a.close()
        await b.close()


async def test_the_delivery_log_reads_newest_first_in_pages(db):
    store = await opened(db)
    try:
        s, other = subscription(1), subscription(2)
        for sub in (s, other):
            await store.create_subscription(sub)
        logged = [attempt(s, seq, 1, moment=seq // 3, ok=seq % 4 != 0) for seq in range(1, 13)]
        await store.record_attempts(logged[:5])
        await store.record_attempts(logged[5:] + [attempt(other, 7, 1, moment=100)])
        await store.record_attempts([])
        newest_first = sorted(logged, key=lambda a: (a.at, a.seq), reverse=True)

        pages, before = [], None
        while page := await store.delivery_log(s.id, limit=5, before=before):
            pages.append(page)
            before = (page[-1].at, page[-1].seq, page[-1].id)
        assert [len(p) for p in pages] == [5, 5, 2]
        assert [a._replace(id=0) for p in pages for a in p] == newest_first  # every field round trips
        assert all(a.id > 0 for p in pages for a in p)  # with the row id, which orders one (at, seq)
        assert [a.subscription_id for a in await store.delivery_log(other.id)] == [other.id]
    finally:
        await store.close()


async def test_redeliveries_are_queued_once_taken_oldest_first_until_done(db):
    store = await opened(db)
    try:
        s = subscription(1)
        await store.create_subscription(s)
        seqs = await add_events(store, 3)
        events = await store.outbox_after(0, 10)
        await store.record_attempts([attempt(s, events[2].seq, 1, event_id=events[2].event_id)])

        assert await store.queue_redelivery(s.id, events[2].event_id)  # found through the log
        assert await store.queue_redelivery(s.id, events[0].event_id)  # found in the feed
        assert await store.queue_redelivery(s.id, events[2].event_id)  # again: still queued once
        assert not await store.queue_redelivery(s.id, "no-such-event")
        assert not await store.queue_redelivery("sub_" + "f" * 24, events[0].event_id)

        assert await store.take_redeliveries(s.id) == [events[0], events[2]]
        assert await store.take_redeliveries(s.id, limit=1) == [events[0]]
        assert await store.take_redeliveries(s.id) == [events[0], events[2]]  # not yet done: still queued
        await store.done_redeliveries(s.id, [seqs[0]])
        await store.done_redeliveries(s.id, [])
        assert await store.take_redeliveries(s.id) == [events[2]]
        await store.done_redeliveries(s.id, [seqs[2]])
        assert await store.take_redeliveries(s.id) == []
        assert (await store.subscription(s.id)).cursor == 0  # outside the cursor
    finally:
        await store.close()


async def test_pruning_drops_old_log_rows_but_keeps_the_newest_of_each_subscription(db):
    store = await opened(db)
    try:
        a, b, c = subscription(1), subscription(2), subscription(3)
        for sub in (a, b, c):
            await store.create_subscription(sub)
        await store.record_attempts([attempt(a, seq, 1, moment=seq) for seq in range(1, 11)]  # 1..10 s
                                    + [attempt(b, seq, 1, moment=seq) for seq in range(1, 4)]
                                    + [attempt(c, seq, 1, moment=100 + seq) for seq in range(1, 6)])
        # Older than 8 s: a's 1..7 minus its newest 3 (8, 9, 10 are newer anyway) -> 7 rows; b keeps its 3;
        # c's rows are all newer.
        assert await store.prune_delivery_log(at(8), 3) == 7
        assert [x.seq for x in await store.delivery_log(a.id)] == [10, 9, 8]
        assert [x.seq for x in await store.delivery_log(b.id)] == [3, 2, 1]
        assert len(await store.delivery_log(c.id)) == 5
        # Keeping 1: b loses its two older rows; a keeps 10 and 9, 8 (not older than 8 s).
        assert await store.prune_delivery_log(at(8), 1) == 2
        assert [x.seq for x in await store.delivery_log(a.id)] == [10, 9, 8]
        assert [x.seq for x in await store.delivery_log(b.id)] == [3]
        assert await store.prune_delivery_log(at(1000), 0) == 9
        assert await store.prune_delivery_log(at(1000), 0) == 0
        # A limit: at most that many rows per call, the oldest of each subscription first
        await store.record_attempts([attempt(a, seq, 1, moment=seq) for seq in range(11, 21)]
                                    + [attempt(b, seq, 1, moment=seq) for seq in range(11, 14)])
        assert await store.prune_delivery_log(at(1000), 1, limit=4) == 4
        assert [x.seq for x in await store.delivery_log(a.id)] == list(range(20, 14, -1))
        assert await store.prune_delivery_log(at(1000), 1, limit=4) == 4
        assert await store.prune_delivery_log(at(1000), 1, limit=4) == 3  # 11 past the newest of each
        assert [x.seq for x in await store.delivery_log(a.id)] == [20]
        assert [x.seq for x in await store.delivery_log(b.id)] == [13]
    finally:
        await store.close()


async def test_a_schema_5_sqlite_file_gains_the_webhook_tables_and_keeps_its_rows(tmp_path):
    from service.store.sqlite.schema import COORDINATION, DDL, SOURCES, VERSION

    path = str(tmp_path / "v5.db")
    conn = sqlite3.connect(path)
    conn.executescript(DDL + COORDINATION + SOURCES)
    with conn:
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '5')")
        conn.execute("INSERT INTO outbox (seq, event_id, routing_key, body, created_at) "
                     "VALUES (7, 'e7', 'delivered.none.ups', x'7b7d', '2026-03-02T09:00:00Z')")
        conn.execute("INSERT INTO leases (name, holder, expires_at) VALUES ('sweep', 'me', 1e12)")
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'subscriptions'").fetchone() is None
    conn.close()

    store = open_store(path)
    await store.open()
    try:
        assert [(e.seq, e.event_id, e.body) for e in await store.outbox_after(0, 10)] == [(7, "e7", b"{}")]
        assert not await store.lease("sweep", "other", 5)
        s = subscription(1)
        await store.create_subscription(s)
        assert await store.queue_redelivery(s.id, "e7")
        assert [e.seq for e in await store.take_redeliveries(s.id)] == [7]
        added = await add_events(store, 1)
        assert [e.seq for e in await store.outbox_after(0, 10)] == [7, *added] and added == [8]
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(VERSION),)
        assert "webhook_attempts_newest" in {r[1] for r in conn.execute("PRAGMA index_list(webhook_attempts)")}
    finally:
        conn.close()


async def test_a_step_4_postgresql_database_gains_the_webhook_tables_and_keeps_its_rows(pg_empty_url):
    import asyncpg

    from service.store.postgres import migrations as pg_migrations

    conn = await asyncpg.connect(pg_empty_url)
    try:
        assert await pg_migrations.migrate(conn, up_to=4) == [1, 2, 3, 4]
        await conn.execute("INSERT INTO outbox (seq, event_id, routing_key, body, created_at) "
                           "VALUES (nextval('outbox_seq'), 'e1', 'delivered.none.ups', '{}', now())")
        assert await conn.fetchval("SELECT to_regclass('subscriptions')") is None
    finally:
        await conn.close()
    store = open_store(pg_empty_url)
    await store.open()
    try:
        assert [(e.seq, e.event_id, e.body) for e in await store.outbox_after(0, 10)] == [(1, "e1", b"{}")]
        s = subscription(1)
        await store.create_subscription(s)
        assert await store.advance_subscription(s.id, 0, 1, [attempt(s, 1, 1, event_id="e1")])
        assert await store.queue_redelivery(s.id, "e1")
        added = await add_events(store, 1)
        assert [e.seq for e in await store.outbox_after(0, 10)] == [1, *added] and added == [2]
    finally:
        await store.close()
    conn = await asyncpg.connect(pg_empty_url)
    try:
        assert [r[0] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")] == [
            1, 2, 3, 4, 5]
    finally:
        await conn.close()
