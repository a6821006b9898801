"""The embedded store: one SQLite file in WAL mode, reached from asyncio through two threads.

Every unit of work (a group of intake inserts, one normalizer transaction, a
read) runs as one call on a store thread with a plain sqlite3 connection, so a
transaction costs one thread hop instead of one per statement. Writes go
through a single writer thread (SQLite has one writer anyway); reads use their
own thread and connection and never wait for a write in WAL mode. Processes
sharing the file (`worker`) each open their own store; SQLite's lock and the
busy timeout serialize them.

The class is the async facade of every store operation: most methods are one
line handing a function of a sibling module (effects, trackings, polls,
actions, escalations, repair) to a thread. It is long because the store has
many operations; the SQL and the rules live in those modules.
"""
from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from hashlib import sha256
from pathlib import Path
from typing import Any, TypeVar

import orjson

from parsers.normalize import NormalizedShipment, Outcome
from taxonomy.models import utc_text

from ..actions.policy import Policy
from . import actions, migrations, polls
from . import escalations as escalation_rows
from . import trackings as tracking_rows
from .actions import Acted
from .effects import Applied, active_shipments, apply_derived, apply_outcomes
from .polls import Due, Reschedule
from .repair import ReplayFilter, mark_replay, select_replay, unmapped_codes
from .schema import ADDED_COLUMNS, DDL, VERSION
from .trackings import Tracking

T = TypeVar("T")

# Signed delivery ids are remembered this long: well past any signature tolerance, after which a
# replay fails the timestamp check anyway.
DELIVERY_MEMORY_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class Incoming:
    """A raw document to accept: stored verbatim with the headers that matter."""

    source: str
    body: bytes
    content_type: str | None
    headers: dict[str, str]
    channel: str = "webhook"
    delivery_id: str | None = None  # a sender's signed delivery id: a second delivery with it is a duplicate
    traceparent: str | None = None  # the intake span's W3C trace context (tracing on)

    @property
    def digest(self) -> bytes:
        return sha256(self.body).digest()


@dataclass(frozen=True, slots=True)
class Accepted:
    id: int
    duplicate: bool


@dataclass(frozen=True, slots=True)
class InboxRow:
    id: int
    source: str
    received_at: str
    channel: str
    content_type: str | None
    body: bytes
    state: str
    attempts: int
    reason: str | None
    traceparent: str | None = None


_INBOX_COLUMNS = "id, source, received_at, channel, content_type, body, state, attempts, reason, traceparent"


