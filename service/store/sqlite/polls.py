"""The poll schedule's SQL: take due trackings under a lease, write back the next poll, reconcile silence.

Taking due rows moves their `next_poll_at` to the end of a lease in the same
transaction, so two pollers (or a restarted one) never poll the same number
twice at once, and a poller that dies mid-poll leaves the rows to be taken
again when the lease ends: the schedule survives restarts because it is only
ever in the table.
"""
from __future__ import annotations

import sqlite3

from ...rows import Due, Reschedule


def claim_due(conn: sqlite3.Connection, carrier: str, now: str, lease_until: str, limit: int) -> list[Due]:
    with conn:
        rows = conn.execute(
            "SELECT t.carrier, t.tracking_number, t.registered_at, t.poll_failures, s.status FROM trackings t "
            "LEFT JOIN shipments s ON s.carrier = t.carrier AND s.tracking_number = t.tracking_number "
            "WHERE t.carrier = ? AND t.next_poll_at IS NOT NULL AND t.next_poll_at <= ? "
            "ORDER BY t.next_poll_at LIMIT ?", (carrier, now, limit)).fetchall()
        conn.executemany("UPDATE trackings SET next_poll_at = ? WHERE carrier = ? AND tracking_number = ?",
                         [(lease_until, r[0], r[1]) for r in rows])
    return [Due(*r) for r in rows]


def reschedule(conn: sqlite3.Connection, items: list[Reschedule], now: str) -> None:
    with conn:
        conn.executemany(
            "UPDATE trackings SET next_poll_at = ?, poll_state = ?, poll_failures = ?, "
            "last_polled_at = COALESCE(?, last_polled_at), updated_at = ? WHERE carrier = ? AND tracking_number = ?",
            [(i.next_poll_at, i.state, i.failures, i.polled_at, now, i.carrier, i.tracking_number) for i in items])


def park_without_client(conn: sqlite3.Connection, with_clients: list[str], now: str) -> int:
    """Trackings of carriers we hold no credentials for stop waiting (they surface as stalled instead)."""
    marks = ",".join("?" * len(with_clients))
    with conn:
        return conn.execute(f"UPDATE trackings SET next_poll_at = NULL, poll_state = 'no_credentials', "
                            f"updated_at = ? WHERE carrier NOT IN ({marks}) AND next_poll_at IS NOT NULL",
                            [now, *with_clients]).rowcount


def unpark(conn: sqlite3.Connection, carriers: list[str], now: str) -> int:
    """Credentials configured since: their parked trackings are due now."""
    if not carriers:
        return 0
    marks = ",".join("?" * len(carriers))
    with conn:
        return conn.execute(f"UPDATE trackings SET next_poll_at = ?, poll_state = 'scheduled', updated_at = ? "
                            f"WHERE carrier IN ({marks}) AND poll_state = 'no_credentials' AND poll = 1",
                            [now, now, *carriers]).rowcount


def reconcile(conn: sqlite3.Connection, carriers: list[str], silent_since: dict[str, str], now: str,
              limit: int) -> int:
    """Shipments we only hear of by webhook that went quiet longer than their status allows get polled.

    `silent_since` maps a status to the moment before which its shipments count
    as silent. Only unregistered shipments: a registered one is polled already,
    or its owner chose not to poll it.
    """
    added = 0
    if not carriers:
        return 0
    marks = ",".join("?" * len(carriers))
    with conn:
        for status, before in silent_since.items():
            added += conn.execute(
                f"INSERT INTO trackings (carrier, tracking_number, customer, poll, registered_at, updated_at, "
                f"next_poll_at, poll_state) SELECT s.carrier, s.tracking_number, '{{}}', 1, ?, ?, ?, 'reconcile' "
                f"FROM shipments s WHERE s.carrier IN ({marks}) AND s.status = ? AND s.updated_at < ? "
                f"AND NOT EXISTS (SELECT 1 FROM trackings t WHERE t.carrier = s.carrier "
                f"AND t.tracking_number = s.tracking_number) LIMIT ?",
                [now, now, now, *carriers, status, before, limit - added]).rowcount
            if added >= limit:
                break
    return added
