"""A store file of schema version 2 is upgraded in place when opened: rows, feed cursors and the outbox's
sequence high-water mark survive, and the upgraded store dedupes and publishes as before."""
from __future__ import annotations

import asyncio
import sqlite3

from service import normalizer
from service.store import Incoming, SqliteStore as Store
from service.store.sqlite import migrations as migrations_module
from service.store.sqlite.schema import DDL, VERSION, events_table, outbox_table
from tests.docs import ups_track

# The two tables as version 2 created them, verbatim.
V2_EVENTS = """CREATE TABLE IF NOT EXISTS events (
    event_id        TEXT PRIMARY KEY,
    carrier         TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    occurred_at     TEXT NOT NULL,
    status          TEXT NOT NULL,
    exception_class TEXT,
    inbox_id        INTEGER,
    body            BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_by_shipment ON events (carrier, tracking_number, occurred_at);"""
V2_OUTBOX = """CREATE TABLE IF NOT EXISTS outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL UNIQUE,
    routing_key TEXT NOT NULL,
    body        BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    sent_at     TEXT,
    lease_until TEXT,
    traceparent TEXT,
    received_epoch REAL
);"""
TN = "1ZMIGRATE00000001"


def _v2_file(path: str) -> None:
    """A version-2 store holding two events of one shipment, their outbox rows (one sent), and an
    AUTOINCREMENT high-water mark above the last row (a row was deleted: its seq must never return)."""
    ddl = DDL.replace(events_table(), V2_EVENTS).replace(outbox_table(), V2_OUTBOX)
    assert ddl != DDL and "events_by_shipment" in ddl
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(ddl)
    with conn:
        for n, (event_id, occurred, status) in enumerate((("e1", "2026-03-01T08:00:00Z", "picked_up"),
                                                           ("e2", "2026-03-02T08:00:00Z", "in_transit")), 1):
            conn.execute("INSERT INTO events VALUES (?, 'ups', ?, ?, ?, NULL, 1, ?)",
                         (event_id, TN, occurred, status, b'{"event_id": "%s"}' % event_id.encode()))
            conn.execute("INSERT INTO outbox (seq, event_id, routing_key, body, created_at, sent_at) "
                         "VALUES (?, ?, ?, ?, '2026-03-02T09:00:00Z', ?)",
                         (n * 10, event_id, f"{status}.none.ups", b"{}", "2026-03-02T09:00:01Z" if n == 1 else None))
        conn.execute("INSERT INTO outbox (seq, event_id, routing_key, body, created_at) "
                     "VALUES (30, 'gone', 'x.none.ups', x'7b7d', '2026-03-02T09:00:00Z')")
        conn.execute("DELETE FROM outbox WHERE seq = 30")
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '2')")
    conn.close()


async def test_a_version_2_file_is_upgraded_in_place_and_keeps_its_rows_and_cursors(tmp_path):
    path = str(tmp_path / "v2.db")
    _v2_file(path)
    store = Store(path)
    await store.open()
    conn = sqlite3.connect(path)
    try:
        assert not migrations_module.needed(conn)
        assert [r[1] for r in conn.execute("PRAGMA index_list(events)")] == ["sqlite_autoindex_events_1"]
        assert [(r[1], r[5]) for r in conn.execute("PRAGMA table_info(events)") if r[5]] == [
            ("event_id", 3), ("carrier", 1), ("tracking_number", 2)]
        assert [r[1] for r in conn.execute("PRAGMA index_list(outbox)")] == ["outbox_unsent"]
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(VERSION),)
        assert conn.execute("SELECT seq, event_id, sent_at FROM outbox ORDER BY seq").fetchall() == [
            (10, "e1", "2026-03-02T09:00:01Z"), (20, "e2", None)]
        assert conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone() == (30,)
        assert conn.execute("SELECT event_id FROM events WHERE carrier = 'ups' AND tracking_number = ? "
                            "ORDER BY occurred_at", (TN,)).fetchall() == [("e1",), ("e2",)]
    finally:
        conn.close()
    assert [seq for seq, _ in await store.events_after(0, 10)] == [10, 20]  # the feed's cursors are unchanged
    assert [r[3] for r in await store.claim_unsent(10)] == ["e2"]  # unsent stays unsent

    # The upgraded store works: a new document's event gets a seq above the old high-water mark,
    # and the same document again adds nothing.
    body = ups_track("1ZMIGRATE00000002", [("origin", "20260303", "080000")])
    for _ in range(2):
        accepted = await store.accept([Incoming(source="ups", body=body + b" " * _, content_type="application/json",
                                                headers={})])
        applied = await normalizer.process(store, await store.inbox_rows([accepted[0].id]))
        if _ == 0:
            assert applied.new_events == 1 and applied.outbox_seqs == [31]
        else:
            assert applied.new_events == 0 and applied.duplicate_events == 1
    await store.close()


async def test_two_processes_opening_an_old_file_together_upgrade_it_once(tmp_path):
    path = str(tmp_path / "v2.db")
    _v2_file(path)
    first, second = Store(path), Store(path)
    await asyncio.gather(first.open(), second.open())
    conn = sqlite3.connect(path)
    try:
        assert not migrations_module.needed(conn)
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone() == (2,)
        assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone() == (2,)
        assert conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '%_v3'").fetchall() == []
    finally:
        conn.close()
    await first.close()
    await second.close()


