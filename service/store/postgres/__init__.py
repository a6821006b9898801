"""The PostgreSQL store adapter (`--db postgresql://...`): the whole service on a shared database."""
from .store import PostgresStore

__all__ = ["PostgresStore"]
