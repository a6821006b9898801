"""Outbound webhooks in SQLite: subscriptions, their cursors over the outbox, the delivery log, redeliveries.

Every write runs in one `BEGIN IMMEDIATE` transaction (see `store._immediate`),
so a subscription deleted meanwhile cannot gain log rows afterwards: attempts
are inserted only for subscriptions that exist in the same transaction.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ...rows import DeliveryAttempt, OutEvent, Subscription
from .. import webhooks
from ..webhooks import ATTEMPT_COLUMNS, OUT_EVENT_COLUMNS, SUBSCRIPTION_COLUMNS, columns

_SUBSCRIPTION = columns(SUBSCRIPTION_COLUMNS)
_ATTEMPT = columns(ATTEMPT_COLUMNS)
_NEWEST_FIRST = "ORDER BY at DESC, seq DESC, id DESC"  # id: the order two rows of one (at, seq) were logged


def create(conn: sqlite3.Connection, s: Subscription) -> None:
    """Raises ValueError if the id is taken (ids are random: a collision is a caller's bug, not an outage)."""
    values = webhooks.stored(s)
    with conn:
        inserted = conn.execute(
            f"INSERT INTO subscriptions ({_SUBSCRIPTION}) VALUES ({', '.join('?' * len(values))}) "
            "ON CONFLICT (id) DO NOTHING", list(values.values())).rowcount
    if not inserted:
        raise ValueError(f"subscription {s.id} exists")


def get(conn: sqlite3.Connection, subscription_id: str) -> Subscription | None:
    r = conn.execute(f"SELECT {_SUBSCRIPTION} FROM subscriptions WHERE id = ?", (subscription_id,)).fetchone()
    return webhooks.subscription(r) if r else None


def listing(conn: sqlite3.Connection, after: str | None, limit: int) -> list[Subscription]:
    rows = conn.execute(f"SELECT {_SUBSCRIPTION} FROM subscriptions WHERE id > ? ORDER BY id LIMIT ?",
                        (after or "", limit))
    return [webhooks.subscription(r) for r in rows]


def update(conn: sqlite3.Connection, subscription_id: str, values: dict[str, object]) -> Subscription | None:
    """`values`: stored column values (`webhooks.changes`)."""
    assignments = ", ".join(f"{name} = ?" for name in values)
    with conn:
        r = conn.execute(f"UPDATE subscriptions SET {assignments} WHERE id = ? RETURNING {_SUBSCRIPTION}",
                         [*values.values(), subscription_id]).fetchone()
    return webhooks.subscription(r) if r else None


def delete(conn: sqlite3.Connection, subscription_id: str) -> bool:
    with conn:
        conn.execute("DELETE FROM webhook_attempts WHERE subscription_id = ?", (subscription_id,))
        conn.execute("DELETE FROM webhook_redeliveries WHERE subscription_id = ?", (subscription_id,))
        return conn.execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,)).rowcount > 0


