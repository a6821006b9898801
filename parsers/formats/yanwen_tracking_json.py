"""Yanwen tracking JSON (`GET http://api.track.yw56.com.cn/api/tracking?nums=`).

Shapes handled:
- {code, message, result: [{tracking_number, waybill_number, exchange_number,
  tracking_status, checkpoints: [{time_stamp, time_zone, tracking_status, message,
  location, is_last_mile_checkpoint}], origin_country, destination_country}],
  requestTime, elapsedMilliseconds}.
- A result whose tracking_status is NOTFOUND and that has no checkpoints is a
  carrier error for that number; `code` other than 0 (request failed) is a
  carrier error with Yanwen's message.

Checkpoints map by their tracking_status code; Yanwen's English message decides
for codes the table does not know, and the code's stage prefix (OR order, PU
pick-up, SC sorting centre, LH line haul, CC customs, LM last mile) is the
coarse status after that. The result's own tracking_status sets the shipment
status when there are no checkpoints.

time_zone is the offset of the scan ("+8", "+08", "-05:00"). A checkpoint without
one is read in China (Asia/Shanghai) for origin scans and, for a last-mile
checkpoint, in the destination country.
"""
from __future__ import annotations

import re
from datetime import timedelta, timezone

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import dicts, location, text
from ..timeparse import parse_datetime

ZONE = "Asia/Shanghai"
_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)
_NOT_FOUND = "NOTFOUND"


def offset(value: object) -> timezone | None:
    """'+8', '+08', '-05:00', '+0530' -> tzinfo; None when absent or out of range."""
    m = _OFFSET.match(text(value))
    if not m:
        return None
    minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
    if minutes > 14 * 60 or int(m.group(3) or 0) >= 60:
        return None
    return timezone(timedelta(minutes=-minutes if m.group(1) == "-" else minutes))


def _stage(code: str) -> str | None:
    prefix = code[:2].upper()
    return prefix if len(code) > 2 and prefix.isalpha() else None


def _event(cp: dict, destination: str) -> CarrierEvent | None:
    when = parse_datetime(text(cp.get("time_stamp")))
    if when is None:
        return None
    tz = offset(cp.get("time_zone"))
    if when.tzinfo is None and tz is not None:
        when = when.replace(tzinfo=tz)
    last_mile = text(cp.get("is_last_mile_checkpoint")) in ("1", "True", "true")
    place = " ".join(text(cp.get("location")).split())
    loc = location(place or None, None, None, destination if last_mile and destination else None)
    code = text(cp.get("tracking_status")).upper()
    return CarrierEvent(when=when, description=" ".join(text(cp.get("message")).split()),
                        codes=(code,) if code else (), carrier_code=code or None, coarse=_stage(code),
                        location=loc, zone=None if last_mile else ZONE)


def _shipment(result: dict) -> CarrierShipment | None:
    tn = text(result.get("tracking_number")) or text(result.get("waybill_number"))
    if not tn:
        return None
    destination = text(result.get("destination_country"))
    events = [e for e in (_event(cp, destination) for cp in dicts(result.get("checkpoints"))) if e is not None]
    status = text(result.get("tracking_status")).upper()
    return CarrierShipment(tracking_number=tn, carrier="yanwen", events=events,
                           status_codes=(status,) if status else (), coarse=_stage(status))


class YanwenJson(ParserPlugin):
    name = "yanwen.tracking_json"
    family = "yanwen"
    table = "yanwen"
    media = "json"
    json_keys = ("code", "message", "result", "elapsedMilliseconds")

    def sniff(self, doc: Document) -> float:
        data = doc.json
        results = data.get("result") if isinstance(data, dict) else None
        first = results[0] if isinstance(results, list) and results and isinstance(results[0], dict) else {}
        return 1.0 if "checkpoints" in first and "tracking_number" in first else 0.0

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        if not isinstance(data, dict) or "code" not in data:
            raise ParseError("no code/result")
        out = ParseOutput()
        code = text(data.get("code"))
        if code not in ("0", ""):
            if "result" not in data and "elapsedMilliseconds" not in data and "requestTime" not in data:
                raise ParseError("a code/message body without Yanwen's result")
            message = " ".join(text(data.get("message")).split())
            out.carrier_errors.append(f"{code}: {message}" if message else code)
        for result in dicts(data.get("result")):
            status = text(result.get("tracking_status")).upper()
            if status == _NOT_FOUND and not dicts(result.get("checkpoints")):
                out.carrier_errors.append(f"{_NOT_FOUND}: no tracking information for "
                                          f"{text(result.get('tracking_number')) or 'the number asked'}")
                continue
            shipment = _shipment(result)
            if shipment is None:
                out.skipped.append("result without tracking_number")
            else:
                out.shipments.append(shipment)
        if out.empty():
            raise ParseError("no tracking result or error")
        return out


PLUGINS = [YanwenJson()]
