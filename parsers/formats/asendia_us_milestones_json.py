"""Asendia USA tracking milestones JSON (Asendia US API, `Tracking/Milestone`).

Shapes handled:
- {data: [{trackingNumberVendor, customerReferenceNumber,
  trackingMilestoneEvents[] {eventCode, eventDescription, eventLocation,
  eventOn}}], responseStatus {responseStatusCode, responseStatusMessage}},
  events newest first;
- an error: responseStatus (or the bare {responseStatusCode,
  responseStatusMessage}) with a code other than 200 (401 bad credentials,
  404 not found ...) and no data: a carrier error.

`eventOn` is ISO 8601 with its offset. The milestone codes (s1, s2a ... s10)
map by the asendia_us table; descriptions are kept verbatim. eventLocation is
free text: "Folcroft, PA 19032" (city, state, ZIP) is read as a US place,
anything else ("Asendia US (Philadelphia)", a foreign mail center) as a
place name only.
"""
from __future__ import annotations

import re

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import dicts, location, text
from ..timeparse import parse_datetime

_US_PLACE = re.compile(r"^(?P<city>[^,]+),\s*(?P<state>[A-Z]{2})(?:\s+(?P<zip>\d{5}(?:-\d{4})?))?$")
_STATUS_KEYS = frozenset({"responseStatusCode", "responseStatusMessage"})


def _place(raw: object):
    value = " ".join(text(raw).split())
    if not value:
        return None
    m = _US_PLACE.match(value)
    if m:
        return location(m.group("city"), m.group("state"), m.group("zip"), "US")
    return location(value)


def _event(ev: dict) -> CarrierEvent | None:
    when = parse_datetime(text(ev.get("eventOn")))
    if when is None:
        return None
    code = text(ev.get("eventCode"))
    return CarrierEvent(when=when, description=" ".join(text(ev.get("eventDescription")).split()),
                        codes=(code,) if code else (), carrier_code=code or None,
                        location=_place(ev.get("eventLocation")))


def _status(data: dict) -> dict:
    status = data.get("responseStatus")
    if isinstance(status, dict):
        return status
    return data if _STATUS_KEYS & set(data) else {}


class AsendiaUsMilestonesJson(ParserPlugin):
    name = "asendia.us_milestones_json"
    family = "asendia"
    table = "asendia_us"
    media = "json"
    json_keys = ("data", "responseStatus")
    slugs = ("asendia_us", "asendia_usa")

    def sniff(self, doc: Document) -> float:
        data = doc.json
        if not isinstance(data, dict):
            return 0.0
        if set(data) and set(data) <= _STATUS_KEYS and "responseStatusCode" in data:
            return 1.0
        first = next(iter(dicts(data.get("data"))), {})
        if "trackingMilestoneEvents" in first or "trackingNumberVendor" in first:
            return 1.0
        return 0.5 if isinstance(data.get("responseStatus"), dict) else 0.0

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        if not isinstance(data, dict):
            raise ParseError("not a JSON object")
        out = ParseOutput()
        for item in dicts(data.get("data")):
            number = text(item.get("trackingNumberVendor"))
            if not number:
                out.skipped.append("milestones without trackingNumberVendor")
                continue
            events = [e for e in (_event(ev) for ev in dicts(item.get("trackingMilestoneEvents"))) if e is not None]
            out.shipments.append(CarrierShipment(tracking_number=number, carrier="asendia", events=events))
        status = _status(data)
        code = text(status.get("responseStatusCode"))
        message = " ".join(text(status.get("responseStatusMessage")).split())
        if not out.shipments and code and (code != "200" or isinstance(data.get("data"), list)):
            # an error code, or success with an empty data list: Asendia has nothing for the number
            message = message or ("no tracking milestones" if code == "200" else "")
            out.carrier_errors.append(f"{code}: {message}" if message else f"responseStatusCode {code}")
        if out.empty():
            raise ParseError("no Asendia US milestones or error status")
        return out


PLUGINS = [AsendiaUsMilestonesJson()]
