"""Reads for the API and operators in PostgreSQL: a shipment with its history, backlog counts, readiness."""
from __future__ import annotations

import asyncpg
import orjson

from .. import shapes


async def shipment(conn: asyncpg.Connection, carrier: str, tracking_number: str) -> dict | None:
    columns = shapes.columns(shapes.SHIPMENT_COLUMNS).replace("anomalies", "anomalies::text")
    row = await conn.fetchrow(f"SELECT {columns} FROM shipments WHERE carrier = $1 AND tracking_number = $2",
                              carrier, tracking_number)
    if row is None:
        return None
    events = [orjson.loads(r[0]) for r in await conn.fetch(
        "SELECT body FROM events WHERE carrier = $1 AND tracking_number = $2 ORDER BY occurred_at DESC, event_id",
        carrier, tracking_number)]
    sources = await conn.fetch(f"SELECT {shapes.columns(shapes.SOURCE_COLUMNS)} FROM event_sources WHERE "
                               "carrier = $1 AND tracking_number = $2 ORDER BY occurred_at, alias_id",
                               carrier, tracking_number)
    return shapes.shipment(carrier, tracking_number, row, events, sources)


async def counts(conn: asyncpg.Connection) -> dict[str, int]:
    out = {f"inbox_{r[0]}": r[1] for r in await conn.fetch("SELECT state, COUNT(*) FROM inbox GROUP BY state")}
    out["events"] = await conn.fetchval("SELECT COUNT(*) FROM events")
    out["outbox_unsent"] = await conn.fetchval("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")
    return out


async def touch(conn: asyncpg.Connection) -> None:
    """A write that proves the database takes writes (`/readyz`): a primary, not a read-only standby."""
    await conn.execute("INSERT INTO meta (key, value) VALUES ('ready_check', now()::text) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
