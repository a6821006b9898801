"""The one failure every store adapter raises for "the database cannot answer now" (disk full, locked past
its patience, connection lost): intake answers 503 with Retry-After, stages retry later."""
from __future__ import annotations


class StoreUnavailable(Exception):
    """The store could not do the unit of work; nothing of it was committed."""
