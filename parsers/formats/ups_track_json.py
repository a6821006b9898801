"""UPS Track API JSON (`GET /api/track/v1/details/{inquiryNumber}`).

trackResponse.shipment[].package[].activity[]: status {type, code,
description}, local `date`/`time` (yyyymmdd / hhmmss) and, in newer
responses, `gmtDate`/`gmtTime`/`gmtOffset`. Not-found answers come back as
HTTP 200 with shipment[].warnings[]; API errors as response.errors[].
"""
from __future__ import annotations

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import dicts, dig, location, text
from ..timeparse import combine, iso_date


def _event(activity: dict) -> CarrierEvent | None:
    status = activity.get("status") if isinstance(activity.get("status"), dict) else {}
    when = combine(text(activity.get("date")), text(activity.get("time")))
    if when is None:
        return None
    utc = None
    gmt = combine(text(activity.get("gmtDate")), text(activity.get("gmtTime")))
    if gmt is not None:
        utc = gmt
    addr = dig(activity, "location", "address", default={})
    kind, code = text(status.get("type")).upper(), text(status.get("code")).upper()
    return CarrierEvent(
        when=when, utc=utc,
        description=text(status.get("description")),
        codes=(f"{kind}:{code}",) if kind and code else (),
        carrier_code=code or None,
        coarse=kind or None,
        location=location(addr.get("city"), addr.get("stateProvince"), addr.get("postalCode"),
                          addr.get("countryCode") or addr.get("country")) if isinstance(addr, dict) else None,
    )


def _estimated(package: dict) -> str | None:
    for entry in dicts(package.get("deliveryDate")):
        value = iso_date(text(entry.get("date")))
        if value:
            return value
    return None


class UpsTrackJson(ParserPlugin):
    name = "ups.track_json"
    family = "ups"
    table = "ups"
    media = "json"
    json_keys = ("trackResponse",)

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        if not isinstance(data, dict):
            raise ParseError("not a JSON object")
        out = ParseOutput()
        for err in dicts(dig(data, "response", "errors")):
            out.carrier_errors.append(f"{text(err.get('code'))}: {text(err.get('message'))}".strip(": "))
        shipments = dig(data, "trackResponse", "shipment")
        if shipments is None and not out.carrier_errors:
            raise ParseError("no trackResponse.shipment")
        for shipment in dicts(shipments):
            for warning in dicts(shipment.get("warnings")):
                out.carrier_errors.append(
                    f"{text(warning.get('code'))}: {text(warning.get('message'))}".strip(": "))
            for package in dicts(shipment.get("package")):
                tn = text(package.get("trackingNumber")) or text(shipment.get("inquiryNumber"))
                events = [e for e in map(_event, dicts(package.get("activity"))) if e is not None]
                current = package.get("currentStatus") if isinstance(package.get("currentStatus"), dict) else {}
                signed = text(dig(package, "deliveryInformation", "receivedBy")) or None
                out.shipments.append(CarrierShipment(
                    tracking_number=tn, carrier="ups", events=events, estimated_delivery=_estimated(package),
                    signed_by=signed,
                    status_codes=(f"{text(current.get('type'))}:{text(current.get('code'))}",) if current else (),
                    status_text=text(current.get("description")), coarse=text(current.get("type")) or None))
        return out


PLUGINS = [UpsTrackJson()]
