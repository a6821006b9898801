"""The store port: what the service needs from durable storage, and the embedded SQLite adapter.

Kept narrow on purpose (accept, pending, apply, mark, outbox reads, shipment
reads) so that a PostgreSQL adapter for more than one machine is an added
module, not a rewrite.
"""
from .effects import Applied
from .repair import ReplayFilter
from .sqlite import Accepted, InboxRow, Incoming, SqliteStore
from .trackings import Tracking

Store = SqliteStore

__all__ = ["Accepted", "Applied", "Incoming", "InboxRow", "ReplayFilter", "SqliteStore", "Store", "Tracking"]
