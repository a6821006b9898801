"""The normalizer's one local transaction in SQLite: load the inputs, plan (`service.core.apply`), write.

Run on the store's writer thread; SQLite has one writer, so the transaction
is also the shipment lock and the feed's commit order. Everything is
idempotent: an inbox row already `done` is skipped, an event_id already
stored inserts nothing and publishes nothing, so a document processed twice
(a redelivery after a crash before the ack) has no second effect.
"""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

from parsers.normalize import NormalizedShipment
from taxonomy import ExceptionClass, Status
from taxonomy.models import utc_text

from ...cardinality import UNMAPPED_CODES_PER_TABLE, UNMAPPED_OVERFLOW
from ...core.apply import (Alias, Applied, InboxState, Known, Plan, ShipmentKey, Track, TrackCache,
                           plan_batch, plan_derived, shipments_named)
from ...rows import ActiveShipment, Normalized


def _now() -> str:
    return utc_text(datetime.now(timezone.utc))


def _histories(conn: sqlite3.Connection, keys: list[ShipmentKey]) -> dict[ShipmentKey, list[Known]]:
    out: dict[ShipmentKey, list[Known]] = {}
    for carrier, tn in keys:
        out[(carrier, tn)] = [
            Known(r[0], datetime.fromisoformat(r[1]), Status(r[2]), ExceptionClass(r[3]) if r[3] else None, r[4],
                  r[5], r[6], r[7], datetime.fromisoformat(r[8]) if r[8] else None)
            for r in conn.execute("SELECT event_id, occurred_at, status, exception_class, route, place, inbox_id, "
                                  "revision, basis FROM events WHERE carrier = ? AND tracking_number = ? "
                                  "ORDER BY event_id", (carrier, tn))]
    return out


def _aliases(conn: sqlite3.Connection, keys: list[ShipmentKey]) -> dict[ShipmentKey, list[Alias]]:
    return {(carrier, tn): [Alias(*r) for r in conn.execute(
        "SELECT alias_id, event_id, route FROM event_sources WHERE carrier = ? AND tracking_number = ?",
        (carrier, tn))] for carrier, tn in keys}


def _cached(conn: sqlite3.Connection, keys: list[ShipmentKey], cache: TrackCache | None) -> dict[ShipmentKey, Track]:
    """The cache's tracks of these shipments that are still exact (see `TrackCache`)."""
    found: dict[ShipmentKey, Track] = {}
    for key in set(keys) & (cache.candidates() if cache else set()):
        stored = conn.execute("SELECT COUNT(*) FROM events WHERE carrier = ? AND tracking_number = ?", key).fetchone()
        track = cache.take(key, stored[0]) if cache else None
        if track is not None:
            found[key] = track
    return found


def apply_outcomes(conn: sqlite3.Connection, results: list[Normalized], traces: dict[int, str] | None = None,
                   lease_seconds: float | None = None, cache: TrackCache | None = None) -> Applied:
    """One transaction for a batch of inbox rows: (inbox id, outcome or the reason it failed).

    `lease_seconds`: the new outbox rows are leased to the caller's relay for that long and returned in
    `outbox_rows`, so it publishes them from memory; other relays take them only if the lease runs out.
    `cache`: long histories kept between transactions (a large document's parts).
    """
    with conn:
        marks = ",".join("?" * len(results))
        inbox = {r[0]: InboxState(r[1], r[2]) for r in conn.execute(
            f"SELECT id, state, received_epoch FROM inbox WHERE id IN ({marks})", [r[0] for r in results])}
        keys = shipments_named(results)
        tracks = _cached(conn, keys, cache)
        loaded = [k for k in keys if k not in tracks]
        plan = plan_batch(results, inbox, _histories(conn, loaded), traces, tracks, _aliases(conn, loaded))
        applied = _write(conn, plan, lease_seconds)
    if cache is not None:
        cache.put(plan.tracks)
    return applied


def apply_derived(conn: sqlite3.Connection, shipments: list[NormalizedShipment]) -> Applied:
    """Events the service derived itself (no inbox document): the same rules, state and outbox as any event."""
    keys = sorted({(s.carrier, s.tracking_number) for s in shipments})
    with conn:
        return _write(conn, plan_derived(shipments, _histories(conn, keys)), None)


