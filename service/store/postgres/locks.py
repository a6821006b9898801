"""Advisory locks: how PostgreSQL transactions in many processes take turns where order matters.

- `lock_shipments`: one shipment's events are applied by one transaction at
  a time (two workers on the same shipment never both decide
  `status_changed`). Keys are taken in ascending order, so two transactions
  wanting overlapping shipments cannot deadlock.
- `lock_feed` / `lock_audit`: taken just before a transaction draws outbox
  sequence numbers (escalation audit ids) and held to its commit, so those
  numbers become visible in the order they were drawn. Without it, a reader
  could see 12 before 11 commits and move its cursor past 11 forever.

Shipment keys use the one-bigint lock space; the two system locks use the
two-integer space, so they can never collide with a shipment's key.
"""
from __future__ import annotations

from hashlib import blake2b

import asyncpg

_SYSTEM = 0x43455654  # "CEVT": the first integer of this service's two-integer locks
FEED, AUDIT, MIGRATE = 1, 2, 3


def shipment_key(carrier: str, tracking_number: str) -> int:
    digest = blake2b(f"{carrier}\x1f{tracking_number}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_shipments(conn: asyncpg.Connection, keys: list[tuple[str, str]]) -> None:
    locks = sorted({shipment_key(c, t) for c, t in keys})
    if locks:
        await conn.execute("SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) WITH ORDINALITY AS t(k, n) "
                           "ORDER BY n", locks)


async def lock_feed(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", _SYSTEM, FEED)


async def lock_audit(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", _SYSTEM, AUDIT)


async def lock_migrations(conn: asyncpg.Connection) -> None:
    """Session lock: processes starting together migrate one after the other."""
    await conn.execute("SELECT pg_advisory_lock($1, $2)", _SYSTEM, MIGRATE)


async def unlock_migrations(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1, $2)", _SYSTEM, MIGRATE)