class SqliteStore:
    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        self.path = str(path)
        self._synchronous = synchronous
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="store-write")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="store-read")
        self._local = threading.local()

    # --- plumbing -----------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=0, isolation_level="DEFERRED", check_same_thread=True)
            _retrying(lambda c: c.execute("PRAGMA journal_mode = WAL"), conn)
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            self._local.conn = conn
        return conn

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, self._call, fn, args)

    async def _write_relaxed(self, fn: Callable[..., T], *args: Any) -> T:
        """A write whose loss in a power cut only repeats work (a claim, a `queued`/`sent` mark): no fsync.

        The next durable commit syncs it anyway; a process crash never loses
        it in WAL mode. Saving the fsync matters because these marks follow
        every publish window.
        """
        return await asyncio.get_running_loop().run_in_executor(self._writer, self._call_relaxed, fn, args)

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._reader, self._call, fn, args)

    def _call(self, fn: Callable[..., T], args: tuple) -> T:
        return _retrying(fn, self._conn(), *args)

    def _call_relaxed(self, fn: Callable[..., T], args: tuple) -> T:
        conn = self._conn()
        conn.execute("PRAGMA synchronous = NORMAL")
        try:
            return _retrying(fn, conn, *args)
        finally:
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        await self._write(_create)

    async def close(self) -> None:
        for pool in (self._writer, self._reader):
            await asyncio.get_running_loop().run_in_executor(pool, self._close_thread)
            pool.shutdown(wait=True)

    def _close_thread(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # --- intake ---------------------------------------------------------------------------
    async def accept(self, items: list[Incoming]) -> list[Accepted]:
        """Store a group of documents in one commit; byte-identical redeliveries come back as duplicates."""
        return await self._write(_accept, items)

    # --- normalizer -----------------------------------------------------------------------
    async def pending(self, limit: int, states: tuple[str, ...] = ("pending",)) -> list[InboxRow]:
        return await self._read(_rows_in_state, states, limit)

    async def claim(self, limit: int, lease_seconds: float = 5.0) -> list[InboxRow]:
        """Take up to `limit` pending rows (or rows whose claimer's lease ran out) for one normalizer.

        Normalizers sharing the file (the in-process one, `worker` processes)
        thereby split the work instead of doing it twice; a claimer that dies
        leaves rows that the others take over when the lease expires.
        """
        return await self._write_relaxed(_claim, limit, lease_seconds)

    async def inbox_rows(self, ids: list[int]) -> list[InboxRow]:
        return await self._read(_rows_by_id, ids)

    async def apply(self, results: list[tuple[int, Outcome | str]], traces: dict[int, str] | None = None,
                    lease_seconds: float | None = None) -> Applied:
        """`traces`: inbox id -> the normalize span's traceparent, stored with the document's outbox rows;
        `lease_seconds`: lease the new outbox rows to the caller's relay (see `apply_outcomes`)."""
        return await self._write(apply_outcomes, results, traces, lease_seconds)

    async def mark(self, ids: list[int], state: str, reason: str | None = None, *, attempt: bool = False) -> None:
        await self._write(_mark, ids, state, reason, attempt)

    async def requeue_stale(self, older_than_seconds: float) -> int:
        """queued -> pending for rows handed to the broker longer ago than that and still not finished.

        A confirmed message can still vanish (a queue deleted or purged by an
        operator, a broker's data lost); the row then waits for nothing.
        Publishing it again is safe: normalizing is idempotent. The count of
        rows requeued.
        """
        return await self._write(_requeue_stale, older_than_seconds)

    async def mark_queued(self, ids: list[int]) -> None:
        """pending -> queued (the broker confirmed the document), and only from pending.

        A consumer may have finished or quarantined the row before the relay
        saw the confirm; that later state must stand.
        """
        await self._write_relaxed(_mark_queued, ids)

    # --- outbox ---------------------------------------------------------------------------
    async def events_after(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        return await self._read(_events_after, after, limit)

    async def claim_unsent(self, limit: int, lease_seconds: float = 10.0) -> list[tuple]:
        """Take up to `limit` unsent outbox rows for one relay (rows under another relay's lease are left):
        (seq, routing key, CloudEvent bytes, event id, traceparent, when its document arrived (epoch s))."""
        return await self._write_relaxed(_claim_unsent, limit, lease_seconds)

    async def mark_sent(self, seqs: list[int]) -> None:
        await self._write_relaxed(_mark_sent, seqs)

    # --- reads ----------------------------------------------------------------------------
    async def shipment(self, carrier: str, tracking_number: str) -> dict | None:
        return await self._read(_shipment, carrier, tracking_number)

    async def problems(self, limit: int) -> list[InboxRow]:
        return await self._read(_rows_in_state, ("quarantined", "dead"), limit)

    async def replay(self, selection: ReplayFilter, *, dry_run: bool = False) -> list[int]:
        """Re-normalize stored documents (see store.repair); with dry_run only say which."""
        if dry_run:
            return await self._read(select_replay, selection)
        return await self._write(mark_replay, selection, _now())

    async def unmapped(self, limit: int = 500) -> list[dict]:
        return await self._read(unmapped_codes, limit)

    async def register(self, items: list[Tracking]) -> list[bool]:
        return await self._write(tracking_rows.upsert, items, _now())

    async def tracking(self, carrier: str, tracking_number: str) -> dict | None:
        return await self._read(tracking_rows.get, carrier, tracking_number)

    async def trackings(self, carrier: str | None, after: tuple[str, str] | None, limit: int) -> list[dict]:
        return await self._read(tracking_rows.listing, carrier, after, limit)

    async def deregister(self, carrier: str, tracking_number: str) -> bool:
        return await self._write(tracking_rows.delete, carrier, tracking_number)

    async def claim_due(self, carrier: str, now: str, lease_until: str, limit: int) -> list[Due]:
        return await self._write_relaxed(polls.claim_due, carrier, now, lease_until, limit)

    async def reschedule(self, items: list[Reschedule]) -> None:
        await self._write_relaxed(polls.reschedule, items, _now())

    async def park_without_client(self, carriers: list[str]) -> int:
        return await self._write(polls.park_without_client, carriers, _now())

    async def unpark(self, carriers: list[str]) -> int:
        return await self._write(polls.unpark, carriers, _now())

    async def reconcile(self, carriers: list[str], silent_since: dict[str, str], limit: int = 1000) -> int:
        return await self._write(polls.reconcile, carriers, silent_since, _now(), limit)

    # -- the actions stage (store.actions, store.escalations) --

    async def start_actions(self) -> int:
        return await self._write(actions.start_cursor)

    async def act(self, policy: Policy, limit: int) -> Acted:
        return await self._write(actions.act, policy, limit, datetime.now(timezone.utc))

    async def promote_and_breach(self) -> tuple[int, int]:
        return await self._write(actions.promote_and_breach, datetime.now(timezone.utc))

    async def claim_notifications(self, limit: int = 100) -> list[dict]:
        return await self._write(actions.claim_notifications, datetime.now(timezone.utc), limit)

    async def record_send(self, key: str, ok: bool, detail: str, retry_in: float | None) -> None:
        await self._write(actions.record_send, key, ok, detail, retry_in, datetime.now(timezone.utc))

    async def notifications_for(self, carrier: str, tracking_number: str) -> list[dict]:
        return await self._read(_notifications_for, carrier, tracking_number)

    async def escalations(self, filters: dict[str, str], limit: int = 200) -> list[dict]:
        return await self._read(escalation_rows.listing, filters, limit)

    async def escalation(self, escalation_id: int) -> dict | None:
        return await self._read(escalation_rows.get, escalation_id)

    async def transition(self, escalation_id: int, action: str, actor: str, assignee: str | None = None,
                         note: str | None = None) -> dict | None:
        return await self._write(escalation_rows.transition, escalation_id, action, actor, _now(), assignee, note)

    async def open_escalation_counts(self) -> list[tuple[str, str, bool, int]]:
        return await self._read(escalation_rows.open_counts)

    async def escalation_changes(self, cursor_key: str, limit: int = 200) -> list[dict]:
        return await self._write(escalation_rows.changes, cursor_key, limit)

    async def advance_escalation_cursor(self, cursor_key: str, seq: int) -> None:
        await self._write(escalation_rows.advance, cursor_key, seq)

    async def active_shipments(self) -> list[tuple[str, str, str, str | None, str | None]]:
        return await self._read(active_shipments)

    async def apply_derived(self, shipments: list[NormalizedShipment]) -> Applied:
        return await self._write(apply_derived, shipments)

    async def counts(self) -> dict[str, int]:
        return await self._read(_counts)

    async def writable(self) -> bool:
        try:
            await self._write(_touch)
            return True
        except sqlite3.Error:
            return False


# --- the work, on the store threads ----------------------------------------------------------
BUSY_PATIENCE = 30.0  # seconds a unit of work waits for another process's write lock


def _retrying(fn: Callable[..., T], conn: sqlite3.Connection, *args: Any) -> T:
    """Run one unit of work, restarting it while another process holds the write lock.

    SQLite's own busy handler sleeps 1, 2, 5, 10 ... 100 ms between tries; with
    `serve` and `worker` processes taking turns every few milliseconds that
    backoff, not the work, would set the latency. Every unit of work is one
    transaction (`with conn:` rolls back on the way out), so a restart is safe.
    """
    delay, deadline = 0.0002, time.monotonic() + BUSY_PATIENCE
    while True:
        try:
            return fn(conn, *args)
        except sqlite3.OperationalError as exc:
            message = str(exc)
            if ("locked" not in message and "busy" not in message) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.004)
def _notifications_for(conn: sqlite3.Connection, carrier: str, tracking_number: str) -> list[dict]:
    rows = conn.execute("SELECT key, event_id, template, channel, recipient, state, reason, attempts, created_at, "
                        "updated_at FROM notifications WHERE carrier = ? AND tracking_number = ? ORDER BY created_at, "
                        "key", (carrier, tracking_number))
    names = ("key", "event_id", "template", "channel", "recipient", "state", "reason", "attempts", "created_at",
             "updated_at")
    return [dict(zip(names, r)) for r in rows]


def _now() -> str:
    return utc_text(datetime.now(timezone.utc))


def _create(conn: sqlite3.Connection) -> None:
    with conn:
        conn.executescript(DDL)
        for table, column, kind in ADDED_COLUMNS:
            if column not in {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        migrations.upgrade(conn)
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(VERSION),))


