"""The actions stage's transactions: events in outbox order -> escalations and notifications, exactly once.

The stage reads the outbox (the same events subscribers get, in either bus
mode) after its cursor, decides with the policy, and in ONE transaction
writes escalations, audit lines, notification rows and the new cursor. A
crash repeats at most an uncommitted batch, and every effect has a unique
key (one active escalation per shipment and kind, one notification per
event, template, channel and recipient), so nothing is done twice in effect.
Sending happens afterwards, from the notification rows.
"""
from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson

from taxonomy import TERMINAL_STATUSES, ExceptionClass, Status
from taxonomy.models import utc_text

from ..actions.policy import SEVERITIES, Policy

CURSOR_KEY = "actions_cursor"


@dataclass(slots=True)
class Acted:
    events: int = 0
    escalated: int = 0
    repeats: int = 0
    resolved: int = 0
    notifications: dict[str, int] = field(default_factory=dict)  # state -> count
    traced: list[tuple[str, dict]] = field(default_factory=list)  # (traceparent, what was done) per traced event


def start_cursor(conn: sqlite3.Connection) -> int:
    """First start: act on events from now on, not on the whole history (no notification storm)."""
    with conn:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (CURSOR_KEY,)).fetchone()
        if row is not None:
            return int(row[0])
        newest = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0]
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (CURSOR_KEY, str(newest)))
        return newest


def act(conn: sqlite3.Connection, policy: Policy, limit: int, now: datetime) -> Acted:
    report, stamp = Acted(), utc_text(now)
    with conn:
        cursor = int(conn.execute("SELECT value FROM meta WHERE key = ?", (CURSOR_KEY,)).fetchone()[0])
        rows = conn.execute("SELECT seq, body, traceparent FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                            (cursor, limit)).fetchall()
        for seq, body, traceparent in rows:
            before = _tally(report) if traceparent else None
            cloud_event = orjson.loads(body)
            _one(conn, policy, cloud_event, now, stamp, report)
            cursor = seq
            report.events += 1
            if before is not None:  # traced: what this event did, for its `actions.policy` span
                done = [now_ - then for now_, then in zip(_tally(report), before)]
                report.traced.append((traceparent, {
                    "event.id": cloud_event["id"], "actions.escalated": done[0], "actions.repeated": done[1],
                    "actions.resolved": done[2], "actions.notifications": done[3]}))
        conn.execute("UPDATE meta SET value = ? WHERE key = ?", (str(cursor), CURSOR_KEY))
    return report


def _tally(report: Acted) -> tuple[int, int, int, int]:
    return report.escalated, report.repeats, report.resolved, sum(report.notifications.values())


def _one(conn: sqlite3.Connection, policy: Policy, cloud_event: dict, now: datetime, stamp: str,
         report: Acted) -> None:
    event, shipment = cloud_event["data"]["event"], cloud_event["data"]["shipment"]
    status = Status(event["status"])
    cls = ExceptionClass(event["exception_class"]) if event.get("exception_class") else None
    if shipment.get("anomaly") or shipment["status"] != status.value or shipment.get("exception_class") != (
            cls.value if cls else None):
        return  # a late or contradicting scan: the shipment is not in this state, nothing to say about it
    carrier, tn = event["carrier"], event["tracking_number"]
    _resolve_cleared(conn, policy, carrier, tn, status, event["event_id"], stamp, report)
    found = policy.rule_for(status, cls)
    if found is None:
        return
    index, rule = found
    if rule.escalate:
        _escalate(conn, index, rule.escalate, carrier, tn, (cls or status).value, event["event_id"], now, stamp,
                  report)
    if rule.notify:
        _notify(conn, policy, rule.notify.template, rule.notify.channels or policy.defaults.channels,
                cloud_event, now, stamp, report)


def _resolve_cleared(conn: sqlite3.Connection, policy: Policy, carrier: str, tn: str, status: Status,
                     event_id: str, stamp: str, report: Acted) -> None:
    active = conn.execute("SELECT id, rule, kind FROM escalations WHERE carrier = ? AND tracking_number = ? "
                          "AND state != 'resolved'", (carrier, tn)).fetchall()
    for escalation_id, rule_index, kind in active:
        rule = policy.rules[rule_index] if rule_index < len(policy.rules) else None
        clears = status in TERMINAL_STATUSES or (rule is not None and status in rule.resolve_on)
        if clears and kind != status.value:
            conn.execute("UPDATE escalations SET state = 'resolved', resolved_at = ?, updated_at = ? "
                         "WHERE id = ?", (stamp, stamp, escalation_id))
            audit(conn, escalation_id, stamp, "policy", "resolved", f"cleared by a {status.value} event {event_id}")
            report.resolved += 1


def _escalate(conn: sqlite3.Connection, rule_index: int, rule, carrier: str, tn: str, kind: str, event_id: str,
              now: datetime, stamp: str, report: Acted) -> None:
    active = conn.execute("SELECT id FROM escalations WHERE carrier = ? AND tracking_number = ? AND kind = ? "
                          "AND state != 'resolved'", (carrier, tn, kind)).fetchone()
    if active is not None:
        audit(conn, active[0], stamp, "policy", "repeated", f"the same problem again: event {event_id}")
        report.repeats += 1
        return
    waiting = rule.wait_hours > 0
    cursor = conn.execute(
        "INSERT INTO escalations (carrier, tracking_number, kind, rule, severity, owner_role, state, sla_hours, "
        "open_at, sla_due_at, event_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (carrier, tn, kind, rule_index, rule.severity, rule.owner, "waiting" if waiting else "open", rule.sla_hours,
         utc_text(now + timedelta(hours=rule.wait_hours)) if waiting else stamp,
         None if waiting else utc_text(now + timedelta(hours=rule.sla_hours)), event_id, stamp, stamp))
    audit(conn, cursor.lastrowid, stamp, "policy", "waiting" if waiting else "opened",
          f"event {event_id}" + (f"; opens in {rule.wait_hours:g} h unless cleared" if waiting else ""))
    report.escalated += 1


