"""The actions stage's transactions in PostgreSQL: the same decisions as SQLite (`service.core.actions`).

Once among all processes: the stage's cursor row is taken `FOR UPDATE`, so
while one process acts on a batch another waits for it and then continues
from the cursor it left, instead of acting on the same events. Escalation audit lines
are the outbox of escalation changes: a transaction writing them takes the
audit lock first (before touching any escalation row, so the order of locks
is the same everywhere) and keeps it to commit, so audit ids become visible
in order. SLA checks and notification sends take their rows with SKIP LOCKED.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg
import orjson

from taxonomy.models import utc_text

from ...actions.policy import Policy
from ...core.actions import (Acted, ActiveEscalation, Effect, EscalationRef, Notify, Open, RecentNotification, Refs,
                             Registration, Repeat, Resolve, ShipmentView, Supersede, candidate_time, decide,
                             is_current, message)
from ...core.rules import raised
from ...rows import DueNotification
from .. import shapes
from .locks import lock_audit

CURSOR_KEY = "actions_cursor"


async def start_cursor(conn: asyncpg.Connection) -> int:
    """First start: act on events from now on, not on the whole history (no notification storm)."""
    await conn.execute("INSERT INTO meta (key, value) SELECT $1, COALESCE(MAX(seq), 0)::text FROM outbox "
                       "ON CONFLICT (key) DO NOTHING", CURSOR_KEY)
    return int(await conn.fetchval("SELECT value FROM meta WHERE key = $1", CURSOR_KEY))


async def _views(conn: asyncpg.Connection, keys: list[tuple[str, str]],
                 since: datetime) -> dict[tuple[str, str], ShipmentView]:
    views = {k: ShipmentView() for k in keys}
    if not keys:
        return views
    carriers, numbers = [k[0] for k in keys], [k[1] for k in keys]
    join = "JOIN unnest($1::text[], $2::text[]) AS x(c, t) ON carrier = x.c AND tracking_number = x.t"
    for r in await conn.fetch(f"SELECT carrier, tracking_number, id, rule, kind FROM escalations {join} "
                              "WHERE state <> 'resolved' ORDER BY id", carriers, numbers):
        views[(r[0], r[1])].escalations.append(ActiveEscalation(r[2], r[3], r[4]))
    for r in await conn.fetch(f"SELECT carrier, tracking_number, order_id, customer::text, locale, merchant "
                              f"FROM trackings {join}", carriers, numbers):
        views[(r[0], r[1])].registration = Registration(r[2], orjson.loads(r[3]), r[4], r[5])
    for r in await conn.fetch(f"SELECT carrier, tracking_number, key, template, channel, created_at FROM notifications "
                              f"{join} WHERE state IN ('pending', 'sent') AND created_at >= $3", carriers, numbers,
                              since):
        views[(r[0], r[1])].recent.append(RecentNotification(r[2], r[3], r[4], utc_text(r[5])))
    return views


async def act(conn: asyncpg.Connection, policy: Policy, limit: int, now: datetime) -> Acted:
    report, refs = Acted(), Refs()
    async with conn.transaction():
        cursor = int(await conn.fetchval("SELECT value FROM meta WHERE key = $1 FOR UPDATE", CURSOR_KEY))
        batch = [(r[0], orjson.loads(r[1]), r[2]) for r in await conn.fetch(
            "SELECT seq, body, traceparent FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2", cursor, limit)]
        current = {(e["data"]["event"]["carrier"], e["data"]["event"]["tracking_number"])
                   for _, e, _ in batch if is_current(e)}
        views = await _views(conn, sorted(current), now - timedelta(hours=policy.defaults.suppress_hours))
        ids: dict[EscalationRef, int] = {}
        audit_locked = False
        for seq, cloud_event, traceparent in batch:
            cursor = seq
            report.events += 1
            before = report.tally()
            event = cloud_event["data"]["event"]
            view = views.get((event["carrier"], event["tracking_number"]))
            if view is not None:  # a shipment without a current event in the batch has nothing to act on
                for effect in decide(cloud_event, view, policy, now, refs):
                    if not audit_locked:
                        await lock_audit(conn)
                        audit_locked = True
                    report.count(effect, await _write(conn, effect, ids, now))
            if traceparent:
                report.trace(traceparent, cloud_event["id"], before)
        # one customer message at most per shipment, about its state after the batch, in occurred order
        for view in sorted(views.values(), key=candidate_time):
            for effect in message(view, policy, now):
                report.count(effect, await _write(conn, effect, ids, now))
        await conn.execute("UPDATE meta SET value = $2 WHERE key = $1", CURSOR_KEY, str(cursor))
    return report


def _at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


async def _write(conn: asyncpg.Connection, effect: Effect, ids: dict[EscalationRef, int], now: datetime) -> bool:
    """Write one effect; False when it was there already (a notification key)."""
    if isinstance(effect, Open):
        new_id = await conn.fetchval(
            "INSERT INTO escalations (carrier, tracking_number, kind, rule, severity, owner_role, state, sla_hours, "
            "open_at, sla_due_at, event_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
            "$11, $12, $12) RETURNING id", effect.carrier, effect.tracking_number, effect.kind, effect.rule,
            effect.severity, effect.owner_role, effect.state, effect.sla_hours, _at(effect.open_at),
            _at(effect.sla_due_at), effect.event_id, now)
        ids[effect.ref] = new_id
        await audit(conn, new_id, now, "policy", "waiting" if effect.state == "waiting" else "opened", effect.detail)
    elif isinstance(effect, Repeat):
        await audit(conn, ids.get(effect.escalation, effect.escalation), now, "policy", "repeated", effect.detail)
    elif isinstance(effect, Resolve):
        escalation_id = ids.get(effect.escalation, effect.escalation)
        await conn.execute("UPDATE escalations SET state = 'resolved', resolved_at = $2, updated_at = $2 WHERE id = $1",
                           escalation_id, now)
        await audit(conn, escalation_id, now, "policy", "resolved", effect.detail)
    elif isinstance(effect, Supersede):
        await conn.execute("UPDATE notifications SET state = 'suppressed', reason = $1, next_attempt_at = NULL, "
                           "updated_at = $2 WHERE carrier = $3 AND tracking_number = $4 AND state = 'pending' "
                           "AND NOT (key = ANY($5::text[]))", effect.reason, now, effect.carrier,
                           effect.tracking_number, sorted(effect.keep))
    else:
        return await _notify(conn, effect, now)
    return True


async def _notify(conn: asyncpg.Connection, n: Notify, now: datetime) -> bool:
    status = await conn.execute(
        "INSERT INTO notifications (key, event_id, carrier, tracking_number, template, channel, recipient, locale, "
        "state, reason, next_attempt_at, context, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
        "$10, $11, $12::jsonb, $13, $13) ON CONFLICT (key) DO NOTHING",
        n.key, n.event_id, n.carrier, n.tracking_number, n.template, n.channel, n.recipient, n.locale, n.state,
        n.reason, now if n.state == "pending" else None, orjson.dumps(n.context).decode(), now)
    return status.endswith(" 1")


async def audit(conn: asyncpg.Connection, escalation_id: int, at: datetime, actor: str, action: str,
                detail: str) -> None:
    """One audit line; the caller holds the audit lock (`locks.lock_audit`)."""
    await conn.execute("INSERT INTO escalation_audit (escalation_id, at, actor, action, detail) "
                       "VALUES ($1, $2, $3, $4, $5)", escalation_id, at, actor, action, detail)


async def promote_and_breach(conn: asyncpg.Connection, now: datetime) -> tuple[int, int]:
    """Waiting escalations whose time came open; open ones past their SLA are raised a severity, once each."""
    async with conn.transaction():
        await lock_audit(conn)
        opened = await conn.fetch(
            "UPDATE escalations SET state = 'open', sla_due_at = $1 + make_interval(secs => sla_hours * 3600), "
            "updated_at = $1 WHERE id IN (SELECT id FROM escalations WHERE state = 'waiting' AND open_at <= $1 "
            "ORDER BY id FOR UPDATE SKIP LOCKED) RETURNING id", now)
        for r in sorted(opened):
            await audit(conn, r[0], now, "policy", "opened", "still unresolved after the wait")
        due = await conn.fetch("SELECT id, severity FROM escalations WHERE state IN ('open', 'acknowledged') "
                               "AND NOT breached AND sla_due_at < $1 ORDER BY id FOR UPDATE SKIP LOCKED", now)
        for escalation_id, severity in due:
            await conn.execute("UPDATE escalations SET breached = true, severity = $2, updated_at = $3 WHERE id = $1",
                               escalation_id, raised(severity), now)
            await audit(conn, escalation_id, now, "policy", "sla_breached",
                        f"severity {severity} -> {raised(severity)}")
    return len(opened), len(due)


async def claim_notifications(conn: asyncpg.Connection, now: datetime, limit: int,
                              lease: float = 300.0) -> list[DueNotification]:
    """Due notifications, held for `lease` seconds: one sender among all processes sends each."""
    rows = await conn.fetch(
        "UPDATE notifications SET next_attempt_at = $1 + make_interval(secs => $3) WHERE key IN (SELECT key FROM "
        "notifications WHERE state = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2 "
        "FOR UPDATE SKIP LOCKED) RETURNING key, event_id, carrier, tracking_number, template, channel, recipient, "
        "locale, attempts, context::text", now, limit, lease)
    return [DueNotification(*r[:9], orjson.loads(r[9])) for r in rows]


async def record_send(conn: asyncpg.Connection, key: str, ok: bool, detail: str, retry_in: float | None,
                      now: datetime) -> None:
    if ok:
        state, next_at = "sent", None
    elif retry_in is None:
        state, next_at = "failed", None
    else:
        state, next_at = "pending", now + timedelta(seconds=retry_in)
    await conn.execute("UPDATE notifications SET state = $2, reason = $3, attempts = attempts + 1, "
                       "next_attempt_at = $4, updated_at = $5 WHERE key = $1", key, state, detail[:500], next_at, now)


async def notifications_for(conn: asyncpg.Connection, carrier: str, tracking_number: str) -> list[dict]:
    return [shapes.notification(r) for r in await conn.fetch(
        f"SELECT {shapes.columns(shapes.NOTIFICATION_COLUMNS)} FROM notifications WHERE carrier = $1 AND "
        "tracking_number = $2 ORDER BY created_at, key", carrier, tracking_number)]
