"""Versioned migrations of the PostgreSQL store: each step once, in order, recorded in `schema_migrations`.

Every process runs this at start under a session advisory lock, so several
processes starting together migrate once; each step is its own transaction,
so a crash midway leaves the database at the last completed version.
"""
from __future__ import annotations

import logging

import asyncpg

from .locks import lock_migrations, unlock_migrations
from .schema import STEPS

log = logging.getLogger(__name__)


async def version(conn: asyncpg.Connection) -> int:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")


async def migrate(conn: asyncpg.Connection, up_to: int | None = None) -> list[int]:
    """Apply the steps the database lacks (up to `up_to`, default all); the versions applied."""
    await lock_migrations(conn)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                           "description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        current = await version(conn)
        done = []
        for number, description, sql in STEPS:
            if number <= current or (up_to is not None and number > up_to):
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version, description) VALUES ($1, $2)",
                                   number, description)
            done.append(number)
            log.warning("store migrated to schema %d: %s", number, description)
        return done
    finally:
        await unlock_migrations(conn)
