"""Intake, the inbox and the outbox in SQLite: accept documents, claim them, publish and read events.

Every function is one unit of work on a store thread (see `store.py`).
Claims move rows under a lease in the same statement that reads them, so
normalizers and relays in several processes sharing the file split the work;
SQLite's single writer makes the outbox's sequence the commit order.
"""
from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta, timezone

import orjson

from taxonomy.models import utc_text

from ...core import intake
from ...rows import Accepted, FeedItem, Incoming, InboxRow, OutboxRow

# Signed delivery ids are remembered this long: well past any signature tolerance, after which a
# replay fails the timestamp check anyway.
DELIVERY_MEMORY_SECONDS = 24 * 3600
# A large body (`core.intake.large`) is kept in `inbox_bodies`, its inbox row holding an empty one: SQLite
# rewrites a whole row on every UPDATE, so each state change of a row holding 9 MB (claimed, done) rewrote
# and synced 9 MB while intake's commits waited for the writer.
BODY = "COALESCE((SELECT b.body FROM inbox_bodies b WHERE b.inbox_id = inbox.id), inbox.body)"
_COLUMNS = "id, source, received_at, channel, content_type, {body}, state, attempts, reason, traceparent, headers"
INBOX_COLUMNS = _COLUMNS.format(body=BODY)
# The same without the body (an empty one in its place): the writer thread does not copy megabytes
HEAD_COLUMNS = _COLUMNS.format(body="X''")
_INSERT = ("INSERT INTO inbox (source, digest, received_at, channel, content_type, headers, body, received_epoch, "
           "traceparent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _now() -> str:
    return utc_text(datetime.now(timezone.utc))


def accept(conn: sqlite3.Connection, items: list[Incoming]) -> list[Accepted]:
    """Store what is new (`service.core.intake` decides what is); one transaction for the group."""
    now = _now()
    with conn:
        known = _delivered(conn, [key for i in items if (key := intake.delivery_key(i))])
        routing = intake.route(items, known)
        stored = dict(zip(routing.by_body, _accept_bodies(conn, [items[i] for i in routing.by_body], now)))
        conn.executemany(
            "INSERT OR IGNORE INTO deliveries (source, delivery_id, inbox_id, seen_at) VALUES (?, ?, ?, ?)",
            [(*key, stored[i].id, time.time()) for key, i in routing.first_of.items()])
        if known or routing.first_of:
            conn.execute("DELETE FROM deliveries WHERE seen_at < ?", (time.time() - DELIVERY_MEMORY_SECONDS,))
    return intake.answers(items, routing, stored, known)


def _delivered(conn: sqlite3.Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for source, delivery_id in set(keys):
        row = conn.execute("SELECT inbox_id FROM deliveries WHERE source = ? AND delivery_id = ?",
                           (source, delivery_id)).fetchone()
        if row is not None:
            found[(source, delivery_id)] = row[0]
    return found


def _accept_bodies(conn: sqlite3.Connection, items: list[Incoming], now: str) -> list[Accepted]:
    epoch = time.time()
    keys = [(i.source, i.digest) for i in items]
    existing = _ids_for(conn, keys)
    fresh: dict[tuple[str, bytes], Incoming] = {}
    for key, item in zip(keys, items):
        if key not in existing and key not in fresh:
            fresh[key] = item
    rows = [(i.source, key[1], now, i.channel, i.content_type, orjson.dumps(i.headers).decode(),
             b"" if intake.large(i) else i.body, epoch, i.traceparent) for key, i in fresh.items()]
    if not any(intake.large(i) for i in fresh.values()):
        conn.executemany(_INSERT, rows)
    else:  # one by one, in order: each large body goes beside its row, under the row's id
        for row, item in zip(rows, fresh.values()):
            inbox_id = conn.execute(_INSERT, row).lastrowid
            if intake.large(item):
                conn.execute("INSERT INTO inbox_bodies (inbox_id, body) VALUES (?, ?)", (inbox_id, item.body))
    return intake.by_body(keys, existing, _ids_for(conn, list(fresh)))


def _ids_for(conn: sqlite3.Connection, keys: list[tuple[str, bytes]]) -> dict[tuple[str, bytes], int]:
    wanted = set(keys)
    digests = list({digest for _, digest in keys})
    found: dict[tuple[str, bytes], int] = {}
    for start in range(0, len(digests), 500):
        chunk = digests[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for row_id, source, digest in conn.execute(
                f"SELECT id, source, digest FROM inbox WHERE digest IN ({marks})", chunk):
            key = (source, bytes(digest))
            if key in wanted:
                found[key] = row_id
    return found


def _row(r: tuple) -> InboxRow:
    return InboxRow(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), r[6], r[7], r[8], r[9], orjson.loads(r[10]))


def rows_in_state(conn: sqlite3.Connection, states: tuple[str, ...], limit: int, after: int = 0) -> list[InboxRow]:
    marks = ",".join("?" * len(states))
    return [_row(r) for r in conn.execute(
        f"SELECT {INBOX_COLUMNS} FROM inbox WHERE state IN ({marks}) AND id > ? ORDER BY id LIMIT ?",
        (*states, after, limit))]


def claim(conn: sqlite3.Connection, limit: int, lease_seconds: float) -> list[InboxRow]:
    """Take rows for a normalizer, without their bodies (read afterwards with `bodies`, off the writer)."""
    now = datetime.now(timezone.utc)
    with conn:
        rows = [_row(r) for r in conn.execute(
            f"UPDATE inbox SET state = 'claimed', lease_until = ? WHERE id IN ("
            f"SELECT id FROM inbox WHERE state = 'pending' OR (state = 'claimed' AND lease_until < ?) "
            f"ORDER BY id LIMIT ?) RETURNING {HEAD_COLUMNS}",
            (utc_text(now + timedelta(seconds=lease_seconds)), utc_text(now), limit))]
    rows.sort(key=lambda r: r.id)
    return rows


def claim_for_relay(conn: sqlite3.Connection, limit: int, lease_seconds: float) -> list[InboxRow]:
    """Pending rows for one inbox relay to publish, leased so relays in other processes leave them;
    they stay `pending` (a relay that dies leaves them to the next when the lease ends)."""
    now = datetime.now(timezone.utc)
    with conn:
        rows = [_row(r) for r in conn.execute(
            f"UPDATE inbox SET lease_until = ? WHERE id IN (SELECT id FROM inbox WHERE state = 'pending' "
            f"AND (lease_until IS NULL OR lease_until < ?) ORDER BY id LIMIT ?) RETURNING {INBOX_COLUMNS}",
            (utc_text(now + timedelta(seconds=lease_seconds)), utc_text(now), limit))]
    rows.sort(key=lambda r: r.id)
    return rows


def release_for_relay(conn: sqlite3.Connection, ids: list[int]) -> None:
    """A relay's publish failed: its rows are free for the next pass at once, not after the lease."""
    with conn:
        conn.executemany("UPDATE inbox SET lease_until = NULL WHERE id = ? AND state = 'pending'", [(i,) for i in ids])


def renew_for_relay(conn: sqlite3.Connection, ids: list[int], lease_seconds: float) -> None:
    """A relay still waiting for its confirms keeps its rows: the lease can stay short (a dead relay's rows go
    out again soon) without a slow broker making two relays publish the same rows."""
    until = utc_text(datetime.now(timezone.utc) + timedelta(seconds=lease_seconds))
    with conn:
        conn.executemany("UPDATE inbox SET lease_until = ? WHERE id = ? AND state = 'pending'",
                         [(until, i) for i in ids])


def count_attempts(conn: sqlite3.Connection, ids: list[int], delta: int) -> None:
    """Attempts on a row's own content, recorded before a suspect row is normalized (a consumer dying on it
    leaves the count raised) and taken back when the failure was not the row's (the store was away)."""
    with conn:
        conn.executemany("UPDATE inbox SET attempts = MAX(0, attempts + ?) WHERE id = ? AND state <> 'done'",
                         [(delta, i) for i in ids])


def bodies(conn: sqlite3.Connection, ids: list[int]) -> dict[int, bytes]:
    """Stored bodies by inbox id (bodies never change once stored)."""
    marks = ",".join("?" * len(ids))
    return {r[0]: bytes(r[1]) for r in conn.execute(f"SELECT id, {BODY} FROM inbox WHERE id IN ({marks})", ids)}


def rows_by_id(conn: sqlite3.Connection, ids: list[int]) -> list[InboxRow]:
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    return [_row(r) for r in conn.execute(f"SELECT {INBOX_COLUMNS} FROM inbox WHERE id IN ({marks})", ids)]


def mark(conn: sqlite3.Connection, ids: list[int], state: str, reason: str | None, attempt: bool) -> None:
    with conn:
        conn.executemany(
            "UPDATE inbox SET state = ?, reason = COALESCE(?, reason), attempts = attempts + ?, updated_at = ?, "
            "lease_until = NULL "
            "WHERE id = ? AND state NOT IN ('done')",
            [(state, reason, 1 if attempt else 0, _now(), i) for i in ids])


def requeue_stale(conn: sqlite3.Connection, older_than_seconds: float) -> int:
    cutoff = utc_text(datetime.now(timezone.utc) - timedelta(seconds=older_than_seconds))
    with conn:
        return conn.execute("UPDATE inbox SET state = 'pending', updated_at = ?, lease_until = NULL "
                            "WHERE state = 'queued' "
                            "AND updated_at <= ?", (_now(), cutoff)).rowcount


def mark_queued(conn: sqlite3.Connection, ids: list[int]) -> None:
    now = _now()
    with conn:
        conn.executemany("UPDATE inbox SET state = 'queued', updated_at = ?, lease_until = NULL "
                         "WHERE id = ? AND state = 'pending'",
                         [(now, i) for i in ids])


def events_after(conn: sqlite3.Connection, after: int, limit: int) -> list[FeedItem]:
    return [FeedItem(seq, bytes(body)) for seq, body in conn.execute(
        "SELECT seq, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit))]


def claim_unsent(conn: sqlite3.Connection, limit: int, lease_seconds: float) -> list[OutboxRow]:
    now = datetime.now(timezone.utc)
    with conn:
        rows = [OutboxRow(r[0], r[1], bytes(r[2]), *r[3:]) for r in conn.execute(
            "UPDATE outbox SET lease_until = ? WHERE seq IN (SELECT seq FROM outbox WHERE sent_at IS NULL "
            "AND (lease_until IS NULL OR lease_until < ?) ORDER BY seq LIMIT ?) "
            "RETURNING seq, routing_key, body, event_id, traceparent, received_epoch",
            (utc_text(now + timedelta(seconds=lease_seconds)), utc_text(now), limit))]
    rows.sort()
    return rows


def mark_sent(conn: sqlite3.Connection, seqs: list[int]) -> None:
    now = _now()
    with conn:
        conn.executemany("UPDATE outbox SET sent_at = ? WHERE seq = ?", [(now, s) for s in seqs])
