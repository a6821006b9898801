"""Replays and the unknown-code list in PostgreSQL (the filter itself: `service.store.repair`)."""
from __future__ import annotations

from datetime import datetime

import asyncpg

from .. import shapes
from ..repair import ReplayFilter, utc_bound


def _where(f: ReplayFilter) -> tuple[str, list[object]]:
    args: list[object] = [list(f.states)]
    clauses = ["state = ANY($1::text[])"]

    def arg(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    if f.source:
        clauses.append(f"source = {arg(f.source)}")
    if f.carrier:
        mark = arg(f.carrier)
        clauses.append(f"(source = {mark} OR id IN (SELECT inbox_id FROM events WHERE carrier = {mark}))")
    for bound, op in ((f.since, ">="), (f.until, "<")):
        if bound is not None:
            clauses.append(f"received_at {op} {arg(utc_bound(bound))}")
    if f.reason:
        clauses.append(f"position(lower({arg(f.reason)}) in lower(COALESCE(reason, ''))) > 0")
    return " AND ".join(clauses), args


async def select_replay(conn: asyncpg.Connection, f: ReplayFilter) -> list[int]:
    where, args = _where(f)
    return [r[0] for r in await conn.fetch(f"SELECT id FROM inbox WHERE {where} ORDER BY id LIMIT ${len(args) + 1}",
                                           *args, f.limit)]


async def mark_replay(conn: asyncpg.Connection, f: ReplayFilter, now: datetime) -> list[int]:
    """Back to `pending` with a fresh attempt count; returns the ids, in order."""
    where, args = _where(f)
    async with conn.transaction():
        rows = await conn.fetch(
            f"UPDATE inbox SET state = 'pending', attempts = 0, lease_until = NULL, updated_at = ${len(args) + 2} "
            f"WHERE id IN (SELECT id FROM inbox WHERE {where} ORDER BY id LIMIT ${len(args) + 1} FOR UPDATE) "
            f"RETURNING id", *args, f.limit, now)
    return sorted(r[0] for r in rows)


async def unmapped_codes(conn: asyncpg.Connection, limit: int, offset: int = 0) -> list[dict]:
    return [shapes.unmapped(r) for r in await conn.fetch(
        f"SELECT {shapes.columns(shapes.UNMAPPED_COLUMNS)} FROM unmapped ORDER BY count DESC, mapping_table, code "
        "LIMIT $1 OFFSET $2", limit, offset)]
