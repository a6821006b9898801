"""Registered trackings in SQLite: who a shipment belongs to (for notifications) and whether we poll it.

One row per (carrier, tracking number). Registering again updates the
metadata given and leaves the rest, so the OMS can send what it knows when it
knows it. The poll schedule lives beside it (`next_poll_at`), persisted so a
restart continues where it stopped instead of polling everything at once.
"""
from __future__ import annotations

import sqlite3

import orjson

from ...core.rules import merged_customer
from .. import shapes
from ...rows import Tracking

_COLUMNS = shapes.columns(shapes.TRACKING_COLUMNS)


def upsert(conn: sqlite3.Connection, items: list[Tracking], now: str) -> list[bool]:
    """Register or update; True where the tracking is new. One transaction for the whole list."""
    created: list[bool] = []
    with conn:
        for t in items:
            found = conn.execute("SELECT customer FROM trackings WHERE carrier = ? AND tracking_number = ?",
                                 (t.carrier, t.tracking_number)).fetchone()
            if found is None:
                conn.execute(
                    "INSERT INTO trackings (carrier, tracking_number, order_id, customer, locale, merchant, poll, "
                    "registered_at, updated_at, next_poll_at, poll_state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (t.carrier, t.tracking_number, t.order_id, orjson.dumps(t.customer).decode(), t.locale,
                     t.merchant, int(t.poll), now, now, now if t.poll else None, "scheduled" if t.poll else "off"))
                created.append(True)
                continue
            customer = merged_customer(orjson.loads(found[0]), t.customer)
            conn.execute(
                "UPDATE trackings SET order_id = COALESCE(?, order_id), customer = ?, locale = COALESCE(?, locale), "
                "merchant = COALESCE(?, merchant), poll = ?, updated_at = ?, "
                "next_poll_at = CASE WHEN ? THEN COALESCE(next_poll_at, ?) ELSE NULL END, "
                "poll_state = CASE WHEN ? THEN (CASE WHEN poll_state = 'off' THEN 'scheduled' ELSE poll_state END) "
                "ELSE 'off' END WHERE carrier = ? AND tracking_number = ?",
                (t.order_id, orjson.dumps(customer).decode(), t.locale, t.merchant, int(t.poll), now,
                 int(t.poll), now, int(t.poll), t.carrier, t.tracking_number))
            created.append(False)
    return created


def get(conn: sqlite3.Connection, carrier: str, tracking_number: str) -> dict | None:
    r = conn.execute(f"SELECT {_COLUMNS} FROM trackings WHERE carrier = ? AND tracking_number = ?",
                     (carrier, tracking_number)).fetchone()
    return shapes.tracking(r) if r else None


def listing(conn: sqlite3.Connection, carrier: str | None, after: tuple[str, str] | None,
            limit: int) -> list[dict]:
    """Ordered by (carrier, tracking number); `after` is the last pair of the previous page."""
    clauses, args = [], []
    if carrier:
        clauses.append("carrier = ?")
        args.append(carrier)
    if after:
        clauses.append("(carrier, tracking_number) > (?, ?)")
        args += list(after)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM trackings {where} ORDER BY carrier, tracking_number LIMIT ?",
                        [*args, limit])
    return [shapes.tracking(r) for r in rows]


def delete(conn: sqlite3.Connection, carrier: str, tracking_number: str) -> bool:
    with conn:
        return conn.execute("DELETE FROM trackings WHERE carrier = ? AND tracking_number = ?",
                            (carrier, tracking_number)).rowcount > 0
