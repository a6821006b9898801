"""Duties and budgets shared by every process on the file: named leases and token buckets (SQLite).

Times are this machine's epoch seconds: every process sharing a SQLite file
runs on the machine that holds it.
"""
from __future__ import annotations

import sqlite3
import time

from ...core.rules import Budget, pause_budget, take_token


def lease(conn: sqlite3.Connection, name: str, holder: str, seconds: float) -> bool:
    """Take the lease if it is free or expired, renew it if `holder` has it; True if `holder` has it now."""
    now = time.time()
    with conn:
        row = conn.execute(
            "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
            "holder = excluded.holder, expires_at = excluded.expires_at "
            "WHERE leases.holder = excluded.holder OR leases.expires_at < ? RETURNING holder",
            (name, holder, now + seconds, now)).fetchone()
    return row is not None


def release(conn: sqlite3.Connection, name: str, holder: str) -> None:
    with conn:
        conn.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))


def lease_holders(conn: sqlite3.Connection, prefix: str) -> list[str]:
    rows = conn.execute("SELECT DISTINCT holder FROM leases WHERE substr(name, 1, ?) = ? AND expires_at >= ? "
                        "ORDER BY holder", (len(prefix), prefix, time.time())).fetchall()
    return [holder for (holder,) in rows]


def _budget(conn: sqlite3.Connection, bucket: str) -> Budget | None:
    row = conn.execute("SELECT tokens, updated_at, paused_until FROM budgets WHERE name = ?", (bucket,)).fetchone()
    return Budget(*row) if row else None


def _save(conn: sqlite3.Connection, bucket: str, budget: Budget) -> None:
    conn.execute("INSERT INTO budgets (name, tokens, updated_at, paused_until) VALUES (?, ?, ?, ?) ON CONFLICT (name) "
                 "DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at, "
                 "paused_until = excluded.paused_until", (bucket, budget.tokens, budget.stamp, budget.paused_until))


def take_tokens(conn: sqlite3.Connection, bucket: str, rate: float, capacity: float) -> float:
    """One token of the shared budget: 0 if taken, else the seconds to wait (nothing taken)."""
    with conn:
        budget, wait = take_token(_budget(conn, bucket), time.time(), rate, capacity)
        _save(conn, bucket, budget)
    return wait


def pause_tokens(conn: sqlite3.Connection, bucket: str, seconds: float) -> None:
    with conn:
        _save(conn, bucket, pause_budget(_budget(conn, bucket), time.time(), seconds))
