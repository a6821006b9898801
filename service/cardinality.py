"""Outside values that become metric labels or routing-key parts, bounded to a known set.

A generic document may name any carrier at all; each distinct name as a
Prometheus label is a new series (kept for the life of the process, sent on
every scrape) and as a routing-key part a new binding target. Carriers in
the registry (`taxonomy/data/carriers.toml`) keep their slug; every other
name becomes `other`. The events themselves keep the carrier as written.

The same holds for the carrier codes no mapping table knew (the `unmapped`
worklist): each is a row, so a sender inventing codes could grow the table
without end. A code is kept to `UNMAPPED_CODE_CHARS` characters, and a table
holds at most `UNMAPPED_CODES_PER_TABLE` distinct codes; further new codes
are counted under `UNMAPPED_OVERFLOW`, so the worklist still shows that
more arrived.
"""
from __future__ import annotations

from functools import lru_cache

from taxonomy.carriers import registry

OTHER = "other"
UNMAPPED_CODE_CHARS = 120
UNMAPPED_CODES_PER_TABLE = 2000
UNMAPPED_OVERFLOW = "(other codes)"


@lru_cache(maxsize=1024)
def _known(carrier: str) -> bool:
    return carrier in registry()


def carrier_label(carrier: str | None) -> str:
    """The carrier as a label or key part: its registry slug, `unknown` when none, else `other`."""
    if not carrier:
        return "unknown"
    return carrier if _known(carrier) else OTHER


def unmapped_code(code: str) -> str:
    """An unknown carrier code as the worklist stores it (bounded length)."""
    return code[:UNMAPPED_CODE_CHARS]
