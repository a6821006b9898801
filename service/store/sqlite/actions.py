"""The actions stage's transactions in SQLite: load what the policy needs, decide (`service.core.actions`),
write escalations, audit lines, notification rows and the new cursor in ONE transaction.

A crash repeats at most an uncommitted batch, and every effect has a unique
key (one active escalation per shipment and kind, one notification per
event, template, channel and recipient), so nothing is done twice in effect.
Sending happens afterwards, from the notification rows.
"""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import orjson

from taxonomy.models import utc_text

from ...actions.policy import Policy
from ...core.actions import (Acted, ActiveEscalation, Effect, EscalationRef, Notify, Open, RecentNotification, Refs,
                             Registration, Repeat, Resolve, ShipmentView, Supersede, candidate_time, decide,
                             is_current, message)
from ...core.rules import raised
from ...rows import DueNotification

CURSOR_KEY = "actions_cursor"


def start_cursor(conn: sqlite3.Connection) -> int:
    """First start: act on events from now on, not on the whole history (no notification storm)."""
    with conn:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (CURSOR_KEY,)).fetchone()
        if row is not None:
            return int(row[0])
        newest = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0]
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (CURSOR_KEY, str(newest)))
        return newest


def _view(conn: sqlite3.Connection, carrier: str, tn: str, since: str) -> ShipmentView:
    escalations = [ActiveEscalation(*r) for r in conn.execute(
        "SELECT id, rule, kind FROM escalations WHERE carrier = ? AND tracking_number = ? AND state != 'resolved' "
        "ORDER BY id", (carrier, tn))]
    reg = conn.execute("SELECT order_id, customer, locale, merchant FROM trackings WHERE carrier = ? AND "
                       "tracking_number = ?", (carrier, tn)).fetchone()
    recent = [RecentNotification(*r) for r in conn.execute(
        "SELECT key, template, channel, created_at FROM notifications WHERE carrier = ? AND tracking_number = ? "
        "AND state IN ('pending', 'sent') AND created_at >= ?", (carrier, tn, since))]
    return ShipmentView(escalations, Registration(reg[0], orjson.loads(reg[1]), reg[2], reg[3]) if reg else None,
                        recent)


def act(conn: sqlite3.Connection, policy: Policy, limit: int, now: datetime) -> Acted:
    report, refs, stamp = Acted(), Refs(), utc_text(now)
    since = utc_text(now - timedelta(hours=policy.defaults.suppress_hours))
    with conn:
        cursor = int(conn.execute("SELECT value FROM meta WHERE key = ?", (CURSOR_KEY,)).fetchone()[0])
        rows = conn.execute("SELECT seq, body, traceparent FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                            (cursor, limit)).fetchall()
        views: dict[tuple[str, str], ShipmentView] = {}
        ids: dict[EscalationRef, int] = {}
        for seq, body, traceparent in rows:
            cursor = seq
            report.events += 1
            cloud_event = orjson.loads(body)
            before = report.tally()
            event = cloud_event["data"]["event"]
            key = (event["carrier"], event["tracking_number"])
            if key not in views and is_current(cloud_event):
                views[key] = _view(conn, *key, since)
            if key in views:  # a shipment without a current event in the batch has nothing to act on
                for effect in decide(cloud_event, views[key], policy, now, refs):
                    report.count(effect, _write(conn, effect, ids, stamp))
            if traceparent:
                report.trace(traceparent, cloud_event["id"], before)
        # one customer message at most per shipment, about its state after the batch, in occurred order
        for view in sorted(views.values(), key=candidate_time):
            for effect in message(view, policy, now):
                report.count(effect, _write(conn, effect, ids, stamp))
        conn.execute("UPDATE meta SET value = ? WHERE key = ?", (str(cursor), CURSOR_KEY))
    return report


def _write(conn: sqlite3.Connection, effect: Effect, ids: dict[EscalationRef, int], stamp: str) -> bool:
    """Write one effect; False when it was there already (a notification key)."""
    if isinstance(effect, Open):
        new_id = conn.execute(
            "INSERT INTO escalations (carrier, tracking_number, kind, rule, severity, owner_role, state, sla_hours, "
            "open_at, sla_due_at, event_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (effect.carrier, effect.tracking_number, effect.kind, effect.rule, effect.severity, effect.owner_role,
             effect.state, effect.sla_hours, effect.open_at, effect.sla_due_at, effect.event_id, stamp,
             stamp)).lastrowid
        ids[effect.ref] = new_id
        audit(conn, new_id, stamp, "policy", effect.state if effect.state == "waiting" else "opened", effect.detail)
    elif isinstance(effect, Repeat):
        audit(conn, ids.get(effect.escalation, effect.escalation), stamp, "policy", "repeated", effect.detail)
    elif isinstance(effect, Resolve):
        escalation_id = ids.get(effect.escalation, effect.escalation)
        conn.execute("UPDATE escalations SET state = 'resolved', resolved_at = ?, updated_at = ? WHERE id = ?",
                     (stamp, stamp, escalation_id))
        audit(conn, escalation_id, stamp, "policy", "resolved", effect.detail)
    elif isinstance(effect, Supersede):
        conn.execute("UPDATE notifications SET state = 'suppressed', reason = ?, next_attempt_at = NULL, "
                     "updated_at = ? WHERE carrier = ? AND tracking_number = ? AND state = 'pending' "
                     f"AND key NOT IN ({', '.join('?' * len(effect.keep))})",
                     (effect.reason, stamp, effect.carrier, effect.tracking_number, *sorted(effect.keep)))
    else:
        return _notify(conn, effect, stamp)
    return True


