"""The store: the ports stages use (`ports`), the rows crossing them (`rows`), and two adapters.

- `SqliteStore` (default): one SQLite file; `serve` on a fresh machine
  needs nothing else. Processes on the same machine share it.
- `PostgresStore`: a `postgresql://` URL; any number of `serve` and
  `worker` processes on any number of machines share it.

`open_store` picks the adapter from the `--db` / `CARRIER_EVENTS_DB` value.
Both call the same decisions (`service.core`); they differ only in SQL.
"""
from __future__ import annotations

from ..core.apply import Applied
from .errors import StoreUnavailable
from .ports import Store
from .repair import ReplayFilter
from ..rows import (Accepted, ActiveShipment, Due, DueNotification, EscalationChange, EscalationCount, FeedItem,
                   Incoming, InboxRow, OutboxRow, Reschedule, Tracking)
from .sqlite import SqliteStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(db: str) -> bool:
    return db.startswith(POSTGRES_SCHEMES)


def open_store(db: str, *, sqlite_synchronous: str = "FULL", pool_size: int = 10) -> Store:
    """The adapter for `db`: a `postgresql://` URL, else a SQLite file path (not opened yet: `await open()`)."""
    if is_postgres(db):
        from .postgres import PostgresStore

        return PostgresStore(db, pool_size=pool_size)
    return SqliteStore(db, synchronous=sqlite_synchronous)


__all__ = ["Accepted", "ActiveShipment", "Applied", "Due", "DueNotification", "EscalationChange", "EscalationCount",
           "FeedItem", "Incoming", "InboxRow", "OutboxRow", "ReplayFilter", "Reschedule", "SqliteStore", "Store",
           "StoreUnavailable", "Tracking", "is_postgres", "open_store"]
