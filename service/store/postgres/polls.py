"""The poll schedule in PostgreSQL: due trackings taken under a lease with SKIP LOCKED, so pollers on
several machines split them; rescheduling, parking and reconciliation as in SQLite."""
from __future__ import annotations

from datetime import datetime

import asyncpg

from taxonomy.models import utc_text

from ...rows import Due, Reschedule


def _at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


async def claim_due(conn: asyncpg.Connection, carrier: str, now: str, lease_until: str, limit: int) -> list[Due]:
    rows = await conn.fetch(
        "WITH due AS (SELECT carrier, tracking_number FROM trackings WHERE carrier = $1 AND next_poll_at IS NOT NULL "
        "AND next_poll_at <= $2 ORDER BY next_poll_at LIMIT $4 FOR UPDATE SKIP LOCKED) "
        "UPDATE trackings t SET next_poll_at = $3 FROM due WHERE t.carrier = due.carrier "
        "AND t.tracking_number = due.tracking_number RETURNING t.carrier, t.tracking_number, t.registered_at, "
        "t.poll_failures, (SELECT s.status FROM shipments s WHERE s.carrier = t.carrier "
        "AND s.tracking_number = t.tracking_number)", carrier, _at(now), _at(lease_until), limit)
    return [Due(r[0], r[1], utc_text(r[2]), r[3], r[4]) for r in rows]


async def reschedule(conn: asyncpg.Connection, items: list[Reschedule], now: datetime) -> None:
    if not items:
        return
    items = sorted(items, key=lambda i: (i.carrier, i.tracking_number))
    await conn.execute(
        "UPDATE trackings t SET next_poll_at = x.n, poll_state = x.s, poll_failures = x.f, "
        "last_polled_at = COALESCE(x.p, t.last_polled_at), updated_at = $7 FROM unnest($1::text[], $2::text[], "
        "$3::timestamptz[], $4::text[], $5::int[], $6::timestamptz[]) AS x(c, t, n, s, f, p) "
        "WHERE t.carrier = x.c AND t.tracking_number = x.t",
        [i.carrier for i in items], [i.tracking_number for i in items], [_at(i.next_poll_at) for i in items],
        [i.state for i in items], [i.failures for i in items], [_at(i.polled_at) for i in items], now)


def _count(status: str) -> int:
    return int(status.split()[-1])


async def park_without_client(conn: asyncpg.Connection, with_clients: list[str], now: datetime) -> int:
    """Trackings of carriers we hold no credentials for stop waiting (they surface as stalled instead)."""
    return _count(await conn.execute(
        "UPDATE trackings SET next_poll_at = NULL, poll_state = 'no_credentials', updated_at = $2 "
        "WHERE carrier <> ALL($1::text[]) AND next_poll_at IS NOT NULL", with_clients, now))


async def unpark(conn: asyncpg.Connection, carriers: list[str], now: datetime) -> int:
    if not carriers:
        return 0
    return _count(await conn.execute(
        "UPDATE trackings SET next_poll_at = $2, poll_state = 'scheduled', updated_at = $2 "
        "WHERE carrier = ANY($1::text[]) AND poll_state = 'no_credentials' AND poll", carriers, now))


async def reconcile(conn: asyncpg.Connection, carriers: list[str], silent_since: dict[str, str], now: datetime,
                    limit: int) -> int:
    """Webhook-fed shipments silent longer than their status allows get a poll (see the SQLite twin)."""
    added = 0
    if not carriers:
        return 0
    async with conn.transaction():
        for status, before in silent_since.items():
            added += _count(await conn.execute(
                "INSERT INTO trackings (carrier, tracking_number, customer, poll, registered_at, updated_at, "
                "next_poll_at, poll_state) SELECT s.carrier, s.tracking_number, '{}', true, $1, $1, $1, 'reconcile' "
                "FROM shipments s WHERE s.carrier = ANY($2::text[]) AND s.status = $3 AND s.updated_at < $4 "
                "AND NOT EXISTS (SELECT 1 FROM trackings t WHERE t.carrier = s.carrier "
                "AND t.tracking_number = s.tracking_number) LIMIT $5 ON CONFLICT DO NOTHING",
                now, carriers, status, _at(before), limit - added))
            if added >= limit:
                break
    return added