def outbox_after(conn: sqlite3.Connection, after: int, limit: int) -> list[OutEvent]:
    return [webhooks.out_event(r) for r in conn.execute(
        f"SELECT {columns(OUT_EVENT_COLUMNS)} FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit))]


def feed_head(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0]


def feed_position_at(conn: sqlite3.Connection, moment: str) -> int:
    """`moment` already in the stored spelling (`webhooks.utc`). Scans back from the newest row: the cost is
    the rows stamped since `moment`, which a replay from there reads anyway."""
    row = conn.execute("SELECT seq FROM outbox WHERE created_at < ? ORDER BY seq DESC LIMIT 1", (moment,)).fetchone()
    before = row[0] if row else 0
    (later,) = conn.execute("SELECT MIN(seq) FROM outbox WHERE seq > ? AND seq <= ? AND created_at >= ?",
                            (before - webhooks.DISORDER_WINDOW, before, moment)).fetchone()
    return later - 1 if later is not None else before


def _insert_attempts(conn: sqlite3.Connection, attempts: Sequence[DeliveryAttempt]) -> None:
    wanted = sorted({a.subscription_id for a in attempts})
    existing = {r[0] for r in conn.execute(
        f"SELECT id FROM subscriptions WHERE id IN ({', '.join('?' * len(wanted))})", wanted)} if wanted else set()
    conn.executemany(f"INSERT INTO webhook_attempts ({_ATTEMPT}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     [(*a[:4], int(a.ok), a.status, a.latency_ms, a.error, webhooks.utc(a.at))
                      for a in attempts if a.subscription_id in existing])


def record_attempts(conn: sqlite3.Connection, attempts: list[DeliveryAttempt]) -> None:
    with conn:
        _insert_attempts(conn, attempts)


def advance(conn: sqlite3.Connection, subscription_id: str, expected: int, cursor: int,
            attempts: list[DeliveryAttempt]) -> bool:
    """Compare-and-set of the cursor with the attempts, one transaction; a cursor that moves ends the failing
    streak (the batch that held it was answered)."""
    with conn:
        _insert_attempts(conn, attempts)
        if cursor == expected:
            return conn.execute("SELECT 1 FROM subscriptions WHERE id = ? AND cursor = ?",
                                (subscription_id, expected)).fetchone() is not None
        return conn.execute(
            "UPDATE subscriptions SET cursor = ?, failing_since = NULL, next_attempt_at = NULL, last_error = NULL "
            "WHERE id = ? AND cursor = ?", (cursor, subscription_id, expected)).rowcount > 0


def delivery_log(conn: sqlite3.Connection, subscription_id: str, limit: int,
                 before: tuple[str, int, int] | None) -> list[DeliveryAttempt]:
    page, args = "", [subscription_id]
    if before is not None:
        page = "AND (at, seq, id) < (?, ?, ?)"
        args += [webhooks.utc(before[0]), before[1], before[2]]
    return [webhooks.attempt(r) for r in conn.execute(
        f"SELECT {_ATTEMPT}, id FROM webhook_attempts WHERE subscription_id = ? {page} {_NEWEST_FIRST} LIMIT ?",
        [*args, limit])]


def redelivery_seq(conn: sqlite3.Connection, subscription_id: str, event_id: str) -> int | None:
    """The feed position of an event id: first among the subscription's logged attempts (the log is what an
    operator picks from, and it is indexed by subscription), else by a scan of the outbox (no event-id index
    there: it would cost a random page write per event, for a rare operator action)."""
    row = conn.execute("SELECT o.seq FROM webhook_attempts a JOIN outbox o ON o.seq = a.seq WHERE "
                       "a.subscription_id = ? AND a.event_id = ? AND a.seq > 0 LIMIT 1",
                       (subscription_id, event_id)).fetchone()
    if row is None:
        row = conn.execute("SELECT seq FROM outbox WHERE event_id = ? LIMIT 1", (event_id,)).fetchone()
    return row[0] if row else None


def queue_redelivery(conn: sqlite3.Connection, subscription_id: str, seq: int, now: str) -> bool:
    """Queued once however often asked; False if the subscription does not exist."""
    with conn:
        if conn.execute("SELECT 1 FROM subscriptions WHERE id = ?", (subscription_id,)).fetchone() is None:
            return False
        conn.execute("INSERT INTO webhook_redeliveries (subscription_id, seq, queued_at) VALUES (?, ?, ?) "
                     "ON CONFLICT (subscription_id, seq) DO NOTHING", (subscription_id, seq, now))
    return True


def take_redeliveries(conn: sqlite3.Connection, subscription_id: str, limit: int) -> list[OutEvent]:
    return [webhooks.out_event(r) for r in conn.execute(
        f"SELECT {columns(OUT_EVENT_COLUMNS, 'o.')} FROM webhook_redeliveries r JOIN outbox o ON o.seq = r.seq "
        "WHERE r.subscription_id = ? ORDER BY r.seq LIMIT ?", (subscription_id, limit))]


def done_redeliveries(conn: sqlite3.Connection, subscription_id: str, seqs: list[int]) -> None:
    with conn:
        conn.executemany("DELETE FROM webhook_redeliveries WHERE subscription_id = ? AND seq = ?",
                         [(subscription_id, seq) for seq in seqs])


def prune_delivery_log(conn: sqlite3.Connection, older_than: str, keep: int, limit: int) -> int:
    """Per subscription: the rows before `older_than` past its newest `keep`, found through the log's index
    (the `keep`-th newest row is the edge) instead of ranking the whole table; the oldest `limit` at most."""
    deleted = 0
    with conn:
        for (subscription_id,) in conn.execute("SELECT id FROM subscriptions").fetchall():
            if deleted >= limit:
                break
            edge: tuple = ()
            if keep > 0:
                edge = conn.execute(f"SELECT at, seq, id FROM webhook_attempts WHERE subscription_id = ? "
                                    f"{_NEWEST_FIRST} LIMIT 1 OFFSET ?", (subscription_id, keep - 1)).fetchone()
                if edge is None:
                    continue  # no more than `keep` rows
            older = "AND (at, seq, id) < (?, ?, ?)" if edge else ""
            deleted += conn.execute(
                f"DELETE FROM webhook_attempts WHERE id IN (SELECT id FROM webhook_attempts WHERE subscription_id = ? "
                f"AND at < ? {older} ORDER BY at, seq, id LIMIT ?)",
                (subscription_id, older_than, *edge, limit - deleted)).rowcount
    return deleted