def _notify(conn: sqlite3.Connection, policy: Policy, template: str, channels, cloud_event: dict, now: datetime,
            stamp: str, report: Acted) -> None:
    event, shipment = cloud_event["data"]["event"], cloud_event["data"]["shipment"]
    carrier, tn = event["carrier"], event["tracking_number"]
    tracking = conn.execute("SELECT order_id, customer, locale, merchant FROM trackings WHERE carrier = ? AND "
                            "tracking_number = ?", (carrier, tn)).fetchone()
    customer = orjson.loads(tracking[1]) if tracking else {}
    context = {"customer": customer, "order_id": tracking[0] if tracking else None,
               "merchant": tracking[3] if tracking else None,
               "shipment": {"carrier": carrier, "tracking_number": tn, "status": shipment["status"],
                            "exception_class": shipment.get("exception_class"),
                            "estimated_delivery": event.get("estimated_delivery")},
               # the scan's own wall time: a customer in Atlanta reads 11:30, not 15:30 UTC
               "event": {"description": event["description"],
                         "occurred_at": event.get("occurred_at_local") or event["occurred_at"],
                         "location": event.get("location") or {}, "carrier_code": event.get("carrier_code")}}
    since = utc_text(now - timedelta(hours=policy.defaults.suppress_hours))
    for channel in channels:
        recipient = _recipient(channel, customer)
        key = hashlib.sha256("|".join((event["event_id"], template, channel, recipient or "")).encode()).hexdigest()
        if recipient is None:
            state, reason = "skipped", f"no recipient for the {channel} channel: register the shipment's customer"
        elif conn.execute("SELECT 1 FROM notifications WHERE carrier = ? AND tracking_number = ? AND template = ? "
                          "AND channel = ? AND state IN ('pending', 'sent') AND created_at >= ? AND key != ?",
                          (carrier, tn, template, channel, since, key)).fetchone():
            state, reason = "suppressed", f"the same notification went out within {policy.defaults.suppress_hours:g} h"
        else:
            state, reason = "pending", None
        inserted = conn.execute(
            "INSERT OR IGNORE INTO notifications (key, event_id, carrier, tracking_number, template, channel, "
            "recipient, locale, state, reason, next_attempt_at, context, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, event["event_id"], carrier, tn, template, channel, recipient, tracking[2] if tracking else None,
             state, reason, stamp if state == "pending" else None, orjson.dumps(context).decode(), stamp, stamp))
        if inserted.rowcount:
            report.notifications[state] = report.notifications.get(state, 0) + 1


def _recipient(channel: str, customer: dict) -> str | None:
    if channel == "smtp":
        return customer.get("email")
    return customer.get("email") or customer.get("phone")  # file and webhook: whoever the merchant can reach


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
            raised = SEVERITIES[min(SEVERITIES.index(severity) + 1, len(SEVERITIES) - 1)]
            conn.execute("UPDATE escalations SET breached = 1, severity = ?, updated_at = ? "
                         "WHERE id = ?", (raised, stamp, escalation_id))
            audit(conn, escalation_id, stamp, "policy", "sla_breached", f"severity {severity} -> {raised}")
            breached += 1
    return opened, breached


def _later(now: datetime, seconds: float) -> str:
    return utc_text(now + timedelta(seconds=seconds))


def claim_notifications(conn: sqlite3.Connection, now: datetime, limit: int, lease: float = 300.0) -> list[dict]:
    """Due notifications, held for `lease` seconds: one sender sends each; after a crash it is due again."""
    with conn:
        rows = conn.execute("SELECT key, event_id, carrier, tracking_number, template, channel, recipient, locale, "
                            "attempts, context FROM notifications WHERE state = 'pending' AND next_attempt_at <= ? "
                            "ORDER BY next_attempt_at LIMIT ?", (utc_text(now), limit)).fetchall()
        conn.executemany("UPDATE notifications SET next_attempt_at = ? WHERE key = ?",
                         [(_later(now, lease), r[0]) for r in rows])
    return [{"key": r[0], "event_id": r[1], "carrier": r[2], "tracking_number": r[3], "template": r[4],
             "channel": r[5], "recipient": r[6], "locale": r[7], "attempts": r[8], "context": orjson.loads(r[9])}
            for r in rows]


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
