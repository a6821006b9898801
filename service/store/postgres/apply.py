"""The normalizer's one transaction in PostgreSQL: lock, load the inputs, plan (`service.core.apply`), write.

Order inside the transaction, and why:
1. lock the batch's inbox rows (`FOR UPDATE`, ascending ids): a redelivery
   of the same document to another worker waits, then finds it done;
2. lock the shipments the batch names (advisory locks, ascending keys), then
   read their histories: one shipment's events are decided by one
   transaction at a time, so two workers never both decide `status_changed`;
3. plan (pure), then write events, shipments, inbox outcomes, unknown codes;
4. last, under the feed lock held to commit, draw the outbox positions and
   insert the outbox rows: positions become visible in commit order.
"""
from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timezone

import asyncpg

from parsers.normalize import NormalizedShipment
from taxonomy import ExceptionClass, Status
from taxonomy.models import utc_text

from ...cardinality import UNMAPPED_CODES_PER_TABLE, UNMAPPED_OVERFLOW
from ...core.apply import (Alias, Applied, InboxState, Known, Plan, ShipmentKey, Track, TrackCache,
                           plan_batch, plan_derived, shipments_named)
from ...rows import ActiveShipment, Normalized
from .locks import lock_feed, lock_shipments


async def _histories(conn: asyncpg.Connection, keys: list[ShipmentKey]) -> dict[ShipmentKey, list[Known]]:
    out: dict[ShipmentKey, list[Known]] = {k: [] for k in keys}
    if not keys:
        return out
    for r in await conn.fetch(
            "SELECT e.carrier, e.tracking_number, e.event_id, e.occurred_at, e.status, e.exception_class, e.route, "
            "e.place, e.inbox_id, e.revision, e.basis FROM events e JOIN unnest($1::text[], $2::text[]) AS x(c, t) "
            "ON e.carrier = x.c AND e.tracking_number = x.t ORDER BY e.carrier, e.tracking_number, e.event_id",
            [k[0] for k in keys], [k[1] for k in keys]):
        out[(r[0], r[1])].append(Known(r[2], r[3], Status(r[4]), ExceptionClass(r[5]) if r[5] else None, r[6], r[7],
                                       r[8], r[9], r[10]))
    return out


async def _aliases(conn: asyncpg.Connection, keys: list[ShipmentKey]) -> dict[ShipmentKey, list[Alias]]:
    out: dict[ShipmentKey, list[Alias]] = {k: [] for k in keys}
    if not keys:
        return out
    for r in await conn.fetch(
            "SELECT s.carrier, s.tracking_number, s.alias_id, s.event_id, s.route FROM event_sources s "
            "JOIN unnest($1::text[], $2::text[]) AS x(c, t) ON s.carrier = x.c AND s.tracking_number = x.t",
            [k[0] for k in keys], [k[1] for k in keys]):
        out[(r[0], r[1])].append(Alias(r[2], r[3], r[4]))
    return out


async def _cached(conn: asyncpg.Connection, keys: list[ShipmentKey],
                  cache: TrackCache | None) -> dict[ShipmentKey, Track]:
    """The cache's tracks of these shipments that are still exact (see `TrackCache`); after the locks."""
    found: dict[ShipmentKey, Track] = {}
    for key in sorted(set(keys) & (cache.candidates() if cache else set())):
        stored = await conn.fetchval("SELECT COUNT(*) FROM events WHERE carrier = $1 AND tracking_number = $2", *key)
        track = cache.take(key, stored) if cache else None
        if track is not None:
            found[key] = track
    return found


async def apply_outcomes(conn: asyncpg.Connection, results: list[Normalized], traces: dict[int, str] | None,
                         lease_seconds: float | None, cache: TrackCache | None = None) -> Applied:
    async with conn.transaction():
        inbox = {r[0]: InboxState(r[1], r[2]) for r in await conn.fetch(
            "SELECT id, state, received_epoch FROM inbox WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE",
            sorted({r[0] for r in results}))}
        keys = shipments_named([r for r in results if inbox.get(r[0], InboxState("", None)).state
                                not in ("done", "quarantined", "")])
        await lock_shipments(conn, keys)
        tracks = await _cached(conn, keys, cache)
        loaded = [k for k in keys if k not in tracks]
        histories, aliases = await _histories(conn, loaded), await _aliases(conn, loaded)
        # Planning a large batch takes a while (a 20,000-scan document: a third of a second): off the loop
        plan = await asyncio.to_thread(plan_batch, results, inbox, histories, traces, tracks, aliases)
        applied = await _write(conn, plan, lease_seconds)
    if cache is not None:
        cache.put(plan.tracks)
    return applied


