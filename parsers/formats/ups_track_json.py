"""UPS Track API JSON (`GET /api/track/v1/details/{inquiryNumber}`).

trackResponse.shipment[].package[].activity[]: status {type, code,
description, statusCode}, local `date`/`time` (yyyymmdd / hhmmss) and, in
newer responses, `gmtDate`/`gmtTime` (the UTC instant) and `gmtOffset` (the
local offset, "+08:00"). Not-found answers come back as HTTP 200 with
shipment[].warnings[] and no package; API errors as response.errors[].
"""
from __future__ import annotations

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import dicts, dig, location, text
from ..timeparse import UTC, combine, iso_date, parse_offset
from .ups_common import error_text, status_keys

# deliveryDate[].type: RDD rescheduled, SDD scheduled; DEL is the actual delivery date, not an estimate.
_ESTIMATE_TYPES = ("RDD", "SDD")


def _str(value: object) -> str:
    """text() with the common case (already a string) inline: this runs several times per scan."""
    return value.strip() if type(value) is str else text(value)


def _event(activity: dict, signed_by: str | None) -> CarrierEvent | None:
    get = activity.get
    status = get("status")
    if type(status) is not dict:
        status = {}
    gmt_day = get("gmtDate")
    gmt = combine(_str(gmt_day), _str(get("gmtTime"))) if gmt_day is not None else None
    when = combine(_str(get("date")), _str(get("time")))
    if gmt is None and when is not None:  # the local offset alone still pins the instant
        offset = get("gmtOffset")
        tz = parse_offset(offset) if offset is not None else None
        if tz is not None:
            when = when.replace(tzinfo=tz)
    if when is None:
        if gmt is None:
            return None
        when, gmt = gmt.replace(tzinfo=UTC), None  # only the UTC instant was given
    place = get("location")
    addr = place.get("address") if type(place) is dict else None
    codes, kind, printed = status_keys(status.get("type"), status.get("code"), status.get("statusCode"))
    return CarrierEvent(
        when, _str(status.get("description")), codes, printed, kind,
        location(addr.get("city"), addr.get("stateProvince"), addr.get("postalCode"),
                 addr.get("countryCode") or addr.get("country")) if type(addr) is dict else None,
        None, gmt, signed_by if kind == "D" else None,
    )


def _estimated(package: dict) -> str | None:
    found = {text(e.get("type")).upper(): text(e.get("date")) for e in dicts(package.get("deliveryDate"))}
    for kind in _ESTIMATE_TYPES:
        value = iso_date(found.get(kind))
        if value:
            return value
    return None


def _package(package: dict, shipment: dict) -> CarrierShipment:
    tn = text(package.get("trackingNumber")) or text(shipment.get("inquiryNumber"))
    signed = text(dig(package, "deliveryInformation", "receivedBy")) or None
    events = [e for e in (_event(a, signed) for a in dicts(package.get("activity"))) if e is not None]
    current = package.get("currentStatus") if isinstance(package.get("currentStatus"), dict) else {}
    codes, kind, _ = status_keys(current.get("type"), current.get("code"), current.get("statusCode"))
    return CarrierShipment(
        tracking_number=tn, carrier="ups", events=events, estimated_delivery=_estimated(package),
        signed_by=signed, status_codes=codes, status_text=text(current.get("description")), coarse=kind)


class UpsTrackJson(ParserPlugin):
    name = "ups.track_json"
    family = "ups"
    table = "ups"
    media = "json"
    json_keys = ("trackResponse",)

    def sniff(self, doc: Document) -> float:
        """A bare UPS API error body: {"response": {"errors": [{"code", "message"}]}}."""
        data = doc.json
        if isinstance(data, dict) and "trackResponse" not in data:
            errors = dig(data, "response", "errors")
            if isinstance(errors, list) and errors and all(isinstance(e, dict) and "code" in e for e in errors):
                return 0.5
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        if not isinstance(data, dict):
            raise ParseError("not a JSON object")
        out = ParseOutput()
        for err in dicts(dig(data, "response", "errors")):
            out.carrier_errors.append(error_text(err.get("code"), err.get("message")))
        shipments = dig(data, "trackResponse", "shipment")
        if shipments is None and not out.carrier_errors:
            raise ParseError("no trackResponse.shipment")
        for shipment in dicts(shipments):
            packages = dicts(shipment.get("package"))
            if not packages:  # a warning without a package is UPS's "not found" answer
                inquiry = text(shipment.get("inquiryNumber"))
                for warning in dicts(shipment.get("warnings")):
                    message = error_text(warning.get("code"), warning.get("message"))
                    out.carrier_errors.append(f"{message} ({inquiry})" if inquiry else message)
            for package in packages:
                out.shipments.append(_package(package, shipment))
        return out


PLUGINS = [UpsTrackJson()]
