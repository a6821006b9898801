"""The stable event_id rule.

The same physical scan reaches us many ways: a webhook retried, a poll after a
webhook, an aggregator relaying the carrier. Hashing the scan's own facts
(not the document it came in) gives all of them one id. Text parts are
case-folded and whitespace-collapsed so cosmetic differences between relays
do not split an event; the instant is taken in UTC to the second.
"""
from __future__ import annotations

from datetime import datetime, timezone
from hashlib import blake2b

from .models import Location

_SEP = "\x00"


def location_parts(location: Location | None) -> tuple[str, str, str, str]:
    if location is None:
        return ("", "", "", "")
    return (location.city or "", location.region or "", location.postal_code or "", location.country or "")


def event_id(carrier: str, tracking_number: str, occurred_at: datetime, carrier_code: str | None,
             description: str, location: Location | None) -> str:
    """32 hex chars identifying one scan (v1 rule; changing it is a taxonomy version step).

    Key: "v1", carrier, tracking number, UTC instant to the second (ISO 8601),
    carrier code, description, city, region, postal code, country — joined by
    NUL, each part trimmed with whitespace runs collapsed to one space,
    case-folded; BLAKE2b-128.
    """
    if occurred_at.microsecond:
        occurred_at = occurred_at.replace(microsecond=0)
    key = _SEP.join(("v1", carrier, tracking_number, occurred_at.astimezone(timezone.utc).isoformat(),
                     carrier_code or "", description, *location_parts(location)))
    folded = " ".join(key.split()).replace(" \x00", "\x00").replace("\x00 ", "\x00").casefold()
    return blake2b(folded.encode("utf-8"), digest_size=16).hexdigest()