def _write(conn: sqlite3.Connection, plan: Plan, lease_seconds: float | None) -> Applied:
    now = _now()
    if plan.unmapped:
        # A code new to a table that already holds UNMAPPED_CODES_PER_TABLE codes is counted as the overflow
        # row (service.cardinality).
        conn.executemany(
            "INSERT INTO unmapped (mapping_table, code, count, sample_description, first_seen, last_seen) "
            "SELECT ?1, CASE WHEN EXISTS (SELECT 1 FROM unmapped WHERE mapping_table = ?1 AND code = ?2) "
            "OR (SELECT COUNT(*) FROM unmapped WHERE mapping_table = ?1) < ?5 THEN ?2 ELSE ?6 END, 1, ?3, ?4, ?4 "
            "WHERE true ON CONFLICT (mapping_table, code) DO UPDATE SET count = unmapped.count + 1, "
            "sample_description = excluded.sample_description, last_seen = excluded.last_seen",
            [(table, code, description[:500], now, UNMAPPED_CODES_PER_TABLE, UNMAPPED_OVERFLOW)
             for table, code, description in plan.unmapped])
    conn.executemany("INSERT INTO events (event_id, carrier, tracking_number, occurred_at, status, exception_class, "
                     "inbox_id, body, route, place, basis) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     [(e.event_id, e.carrier, e.tracking_number, utc_text(e.occurred_at), e.status, e.exception_class,
                       e.inbox_id, e.body, e.route, e.place, utc_text(e.basis) if e.basis else None)
                      for e in plan.events])
    conn.executemany("UPDATE events SET status = ?, exception_class = ?, body = ?, revision = ?, occurred_at = ? "
                     "WHERE carrier = ? AND tracking_number = ? AND event_id = ?",
                     [(c.status, c.exception_class, c.body, c.revision, utc_text(c.occurred_at), c.carrier,
                       c.tracking_number, c.event_id) for c in plan.corrections])
    conn.executemany("INSERT INTO event_sources (carrier, tracking_number, alias_id, event_id, route, parser_version, "
                     "channel, inbox_id, received_at, occurred_at, carrier_code, description, mapped_by, recorded_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                     [(x.carrier, x.tracking_number, x.alias_id, x.event_id, x.route, x.parser_version, x.channel,
                       x.inbox_id, x.received_at, utc_text(x.occurred_at), x.carrier_code, x.description, x.mapped_by,
                       now) for x in plan.sources])
    conn.executemany(
        "INSERT INTO shipments (carrier, tracking_number, status, exception_class, last_event_id, "
        "last_occurred_at, estimated_delivery, signed_by, anomalies, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (carrier, tracking_number) DO UPDATE SET status = excluded.status, "
        "exception_class = excluded.exception_class, last_event_id = excluded.last_event_id, "
        "last_occurred_at = excluded.last_occurred_at, "
        "estimated_delivery = COALESCE(excluded.estimated_delivery, shipments.estimated_delivery), "
        "signed_by = COALESCE(excluded.signed_by, shipments.signed_by), anomalies = excluded.anomalies, "
        "updated_at = excluded.updated_at",
        [(s.carrier, s.tracking_number, s.status, s.exception_class, s.last_event_id,
          utc_text(s.last_occurred_at) if s.last_occurred_at else None, s.estimated_delivery, s.signed_by,
          s.anomalies_json, now) for s in plan.shipments.values()])
    for outcome in plan.inbox:
        if outcome.state == "quarantined":
            conn.execute("UPDATE inbox SET state = 'quarantined', reason = ?, attempts = attempts + 1, "
                         "updated_at = ? WHERE id = ?", (outcome.reason, now, outcome.id))
        else:
            conn.execute("UPDATE inbox SET state = 'done', reason = ?, updated_at = ? WHERE id = ?",
                         (outcome.reason, now, outcome.id))
    lease_until = None
    if lease_seconds is not None:
        lease_until = utc_text(datetime.now(timezone.utc) + timedelta(seconds=lease_seconds))
    report = plan.report
    for draft in plan.outbox:  # one writer: the feed's positions are in commit order
        seq = conn.execute(
            "INSERT INTO outbox (event_id, routing_key, body, created_at, traceparent, received_epoch, lease_until) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", (draft.event_id, draft.routing_key, draft.body, now, draft.traceparent,
                                            draft.received_epoch, lease_until)).lastrowid
        report.outbox_seqs.append(seq)
        if lease_until is not None:
            report.outbox_rows.append(draft.with_seq(seq))
    return report


def active_shipments(conn: sqlite3.Connection) -> list[ActiveShipment]:
    """Every shipment not yet finished that customer service is not already working on: silence on a
    shipment with an active escalation (a claim for a lost parcel, say) is expected, and a `stalled` case
    on top of it would only be noise."""
    return [ActiveShipment(*r) for r in conn.execute(
        "SELECT s.carrier, s.tracking_number, s.status, s.last_occurred_at, s.estimated_delivery FROM shipments s "
        "WHERE s.status NOT IN ('delivered', 'returned_to_sender', 'cancelled') AND NOT EXISTS (SELECT 1 FROM "
        "escalations e WHERE e.carrier = s.carrier AND e.tracking_number = s.tracking_number "
        "AND e.state != 'resolved')")]
