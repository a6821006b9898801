"""Replays and the unknown-code list in SQLite (the filter itself: `service.store.repair`)."""
from __future__ import annotations

import sqlite3

from taxonomy.models import utc_text

from ..repair import ReplayFilter, utc_bound


def _where(f: ReplayFilter) -> tuple[str, list[object]]:
    clauses = [f"state IN ({','.join('?' * len(f.states))})"]
    args: list[object] = list(f.states)
    if f.source:
        clauses.append("source = ?")
        args.append(f.source)
    if f.carrier:
        clauses.append("(source = ? OR id IN (SELECT inbox_id FROM events WHERE carrier = ?))")
        args += [f.carrier, f.carrier]
    for bound, op in ((f.since, ">="), (f.until, "<")):
        if bound is not None:
            clauses.append(f"received_at {op} ?")
            args.append(utc_text(utc_bound(bound)))
    if f.reason:
        clauses.append("instr(lower(COALESCE(reason, '')), lower(?)) > 0")
        args.append(f.reason)
    return " AND ".join(clauses), args


def select_replay(conn: sqlite3.Connection, f: ReplayFilter) -> list[int]:
    where, args = _where(f)
    return [r[0] for r in conn.execute(f"SELECT id FROM inbox WHERE {where} ORDER BY id LIMIT ?", [*args, f.limit])]


def mark_replay(conn: sqlite3.Connection, f: ReplayFilter, now: str) -> list[int]:
    """Back to `pending` with a fresh attempt count; returns the ids, in order."""
    with conn:
        ids = select_replay(conn, f)
        conn.executemany("UPDATE inbox SET state = 'pending', attempts = 0, lease_until = NULL, updated_at = ? "
                         "WHERE id = ?", [(now, i) for i in ids])
    return ids


def unmapped_codes(conn: sqlite3.Connection, limit: int, offset: int = 0) -> list[dict]:
    rows = conn.execute("SELECT mapping_table, code, count, sample_description, first_seen, last_seen FROM unmapped "
                        "ORDER BY count DESC, mapping_table, code LIMIT ? OFFSET ?", (limit, offset))
    return [{"mapping_table": r[0], "code": r[1], "count": r[2], "sample_description": r[3],
             "first_seen": r[4], "last_seen": r[5]} for r in rows]
