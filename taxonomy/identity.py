"""The stable event_id rule.

The same physical scan reaches us many ways: a webhook retried, a poll after a
webhook, an aggregator relaying the carrier. Hashing the scan's own facts
(not the document it came in) gives all of them one id. Text parts are
case-folded and whitespace-collapsed so cosmetic differences between relays
do not split an event; the instant is taken in UTC to the second.
"""
from __future__ import annotations

from datetime import datetime
from hashlib import blake2b

from .models import Location, utc_text

_SEP = "\x1f"


def _fold(text: str | None) -> str:
    return " ".join(text.split()).casefold() if text else ""


def location_key(location: Location | None) -> str:
    if location is None:
        return ""
    return "|".join((_fold(location.city), _fold(location.region), _fold(location.postal_code),
                     _fold(location.country)))


def event_id(carrier: str, tracking_number: str, occurred_at: datetime, carrier_code: str | None,
             description: str, location: Location | None) -> str:
    """32 hex chars identifying one scan (v1 rule; changing it is a taxonomy version step)."""
    key = _SEP.join(("v1", carrier, tracking_number.strip().upper(), utc_text(occurred_at),
                     _fold(carrier_code).upper(), _fold(description), location_key(location)))
    return blake2b(key.encode("utf-8"), digest_size=16).hexdigest()