async def apply_derived(conn: asyncpg.Connection, shipments: list[NormalizedShipment]) -> Applied:
    keys = sorted({(s.carrier, s.tracking_number) for s in shipments})
    async with conn.transaction():
        await lock_shipments(conn, keys)
        return await _write(conn, plan_derived(shipments, await _histories(conn, keys)), None)


async def _write(conn: asyncpg.Connection, plan: Plan, lease_seconds: float | None) -> Applied:
    now = datetime.now(timezone.utc)
    if plan.unmapped:
        counts = Counter((table, code) for table, code, _ in plan.unmapped)
        latest = {(table, code): text[:500] for table, code, text in plan.unmapped}
        keys = sorted(counts)
        # A table keeps at most UNMAPPED_CODES_PER_TABLE codes; the codes beyond (new ones, in code order) are
        # counted as the overflow row (service.cardinality).
        await conn.execute(
            "WITH x AS (SELECT t, c, n, d, EXISTS (SELECT 1 FROM unmapped u WHERE u.mapping_table = t "
            "AND u.code = c) AS known FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS x(t, c, n, d)), "
            "r AS (SELECT *, row_number() OVER (PARTITION BY t, known ORDER BY c) AS k FROM x) "
            "INSERT INTO unmapped (mapping_table, code, count, sample_description, first_seen, last_seen) "
            "SELECT t, CASE WHEN known OR k <= $6 - (SELECT COUNT(*) FROM unmapped u WHERE u.mapping_table = t) "
            "THEN c ELSE $7 END, SUM(n), MAX(d), $5, $5 FROM r GROUP BY 1, 2 "
            "ON CONFLICT (mapping_table, code) DO UPDATE SET count = unmapped.count + excluded.count, "
            "sample_description = excluded.sample_description, last_seen = excluded.last_seen",
            [k[0] for k in keys], [k[1] for k in keys], [counts[k] for k in keys], [latest[k] for k in keys], now,
            UNMAPPED_CODES_PER_TABLE, UNMAPPED_OVERFLOW)
    if plan.events:
        e = plan.events
        await conn.execute(
            "INSERT INTO events (event_id, carrier, tracking_number, occurred_at, status, exception_class, inbox_id, "
            "body, route, place, basis) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], "
            "$5::text[], $6::text[], $7::bigint[], $8::bytea[], $9::text[], $10::text[], $11::timestamptz[])",
            [x.event_id for x in e],
            [x.carrier for x in e], [x.tracking_number for x in e], [x.occurred_at for x in e], [x.status for x in e],
            [x.exception_class for x in e], [x.inbox_id for x in e], [x.body for x in e], [x.route for x in e],
            [x.place for x in e], [x.basis for x in e])
    if plan.corrections:
        await conn.executemany(
            "UPDATE events SET status = $1, exception_class = $2, body = $3, revision = $4, occurred_at = $8 "
            "WHERE carrier = $5 AND tracking_number = $6 AND event_id = $7",
            [(c.status, c.exception_class, c.body, c.revision, c.carrier, c.tracking_number, c.event_id,
              c.occurred_at) for c in plan.corrections])
    if plan.sources:
        await conn.executemany(
            "INSERT INTO event_sources (carrier, tracking_number, alias_id, event_id, route, parser_version, channel, "
            "inbox_id, received_at, occurred_at, carrier_code, description, mapped_by, recorded_at) VALUES ($1, $2, "
            "$3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING",
            [(x.carrier, x.tracking_number, x.alias_id, x.event_id, x.route, x.parser_version, x.channel, x.inbox_id,
              x.received_at, x.occurred_at, x.carrier_code, x.description, x.mapped_by, now) for x in plan.sources])
    if plan.shipments:
        s = [plan.shipments[k] for k in sorted(plan.shipments)]
        await conn.execute(
            "INSERT INTO shipments (carrier, tracking_number, status, exception_class, last_event_id, "
            "last_occurred_at, estimated_delivery, signed_by, anomalies, updated_at) SELECT c, t, s, x, l, o, e, g, "
            "a::jsonb, $10 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
            "$6::timestamptz[], $7::text[], $8::text[], $9::text[]) AS u(c, t, s, x, l, o, e, g, a) "
            "ON CONFLICT (carrier, tracking_number) DO UPDATE SET status = excluded.status, "
            "exception_class = excluded.exception_class, last_event_id = excluded.last_event_id, "
            "last_occurred_at = excluded.last_occurred_at, "
            "estimated_delivery = COALESCE(excluded.estimated_delivery, shipments.estimated_delivery), "
            "signed_by = COALESCE(excluded.signed_by, shipments.signed_by), anomalies = excluded.anomalies, "
            "updated_at = excluded.updated_at",
            [x.carrier for x in s], [x.tracking_number for x in s], [x.status for x in s],
            [x.exception_class for x in s], [x.last_event_id for x in s], [x.last_occurred_at for x in s],
            [x.estimated_delivery for x in s], [x.signed_by for x in s], [x.anomalies_json for x in s], now)
    if plan.inbox:
        o = plan.inbox
        await conn.execute(
            "UPDATE inbox SET state = x.s, reason = x.r, updated_at = $4, lease_until = NULL, "
            "attempts = inbox.attempts + CASE WHEN x.s = 'quarantined' THEN 1 ELSE 0 END "
            "FROM unnest($1::bigint[], $2::text[], $3::text[]) AS x(i, s, r) WHERE inbox.id = x.i",
            [x.id for x in o], [x.state for x in o], [x.reason for x in o], now)
    report = plan.report
    if plan.outbox:
        report.outbox_seqs, leased = await _outbox(conn, plan, now, lease_seconds)
        if leased:
            report.outbox_rows = [d.with_seq(seq) for d, seq in zip(plan.outbox, report.outbox_seqs)]
    return report


