"""Escalations as customer service sees them, in PostgreSQL (the same shapes and rules as SQLite).

A transition takes the audit lock before the escalation's row (the lock
order every writer of escalations keeps, see `actions.py`), so concurrent
changes from several API nodes serialize and their audit lines, the outbox
of changes, appear in commit order.
"""
from __future__ import annotations

from datetime import datetime

import asyncpg

from ...core.rules import transition_detail, transition_target
from ...rows import EscalationChange, EscalationCount
from .. import shapes
from .actions import audit
from .locks import lock_audit

_CASE = (f"SELECT {shapes.columns(shapes.ESCALATION_COLUMNS, 'e.')}, {shapes.columns(shapes.CASE_COLUMNS)} "
         "FROM escalations e LEFT JOIN trackings t ON t.carrier = e.carrier AND t.tracking_number = e.tracking_number")


async def listing(conn: asyncpg.Connection, filters: dict[str, str], limit: int, offset: int = 0) -> list[dict]:
    """Most urgent first: severity, then the SLA due soonest."""
    wanted, active = shapes.escalation_filters(filters)
    clauses, args = [], []
    for column, values in wanted:
        args.append(values)
        clauses.append(f"e.{column} = ANY(${len(args)}::text[])")
    if active:
        clauses.append("e.state <> 'resolved'")
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    args.extend((limit, offset))
    order = shapes.SEVERITY_ORDER.replace("severity", "e.severity")
    rows = await conn.fetch(f"{_CASE} {where} ORDER BY {order}, e.sla_due_at IS NULL, e.sla_due_at, e.id "
                            f"LIMIT ${len(args) - 1} OFFSET ${len(args)}", *args)
    found = await notices(conn, list({(r[1], r[2]) for r in rows}))
    return [shapes.case(r, found) for r in rows]


async def notices(conn: asyncpg.Connection, shipments: list[tuple[str, str]]) -> dict[tuple[str, str], list[dict]]:
    """The customer messages of these shipments, oldest first, in one query (a page of cases at once)."""
    if not shipments:
        return {}
    return shapes.notices_by_shipment(await conn.fetch(
        f"SELECT {shapes.columns(shapes.NOTICE_COLUMNS)} FROM notifications WHERE (carrier, tracking_number) IN "
        "(SELECT * FROM unnest($1::text[], $2::text[])) ORDER BY created_at, key",
        [c for c, _ in shipments], [t for _, t in shipments]))


async def get(conn: asyncpg.Connection, escalation_id: int) -> dict | None:
    r = await conn.fetchrow(f"{_CASE} WHERE e.id = $1", escalation_id)
    if r is None:
        return None
    out = shapes.case(r, await notices(conn, [(r[1], r[2])]))
    out["audit"] = [shapes.audit_line(a) for a in await conn.fetch(
        f"SELECT {shapes.columns(shapes.AUDIT_COLUMNS)} FROM escalation_audit WHERE escalation_id = $1 ORDER BY id",
        escalation_id)]
    return out


async def transition(conn: asyncpg.Connection, escalation_id: int, action: str, actor: str, now: datetime,
                     assignee: str | None = None, note: str | None = None) -> dict | None:
    async with conn.transaction():
        await lock_audit(conn)
        state = await conn.fetchval("SELECT state FROM escalations WHERE id = $1 FOR UPDATE", escalation_id)
        if state is None:
            return None
        target = transition_target(state, action)
        if action == "assign":
            await conn.execute("UPDATE escalations SET assignee = $2, updated_at = $3 WHERE id = $1",
                               escalation_id, assignee, now)
        else:
            await conn.execute("UPDATE escalations SET state = $2, updated_at = $3, resolved_at = CASE WHEN "
                               "$2 = 'resolved' THEN $3 ELSE resolved_at END WHERE id = $1", escalation_id, target, now)
        await audit(conn, escalation_id, now, actor, *transition_detail(action, target, assignee, note))
    return await get(conn, escalation_id)


async def open_counts(conn: asyncpg.Connection) -> list[EscalationCount]:
    return [EscalationCount(r[0], r[1], bool(r[2]), r[3]) for r in await conn.fetch(
        "SELECT kind, severity, breached, COUNT(*) FROM escalations WHERE state IN ('open', 'acknowledged') "
        "GROUP BY kind, severity, breached")]


async def changes(conn: asyncpg.Connection, cursor_key: str, limit: int) -> list[EscalationChange]:
    """The next changes after `cursor_key`'s position (a new destination starts at the beginning)."""
    await conn.execute("INSERT INTO meta (key, value) VALUES ($1, '0') ON CONFLICT (key) DO NOTHING", cursor_key)
    after = int(await conn.fetchval("SELECT value FROM meta WHERE key = $1", cursor_key))
    rows = await conn.fetch(
        f"SELECT a.id, {shapes.columns(shapes.AUDIT_COLUMNS, 'a.')}, {shapes.columns(shapes.ESCALATION_COLUMNS, 'e.')} "
        "FROM escalation_audit a JOIN escalations e ON e.id = a.escalation_id WHERE a.id > $1 ORDER BY a.id LIMIT $2",
        after, limit)
    return [shapes.change(r[0], list(r[1:5]), list(r[5:])) for r in rows]


async def advance(conn: asyncpg.Connection, cursor_key: str, seq: int) -> None:
    """Move the cursor forward (never back)."""
    await conn.execute("UPDATE meta SET value = $2::text WHERE key = $1 AND value::bigint < $2", cursor_key, seq)
