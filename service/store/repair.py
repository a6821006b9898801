"""What operators repair with: re-normalizing stored documents, and the list of unknown carrier codes.

Replaying is marking stored rows `pending` again: whichever normalizer runs
(in `serve`, a `worker`, embedded or RabbitMQ) takes them as if they had just
arrived. Effects stay idempotent, so a replay publishes only events that did
not exist before: a document quarantined until a parser or mapping fix now
yields its events once, and a second replay yields nothing.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone

from taxonomy.models import utc_text

REPLAYABLE = ("quarantined", "dead", "done")


@dataclass(frozen=True)
class ReplayFilter:
    """Which stored documents to re-normalize; every given condition must hold."""

    states: tuple[str, ...] = ("quarantined", "dead")
    source: str | None = None  # the webhook source (or poll source) the document came in on
    carrier: str | None = None  # documents whose events name this carrier, or that came in on that source
    since: datetime | None = None  # received at or after
    until: datetime | None = None  # received before
    reason: str | None = None  # substring of the quarantine/dead reason
    limit: int = 100_000

    def __post_init__(self) -> None:
        bad = sorted(set(self.states) - set(REPLAYABLE))
        if bad or not self.states:
            raise ValueError(f"states must be among {', '.join(REPLAYABLE)}, not {', '.join(bad) or 'none'}")


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
            moment = bound if bound.tzinfo else bound.replace(tzinfo=timezone.utc)
            clauses.append(f"received_at {op} ?")
            args.append(utc_text(moment.astimezone(timezone.utc)))
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


def unmapped_codes(conn: sqlite3.Connection, limit: int) -> list[dict]:
    rows = conn.execute("SELECT mapping_table, code, count, sample_description, first_seen, last_seen FROM unmapped "
                        "ORDER BY count DESC, mapping_table, code LIMIT ?", (limit,))
    return [{"mapping_table": r[0], "code": r[1], "count": r[2], "sample_description": r[3],
             "first_seen": r[4], "last_seen": r[5]} for r in rows]
