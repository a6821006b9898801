"""Bring a store file written by an older version to the current schema, in place, step by step.

Run by every process that opens the file (`serve`, workers, the CLI) in one
`BEGIN IMMEDIATE` transaction: two processes starting together take turns,
the second finds the work done, and a crash midway leaves the old tables as
they were. A fresh file gets the latest schema at once. `meta.schema_version`
records the version; steps also check the shape they find, because files
before version 3 did not always record it.

- 3: `events` clustered by event id with a separate history index becomes
  one table clustered by shipment, and `outbox` loses its unique `event_id`
  index (uniqueness is kept by `events`). Rows, outbox sequence numbers (the
  HTTP feed's cursors) and the AUTOINCREMENT high-water mark are carried over.
- 4: `leases` and `budgets`, the coordination tables of duties and rate
  budgets shared by processes.
- 5: the cross-route match: `events.route` (backfilled from each stored
  event's `provenance.parser`) and `events.place` (left empty on stored
  events: an empty place is compatible with any), and `event_sources`;
  `events.revision` (1; corrections after a replay add one).
- 6: outbound webhooks: `subscriptions`, `webhook_attempts` (the delivery
  log) and `webhook_redeliveries`, empty; nothing existing changes.
- 7: `inbox_bodies`, large documents' bodies apart from their inbox rows;
  bodies stored before stay in their rows (reads take either).
"""
from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable

from .schema import (ADDED_COLUMNS, COORDINATION, DDL, INBOX_BODIES, LATEST, OUTBOX_INDEX, SOURCES, SUBSCRIPTIONS, VERSION,
                     events_table, outbox_table)

log = logging.getLogger(__name__)

EVENT_COLUMNS = "event_id, carrier, tracking_number, occurred_at, status, exception_class, inbox_id, body"
OUTBOX_COLUMNS = ("seq, event_id, routing_key, body, created_at, sent_at, lease_until, traceparent, "
                  "received_epoch")


def _events_keyed_by_event_id(conn: sqlite3.Connection) -> bool:
    primary = {row[1]: row[5] for row in conn.execute("PRAGMA table_info(events)")}
    return primary.get("event_id") == 1  # v3: carrier 1, tracking_number 2, event_id 3


def _outbox_has_unique_event_id(conn: sqlite3.Connection) -> bool:
    return any(row[3] == "u" for row in conn.execute("PRAGMA index_list(outbox)"))  # origin 'u': UNIQUE


def needed(conn: sqlite3.Connection) -> bool:
    return _events_keyed_by_event_id(conn) or _outbox_has_unique_event_id(conn)


def version(conn: sqlite3.Connection) -> int:
    """The file's schema version; 0 for a fresh file."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is None:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 1


def create_or_upgrade(conn: sqlite3.Connection) -> list[str]:
    """The latest schema on a fresh file, else every step the file is behind; the steps done."""
    if version(conn) == 0:
        conn.executescript(LATEST)  # CREATE ... IF NOT EXISTS: two processes creating together agree
        with conn:
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(VERSION),))
        return []
    if version(conn) >= VERSION and not needed(conn):
        return []
    return upgrade(conn)


def upgrade(conn: sqlite3.Connection) -> list[str]:
    """Run the steps still due, in one transaction; the names of what was done (none: nothing to do)."""
    started = time.monotonic()
    done: list[str] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = version(conn)
        _statements(conn, DDL)  # tables and indexes an old file may lack altogether (IF NOT EXISTS)
        for column_of in ADDED_COLUMNS:
            _add_column(conn, *column_of)
        for number, step in STEPS:
            if current < number or (number == 3 and needed(conn)):
                done.extend(step(conn))
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(VERSION),))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if done:
        log.warning("store upgraded to schema %d: %s in %.1f s", VERSION, ", ".join(done), time.monotonic() - started)
    return done


def _add_column(conn: sqlite3.Connection, table: str, column: str, kind: str) -> None:
    if column not in {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def _v3(conn: sqlite3.Connection) -> list[str]:
    done = []
    if _events_keyed_by_event_id(conn):
        _rebuild_events(conn)
        done.append("events rebuilt")
    if _outbox_has_unique_event_id(conn):
        _rebuild_outbox(conn)
        done.append("outbox rebuilt")
    return done


def _v4(conn: sqlite3.Connection) -> list[str]:
    _statements(conn, COORDINATION)
    return ["leases and budgets added"]


def _v5(conn: sqlite3.Connection) -> list[str]:
    _statements(conn, SOURCES)
    conn.execute("UPDATE events SET route = json_extract(CAST(body AS TEXT), '$.provenance.parser') "
                 "WHERE route IS NULL")
    return ["event routes and event_sources added"]


def _v6(conn: sqlite3.Connection) -> list[str]:
    _statements(conn, SUBSCRIPTIONS)
    return ["webhook subscriptions, delivery log and redeliveries added"]


def _v7(conn: sqlite3.Connection) -> list[str]:
    conn.execute(INBOX_BODIES)  # also in DDL, which `upgrade` ran first: this step names what it added
    return ["inbox_bodies added"]


def _statements(conn: sqlite3.Connection, script: str) -> None:
    """A script's statements inside the current transaction (`executescript` would commit first)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _rebuild_events(conn: sqlite3.Connection) -> None:
    conn.execute(events_table("events_v3"))
    conn.execute(f"INSERT INTO events_v3 ({EVENT_COLUMNS}) SELECT {EVENT_COLUMNS} FROM events")
    conn.execute("DROP TABLE events")  # with its history index
    conn.execute("ALTER TABLE events_v3 RENAME TO events")


def _rebuild_outbox(conn: sqlite3.Connection) -> None:
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
    high_water = row[0] if row else 0  # may be above MAX(seq): a seq once handed out is never reused
    conn.execute(outbox_table("outbox_v3"))
    conn.execute(f"INSERT INTO outbox_v3 ({OUTBOX_COLUMNS}) SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY seq")
    current = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox_v3'").fetchone()
    if current is None:
        conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox_v3', ?)", (high_water,))
    elif current[0] < high_water:
        conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'outbox_v3'", (high_water,))
    conn.execute("DROP TABLE outbox")  # its sqlite_sequence row and partial index go with it
    conn.execute("ALTER TABLE outbox_v3 RENAME TO outbox")  # renames the sqlite_sequence row too
    conn.execute(OUTBOX_INDEX)


STEPS: tuple[tuple[int, Callable[[sqlite3.Connection], list[str]]], ...] = (
    (3, _v3), (4, _v4), (5, _v5), (6, _v6), (7, _v7))