def _accept(conn: sqlite3.Connection, items: list[Incoming]) -> list[Accepted]:
    """Store what is new; a known body (per source) or a known signed delivery id is a duplicate."""
    now = _now()
    with conn:
        known = _delivered(conn, [(i.source, i.delivery_id) for i in items if i.delivery_id])
        same_delivery: dict[int, int] = {}  # index -> index of the first item with its delivery id
        first_of: dict[tuple[str, str], int] = {}
        for index, item in enumerate(items):
            if item.delivery_id and (item.source, item.delivery_id) not in known:
                same_delivery[index] = first_of.setdefault((item.source, item.delivery_id), index)
        by_body = [i for i, item in enumerate(items)
                   if not (item.delivery_id and ((item.source, item.delivery_id) in known or same_delivery[i] != i))]
        stored = dict(zip(by_body, _accept_bodies(conn, [items[i] for i in by_body], now)))
        conn.executemany(
            "INSERT OR IGNORE INTO deliveries (source, delivery_id, inbox_id, seen_at) VALUES (?, ?, ?, ?)",
            [(items[i].source, items[i].delivery_id, stored[i].id, time.time()) for i in first_of.values()])
        if known or first_of:
            conn.execute("DELETE FROM deliveries WHERE seen_at < ?", (time.time() - DELIVERY_MEMORY_SECONDS,))
    out: list[Accepted] = []
    for index, item in enumerate(items):
        if index in stored:
            out.append(stored[index])
        elif (item.source, item.delivery_id) in known:
            out.append(Accepted(known[(item.source, item.delivery_id)], True))
        else:
            out.append(Accepted(stored[same_delivery[index]].id, True))
    return out


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
    conn.executemany(
        "INSERT INTO inbox (source, digest, received_at, channel, content_type, headers, body, received_epoch, "
        "traceparent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(i.source, key[1], now, i.channel, i.content_type, orjson.dumps(i.headers).decode(), i.body, epoch,
          i.traceparent) for key, i in fresh.items()])
    created = _ids_for(conn, list(fresh))
    out: list[Accepted] = []
    first_use: set[tuple[str, bytes]] = set()
    for key in keys:
        if key in existing:
            out.append(Accepted(existing[key], True))
        else:  # the first of identical bodies in one group is the original, the rest are duplicates
            out.append(Accepted(created[key], key in first_use))
            first_use.add(key)
    return out


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
    return InboxRow(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), r[6], r[7], r[8], r[9])


