"""GLS Track And Trace API V1 JSON (`/tracking/simple/trackids/{unitnos}`, `/tracking/simple/references/...`).

`{"parcels": [...]}`, one entry per parcel found: `requested` (the number or
reference asked for), `unitno` (the GLS parcel number), `status` (GLS's
current parcel status: PLANNEDPICKUP, INPICKUP, NOTPICKEDUP, PREADVICE,
INTRANSIT, INDELIVERY, DELIVEREDPS, DELIVERED, INWAREHOUSE, NOTDELIVERED,
CANCELED, FINAL), `statusDateTime`, and `events[]` {code ("INTIAL.NORMAL",
"DELIVD.PARCELSHOP", ...), city, postalCode, country (ISO alpha-2),
description (in the request's language), eventDateTime (ISO 8601 with an
offset, "+0200")}. One reference can name several parcels: each is a shipment
under its unitno.

An entry with `errorCode`/`errorMessage` (E_404_01 "Resource Not Found", ...)
is a carrier error for the requested number. Whole-request failures come as
problem JSON {type, title, status, detail, instance} or as the API gateway's
{"fault": {faultstring, detail {errorcode}}}; both are carrier errors when the
document is read as GLS (`--carrier gls`): other APIs answer in the same
shapes, so they do not select this format by themselves.

The parcel status is the coarse status of the event GLS recorded at the
status time (within a minute), and the shipment's status when a response
carries no events (`showEvents=false`).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import code_message, dicts, location, text
from ..timeparse import parse_datetime

_NEAR = timedelta(seconds=60)


def _when(value: object) -> datetime | None:
    return parse_datetime(text(value))


def _event(ev: dict) -> CarrierEvent | None:
    when = _when(ev.get("eventDateTime"))
    if when is None:
        return None
    code = text(ev.get("code"))
    return CarrierEvent(when=when, description=" ".join(text(ev.get("description")).split()),
                        codes=(code,) if code else (), carrier_code=code or None,
                        location=location(ev.get("city"), None, ev.get("postalCode"), ev.get("country")))


def _mark_status(events: list[CarrierEvent], status: str, at: datetime | None) -> None:
    """Give the parcel status as coarse status to the event recorded at the status time."""
    if not status or at is None or at.tzinfo is None:
        return
    near = [e for e in events if e.when.tzinfo is not None and abs(e.when - at) <= _NEAR]
    if near:
        max(near, key=lambda e: e.when).coarse = f"S:{status}"


def _parcel(parcel: dict, out: ParseOutput) -> None:
    number = text(parcel.get("unitno")) or text(parcel.get("requested"))
    error = text(parcel.get("errorCode"))
    if error:
        message = " ".join(text(parcel.get("errorMessage")).split())
        subject = f" ({number})" if number else ""
        out.carrier_errors.append(f"{error}: {message}{subject}" if message else f"{error}{subject}")
        return
    if not number:
        out.skipped.append("parcel without unitno or requested number")
        return
    events, undated = [], 0
    for raw in dicts(parcel.get("events")):
        ev = _event(raw)
        if ev is None:
            undated += 1
        else:
            events.append(ev)
    if undated:
        out.skipped.append(f"{number}: {undated} event(s) without a readable time")
    status = text(parcel.get("status")).upper()
    _mark_status(events, status, _when(parcel.get("statusDateTime")))
    out.shipments.append(CarrierShipment(
        tracking_number=number, carrier="gls", events=events,
        status_codes=(f"S:{status}",) if status and not events else ()))


def _request_errors(data: dict) -> list[str]:
    """Problem JSON and gateway faults that answer the whole request."""
    fault = data.get("fault")
    if isinstance(fault, dict):
        detail = fault.get("detail") if isinstance(fault.get("detail"), dict) else {}
        code, message = text(detail.get("errorcode")), " ".join(text(fault.get("faultstring")).split())
        return [code_message(code, message) or "fault"]
    if "title" in data and "status" in data and "parcels" not in data:
        status, title, detail = text(data.get("status")), text(data.get("title")), text(data.get("detail"))
        head = " ".join(p for p in (status, title) if p)
        return [code_message(head, detail) or "error"]
    return []


class GlsTrackJson(ParserPlugin):
    name = "gls.track_json"
    family = "gls"
    table = "gls"
    media = "json"
    json_keys = ("parcels",)
    slugs = ("gls_group",)

    def sniff(self, doc: Document) -> float:
        data = doc.json
        parcels = data.get("parcels") if isinstance(data, dict) else None
        first = parcels[0] if isinstance(parcels, list) and parcels and isinstance(parcels[0], dict) else {}
        return 1.0 if "requested" in first and ("unitno" in first or "errorCode" in first) else 0.0

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        if not isinstance(data, dict):
            raise ParseError("not a JSON object")
        out = ParseOutput(carrier_errors=_request_errors(data))
        parcels = data.get("parcels")
        if parcels is not None and not isinstance(parcels, list):
            raise ParseError("'parcels' is not a list")
        for parcel in dicts(parcels):
            _parcel(parcel, out)
        if out.empty():
            raise ParseError("no GLS parcel, parcel error or request error")
        return out


PLUGINS = [GlsTrackJson()]
