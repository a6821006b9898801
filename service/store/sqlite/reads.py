"""Reads for the API and operators in SQLite: a shipment with its history, backlog counts, readiness."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import orjson

from taxonomy.models import utc_text

from .. import shapes


def shipment(conn: sqlite3.Connection, carrier: str, tracking_number: str) -> dict | None:
    row = conn.execute(f"SELECT {shapes.columns(shapes.SHIPMENT_COLUMNS)} FROM shipments WHERE carrier = ? AND "
                       "tracking_number = ?", (carrier, tracking_number)).fetchone()
    if row is None:
        return None
    events = [orjson.loads(body) for (body,) in conn.execute(
        "SELECT body FROM events WHERE carrier = ? AND tracking_number = ? ORDER BY occurred_at DESC, event_id",
        (carrier, tracking_number))]
    sources = conn.execute(f"SELECT {shapes.columns(shapes.SOURCE_COLUMNS)} FROM event_sources WHERE carrier = ? "
                           "AND tracking_number = ? ORDER BY occurred_at, alias_id", (carrier, tracking_number))
    return shapes.shipment(carrier, tracking_number, row, events, sources.fetchall())


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    out = {f"inbox_{state}": n for state, n in conn.execute("SELECT state, COUNT(*) FROM inbox GROUP BY state")}
    out["events"] = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    out["outbox_unsent"] = conn.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]
    return out


def touch(conn: sqlite3.Connection) -> None:
    """A write that proves the file takes writes (`/readyz`)."""
    with conn:
        conn.execute("INSERT INTO meta (key, value) VALUES ('ready_check', ?) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (utc_text(datetime.now(timezone.utc)),))
