"""Instants as the store spells them (RFC 3339 UTC, to the second) and as arithmetic wants them (epoch seconds).

Both directions run for every delivery (a log row's time, a commit time's
age), and the values repeat: a second's deliveries share one text, a batch's
events a few commit times. So both are memoized.
"""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache

from taxonomy.models import utc_text


@lru_cache(maxsize=256)
def epoch(text: str) -> float:
    """Epoch seconds of an RFC 3339 time (one without an offset is UTC)."""
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def stamp(seconds: float) -> str:
    """RFC 3339 to the second (the store's precision)."""
    return _stamp(int(seconds))


@lru_cache(maxsize=8)
def _stamp(second: int) -> str:
    return utc_text(datetime.fromtimestamp(second, timezone.utc))