def _notify(conn: sqlite3.Connection, n: Notify, stamp: str) -> bool:
    return conn.execute(
        "INSERT INTO notifications (key, event_id, carrier, tracking_number, template, channel, recipient, locale, "
        "state, reason, next_attempt_at, context, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
        (n.key, n.event_id, n.carrier, n.tracking_number, n.template, n.channel, n.recipient, n.locale, n.state,
         n.reason, stamp if n.state == "pending" else None, orjson.dumps(n.context).decode(), stamp,
         stamp)).rowcount > 0


def audit(conn: sqlite3.Connection, escalation_id: int, stamp: str, actor: str, action: str, detail: str) -> None:
    conn.execute("INSERT INTO escalation_audit (escalation_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
                 (escalation_id, stamp, actor, action, detail))


def promote_and_breach(conn: sqlite3.Connection, now: datetime) -> tuple[int, int]:
    """Waiting escalations whose time came open; open ones past their SLA are raised a severity and re-sent."""
    stamp = utc_text(now)
    opened = breached = 0
    with conn:
        for escalation_id, sla_hours in conn.execute(
                "SELECT id, sla_hours FROM escalations WHERE state = 'waiting' AND open_at <= ?", (stamp,)).fetchall():
            conn.execute("UPDATE escalations SET state = 'open', sla_due_at = ?, updated_at = ? "
                         "WHERE id = ?", (utc_text(now + timedelta(hours=sla_hours)), stamp, escalation_id))
            audit(conn, escalation_id, stamp, "policy", "opened", "still unresolved after the wait")
            opened += 1
        for escalation_id, severity in conn.execute(
                "SELECT id, severity FROM escalations WHERE state IN ('open', 'acknowledged') AND breached = 0 "
                "AND sla_due_at < ?", (stamp,)).fetchall():
            conn.execute("UPDATE escalations SET breached = 1, severity = ?, updated_at = ? "
                         "WHERE id = ?", (raised(severity), stamp, escalation_id))
            audit(conn, escalation_id, stamp, "policy", "sla_breached", f"severity {severity} -> {raised(severity)}")
            breached += 1
    return opened, breached


def _later(now: datetime, seconds: float) -> str:
    return utc_text(now + timedelta(seconds=seconds))


def claim_notifications(conn: sqlite3.Connection, now: datetime, limit: int,
                        lease: float = 300.0) -> list[DueNotification]:
    """Due notifications, held for `lease` seconds: one sender sends each; after a crash it is due again."""
    with conn:
        rows = conn.execute("SELECT key, event_id, carrier, tracking_number, template, channel, recipient, locale, "
                            "attempts, context FROM notifications WHERE state = 'pending' AND next_attempt_at <= ? "
                            "ORDER BY next_attempt_at LIMIT ?", (utc_text(now), limit)).fetchall()
        conn.executemany("UPDATE notifications SET next_attempt_at = ? WHERE key = ?",
                         [(_later(now, lease), r[0]) for r in rows])
    return [DueNotification(*r[:9], orjson.loads(r[9])) for r in rows]


def record_send(conn: sqlite3.Connection, key: str, ok: bool, detail: str, retry_in: float | None,
                now: datetime) -> None:
    """After a send: sent, failed for good, or pending again later (retry_in seconds)."""
    stamp = utc_text(now)
    with conn:
        if ok:
            state, next_at = "sent", None
        elif retry_in is None:
            state, next_at = "failed", None
        else:
            state, next_at = "pending", _later(now, retry_in)
        conn.execute("UPDATE notifications SET state = ?, reason = ?, attempts = attempts + 1, next_attempt_at = ?, "
                     "updated_at = ? WHERE key = ?", (state, detail[:500], next_at, stamp, key))


def notifications_for(conn: sqlite3.Connection, carrier: str, tracking_number: str) -> list[dict]:
    rows = conn.execute("SELECT key, event_id, template, channel, recipient, state, reason, attempts, created_at, "
                        "updated_at FROM notifications WHERE carrier = ? AND tracking_number = ? ORDER BY created_at, "
                        "key", (carrier, tracking_number))
    names = ("key", "event_id", "template", "channel", "recipient", "state", "reason", "attempts", "created_at",
             "updated_at")
    return [dict(zip(names, r)) for r in rows]
