"""Duties and budgets shared by every process on the file: named leases and token buckets (SQLite).

Times are this machine's epoch seconds: every process sharing a SQLite file
runs on the machine that holds it.
"""
from __future__ import annotations

import sqlite3
import time

from ...core.rules import take_token


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


def take_tokens(conn: sqlite3.Connection, bucket: str, rate: float, capacity: float) -> float:
    """One token from a bucket refilled at `rate` per second up to `capacity`: 0 if taken, else the wait."""
    now = time.time()
    with conn:
        row = conn.execute("SELECT tokens, updated_at FROM budgets WHERE name = ?", (bucket,)).fetchone()
        tokens, wait = take_token(row[0] if row else None, now - row[1] if row else 0.0, rate, capacity)
        conn.execute("INSERT INTO budgets (name, tokens, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) "
                     "DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at", (bucket, tokens, now))
    return wait
