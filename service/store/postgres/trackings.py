"""Registered trackings in PostgreSQL: register (insert, or merge what is given), read, list, deregister.

Registering the same new tracking from two API nodes at once is safe: the
insert is `ON CONFLICT DO NOTHING`, and the loser merges into the winner's
row under its row lock.
"""
from __future__ import annotations

from datetime import datetime

import asyncpg
import orjson

from ...core.rules import merged_customer
from ...rows import Tracking
from .. import shapes

_COLUMNS = shapes.columns(shapes.TRACKING_COLUMNS)


async def upsert(conn: asyncpg.Connection, items: list[Tracking], now: datetime) -> list[bool]:
    created: list[bool] = []
    async with conn.transaction():
        for t in items:
            inserted = await conn.fetchval(
                "INSERT INTO trackings (carrier, tracking_number, order_id, customer, locale, merchant, poll, "
                "registered_at, updated_at, next_poll_at, poll_state) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, "
                "$8, $9, $10) ON CONFLICT (carrier, tracking_number) DO NOTHING RETURNING true",
                t.carrier, t.tracking_number, t.order_id, orjson.dumps(t.customer).decode(), t.locale, t.merchant,
                t.poll, now, now if t.poll else None, "scheduled" if t.poll else "off")
            if inserted:
                created.append(True)
                continue
            stored = await conn.fetchval("SELECT customer::text FROM trackings WHERE carrier = $1 AND "
                                         "tracking_number = $2 FOR UPDATE", t.carrier, t.tracking_number)
            customer = merged_customer(orjson.loads(stored), t.customer)
            await conn.execute(
                "UPDATE trackings SET order_id = COALESCE($3, order_id), customer = $4::jsonb, "
                "locale = COALESCE($5, locale), merchant = COALESCE($6, merchant), poll = $7, updated_at = $8, "
                "next_poll_at = CASE WHEN $7 THEN COALESCE(next_poll_at, $8) ELSE NULL END, "
                "poll_state = CASE WHEN $7 THEN (CASE WHEN poll_state = 'off' THEN 'scheduled' ELSE poll_state END) "
                "ELSE 'off' END WHERE carrier = $1 AND tracking_number = $2",
                t.carrier, t.tracking_number, t.order_id, orjson.dumps(customer).decode(), t.locale, t.merchant,
                t.poll, now)
            created.append(False)
    return created


async def get(conn: asyncpg.Connection, carrier: str, tracking_number: str) -> dict | None:
    r = await conn.fetchrow(f"SELECT {_COLUMNS.replace('customer', 'customer::text')} FROM trackings "
                            "WHERE carrier = $1 AND tracking_number = $2", carrier, tracking_number)
    return shapes.tracking(r) if r else None


async def listing(conn: asyncpg.Connection, carrier: str | None, after: tuple[str, str] | None,
                  limit: int) -> list[dict]:
    clauses, args = [], []
    if carrier:
        args.append(carrier)
        clauses.append(f"carrier = ${len(args)}")
    if after:
        args += list(after)
        clauses.append(f"(carrier, tracking_number) > (${len(args) - 1}, ${len(args)})")
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    args.append(limit)
    rows = await conn.fetch(f"SELECT {_COLUMNS.replace('customer', 'customer::text')} FROM trackings {where} "
                            f"ORDER BY carrier, tracking_number LIMIT ${len(args)}", *args)
    return [shapes.tracking(r) for r in rows]


async def delete(conn: asyncpg.Connection, carrier: str, tracking_number: str) -> bool:
    status = await conn.execute("DELETE FROM trackings WHERE carrier = $1 AND tracking_number = $2",
                                carrier, tracking_number)
    return status != "DELETE 0"
