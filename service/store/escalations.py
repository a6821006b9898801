"""Escalations as customer service sees them: list and filter, one with its audit trail, and the transitions.

open -> acknowledged -> resolved (and open -> resolved); `assign` sets who
works on it in any active state. Every change writes an audit line with the
actor; the audit table doubles as the outbox of changes (`changes`): each
destination (the `cs-escalations` exchange, the ticketing webhook) keeps its
own cursor over it in `meta`, advanced only after the destination took the
change. A crash in between sends the change again (at-least-once; the
message id is the audit id, so a receiver can recognise it).
"""
from __future__ import annotations

import sqlite3

import orjson

from .actions import audit

_COLUMNS = ("id, carrier, tracking_number, kind, severity, owner_role, assignee, state, sla_due_at, breached, "
            "event_id, created_at, updated_at, resolved_at, open_at")
_SEVERITY_ORDER = "CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END"
CHANGE_TYPE = "escalation.changed.v1"
TRANSITIONS = {"acknowledge": ({"open"}, "acknowledged"), "resolve": ({"open", "acknowledged", "waiting"}, "resolved")}


class TransitionRefused(ValueError):
    pass


def _row(r: tuple) -> dict:
    return {"id": str(r[0]), "carrier": r[1], "tracking_number": r[2], "exception_class": r[3], "severity": r[4],
            "owner_role": r[5], "assignee": r[6], "state": r[7], "sla_due_at": r[8], "breached": bool(r[9]),
            "event_id": r[10], "created_at": r[11], "updated_at": r[12], "resolved_at": r[13], "open_at": r[14]}


def listing(conn: sqlite3.Connection, filters: dict[str, str], limit: int) -> list[dict]:
    """Most urgent first: severity, then the SLA due soonest."""
    clauses, args = [], []
    for name, column in (("state", "state"), ("severity", "severity"), ("owner_role", "owner_role"),
                         ("exception_class", "kind"), ("carrier", "carrier"), ("tracking_number", "tracking_number"),
                         ("assignee", "assignee")):
        if filters.get(name):
            values = [v for v in filters[name].split(",") if v]
            clauses.append(f"{column} IN ({','.join('?' * len(values))})")
            args += values
    if filters.get("active") in ("1", "true"):
        clauses.append("state != 'resolved'")
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM escalations {where} ORDER BY {_SEVERITY_ORDER}, "
                        f"sla_due_at IS NULL, sla_due_at, id LIMIT ?", [*args, limit])
    return [_row(r) for r in rows]


def get(conn: sqlite3.Connection, escalation_id: int) -> dict | None:
    r = conn.execute(f"SELECT {_COLUMNS} FROM escalations WHERE id = ?", (escalation_id,)).fetchone()
    if r is None:
        return None
    out = _row(r)
    out["audit"] = [{"at": a[0], "actor": a[1], "action": a[2], "detail": a[3]} for a in conn.execute(
        "SELECT at, actor, action, detail FROM escalation_audit WHERE escalation_id = ? ORDER BY id", (escalation_id,))]
    return out


def transition(conn: sqlite3.Connection, escalation_id: int, action: str, actor: str, now: str,
               assignee: str | None = None, note: str | None = None) -> dict | None:
    """Apply `acknowledge`, `resolve` or `assign`; None if there is no such escalation."""
    with conn:
        row = conn.execute("SELECT state FROM escalations WHERE id = ?", (escalation_id,)).fetchone()
        if row is None:
            return None
        state = row[0]
        if action == "assign":
            if state == "resolved":
                raise TransitionRefused("a resolved escalation cannot be assigned")
            conn.execute("UPDATE escalations SET assignee = ?, updated_at = ? WHERE id = ?",
                         (assignee, now, escalation_id))
            audit(conn, escalation_id, now, actor, "assigned", f"to {assignee}" + (f": {note}" if note else ""))
        else:
            allowed, target = TRANSITIONS[action]
            if state not in allowed:
                raise TransitionRefused(f"cannot {action} an escalation that is {state}")
            conn.execute("UPDATE escalations SET state = ?, updated_at = ?, "
                         "resolved_at = CASE WHEN ? = 'resolved' THEN ? ELSE resolved_at END WHERE id = ?",
                         (target, now, target, now, escalation_id))
            audit(conn, escalation_id, now, actor, target, note or "")
    return get(conn, escalation_id)


def open_counts(conn: sqlite3.Connection) -> list[tuple[str, str, bool, int]]:
    """(exception class, severity, breached, count) of escalations CS has to work on (open or acknowledged)."""
    return [(r[0], r[1], bool(r[2]), r[3]) for r in conn.execute(
        "SELECT kind, severity, breached, COUNT(*) FROM escalations WHERE state IN ('open', 'acknowledged') "
        "GROUP BY kind, severity, breached")]


def changes(conn: sqlite3.Connection, cursor_key: str, limit: int) -> list[dict]:
    """The next changes after `cursor_key`'s position, as CloudEvents: the change and the escalation now.

    The snapshot is read at publish time, so it is the latest state (a late
    "opened" may already show "acknowledged"); `data.change` says what happened.
    A destination seen for the first time starts at the beginning: nothing is skipped.
    """
    with conn:
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, '0')", (cursor_key,))
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (cursor_key,)).fetchone()
        rows = conn.execute("SELECT a.id, a.at, a.actor, a.action, a.detail, " + ", ".join(
            f"e.{c.strip()}" for c in _COLUMNS.split(",")) + " FROM escalation_audit a JOIN escalations e "
            "ON e.id = a.escalation_id WHERE a.id > ? ORDER BY a.id LIMIT ?", (int(row[0]), limit)).fetchall()
    out = []
    for r in rows:
        escalation = _row(r[5:])
        out.append({"seq": r[0], "id": f"escalation-change-{r[0]}", "routing_key": ".".join(
            (escalation["severity"], escalation["owner_role"], escalation["exception_class"])),
            "body": orjson.dumps(change_event(r[0], {"at": r[1], "actor": r[2], "action": r[3], "detail": r[4]},
                                              escalation))})
    return out


def change_event(seq: int, change: dict, escalation: dict) -> dict:
    """One escalation change as a structured CloudEvent (the same mode as shipment events)."""
    return {"specversion": "1.0", "id": f"escalation-change-{seq}", "source": "/escalations",
            "type": CHANGE_TYPE, "subject": f"{escalation['carrier']}/{escalation['tracking_number']}",
            "time": change["at"], "datacontenttype": "application/json",
            "data": {"change": change, "escalation": escalation}}


def advance(conn: sqlite3.Connection, cursor_key: str, seq: int) -> None:
    """Move the cursor forward (never back: two passes finishing out of order keep the larger)."""
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = ? AND CAST(value AS INTEGER) < ?",
                     (str(seq), cursor_key, seq))
