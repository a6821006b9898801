"""Escalations as customer service sees them in SQLite: list and filter, one with its audit trail, transitions.

open -> acknowledged -> resolved (and open -> resolved); `assign` sets who
works on it in any active state (the rules: `service.core.rules`). Every
change writes an audit line with the actor; the audit table doubles as the
outbox of changes (`changes`): each destination (the `cs-escalations`
exchange, the ticketing webhook) keeps its own cursor over it in `meta`,
advanced only after the destination took the change. A crash in between
sends the change again (at-least-once; the message id is the audit id, so a
receiver can recognise it).
"""
from __future__ import annotations

import sqlite3

from ...core.rules import transition_detail, transition_target
from .. import shapes
from ...rows import EscalationChange, EscalationCount
from .actions import audit

_CASE = (f"SELECT {shapes.columns(shapes.ESCALATION_COLUMNS, 'e.')}, {shapes.columns(shapes.CASE_COLUMNS)} "
         "FROM escalations e LEFT JOIN trackings t ON t.carrier = e.carrier AND t.tracking_number = e.tracking_number")


def listing(conn: sqlite3.Connection, filters: dict[str, str], limit: int, offset: int = 0) -> list[dict]:
    """Most urgent first: severity, then the SLA due soonest."""
    wanted, active = shapes.escalation_filters(filters)
    clauses = [f"e.{column} IN ({','.join('?' * len(values))})" for column, values in wanted]
    args: list[object] = [v for _, values in wanted for v in values]
    if active:
        clauses.append("e.state != 'resolved'")
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = conn.execute(f"{_CASE} {where} ORDER BY {shapes.SEVERITY_ORDER.replace('severity', 'e.severity')}, "
                        f"e.sla_due_at IS NULL, e.sla_due_at, e.id LIMIT ? OFFSET ?", [*args, limit, offset]).fetchall()
    found = notices(conn, list({(r[1], r[2]) for r in rows}))
    return [shapes.case(r, found) for r in rows]


def notices(conn: sqlite3.Connection, shipments: list[tuple[str, str]]) -> dict[tuple[str, str], list[dict]]:
    """The customer messages of these shipments, oldest first, in one query (a page of cases at once)."""
    if not shipments:
        return {}
    pairs = ",".join("(?, ?)" for _ in shipments)
    return shapes.notices_by_shipment(conn.execute(
        f"SELECT {shapes.columns(shapes.NOTICE_COLUMNS)} FROM notifications WHERE (carrier, tracking_number) IN "
        f"(VALUES {pairs}) ORDER BY created_at, key", [v for pair in shipments for v in pair]).fetchall())


def get(conn: sqlite3.Connection, escalation_id: int) -> dict | None:
    r = conn.execute(f"{_CASE} WHERE e.id = ?", (escalation_id,)).fetchone()
    if r is None:
        return None
    out = shapes.case(r, notices(conn, [(r[1], r[2])]))
    out["audit"] = [shapes.audit_line(a) for a in conn.execute(
        f"SELECT {shapes.columns(shapes.AUDIT_COLUMNS)} FROM escalation_audit WHERE escalation_id = ? ORDER BY id",
        (escalation_id,))]
    return out


def transition(conn: sqlite3.Connection, escalation_id: int, action: str, actor: str, now: str,
               assignee: str | None = None, note: str | None = None) -> dict | None:
    """Apply `acknowledge`, `resolve` or `assign`; None if there is no such escalation."""
    with conn:
        row = conn.execute("SELECT state FROM escalations WHERE id = ?", (escalation_id,)).fetchone()
        if row is None:
            return None
        target = transition_target(row[0], action)
        if action == "assign":
            conn.execute("UPDATE escalations SET assignee = ?, updated_at = ? WHERE id = ?",
                         (assignee, now, escalation_id))
        else:
            conn.execute("UPDATE escalations SET state = ?, updated_at = ?, "
                         "resolved_at = CASE WHEN ? = 'resolved' THEN ? ELSE resolved_at END WHERE id = ?",
                         (target, now, target, now, escalation_id))
        audit(conn, escalation_id, now, actor, *transition_detail(action, target, assignee, note))
    return get(conn, escalation_id)


def open_counts(conn: sqlite3.Connection) -> list[EscalationCount]:
    """Escalations CS has to work on (open or acknowledged), counted by class, severity and breach."""
    return [EscalationCount(r[0], r[1], bool(r[2]), r[3]) for r in conn.execute(
        "SELECT kind, severity, breached, COUNT(*) FROM escalations WHERE state IN ('open', 'acknowledged') "
        "GROUP BY kind, severity, breached")]


def changes(conn: sqlite3.Connection, cursor_key: str, limit: int) -> list[EscalationChange]:
    """The next changes after `cursor_key`'s position. A destination seen for the first time starts at the
    beginning: nothing is skipped."""
    with conn:
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, '0')", (cursor_key,))
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (cursor_key,)).fetchone()
        rows = conn.execute(
            f"SELECT a.id, {shapes.columns(shapes.AUDIT_COLUMNS, 'a.')}, "
            f"{shapes.columns(shapes.ESCALATION_COLUMNS, 'e.')} FROM escalation_audit a JOIN escalations e "
            "ON e.id = a.escalation_id WHERE a.id > ? ORDER BY a.id LIMIT ?", (int(row[0]), limit)).fetchall()
    return [shapes.change(r[0], r[1:5], r[5:]) for r in rows]


def advance(conn: sqlite3.Connection, cursor_key: str, seq: int) -> None:
    """Move the cursor forward (never back: two passes finishing out of order keep the larger)."""
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = ? AND CAST(value AS INTEGER) < ?",
                     (str(seq), cursor_key, seq))
