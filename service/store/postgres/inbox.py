"""Intake, the inbox and the outbox in PostgreSQL: accept documents, claim them, publish and read events.

Each function is one transaction on a pooled asyncpg connection. What makes
them safe with many processes on many machines:

- `accept`: duplicates are decided by unique constraints, not by memory: a
  byte-identical body per source (`inbox (digest, source)`) or a signed
  delivery id (`deliveries`) recognized whichever process stored it first.
  A concurrent insert of the same key waits for the other transaction and
  then sees its row. Inbox rows are inserted in arrival order (their ids
  keep it); two groups inserting the same bodies in opposite orders can
  deadlock, and the store restarts the loser.
- claims: `FOR UPDATE SKIP LOCKED` under a lease on the database's clock;
  a process that dies leaves its rows to be claimed again when it ends.
- the feed: positions are in commit order (see `locks.lock_feed`).
"""
from __future__ import annotations

import time
from datetime import datetime, timezone

import asyncpg
import orjson

from taxonomy.models import utc_text

from ...core import intake
from ...rows import Accepted, FeedItem, Incoming, InboxRow, OutboxRow

DELIVERY_MEMORY_SECONDS = 24 * 3600  # as in SQLite: well past any signature tolerance
INBOX_COLUMNS = ("id, source, received_at, channel, content_type, body, state, attempts, reason, traceparent, "
                 "headers")


def _row(r: asyncpg.Record) -> InboxRow:
    return InboxRow(r[0], r[1], utc_text(r[2]), r[3], r[4], r[5], r[6], r[7], r[8], r[9], orjson.loads(r[10]))


async def accept(conn: asyncpg.Connection, items: list[Incoming], forget_before: float | None) -> list[Accepted]:
    """Store what is new in one commit (`service.core.intake` decides what is); `forget_before`: also drop
    delivery ids seen before then (epoch s)."""
    now, epoch = datetime.now(timezone.utc), time.time()
    async with conn.transaction():
        known = await _deliveries(conn, items, now)
        routing = intake.route(items, known)
        stored = dict(zip(routing.by_body, await _accept_bodies(conn, [items[i] for i in routing.by_body], now,
                                                                epoch)))
        if routing.first_of:
            keys = sorted(routing.first_of)
            await conn.execute(
                "UPDATE deliveries d SET inbox_id = x.i FROM unnest($1::text[], $2::text[], $3::bigint[]) "
                "AS x(s, d, i) WHERE d.source = x.s AND d.delivery_id = x.d",
                [k[0] for k in keys], [k[1] for k in keys], [stored[routing.first_of[k]].id for k in keys])
        if forget_before is not None:
            await conn.execute("DELETE FROM deliveries WHERE seen_at < to_timestamp($1)", forget_before)
    return intake.answers(items, routing, stored, known)


async def _deliveries(conn: asyncpg.Connection, items: list[Incoming], now: datetime) -> dict[tuple[str, str], int]:
    """Delivery ids seen before -> their inbox row. The others are claimed by this transaction first: a
    concurrent group with the same id waits for it and then finds it known."""
    keys = sorted({key for i in items if (key := intake.delivery_key(i))})
    if not keys:
        return {}
    claimed = {(r[0], r[1]) for r in await conn.fetch(
        "INSERT INTO deliveries (source, delivery_id, seen_at) SELECT s, d, $3 FROM unnest($1::text[], $2::text[]) "
        "WITH ORDINALITY AS x(s, d, n) ORDER BY n ON CONFLICT DO NOTHING RETURNING source, delivery_id",
        [k[0] for k in keys], [k[1] for k in keys], now)}
    rest = [k for k in keys if k not in claimed]
    known: dict[tuple[str, str], int] = {}
    if rest:
        for r in await conn.fetch(
                "SELECT d.source, d.delivery_id, d.inbox_id FROM deliveries d JOIN unnest($1::text[], $2::text[]) "
                "AS x(s, d) ON d.source = x.s AND d.delivery_id = x.d", [k[0] for k in rest], [k[1] for k in rest]):
            known[(r[0], r[1])] = r[2]
    return known


async def _accept_bodies(conn: asyncpg.Connection, items: list[Incoming], now: datetime,
                         epoch: float) -> list[Accepted]:
    keys = [(i.source, i.digest) for i in items]
    fresh: dict[tuple[str, bytes], Incoming] = {}
    for key, item in zip(keys, items):
        fresh.setdefault(key, item)
    order = list(fresh)  # arrival order: ids follow it (two groups racing on shared keys may deadlock: retried)
    created: dict[tuple[str, bytes], int] = {}
    if order:
        rows = [fresh[k] for k in order]
        for r in await conn.fetch(
                "INSERT INTO inbox (source, digest, received_at, channel, content_type, headers, body, "
                "received_epoch, traceparent) SELECT s, g, $8, c, t, h::jsonb, b, $9, p FROM unnest($1::text[], "
                "$2::bytea[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::text[]) WITH ORDINALITY "
                "AS x(s, g, c, t, h, b, p, n) ORDER BY n ON CONFLICT (digest, source) DO NOTHING "
                "RETURNING id, source, digest",
                [k[0] for k in order], [k[1] for k in order], [i.channel for i in rows],
                [i.content_type for i in rows], [orjson.dumps(i.headers).decode() for i in rows],
                [i.body for i in rows], [i.traceparent for i in rows], now, epoch):
            created[(r[1], r[2])] = r[0]
    existing: dict[tuple[str, bytes], int] = {}
    missing = [k for k in order if k not in created]
    if missing:
        for r in await conn.fetch(
                "SELECT i.id, i.source, i.digest FROM inbox i JOIN unnest($1::text[], $2::bytea[]) AS x(s, g) "
                "ON i.source = x.s AND i.digest = x.g", [k[0] for k in missing], [k[1] for k in missing]):
            existing[(r[1], r[2])] = r[0]
    return intake.by_body(keys, existing, created)