def _rows_in_state(conn: sqlite3.Connection, states: tuple[str, ...], limit: int) -> list[InboxRow]:
    marks = ",".join("?" * len(states))
    return [_row(r) for r in conn.execute(
        f"SELECT {_INBOX_COLUMNS} FROM inbox WHERE state IN ({marks}) ORDER BY id LIMIT ?", (*states, limit))]


def _claim(conn: sqlite3.Connection, limit: int, lease_seconds: float) -> list[InboxRow]:
    now = datetime.now(timezone.utc)
    with conn:
        rows = [_row(r) for r in conn.execute(
            f"UPDATE inbox SET state = 'claimed', lease_until = ? WHERE id IN ("
            f"SELECT id FROM inbox WHERE state = 'pending' OR (state = 'claimed' AND lease_until < ?) "
            f"ORDER BY id LIMIT ?) RETURNING {_INBOX_COLUMNS}",
            (utc_text(now + timedelta(seconds=lease_seconds)), utc_text(now), limit))]
    rows.sort(key=lambda r: r.id)
    return rows


def _rows_by_id(conn: sqlite3.Connection, ids: list[int]) -> list[InboxRow]:
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    return [_row(r) for r in conn.execute(f"SELECT {_INBOX_COLUMNS} FROM inbox WHERE id IN ({marks})", ids)]


