"""The stable event_id rule.

The same physical scan reaches us many ways: a webhook retried, a poll after a
webhook, an aggregator relaying the carrier. Hashing the scan's own facts
(not the document it came in) gives all of them one id. Text parts are
case-folded and whitespace-collapsed so cosmetic differences between relays
do not split an event; the instant is taken to the second.
"""
from __future__ import annotations

from datetime import datetime
from hashlib import blake2b

from .models import Location

def _place(location: Location | None) -> str:
    if location is None:
        return "\x00\x00\x00"
    return (f"{location.city or ''}\x00{location.region or ''}\x00{location.postal_code or ''}"
            f"\x00{location.country or ''}")


def event_id(carrier: str, tracking_number: str, occurred_at: datetime, carrier_code: str | None,
             description: str, location: Location | None) -> str:
    """32 hex chars identifying one scan (v1 rule; changing it is a taxonomy version step).

    Key: "v1", carrier, tracking number, the UTC instant as whole Unix seconds,
    carrier code, description, city, region, postal code, country — joined by
    NUL, each part trimmed with whitespace runs collapsed to one space,
    case-folded; BLAKE2b-128 of its UTF-8 bytes, in hex.
    """
    if occurred_at.tzinfo is None:
        raise ValueError("event_id needs an aware occurred_at")
    key = (f"v1\x00{carrier}\x00{tracking_number}\x00{int(occurred_at.timestamp())}\x00{carrier_code or ''}"
           f"\x00{description}\x00{_place(location)}")
    folded = " ".join(key.split()).replace(" \x00", "\x00").replace("\x00 ", "\x00").casefold()
    return blake2b(folded.encode("utf-8"), digest_size=16).hexdigest()