async def rows_in_state(conn: asyncpg.Connection, states: tuple[str, ...], limit: int,
                        after: int = 0) -> list[InboxRow]:
    return [_row(r) for r in await conn.fetch(
        f"SELECT {INBOX_COLUMNS} FROM inbox WHERE state = ANY($1::text[]) AND id > $3 ORDER BY id LIMIT $2",
        list(states), limit, after)]


async def claim(conn: asyncpg.Connection, limit: int, lease_seconds: float) -> list[InboxRow]:
    """Pending rows and rows whose claimer's lease ran out, each found through its own partial index
    (one query with OR would walk every finished row of the inbox on each claim)."""
    rows = [_row(r) for r in await conn.fetch(
        f"WITH p AS (SELECT id FROM inbox WHERE state = 'pending' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED), "
        f"e AS (SELECT id FROM inbox WHERE state = 'claimed' AND lease_until < now() ORDER BY lease_until "
        f"LIMIT $1 FOR UPDATE SKIP LOCKED) "
        f"UPDATE inbox SET state = 'claimed', lease_until = now() + make_interval(secs => $2) WHERE id IN ("
        f"SELECT id FROM (SELECT id FROM p UNION ALL SELECT id FROM e) AS u ORDER BY id LIMIT $1) "
        f"RETURNING {INBOX_COLUMNS}", limit, lease_seconds)]
    rows.sort(key=lambda r: r.id)
    return rows


async def claim_for_relay(conn: asyncpg.Connection, limit: int, lease_seconds: float) -> list[InboxRow]:
    rows = [_row(r) for r in await conn.fetch(
        f"UPDATE inbox SET lease_until = now() + make_interval(secs => $2) WHERE id IN (SELECT id FROM inbox "
        f"WHERE state = 'pending' AND (lease_until IS NULL OR lease_until < now()) ORDER BY id LIMIT $1 "
        f"FOR UPDATE SKIP LOCKED) RETURNING {INBOX_COLUMNS}", limit, lease_seconds)]
    rows.sort(key=lambda r: r.id)
    return rows


async def release_for_relay(conn: asyncpg.Connection, ids: list[int]) -> None:
    await conn.execute("UPDATE inbox SET lease_until = NULL WHERE id = ANY($1::bigint[]) AND state = 'pending'", ids)


async def renew_for_relay(conn: asyncpg.Connection, ids: list[int], lease_seconds: float) -> None:
    """See the SQLite adapter: a relay waiting for confirms keeps its rows under a short lease."""
    await conn.execute("UPDATE inbox SET lease_until = now() + make_interval(secs => $2) "
                       "WHERE id = ANY($1::bigint[]) AND state = 'pending'", ids, lease_seconds)


async def rows_by_id(conn: asyncpg.Connection, ids: list[int]) -> list[InboxRow]:
    if not ids:
        return []
    return [_row(r) for r in await conn.fetch(f"SELECT {INBOX_COLUMNS} FROM inbox WHERE id = ANY($1::bigint[])",
                                              ids)]


async def mark(conn: asyncpg.Connection, ids: list[int], state: str, reason: str | None, attempt: bool) -> None:
    await conn.execute(
        "UPDATE inbox SET state = $2, reason = COALESCE($3, reason), attempts = attempts + $4, updated_at = now(), "
        "lease_until = NULL WHERE id = ANY($1::bigint[]) AND state <> 'done'", sorted(ids), state, reason,
        1 if attempt else 0)


async def count_attempts(conn: asyncpg.Connection, ids: list[int], delta: int) -> None:
    """See the SQLite adapter: attempts on a row's own content, recorded before a suspect row is normalized."""
    await conn.execute("UPDATE inbox SET attempts = GREATEST(0, attempts + $2) "
                       "WHERE id = ANY($1::bigint[]) AND state <> 'done'", sorted(ids), delta)


async def requeue_stale(conn: asyncpg.Connection, older_than_seconds: float) -> int:
    status = await conn.execute(
        "UPDATE inbox SET state = 'pending', updated_at = now(), lease_until = NULL WHERE state = 'queued' "
        "AND updated_at <= now() - make_interval(secs => $1)", older_than_seconds)
    return int(status.split()[-1])


async def mark_queued(conn: asyncpg.Connection, ids: list[int]) -> None:
    await conn.execute("UPDATE inbox SET state = 'queued', updated_at = now(), lease_until = NULL "
                       "WHERE id = ANY($1::bigint[]) AND state = 'pending'", sorted(ids))


async def events_after(conn: asyncpg.Connection, after: int, limit: int) -> list[FeedItem]:
    return [FeedItem(r[0], r[1]) for r in await conn.fetch(
        "SELECT seq, body FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2", after, limit)]


async def claim_unsent(conn: asyncpg.Connection, limit: int, lease_seconds: float) -> list[OutboxRow]:
    rows = [OutboxRow(*r) for r in await conn.fetch(
        "UPDATE outbox SET lease_until = now() + make_interval(secs => $2) WHERE seq IN (SELECT seq FROM outbox "
        "WHERE sent_at IS NULL AND (lease_until IS NULL OR lease_until < now()) ORDER BY seq LIMIT $1 "
        "FOR UPDATE SKIP LOCKED) RETURNING seq, routing_key, body, event_id, traceparent, received_epoch",
        limit, lease_seconds)]
    rows.sort()
    return rows


async def mark_sent(conn: asyncpg.Connection, seqs: list[int]) -> None:
    await conn.execute("UPDATE outbox SET sent_at = now() WHERE seq = ANY($1::bigint[])", sorted(seqs))
