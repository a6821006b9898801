"""Asendia Sync tracking JSON (`www.asendia-sync.com`, OpenAPI `TrackingResponse`).

Shapes handled:
- a TrackingResponse {trackingNumber, trackingEvents[] {id, code, time,
  locationName, carrierEventDescription, locationCountry}};
- the multiple-number answer (`POST /api/customers/{id}/tracking`): an array
  of TrackingResponse;
- Asendia's problem body (JHipster/RFC 7807: {type, title, status, detail,
  path, message, fieldErrors[] {objectName, field, message}}) and a
  TrackingResponse with no events: carrier errors.

The single-number call (`GET .../tracking/{trackingNumber}`) answers a bare
array of events that does not repeat the number; such a document names no
shipment and is refused here, so the chain reports why.

`time` is an ISO 8601 instant ("2024-04-12T14:30:00Z", UTC per the API's
date-time format); the description is the last-mile carrier's text, kept
verbatim. Asendia publishes no event-code list with this API: the few codes
its documentation shows map by code, every other event by its description.
"""
from __future__ import annotations

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import code_message, dicts, location, text
from ..timeparse import parse_datetime

_EVENT_KEYS = frozenset({"carrierEventDescription", "locationName", "locationCountry"})


def _event(ev: dict) -> CarrierEvent | None:
    when = parse_datetime(text(ev.get("time")))
    if when is None:
        return None
    code = text(ev.get("code")).upper()
    return CarrierEvent(when=when, description=" ".join(text(ev.get("carrierEventDescription")).split()),
                        codes=(code,) if code else (), carrier_code=code or None,
                        location=location(ev.get("locationName"), None, None, ev.get("locationCountry")))


def _is_problem(data: object) -> bool:
    if not isinstance(data, dict) or "title" not in data or "status" not in data:
        return False
    kind, path = text(data.get("type")).lower(), text(data.get("path")).lower()
    return "asendia" in kind or (path.startswith("/api/") and ("tracking" in path or "parcels" in path))


def _problem_text(data: dict) -> str:
    fields = [f"{text(f.get('field'))}: {text(f.get('message'))}".strip(": ")
              for f in dicts(data.get("fieldErrors"))]
    head = " - ".join(p for p in (text(data.get("title")), text(data.get("detail"))) if p)
    message = "; ".join([head, *fields]) if head else "; ".join(fields)
    status = text(data.get("status"))
    return code_message(status, message) or "Asendia API error"


def _mine(item: dict) -> bool:
    """A TrackingResponse: only its two keys, or events with Asendia's event fields.

    Other tracking APIs also say trackingNumber/trackingEvents (USPS v3); their
    objects carry more keys and events of another shape.
    """
    if "trackingNumber" not in item or not isinstance(item.get("trackingEvents", []), list):
        return False
    events = dicts(item.get("trackingEvents"))
    if events:
        return any(_EVENT_KEYS & set(ev) or "time" in ev for ev in events)
    return set(item) <= {"trackingNumber", "trackingEvents"}


def _response(item: dict, out: ParseOutput) -> None:
    number = text(item.get("trackingNumber"))
    events = [e for e in (_event(ev) for ev in dicts(item.get("trackingEvents"))) if e is not None]
    if not number:
        out.skipped.append("TrackingResponse without trackingNumber")
    elif events:
        out.shipments.append(CarrierShipment(tracking_number=number, carrier="asendia", events=events))
    else:
        out.carrier_errors.append(f"{number}: no tracking events (unknown number or not yet scanned)")


class AsendiaSyncJson(ParserPlugin):
    name = "asendia.sync_json"
    family = "asendia"
    table = "asendia"
    media = "json"
    json_keys = ("trackingNumber", "trackingEvents")

    def sniff(self, doc: Document) -> float:
        data = doc.json
        first = data[0] if isinstance(data, list) and data else data
        if _is_problem(first):
            return 1.0
        if not isinstance(first, dict):
            return 0.0
        events = dicts(first.get("trackingEvents"))
        if events and _EVENT_KEYS & set(events[0]):
            return 1.0
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        out = ParseOutput()
        if _is_problem(data):
            out.carrier_errors.append(_problem_text(data))
            return out
        items = data if isinstance(data, list) else [data]
        for item in dicts(items):
            if _mine(item):
                _response(item, out)
        if out.empty():
            raise ParseError("no Asendia TrackingResponse (trackingNumber/trackingEvents)")
        return out


PLUGINS = [AsendiaSyncJson()]
