"""Sendle tracking JSON (`GET /api/tracking/{sendle_reference}` and the tracking webhook).

Shapes handled:
- The tracking response {state, status {description, last_changed_at},
  tracking_events[], origin {country}, destination {country}, scheduling
  {estimated_delivery_date_minimum, estimated_delivery_date_maximum, ...}}.
  It does not repeat the Sendle reference (it was in the request URL): the
  shipment comes back with an empty tracking number, for the caller to fill in
  from what it asked for.
- The tracking webhook: one event {sendle_reference, event_id, event_type,
  scan_time, description, location_data {suburb, state, postcode, country}}.
- Error bodies {error, error_description} (not_found, unauthorised, ...):
  carrier errors.

Events map by event_type (Sendle's documented list); "Info" is coarse and its
description decides. A reason ("Parcel not ready") is appended to the
description as "description: reason", since it says why. The order `state`
sets the shipment status when there are no events.

scan_time is UTC. local_scan_time, when given, is the scan's wall-clock time
and the two together give the offset; display_time carries an offset of its
own. Without either the event keeps the UTC instant as its local time.
"""
from __future__ import annotations

from datetime import datetime

from taxonomy import Location

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import dicts, location, text
from ..timeparse import iso_date, parse_datetime

_KEYS = ("state", "tracking_events")
_COARSE = {"INFO"}
# The `error` values of Sendle's error bodies (HTTP 401, 402, 404, 412, 422, 429).
_ERRORS = {"not_found", "unauthorised", "unprocessable_entity", "payment_required", "precondition_failed",
           "too_many_requests"}


def _place(ev: dict) -> Location | None:
    data = ev.get("location_data")
    if isinstance(data, dict):
        loc = location(data.get("suburb"), data.get("state"), data.get("postcode"), data.get("country"))
        if loc is not None:
            return loc
    raw = " ".join(text(ev.get("location")).split())
    if not raw:
        return None
    city, sep, region = raw.rpartition(",")
    if sep and len(region.strip()) in (2, 3) and region.strip().isalpha() and city.strip():
        return location(city.strip(), region.strip().upper())
    return location(raw)


def _times(ev: dict) -> tuple[datetime | None, datetime | None]:
    """(when, utc) for CarrierEvent: local wall-clock with the UTC instant, else whatever carries an offset."""
    utc = parse_datetime(text(ev.get("scan_time")))
    local = parse_datetime(text(ev.get("local_scan_time")))
    if local is not None and local.tzinfo is None and utc is not None and utc.tzinfo is not None:
        return local, utc
    display = parse_datetime(text(ev.get("display_time")))
    for value in (utc, display, local):
        if value is not None and value.tzinfo is not None:
            return value, None
    return utc or display or local, None


def _event(ev: dict) -> CarrierEvent | None:
    when, utc = _times(ev)
    if when is None:
        return None
    kind = text(ev.get("event_type"))
    description = " ".join(text(ev.get("description")).split())
    reason = " ".join(text(ev.get("reason")).split())
    if reason and reason.casefold() not in description.casefold():
        description = f"{description}: {reason}" if description else reason
    coarse = kind.upper() in _COARSE
    return CarrierEvent(when=when, utc=utc, description=description,
                        codes=(kind,) if kind and not coarse else (), carrier_code=kind or None,
                        coarse=kind if coarse else None, location=_place(ev))


def _estimated(data: dict) -> str | None:
    scheduling = data.get("scheduling") if isinstance(data.get("scheduling"), dict) else {}
    for key in ("estimated_delivery_date_maximum", "estimated_delivery_date_minimum"):
        value = iso_date(text(scheduling.get(key)))
        if value:
            return value
    return None


def _is_error(data: dict) -> bool:
    return text(data.get("error")).lower() in _ERRORS and not data.get("tracking_events")


class SendleJson(ParserPlugin):
    name = "sendle.tracking_json"
    family = "sendle"
    table = "sendle"
    media = "json"
    json_keys = _KEYS

    def sniff(self, doc: Document) -> float:
        data = doc.json
        if not isinstance(data, dict):
            return 0.0
        if "sendle_reference" in data and "event_type" in data:
            return 1.0
        return 0.3 if "error_description" in data and _is_error(data) else 0.0

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        if not isinstance(data, dict):
            raise ParseError("not a JSON object")
        if _is_error(data):
            message = " ".join(text(data.get("error_description")).split())
            return ParseOutput(carrier_errors=[f"{text(data.get('error'))}: {message}" if message
                                               else text(data.get("error"))])
        if "sendle_reference" in data and "event_type" in data:  # the tracking webhook: one event
            event = _event(data)
            if event is None:
                raise ParseError("tracking webhook without a readable scan_time")
            return ParseOutput(shipments=[CarrierShipment(
                tracking_number=text(data.get("sendle_reference")), carrier="sendle", events=[event])])
        if not isinstance(data.get("tracking_events"), list) and "state" not in data:
            raise ParseError("no tracking_events or state")
        events = [e for e in (_event(ev) for ev in dicts(data.get("tracking_events"))) if e is not None]
        state = text(data.get("state"))
        status = data.get("status") if isinstance(data.get("status"), dict) else {}
        return ParseOutput(shipments=[CarrierShipment(
            tracking_number=text(data.get("sendle_reference")), carrier="sendle", events=events,
            estimated_delivery=_estimated(data), status_codes=(f"S:{state}",) if state else (),
            status_text=text(status.get("description")))])


PLUGINS = [SendleJson()]
