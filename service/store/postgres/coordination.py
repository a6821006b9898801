"""Duties and budgets shared by every process on every machine: named leases and token buckets.

Both run on the database's clock (`clock_timestamp()`), so machines whose
clocks disagree still agree on who holds a lease and how full a budget is.
The bucket's rule is the same as SQLite's (`service.core.rules.take_token`),
computed here under the budget row's lock.
"""
from __future__ import annotations

import asyncpg

from ...core.rules import Budget, pause_budget, take_token


async def lease(conn: asyncpg.Connection, name: str, holder: str, seconds: float) -> bool:
    """Take the lease if it is free or expired, renew it if `holder` has it; True if `holder` has it now."""
    return await conn.fetchval(
        "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3)) "
        "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
        "WHERE leases.holder = excluded.holder OR leases.expires_at < clock_timestamp() RETURNING true",
        name, holder, seconds) is not None


async def release(conn: asyncpg.Connection, name: str, holder: str) -> None:
    await conn.execute("DELETE FROM leases WHERE name = $1 AND holder = $2", name, holder)


async def lease_holders(conn: asyncpg.Connection, prefix: str) -> list[str]:
    """Sorted by code point (collation "C"), as SQLite and Python sort, whatever the database's locale."""
    rows = await conn.fetch('SELECT DISTINCT holder COLLATE "C" AS holder FROM leases '
                            "WHERE left(name, length($1)) = $1 AND expires_at >= clock_timestamp() "
                            "ORDER BY holder", prefix)
    return [row["holder"] for row in rows]


async def _budget(conn: asyncpg.Connection, bucket: str) -> tuple[Budget | None, float]:
    """The budget under its row lock (None: never used), and the database's clock in epoch seconds."""
    await conn.execute("INSERT INTO budgets (name, tokens, updated_at) VALUES ($1, 0, 'epoch') "
                       "ON CONFLICT (name) DO NOTHING", bucket)
    row = await conn.fetchrow(
        "SELECT tokens, extract(epoch FROM updated_at), COALESCE(extract(epoch FROM paused_until), 0), "
        "extract(epoch FROM clock_timestamp()) FROM budgets WHERE name = $1 FOR UPDATE", bucket)
    fresh = row[1] == 0  # the placeholder row just inserted
    return (None if fresh else Budget(row[0], float(row[1]), float(row[2]))), float(row[3])


async def _save(conn: asyncpg.Connection, bucket: str, budget: Budget) -> None:
    await conn.execute("UPDATE budgets SET tokens = $2, updated_at = to_timestamp($3), "
                       "paused_until = to_timestamp($4) WHERE name = $1", bucket, budget.tokens, budget.stamp,
                       budget.paused_until)


async def take_tokens(conn: asyncpg.Connection, bucket: str, rate: float, capacity: float) -> float:
    async with conn.transaction():
        stored, now = await _budget(conn, bucket)
        budget, wait = take_token(stored, now, rate, capacity)
        await _save(conn, bucket, budget)
    return wait


async def pause_tokens(conn: asyncpg.Connection, bucket: str, seconds: float) -> None:
    async with conn.transaction():
        stored, now = await _budget(conn, bucket)
        await _save(conn, bucket, pause_budget(stored, now, seconds))
