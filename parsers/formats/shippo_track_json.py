"""Shippo Track JSON (`GET /tracks/{carrier}/{tracking_number}`) and the track_updated webhook.

Track: carrier (Shippo carrier token, e.g. "usps", "dhl_express"), tracking_number,
eta, servicelevel, address_from/to, messages[], tracking_status {status,
status_details, status_date, substatus {code, text, action_required},
location {city, state, zip, country}}, tracking_history[] (same shape, oldest
first; the last entry repeats tracking_status). Webhook: {event:
"track_updated", test, data: <Track>}. Errors: a DRF-style body, {"detail":
"..."} or {"<field>": ["..."]} -> carrier errors.

Mapping: substatus.code is the code (Shippo's finest vocabulary); status
(PRE_TRANSIT, TRANSIT, DELIVERED, RETURNED, FAILURE, UNKNOWN) is the coarse
status, consulted after the keyword rules on status_details. Shippo reports
label-created scans as UNKNOWN, which the text then maps.

Timestamps: Shippo documents status_date as UTC ("This is displayed in UTC"),
so a "Z" value is the instant; the local time is shown in the scan location's
zone when that can be inferred (time_basis "offset"). A value without offset
(Shippo test mode) is read as UTC by the same documentation (time_basis "zone").
"""
from __future__ import annotations

import re
from datetime import datetime
from functools import cache

from taxonomy.carriers import registry
from taxonomy.places import country_code, zone_for

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import dicts, text
from ..timeparse import iso_date, parse_datetime
from .easypost_json import place

_NON_SLUG = re.compile(r"[^a-z0-9]+")

# substatus codes that say nothing: the text and the status decide.
VAGUE_SUBSTATUS = frozenset({"", "other", "unknown"})

# Shippo webhook event types; only track_updated carries a Track.
_WEBHOOK_EVENTS = frozenset({"track_updated", "transaction_created", "transaction_updated", "batch_created",
                             "batch_purchased", "all"})

# DRF validation bodies name request fields; only these make a body look like a Shippo error.
_ERROR_FIELDS = frozenset({"detail", "carrier", "tracking_number", "metadata", "non_field_errors", "__all__"})


@cache
def _carriers() -> dict[str, str]:
    """Shippo carrier tokens (the registry's `shippo` aliases) -> the project's slugs."""
    return {alias.lower(): slug for alias, slug in registry().aliases("shippo").items()}


def carrier_slug(token: str) -> str:
    """'canada_post' -> canadapost; tokens the registry does not know: lower case, '_' separated."""
    key = token.strip().lower()
    return _carriers().get(key) or _NON_SLUG.sub("_", key).strip("_")


def _when(value: object, loc: dict) -> tuple[datetime | None, str | None]:
    """(when, zone) for a status_date, by the rule in the module docstring."""
    when = parse_datetime(value)
    if when is None:
        return None, None
    if when.tzinfo is None:
        return when, "UTC"
    country = loc.get("country")
    if type(country) is str and country:
        code = country_code(country.strip())
        tz = zone_for(code, text(loc.get("state")) or None) if code else None
        if tz is not None:
            return when.astimezone(tz), None
    return when, None


def _event(entry: dict, carrier: str) -> CarrierEvent | None:
    status = text(entry.get("status")).upper()
    sub = entry.get("substatus") if isinstance(entry.get("substatus"), dict) else {}
    code = text(sub.get("code")).lower()
    description = text(entry.get("status_details")) or text(sub.get("text"))
    loc = entry.get("location") if isinstance(entry.get("location"), dict) else {}
    raw_date = entry.get("status_date")
    if raw_date is None and not description and not status:
        return None  # an empty tracking_status (nothing known yet)
    when, zone = _when(raw_date, loc)
    return CarrierEvent(
        when=when, zone=zone, description=description,
        codes=() if code in VAGUE_SUBSTATUS else (code,),
        carrier_code=code or status or None, coarse=status or None,
        location=place(loc.get("city"), loc.get("state"), loc.get("zip"), loc.get("country"), carrier)
        if loc else None)


def eta(value: object) -> str | None:
    """Shippo ETAs are dates written as midnight UTC ('2016-07-23T00:00:00Z'): keep the date."""
    when = parse_datetime(value)
    if when is None:
        return None
    if when.hour == when.minute == when.second == 0 and (when.tzinfo is None or not when.utcoffset()):
        return when.date().isoformat()
    return iso_date(when)


def track_shipment(track: dict, out: ParseOutput) -> None:
    tn = text(track.get("tracking_number"))
    if not tn:
        out.skipped.append("a Track without tracking_number")
        return
    carrier = carrier_slug(text(track.get("carrier"))) or "shippo"
    current = track.get("tracking_status") if isinstance(track.get("tracking_status"), dict) else None
    history = dicts(track.get("tracking_history"))
    if current is None and not history:
        messages = [m for m in dicts(track.get("messages")) if text(m.get("text"))]
        if messages:
            for m in messages:
                head = " ".join(p for p in (text(m.get("source")), text(m.get("code"))) if p)
                out.carrier_errors.append(f"{head}: {text(m.get('text'))}" if head else text(m.get("text")))
            return
    events = [e for e in (_event(h, carrier) for h in history) if e is not None]
    if current is not None:  # usually repeats the last history entry; the core dedupes by event id
        latest = _event(current, carrier)
        if latest is not None:
            events.append(latest)
    status = text(current.get("status")).upper() if current else ""
    sub = current.get("substatus") if current and isinstance(current.get("substatus"), dict) else {}
    code = text(sub.get("code")).lower()
    out.shipments.append(CarrierShipment(
        tracking_number=tn, carrier=carrier, events=events,
        estimated_delivery=eta(track.get("eta")),
        status_codes=() if code in VAGUE_SUBSTATUS else (code,),
        status_text=text(current.get("status_details")) if current else "", coarse=status or None))


def _errors(data: dict) -> list[str]:
    found = []
    for key, value in data.items():
        items = value if isinstance(value, list) else [value]
        msgs = [text(v) for v in items if text(v)]
        if msgs:
            found.append("; ".join(msgs) if key == "detail" else f"{key}: {'; '.join(msgs)}")
    return found


def _is_error(data: dict) -> bool:
    return bool(data) and set(data) <= _ERROR_FIELDS and all(
        isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(i, str) for i in v))
        for v in data.values())


class ShippoTrackJson(ParserPlugin):
    name = "shippo.track_json"
    family = "shippo"
    table = "shippo"
    media = "json"
    json_keys = ("tracking_status", "tracking_history")

    def sniff(self, doc: Document) -> float:
        data = doc.json
        if not isinstance(data, dict):
            return 0.0
        if "tracking_status" in data and "tracking_number" in data:
            return 1.0
        if data.get("event") in _WEBHOOK_EVENTS and isinstance(data.get("data"), dict):
            return 1.0
        if _is_error(data):
            return 0.4
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        if not isinstance(data, dict):
            raise ParseError("not a JSON object")
        out = ParseOutput()
        if data.get("event") in _WEBHOOK_EVENTS and isinstance(data.get("data"), dict):
            if data.get("event") != "track_updated":
                out.carrier_errors.append(f"NO_TRACKING_DATA: Shippo {text(data.get('event')) or 'webhook'} "
                                          "event carries no Track")
                return out
            data = data["data"]
        if "tracking_number" in data and ("tracking_status" in data or "tracking_history" in data):
            track_shipment(data, out)
        elif _is_error(data):
            out.carrier_errors.extend(_errors(data))
        if out.empty():
            raise ParseError("no Shippo Track or error in the document")
        return out


PLUGINS = [ShippoTrackJson()]
