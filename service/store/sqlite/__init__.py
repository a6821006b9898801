"""The embedded store adapter: one SQLite file (WAL) for everything, the default that needs nothing."""
from .store import SqliteStore

__all__ = ["SqliteStore"]
