"""Outbound webhooks in PostgreSQL: subscriptions, their cursors over the outbox, the delivery log, redeliveries.

Attempts are inserted only for subscriptions that exist, found under a
`FOR KEY SHARE` lock: a delete waits for a transaction logging attempts and
then removes its rows, and a transaction logging after the delete finds no
subscription, so the log never keeps rows of a deleted subscription. The
lock does not conflict with the cursor's compare-and-set (an update of a
non-key column), so logging never waits for delivery loops.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from ...rows import DeliveryAttempt, OutEvent, Subscription
from .. import webhooks
from ..webhooks import ATTEMPT_COLUMNS, OUT_EVENT_COLUMNS, SUBSCRIPTION_COLUMNS, TIME_COLUMNS, columns

_SUBSCRIPTION = ", ".join("filter::text" if name == "filter" else name for name in SUBSCRIPTION_COLUMNS)
_ATTEMPT = columns(ATTEMPT_COLUMNS)
_NEWEST_FIRST = "ORDER BY at DESC, seq DESC, id DESC"  # id: the order two rows of one (at, seq) were logged


def _at(text: str | None) -> datetime | None:
    return None if text is None else webhooks.instant(text)


def _params(values: dict[str, object]) -> tuple[list[str], list[object]]:
    """Placeholders and arguments for stored column values (`webhooks.stored`/`changes`): times as datetimes,
    the filter as jsonb."""
    placeholders, args = [], []
    for n, (name, value) in enumerate(values.items(), 1):
        placeholders.append(f"${n}::jsonb" if name == "filter" else f"${n}")
        args.append(_at(value) if name in TIME_COLUMNS else value)  # type: ignore[arg-type]
    return placeholders, args


async def create(conn: asyncpg.Connection, s: Subscription) -> None:
    """Raises ValueError if the id is taken (ids are random: a collision is a caller's bug, not an outage)."""
    placeholders, args = _params(webhooks.stored(s))
    inserted = await conn.fetchval(f"INSERT INTO subscriptions ({columns(SUBSCRIPTION_COLUMNS)}) VALUES "
                                   f"({', '.join(placeholders)}) ON CONFLICT (id) DO NOTHING RETURNING true", *args)
    if not inserted:
        raise ValueError(f"subscription {s.id} exists")


async def get(conn: asyncpg.Connection, subscription_id: str) -> Subscription | None:
    r = await conn.fetchrow(f"SELECT {_SUBSCRIPTION} FROM subscriptions WHERE id = $1", subscription_id)
    return webhooks.subscription(r) if r else None


async def listing(conn: asyncpg.Connection, after: str | None, limit: int) -> list[Subscription]:
    rows = await conn.fetch(f"SELECT {_SUBSCRIPTION} FROM subscriptions WHERE id > $1 ORDER BY id LIMIT $2",
                            after or "", limit)
    return [webhooks.subscription(r) for r in rows]


async def update(conn: asyncpg.Connection, subscription_id: str, values: dict[str, object]) -> Subscription | None:
    """`values`: stored column values (`webhooks.changes`)."""
    placeholders, args = _params(values)
    assignments = ", ".join(f"{name} = {p}" for name, p in zip(values, placeholders))
    r = await conn.fetchrow(f"UPDATE subscriptions SET {assignments} WHERE id = ${len(args) + 1} "
                            f"RETURNING {_SUBSCRIPTION}", *args, subscription_id)
    return webhooks.subscription(r) if r else None


async def delete(conn: asyncpg.Connection, subscription_id: str) -> bool:
    """The subscription first: its row lock waits for transactions logging its attempts (see above)."""
    async with conn.transaction():
        found = await conn.fetchval("DELETE FROM subscriptions WHERE id = $1 RETURNING true", subscription_id)
        await conn.execute("DELETE FROM webhook_attempts WHERE subscription_id = $1", subscription_id)
        await conn.execute("DELETE FROM webhook_redeliveries WHERE subscription_id = $1", subscription_id)
    return bool(found)


async def outbox_after(conn: asyncpg.Connection, after: int, limit: int) -> list[OutEvent]:
    return [webhooks.out_event(r) for r in await conn.fetch(
        f"SELECT {columns(OUT_EVENT_COLUMNS)} FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2", after, limit)]


async def feed_head(conn: asyncpg.Connection) -> int:
    """Positions become visible in the order drawn (`locks.lock_feed`): the highest visible has none missing
    below it."""
    return await conn.fetchval("SELECT COALESCE(MAX(seq), 0) FROM outbox")


async def feed_position_at(conn: asyncpg.Connection, moment: str) -> int:
    """As in SQLite: the last position stamped before `moment`, or before the earliest one stamped at or after
    it among `webhooks.DISORDER_WINDOW` positions below that."""
    when = webhooks.instant(moment)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        before = await conn.fetchval("SELECT seq FROM outbox WHERE created_at < $1 ORDER BY seq DESC LIMIT 1",
                                     when) or 0
        later = await conn.fetchval("SELECT MIN(seq) FROM outbox WHERE seq > $1 AND seq <= $2 AND created_at >= $3",
                                    before - webhooks.DISORDER_WINDOW, before, when)
    return later - 1 if later is not None else before


async def _insert_attempts(conn: asyncpg.Connection, attempts: Sequence[DeliveryAttempt]) -> None:
    if not attempts:
        return
    existing = {r[0] for r in await conn.fetch(
        "SELECT id FROM subscriptions WHERE id = ANY($1::text[]) ORDER BY id FOR KEY SHARE",
        sorted({a.subscription_id for a in attempts}))}
    kept = [a for a in attempts if a.subscription_id in existing]
    if not kept:
        return
    await conn.execute(
        f"INSERT INTO webhook_attempts ({_ATTEMPT}) SELECT s, q, e, n, k, h, l, r, t FROM unnest($1::text[], "
        "$2::bigint[], $3::text[], $4::int[], $5::bool[], $6::int[], $7::float8[], $8::text[], $9::timestamptz[]) "
        "WITH ORDINALITY AS x(s, q, e, n, k, h, l, r, t, o) ORDER BY o",
        [a.subscription_id for a in kept], [a.seq for a in kept], [a.event_id for a in kept],
        [a.attempt for a in kept], [a.ok for a in kept], [a.status for a in kept], [a.latency_ms for a in kept],
        [a.error for a in kept], [_at(a.at) for a in kept])


async def record_attempts(conn: asyncpg.Connection, attempts: list[DeliveryAttempt]) -> None:
    async with conn.transaction():
        await _insert_attempts(conn, attempts)


async def advance(conn: asyncpg.Connection, subscription_id: str, expected: int, cursor: int,
                  attempts: list[DeliveryAttempt]) -> bool:
    """Compare-and-set of the cursor with the attempts, one transaction; a cursor that moves ends the failing
    streak (the batch that held it was answered). The update re-checks `cursor = expected` on the row as
    another transaction left it, so of two loops advancing from one cursor only one wins."""
    async with conn.transaction():
        await _insert_attempts(conn, attempts)
        if cursor == expected:
            return await conn.fetchval("SELECT true FROM subscriptions WHERE id = $1 AND cursor = $2",
                                       subscription_id, expected) is not None
        status = await conn.execute(
            "UPDATE subscriptions SET cursor = $3, failing_since = NULL, next_attempt_at = NULL, last_error = NULL "
            "WHERE id = $1 AND cursor = $2", subscription_id, expected, cursor)
    return status == "UPDATE 1"


async def delivery_log(conn: asyncpg.Connection, subscription_id: str, limit: int,
                       before: tuple[str, int, int] | None) -> list[DeliveryAttempt]:
    page, args = "", [subscription_id]
    if before is not None:
        page = "AND (at, seq, id) < ($3, $4, $5)"
        args += [webhooks.instant(before[0]), before[1], before[2]]
    return [webhooks.attempt(r) for r in await conn.fetch(
        f"SELECT {_ATTEMPT}, id FROM webhook_attempts WHERE subscription_id = $1 {page} {_NEWEST_FIRST} LIMIT $2",
        args[0], limit, *args[1:])]


async def queue_redelivery(conn: asyncpg.Connection, subscription_id: str, event_id: str, now: datetime) -> bool:
    """Queued once however often asked; False if there is no such event or subscription. The event is found
    among the subscription's logged attempts first (what an operator picks from, indexed by subscription),
    else by a scan of the outbox (no event-id index there: it would cost an index write per event, for a
    rare operator action)."""
    async with conn.transaction():
        if not await conn.fetchval("SELECT true FROM subscriptions WHERE id = $1 FOR KEY SHARE", subscription_id):
            return False
        seq = await conn.fetchval("SELECT o.seq FROM webhook_attempts a JOIN outbox o ON o.seq = a.seq WHERE "
                                  "a.subscription_id = $1 AND a.event_id = $2 AND a.seq > 0 LIMIT 1",
                                  subscription_id, event_id)
        if seq is None:
            seq = await conn.fetchval("SELECT seq FROM outbox WHERE event_id = $1 LIMIT 1", event_id)
        if seq is None:
            return False
        await conn.execute("INSERT INTO webhook_redeliveries (subscription_id, seq, queued_at) VALUES ($1, $2, $3) "
                           "ON CONFLICT (subscription_id, seq) DO NOTHING", subscription_id, seq, now)
    return True


async def take_redeliveries(conn: asyncpg.Connection, subscription_id: str, limit: int) -> list[OutEvent]:
    return [webhooks.out_event(r) for r in await conn.fetch(
        f"SELECT {columns(OUT_EVENT_COLUMNS, 'o.')} FROM webhook_redeliveries r JOIN outbox o ON o.seq = r.seq "
        "WHERE r.subscription_id = $1 ORDER BY r.seq LIMIT $2", subscription_id, limit)]


async def done_redeliveries(conn: asyncpg.Connection, subscription_id: str, seqs: list[int]) -> None:
    await conn.execute("DELETE FROM webhook_redeliveries WHERE subscription_id = $1 AND seq = ANY($2::bigint[])",
                       subscription_id, sorted(seqs))


async def prune_delivery_log(conn: asyncpg.Connection, older_than: str, keep: int, limit: int) -> int:
    """Per subscription, as in SQLite: the rows before `older_than` past its newest `keep`, the edge found
    through the log's index instead of ranking the whole table; the oldest `limit` at most."""
    when = webhooks.instant(older_than)
    deleted = 0
    async with conn.transaction():
        for (subscription_id,) in await conn.fetch("SELECT id FROM subscriptions ORDER BY id"):
            if deleted >= limit:
                break
            edge: tuple = ()
            if keep > 0:
                found = await conn.fetchrow(f"SELECT at, seq, id FROM webhook_attempts WHERE subscription_id = $1 "
                                            f"{_NEWEST_FIRST} LIMIT 1 OFFSET $2", subscription_id, keep - 1)
                if found is None:
                    continue  # no more than `keep` rows
                edge = tuple(found)
            older = "AND (at, seq, id) < ($4, $5, $6)" if edge else ""
            status = await conn.execute(
                f"DELETE FROM webhook_attempts WHERE id IN (SELECT id FROM webhook_attempts WHERE subscription_id = $1 "
                f"AND at < $2 {older} ORDER BY at, seq, id LIMIT $3)", subscription_id, when, limit - deleted, *edge)
            deleted += int(status.split()[-1])
    return deleted