def test_a_failed_upgrade_leaves_the_old_tables_as_they_were(tmp_path, monkeypatch):
    path = str(tmp_path / "v2.db")
    _v2_file(path)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE outbox_v3 (seq INTEGER PRIMARY KEY)")
        raise sqlite3.OperationalError("disk I/O error")  # midway through the second table

    monkeypatch.setattr(migrations_module, "_rebuild_outbox", broken)
    conn = sqlite3.connect(path, isolation_level="DEFERRED")
    try:
        try:
            migrations_module.upgrade(conn)
        except sqlite3.OperationalError:
            pass
        else:
            raise AssertionError("the injected failure did not surface")
        assert migrations_module.needed(conn)
        assert "events_by_shipment" in {r[1] for r in conn.execute("PRAGMA index_list(events)")}
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone() == (2,)
        assert conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '%_v3'").fetchall() == []
    finally:
        conn.close()


async def test_a_version_3_file_gains_the_coordination_tables(tmp_path):
    path = str(tmp_path / "v3.db")
    conn = sqlite3.connect(path)
    conn.executescript(DDL)
    with conn:
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '3')")
        conn.execute("INSERT INTO outbox (seq, event_id, routing_key, body, created_at) "
                     "VALUES (7, 'e7', 'x.none.ups', x'7b7d', '2026-03-02T09:00:00Z')")
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'leases'").fetchone() is None
    conn.close()
    store = Store(path)
    await store.open()
    try:
        assert await store.lease("sweep", "me", 5) and not await store.lease("sweep", "other", 5)
        assert await store.take_tokens("poll:ups", 10, 1) == 0
        assert [item.seq for item in await store.events_after(0, 10)] == [7]
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(VERSION),)
    finally:
        conn.close()


async def test_a_version_4_file_gains_event_routes_from_the_stored_bodies_and_the_sources_table(tmp_path):
    path = str(tmp_path / "v4.db")
    conn = sqlite3.connect(path)
    v4_events = "\n".join(line for line in DDL.splitlines()
                           if not line.lstrip().startswith(("route ", "place ", "revision ", "basis ")))
    conn.executescript(v4_events)
    assert "route" not in {r[1] for r in conn.execute("PRAGMA table_info(events)")}
    with conn:
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '4')")
        conn.execute("INSERT INTO events VALUES ('e1', 'ups', ?, '2026-03-01T08:00:00Z', 'picked_up', NULL, 1, ?)",
                     (TN, b'{"event_id": "e1", "provenance": {"parser": "ups.track_json"}}'))
    conn.close()
    store = Store(path)
    await store.open()
    await store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(VERSION),)
        assert conn.execute("SELECT route, place, revision FROM events").fetchall() == [("ups.track_json", None, 1)]
        assert conn.execute("SELECT COUNT(*) FROM event_sources").fetchone() == (0,)
    finally:
        conn.close()


async def test_a_fresh_postgresql_database_is_migrated_once_by_processes_starting_together(pg_empty_url):
    import asyncpg

    from service.store.postgres import PostgresStore
    from service.store.postgres.schema import VERSION

    stores = [PostgresStore(pg_empty_url) for _ in range(3)]
    await asyncio.gather(*(s.open() for s in stores))
    for s in stores:
        await s.close()
    conn = await asyncpg.connect(pg_empty_url)
    try:
        versions = [r[0] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")]
        assert versions == list(range(1, VERSION + 1))
    finally:
        await conn.close()


async def test_a_postgresql_database_of_the_previous_schema_is_upgraded_and_keeps_its_rows(pg_empty_url):
    import asyncpg

    from service.store.postgres import PostgresStore, migrations as pg_migrations

    conn = await asyncpg.connect(pg_empty_url)
    try:
        assert await pg_migrations.migrate(conn, up_to=1) == [1]
        await conn.execute("INSERT INTO inbox (source, digest, received_at, channel, headers, body) "
                           "VALUES ('ups', '\\x01', now(), 'webhook', '{}', 'old')")
        await conn.execute("INSERT INTO outbox (seq, event_id, routing_key, body, created_at) "
                           "VALUES (nextval('outbox_seq'), 'e1', 'x.none.ups', '{}', now())")
        assert await conn.fetchval("SELECT to_regclass('leases')") is None
        await conn.execute("INSERT INTO events (carrier, tracking_number, event_id, occurred_at, status, body) "
                           "VALUES ('ups', '1ZOLD', 'e0', now(), 'in_transit', "
                           "convert_to('{\"provenance\": {\"parser\": \"ups.track_json\"}}', 'UTF8'))")
    finally:
        await conn.close()
    store = PostgresStore(pg_empty_url)
    await store.open()
    try:
        assert await store.lease("sweep", "me", 5)
        assert (await store.counts())["inbox_pending"] == 1
        body = ups_track("1ZMIGRATE00000003", [("origin", "20260303", "080000")])
        [accepted] = await store.accept([Incoming("ups", body, "application/json", {})])
        applied = await normalizer.process(store, await store.inbox_rows([accepted.id]))
        assert applied.outbox_seqs == [2]  # the feed continues after the old rows
        assert [item.seq for item in await store.events_after(0, 10)] == [1, 2]
        conn = await asyncpg.connect(pg_empty_url)
        try:  # version 3: the stored event's route comes from its body; sources start empty
            assert await conn.fetchval("SELECT route FROM events WHERE event_id = 'e0'") == "ups.track_json"
            assert await conn.fetchval("SELECT COUNT(*) FROM event_sources") == 0
        finally:
            await conn.close()
    finally:
        await store.close()