async def _outbox(conn: asyncpg.Connection, plan: Plan, now: datetime,
                  lease_seconds: float | None) -> tuple[list[int], bool]:
    """The outbox rows, last in the transaction: positions drawn under the feed lock, held to commit."""
    await lock_feed(conn)
    n = len(plan.outbox)
    last = await conn.fetchval("SELECT setval('outbox_seq', nextval('outbox_seq') + $1 - 1)", n)
    seqs = list(range(last - n + 1, last + 1))
    o = plan.outbox
    await conn.execute(
        "INSERT INTO outbox (seq, event_id, routing_key, body, created_at, traceparent, received_epoch, lease_until) "
        "SELECT s, e, k, b, $7, p, r, CASE WHEN $8::float8 IS NULL THEN NULL "
        "ELSE now() + make_interval(secs => $8::float8) END "
        "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::float8[]) "
        "AS x(s, e, k, b, p, r)",
        seqs, [d.event_id for d in o], [d.routing_key for d in o], [d.body for d in o], [d.traceparent for d in o],
        [d.received_epoch for d in o], now, lease_seconds)
    return seqs, lease_seconds is not None


async def active_shipments(conn: asyncpg.Connection) -> list[ActiveShipment]:
    """As in SQLite: unfinished shipments customer service is not already working on."""
    return [ActiveShipment(r[0], r[1], r[2], utc_text(r[3]) if r[3] else None, r[4]) for r in await conn.fetch(
        "SELECT s.carrier, s.tracking_number, s.status, s.last_occurred_at, s.estimated_delivery FROM shipments s "
        "WHERE s.status NOT IN ('delivered', 'returned_to_sender', 'cancelled') AND NOT EXISTS (SELECT 1 FROM "
        "escalations e WHERE e.carrier = s.carrier AND e.tracking_number = s.tracking_number "
        "AND e.state <> 'resolved')")]
