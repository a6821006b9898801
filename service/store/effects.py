"""The normalizer's one local transaction: new events, shipment state and outbox rows together.

Run on the store's writer thread with a plain sqlite3 connection. Everything
here is idempotent: an inbox row already `done` is skipped, an event_id
already stored inserts nothing and publishes nothing, so a document processed
twice (a redelivery after a crash before the ack) has no second effect.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import orjson

from parsers.normalize import NormalizedShipment, Outcome
from taxonomy import ExceptionClass, NormalizedEvent, Status
from taxonomy.models import utc_text
from taxonomy.state import fold

from ..cloudevents import Snapshot, cloud_event, encode, event_data, routing_key


@dataclass(frozen=True, slots=True)
class _Known:
    """A stored event as the state rules need it."""

    event_id: str
    occurred_at: datetime
    status: Status
    exception_class: ExceptionClass | None


@dataclass(slots=True)
class Applied:
    """What one transaction did, for metrics, logs and waking the relay."""

    done: int = 0
    quarantined: int = 0
    skipped: int = 0  # already done: a redelivery
    new_events: int = 0
    duplicate_events: int = 0
    outbox_seqs: list[int] = field(default_factory=list)
    # With a lease: the new outbox rows as a relay publishes them (seq, routing key, body, event id,
    # traceparent, received epoch), already leased to the caller's relay
    outbox_rows: list[tuple] = field(default_factory=list)
    fresh: list[NormalizedEvent] = field(default_factory=list)  # the new events, for metrics
    received: list[float] = field(default_factory=list)  # when documents that yielded new events arrived


def _now() -> str:
    return utc_text(datetime.now(timezone.utc))


def _known(conn: sqlite3.Connection, carrier: str, tracking_number: str) -> list[_Known]:
    rows = conn.execute("SELECT event_id, occurred_at, status, exception_class FROM events "
                        "WHERE carrier = ? AND tracking_number = ?", (carrier, tracking_number)).fetchall()
    return [_Known(r[0], datetime.fromisoformat(r[1]), Status(r[2]), ExceptionClass(r[3]) if r[3] else None)
            for r in rows]


def _apply_shipment(conn: sqlite3.Connection, shipment: NormalizedShipment, inbox_id: int | None,
                    report: Applied, now: str, traceparent: str | None = None,
                    received_epoch: float | None = None, lease_until: str | None = None) -> None:
    history = _known(conn, shipment.carrier, shipment.tracking_number)
    seen = {k.event_id for k in history}
    fresh: list[NormalizedEvent] = []
    for event in shipment.events:
        if event.event_id in seen:
            report.duplicate_events += 1
            continue
        seen.add(event.event_id)
        fresh.append(event)
    if not fresh and history:
        return
    before = fold(history)
    fresh.sort(key=lambda e: e.occurred_at)
    for event in fresh:
        data = event_data(event)
        body = orjson.dumps(data)
        conn.execute("INSERT INTO events (event_id, carrier, tracking_number, occurred_at, status, "
                     "exception_class, inbox_id, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (event.event_id, event.carrier, event.tracking_number, utc_text(event.occurred_at),
                      event.status.value, event.exception_class.value if event.exception_class else None,
                      inbox_id, body))
        history.append(_Known(event.event_id, event.occurred_at, event.status, event.exception_class))
        after = fold(history)
        snapshot = Snapshot(before.status, after.status, after.exception_class,
                            anomaly=event.event_id in after.anomalies)
        key, message = routing_key(event), encode(cloud_event(event, snapshot, data))
        cursor = conn.execute(
            "INSERT INTO outbox (event_id, routing_key, body, created_at, traceparent, received_epoch, lease_until) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (event.event_id, key, message, now, traceparent, received_epoch, lease_until))
        report.outbox_seqs.append(cursor.lastrowid)
        if lease_until is not None:
            report.outbox_rows.append((cursor.lastrowid, key, message, event.event_id, traceparent, received_epoch))
        report.fresh.append(event)
        report.new_events += 1
        before = after
    _save_state(conn, shipment, before, now)


def _save_state(conn: sqlite3.Connection, shipment: NormalizedShipment, state, now: str) -> None:
    status = state.status if state.last_event_id is not None else shipment.status
    cls = state.exception_class if state.last_event_id is not None else shipment.exception_class
    conn.execute(
        "INSERT INTO shipments (carrier, tracking_number, status, exception_class, last_event_id, "
        "last_occurred_at, estimated_delivery, signed_by, anomalies, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (carrier, tracking_number) DO UPDATE SET status = excluded.status, "
        "exception_class = excluded.exception_class, last_event_id = excluded.last_event_id, "
        "last_occurred_at = excluded.last_occurred_at, "
        "estimated_delivery = COALESCE(excluded.estimated_delivery, shipments.estimated_delivery), "
        "signed_by = COALESCE(excluded.signed_by, shipments.signed_by), anomalies = excluded.anomalies, "
        "updated_at = excluded.updated_at",
        (shipment.carrier, shipment.tracking_number, status.value, cls.value if cls else None,
         state.last_event_id, utc_text(state.last_occurred_at) if state.last_occurred_at else None,
         shipment.estimated_delivery, shipment.signed_by, orjson.dumps(state.anomalies).decode(), now))


def apply_outcomes(conn: sqlite3.Connection, results: list[tuple[int, Outcome | str]],
                   traces: dict[int, str] | None = None, lease_seconds: float | None = None) -> Applied:
    """One transaction for a batch of inbox rows: (inbox id, outcome or the reason it failed).

    `lease_seconds`: the new outbox rows are leased to the caller's relay for that long and returned in
    `outbox_rows`, so it publishes them from memory; other relays take them only if the lease runs out.
    """
    report, now, traces = Applied(), _now(), traces or {}
    lease_until = None
    if lease_seconds is not None:
        lease_until = utc_text(datetime.now(timezone.utc) + timedelta(seconds=lease_seconds))
    with conn:
        marks = ",".join("?" * len(results))
        found = conn.execute(f"SELECT id, state, received_epoch FROM inbox WHERE id IN ({marks})",
                             [i for i, _ in results]).fetchall()
        states = {r[0]: r[1] for r in found}
        arrived = {r[0]: r[2] for r in found}
        for inbox_id, result in results:
            if states.get(inbox_id) in (None, "done", "quarantined"):
                report.skipped += 1
                continue
            if not isinstance(result, str) and result.unmapped:
                _count_unmapped(conn, result.unmapped, now)
            if isinstance(result, str) or not result.ok:
                reason = result if isinstance(result, str) else (
                    "; ".join(f"{e.kind}: {e.message}" for e in result.errors) or "unparseable")
                _quarantine(conn, inbox_id, reason, now)
                states[inbox_id] = "quarantined"
                report.quarantined += 1
                continue
            before = report.new_events
            for shipment in result.shipments:
                _apply_shipment(conn, shipment, inbox_id, report, now, traces.get(inbox_id), arrived.get(inbox_id),
                                lease_until)
            if report.new_events > before and arrived.get(inbox_id) is not None:
                report.received.append(arrived[inbox_id])
            notes = "; ".join(f"{e.kind}: {e.message}" for e in result.errors) or None
            conn.execute("UPDATE inbox SET state = 'done', reason = ?, updated_at = ? WHERE id = ?",
                         (notes, now, inbox_id))
            states[inbox_id] = "done"  # the same row twice in one batch has one effect
            report.done += 1
    return report


def _count_unmapped(conn: sqlite3.Connection, unmapped: list[tuple[str, str, str]], now: str) -> None:
    """Unknown carrier codes with counts and the latest text: what the mapping tables should learn next."""
    conn.executemany(
        "INSERT INTO unmapped (mapping_table, code, count, sample_description, first_seen, last_seen) "
        "VALUES (?, ?, 1, ?, ?, ?) ON CONFLICT (mapping_table, code) DO UPDATE SET count = unmapped.count + 1, "
        "sample_description = excluded.sample_description, last_seen = excluded.last_seen",
        [(table, code, description[:500], now, now) for table, code, description in unmapped])


def _quarantine(conn: sqlite3.Connection, inbox_id: int, reason: str, now: str) -> None:
    conn.execute("UPDATE inbox SET state = 'quarantined', reason = ?, attempts = attempts + 1, updated_at = ? "
                 "WHERE id = ?", (reason[:2000], now, inbox_id))


def apply_derived(conn: sqlite3.Connection, shipments: list[NormalizedShipment]) -> Applied:
    """Events the service derived itself (no inbox document): the same rules, state and outbox as any event."""
    report, now = Applied(), _now()
    with conn:
        for shipment in shipments:
            _apply_shipment(conn, shipment, None, report, now)
    return report


def active_shipments(conn: sqlite3.Connection) -> list[tuple[str, str, str, str | None, str | None]]:
    """(carrier, tracking number, status, last scan, estimated delivery) of every shipment not yet finished
    that customer service is not already working on: silence on a shipment with an active escalation (a
    claim for a lost parcel, say) is expected, and a `stalled` case on top of it would only be noise."""
    return conn.execute(
        "SELECT s.carrier, s.tracking_number, s.status, s.last_occurred_at, s.estimated_delivery FROM shipments s "
        "WHERE s.status NOT IN ('delivered', 'returned_to_sender', 'cancelled') AND NOT EXISTS (SELECT 1 FROM "
        "escalations e WHERE e.carrier = s.carrier AND e.tracking_number = s.tracking_number "
        "AND e.state != 'resolved')").fetchall()
