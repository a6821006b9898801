"""The stable event_id rule.

The same physical scan reaches us many ways: a webhook retried, a poll after a
webhook, an aggregator relaying the carrier. Hashing the scan's own facts
(not the document it came in) gives all of them one id. Text parts are
case-folded and whitespace-collapsed so cosmetic differences between relays
do not split an event; the instant is taken to the second.
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from hashlib import blake2b

from .models import Location

_NUL = "\x00"


def _fold_text(text: str) -> str:
    """The v1 text rule for a run of NUL-joined parts: whitespace collapsed, parts trimmed, case-folded.

    Applying it to consecutive parts at once equals applying it to each part:
    NUL is not whitespace, so no run of whitespace crosses a part boundary.
    """
    return " ".join(text.split()).replace(" \x00", "\x00").replace("\x00 ", "\x00").casefold()


_fold_cached = lru_cache(maxsize=65536)(_fold_text)


def _fold(text: str) -> str:
    """Scans repeat carriers, numbers, codes, texts and places, so short texts are folded once."""
    return _fold_cached(text) if len(text) <= 512 else _fold_text(text)


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
    return shipment_event_id(shipment_key(carrier, tracking_number), occurred_at, carrier_code, description,
                             location)


def shipment_key(carrier: str, tracking_number: str) -> str:
    """The folded start of every event key of one shipment, computed once per shipment on hot paths.

    Not cached: tracking numbers rarely repeat across documents, and a cache
    keyed by them would only grow with the number of shipments seen.
    """
    return _fold_text("v1" + _NUL + carrier + _NUL + tracking_number)


def shipment_event_id(key: str, occurred_at: datetime, carrier_code: str | None, description: str,
                      location: Location | None) -> str:
    """`event_id` for a shipment whose `shipment_key` is already known."""
    if occurred_at.tzinfo is None:
        raise ValueError("event_id needs an aware occurred_at")
    what = _fold((carrier_code or "") + _NUL + description)
    full = f"{key}{_NUL}{int(occurred_at.timestamp())}{_NUL}{what}{_NUL}{_fold(_place(location))}"
    return blake2b(full.encode("utf-8"), digest_size=16).hexdigest()
