"""Bring a store file written by an older version to the current table shapes, in place.

Run by every process that opens the file (`serve`, workers, the CLI), so each
step checks the shape it finds rather than trusting a version number, and
runs in one `BEGIN IMMEDIATE` transaction: two processes starting together
take turns, the second finds the work done, and a crash midway leaves the
old tables as they were.

Version 3 rebuilds two tables whose indexes cost a random page write per
event: `events` clustered by event id with a separate history index becomes
one table clustered by shipment, and `outbox` loses its unique `event_id`
index (uniqueness is kept by `events`). Rows, outbox sequence numbers (the
HTTP feed's cursors) and the AUTOINCREMENT high-water mark are carried over.
"""
from __future__ import annotations

import logging
import sqlite3
import time

from .schema import OUTBOX_INDEX, events_table, outbox_table

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


def upgrade(conn: sqlite3.Connection) -> list[str]:
    """Rebuild what is still in an old shape; the names of the tables rebuilt (none: nothing to do)."""
    if not needed(conn):
        return []
    started = time.monotonic()
    done: list[str] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        if _events_keyed_by_event_id(conn):
            _rebuild_events(conn)
            done.append("events")
        if _outbox_has_unique_event_id(conn):
            _rebuild_outbox(conn)
            done.append("outbox")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if done:
        log.warning("store upgraded: rebuilt %s in %.1f s", ", ".join(done), time.monotonic() - started)
    return done


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
