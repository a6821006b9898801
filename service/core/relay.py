"""One event per physical scan across routes: the cross-route match.

The v1 `event_id` hashes the scan as one route reports it (codes, text,
place as written), so a retry or a poll after a webhook of the SAME route is
recognized by its id. An aggregator (EasyPost, Shippo, AfterShip) relaying a
carrier's scan rewrites codes and texts, formats the place its own way and
rounds the time to the minute: a different id for the same scan. One level
up, an arriving event with a new id is the same scan as a stored one when

- the shipment is the same (carrier slug and tracking number),
- the stored event did not come through this route already (a route is the
  parser: `ups.track_json`, `easypost.json`, ...; a route reports each scan
  once, so two scans of one route are never merged),
- one side is an aggregator's relay (a parser of a registry entry of kind
  `aggregator`): a carrier's own routes (its webhook, its tracking API)
  report the same scan with the same code and text, so their v1 ids already
  coincide, and two of their scans with different ids are different scans,
- the instants are within `TOLERANCE` (60 s: a time rounded or truncated to
  the minute still matches, a scan ten minutes later does not),
- the normalized status and exception class are equal,
- the places are compatible: the same postcode when both give one (US ZIP+4
  compared on its five digits), else the same city (case, punctuation and
  spacing ignored) and country when both give them; a side without a place
  is compatible with any place.

The closest stored event in time wins. The arrival is then recorded as
another provenance of that event (`Source`), under its own v1 id as an
alias, so its retries are plain duplicates: no second event, no second
message on the feed or the bus.
"""
from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from taxonomy import ExceptionClass, NormalizedEvent, Status
from taxonomy.carriers import registry
from taxonomy.models import Location

TOLERANCE = timedelta(seconds=60)
_ZIP_PLUS_4 = re.compile(r"^(\d{5})-?\d{4}$")
_NOT_WORD = re.compile(r"[^0-9a-z]+")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored (or earlier in this batch) event of the shipment, as the match needs it."""

    event_id: str
    occurred_at: datetime
    status: Status
    exception_class: ExceptionClass | None
    place: str | None  # `place_key` of its location
    routes: frozenset[str]  # every route it arrived through


@dataclass(frozen=True, slots=True)
class Source:
    """A later arrival of a stored event through another route: one more provenance, not another event."""

    carrier: str
    tracking_number: str
    alias_id: str  # the arrival's own v1 event_id
    event_id: str  # the event it is
    route: str
    parser_version: str
    channel: str
    inbox_id: int | None
    received_at: str | None
    occurred_at: datetime  # as this route reported it
    carrier_code: str | None
    description: str | None
    mapped_by: str

    def provenance(self) -> dict:
        """As the read API shows it beside the event's own `provenance`."""
        return source_json(self.route, self.parser_version, self.channel, self.inbox_id, self.received_at,
                           self.occurred_at, self.carrier_code, self.description, self.mapped_by, self.alias_id)


def source_json(route: str, parser_version: str, channel: str, inbox_id: int | str | None, received_at: str | None,
                occurred_at: datetime | str, carrier_code: str | None, description: str | None, mapped_by: str,
                alias_id: str) -> dict:
    at = occurred_at if isinstance(occurred_at, str) else occurred_at.isoformat().replace("+00:00", "Z")
    return {"channel": channel, "inbox_id": None if inbox_id is None else str(inbox_id), "received_at": received_at,
            "parser": route, "parser_version": parser_version, "mapped_by": mapped_by, "event_id": alias_id,
            "occurred_at": at, "carrier_code": carrier_code, "description": description}


def route_of(event: NormalizedEvent) -> str:
    return event.provenance.parser


@cache
def _aggregators() -> frozenset[str]:
    return frozenset(registry().aggregators())


def is_relay(route: str) -> bool:
    """A route through an aggregator: its parser belongs to a registry entry of kind `aggregator`."""
    return route.split(".", 1)[0] in _aggregators()


def place_key(location: Location | None) -> str | None:
    """`postcode|city|country`, normalized for comparison; None without any of them."""
    if location is None:
        return None
    postal = (location.postal_code or "").upper().replace(" ", "")
    if m := _ZIP_PLUS_4.match(postal):
        postal = m.group(1)
    city = _NOT_WORD.sub(" ", (location.city or "").lower()).strip()
    country = (location.country or "").upper()
    if not (postal or city or country):
        return None
    return f"{postal}|{city}|{country}"


def compatible(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return True
    postal_a, city_a, country_a = a.split("|")
    postal_b, city_b, country_b = b.split("|")
    if country_a and country_b and country_a != country_b:
        return False
    if postal_a and postal_b:
        return postal_a == postal_b
    if city_a and city_b:
        return city_a == city_b
    return True


class Window:
    """A shipment's candidates sorted by instant: a match looks only at those within the tolerance."""

    def __init__(self, candidates: list[Candidate]) -> None:
        self.items = sorted(candidates, key=lambda c: c.occurred_at)
        self.times = [c.occurred_at for c in self.items]

    def near(self, at: datetime) -> list[Candidate]:
        return self.items[bisect_left(self.times, at - TOLERANCE):bisect_right(self.times, at + TOLERANCE)]


def match(event: NormalizedEvent, candidates: list[Candidate] | Window) -> Candidate | None:
    """The stored event this arrival is the same scan as, through another route; None: a new scan."""
    route, place = route_of(event), place_key(event.location)
    relayed = is_relay(route)
    best: tuple[timedelta, Candidate] | None = None
    for c in candidates.near(event.occurred_at) if isinstance(candidates, Window) else candidates:
        gap = abs(c.occurred_at - event.occurred_at)
        if (gap > TOLERANCE or route in c.routes or c.status is not event.status
                or c.exception_class is not event.exception_class or not compatible(c.place, place)
                or not (relayed or any(is_relay(r) for r in c.routes))):
            continue
        if best is None or gap < best[0]:
            best = (gap, c)
    return best[1] if best else None


def source(event: NormalizedEvent, matched: Candidate, inbox_id: int | None) -> Source:
    p = event.provenance
    return Source(event.carrier, event.tracking_number, event.event_id, matched.event_id, route_of(event),
                  p.parser_version, p.channel.value, inbox_id,
                  p.received_at.isoformat().replace("+00:00", "Z") if p.received_at else None, event.occurred_at,
                  event.carrier_code, event.description, p.mapped_by.value)
