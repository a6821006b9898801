"""USPS Tracking API v3 JSON (`GET /tracking/v3/tracking/{trackingNumber}?expand=DETAIL`).

One object per tracking number (the batch endpoint answers with a list of
them): trackingNumber, statusCategory, status, statusSummary,
expectedDeliveryTimeStamp and trackingEvents[] {eventType, eventTimestamp
(local wall-clock, no zone), GMTTimestamp (UTC, to the second), GMTOffset
("-05:00"), eventCity, eventState, eventZIP, eventCountry (null at home),
eventCode, name, firm, authorizedAgent}.

Time: eventTimestamp with GMTOffset is the instant (`offset`). Without the
offset, GMTTimestamp gives it: the offset is rounded to the quarter hour,
because the local time is to the minute and the GMT one to the second. USPS
has been seen sending a GMTTimestamp a day off from its local time and
offset; the offset wins, and a GMT time that implies an impossible offset is
ignored (the zone then comes from the scan's state).

Errors: {"apiVersion", "error": {"code", "message", "errors": [...]}} and the
OAuth token errors {"error": "invalid_client", "error_description"}.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import dicts, text
from ..timeparse import parse_offset
from .usps_common import error_text, estimate, usps_location

_UTC = timezone.utc
_ESTIMATE_KEYS = ("expectedDeliveryTimeStamp", "predictedDeliveryTimeStamp", "expectedDeliveryDate",
                  "predictedDeliveryDate", "guaranteedDeliveryTimeStamp", "guaranteedDeliveryDate")
_QUARTER = 15 * 60


def _iso(value: Any) -> datetime | None:
    s = text(value)
    if not s:
        return None
    try:
        return datetime.fromisoformat(s)
    except ValueError:
        return None


def _when(ev: dict) -> datetime | None:
    local = _iso(ev.get("eventTimestamp"))
    gmt = _iso(ev.get("GMTTimestamp"))
    if local is None:
        if gmt is None:
            return None
        return gmt if gmt.tzinfo else gmt.replace(tzinfo=_UTC)
    if local.tzinfo is not None:
        return local
    tz = parse_offset(ev.get("GMTOffset"))
    if tz is not None:
        return local.replace(tzinfo=tz)
    if gmt is not None:
        instant = gmt.astimezone(_UTC).replace(tzinfo=None) if gmt.tzinfo else gmt
        seconds = round((local - instant).total_seconds() / _QUARTER) * _QUARTER
        if abs(seconds) <= 14 * 3600:
            return local.replace(tzinfo=timezone(timedelta(seconds=seconds)))
    return local


def _event(ev: dict) -> CarrierEvent | None:
    when = _when(ev)
    if when is None:
        return None
    code = text(ev.get("eventCode"))
    return CarrierEvent(
        when=when, description=text(ev.get("eventType")), codes=(code,) if code else (),
        carrier_code=code or None,
        location=usps_location(ev.get("eventCity"), ev.get("eventState"), ev.get("eventZIP"),
                               ev.get("eventCountry")),
        signed_by=text(ev.get("name")) or None)


def _api_error(err: dict) -> str:
    code, message = text(err.get("code")), text(err.get("message"))
    inner = [e for e in dicts(err.get("errors")) if text(e.get("code")) and text(e.get("code")) != code]
    if not message and inner:
        message = text(inner[0].get("title")) or text(inner[0].get("detail"))
    found = error_text(code, message)
    if inner:
        found += f" [{', '.join(text(e.get('code')) for e in inner)}]"
    return found or "USPS API error without code or message"


def _errors(data: dict) -> list[str]:
    err = data.get("error")
    if isinstance(err, dict):
        return [_api_error(err)]
    if isinstance(err, str) and err.strip():  # OAuth 2.0 token endpoint (RFC 6749 §5.2)
        return [error_text(err, data.get("error_description"))]
    return []


def _tracking(data: dict, out: ParseOutput) -> bool:
    errors = _errors(data)
    tn = text(data.get("trackingNumber"))
    if errors:
        out.carrier_errors.extend(f"{e} ({tn})" if tn else e for e in errors)
        return True
    if not tn:
        return False
    raw = data.get("trackingEvents")
    events = [e for e in map(_event, dicts(raw)) if e is not None]
    undated = len(dicts(raw)) - len(events)
    if undated:
        out.skipped.append(f"{tn}: {undated} event(s) without a readable time")
    out.shipments.append(CarrierShipment(
        tracking_number=tn, carrier="usps", events=events,
        estimated_delivery=estimate(*(data.get(k) for k in _ESTIMATE_KEYS)),
        signed_by=next((e.signed_by for e in events if e.signed_by), None),
        status_text=text(data.get("status")) or text(data.get("statusSummary")),
        coarse=text(data.get("statusCategory")) or None))
    return True


class UspsV3Json(ParserPlugin):
    name = "usps.v3_json"
    family = "usps"
    table = "usps"
    media = "json"
    json_keys = ("trackingNumber", "trackingEvents", "statusCategory")

    def sniff(self, doc: Document) -> float:
        data = doc.json
        if isinstance(data, list) and data and isinstance(data[0], dict):
            data = data[0]
        if not isinstance(data, dict):
            return 0.0
        api = text(data.get("apiVersion")).lower()
        if api and isinstance(data.get("error"), dict):
            return 1.0 if "track" in api else 0.5
        if isinstance(data.get("error"), str) and "error_description" in data and len(data) <= 4:
            return 0.3  # a bare OAuth error: any OAuth carrier's, USPS's among them
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        items = data if isinstance(data, list) else [data]
        out = ParseOutput()
        found = False
        for item in items:
            if isinstance(item, dict):
                found = _tracking(item, out) or found
        if not found:
            raise ParseError("no USPS v3 tracking object or error")
        return out


PLUGINS = [UspsV3Json()]