def _mark(conn: sqlite3.Connection, ids: list[int], state: str, reason: str | None, attempt: bool) -> None:
    with conn:
        conn.executemany(
            "UPDATE inbox SET state = ?, reason = COALESCE(?, reason), attempts = attempts + ?, updated_at = ? "
            "WHERE id = ? AND state NOT IN ('done')",
            [(state, reason, 1 if attempt else 0, _now(), i) for i in ids])


def _requeue_stale(conn: sqlite3.Connection, older_than_seconds: float) -> int:
    cutoff = utc_text(datetime.now(timezone.utc) - timedelta(seconds=older_than_seconds))
    with conn:
        return conn.execute("UPDATE inbox SET state = 'pending', updated_at = ? WHERE state = 'queued' "
                            "AND updated_at <= ?", (_now(), cutoff)).rowcount


def _mark_queued(conn: sqlite3.Connection, ids: list[int]) -> None:
    now = _now()
    with conn:
        conn.executemany("UPDATE inbox SET state = 'queued', updated_at = ? WHERE id = ? AND state = 'pending'",
                         [(now, i) for i in ids])


def _events_after(conn: sqlite3.Connection, after: int, limit: int) -> list[tuple[int, bytes]]:
    return [(seq, bytes(body)) for seq, body in conn.execute(
        "SELECT seq, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit))]


def _claim_unsent(conn: sqlite3.Connection, limit: int, lease_seconds: float) -> list[tuple]:
    now = datetime.now(timezone.utc)
    with conn:
        rows = [(r[0], r[1], bytes(r[2]), *r[3:]) for r in conn.execute(
            "UPDATE outbox SET lease_until = ? WHERE seq IN (SELECT seq FROM outbox WHERE sent_at IS NULL "
            "AND (lease_until IS NULL OR lease_until < ?) ORDER BY seq LIMIT ?) "
            "RETURNING seq, routing_key, body, event_id, traceparent, received_epoch",
            (utc_text(now + timedelta(seconds=lease_seconds)), utc_text(now), limit))]
    rows.sort()
    return rows


def _mark_sent(conn: sqlite3.Connection, seqs: list[int]) -> None:
    now = _now()
    with conn:
        conn.executemany("UPDATE outbox SET sent_at = ? WHERE seq = ?", [(now, s) for s in seqs])


def _shipment(conn: sqlite3.Connection, carrier: str, tracking_number: str) -> dict | None:
    row = conn.execute("SELECT status, exception_class, last_event_id, last_occurred_at, estimated_delivery, "
                       "signed_by, anomalies, updated_at FROM shipments WHERE carrier = ? AND tracking_number = ?",
                       (carrier, tracking_number)).fetchone()
    if row is None:
        return None
    events = [orjson.loads(body) for (body,) in conn.execute(
        "SELECT body FROM events WHERE carrier = ? AND tracking_number = ? ORDER BY occurred_at DESC, event_id",
        (carrier, tracking_number))]
    return {"carrier": carrier, "tracking_number": tracking_number, "status": row[0], "exception_class": row[1],
            "last_event_id": row[2], "last_occurred_at": row[3], "estimated_delivery": row[4],
            "signed_by": row[5], "anomalies": orjson.loads(row[6]), "updated_at": row[7], "events": events}


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    out = {f"inbox_{state}": n for state, n in conn.execute("SELECT state, COUNT(*) FROM inbox GROUP BY state")}
    out["events"] = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    out["outbox_unsent"] = conn.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]
    return out


def _touch(conn: sqlite3.Connection) -> None:
    with conn:
        conn.execute("INSERT INTO meta (key, value) VALUES ('ready_check', ?) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (_now(),))
