"""FedEx Track API JSON (`POST /track/v1/trackingnumbers`).

output.completeTrackResults[].trackResults[]: trackingNumberInfo,
latestStatusDetail {code, derivedCode, description, ancillaryDetails},
scanEvents[] {date, eventType, eventDescription, exceptionCode,
exceptionDescription, derivedStatusCode, scanLocation}, dateAndTimes[],
estimatedDeliveryTimeWindow, deliveryDetails.receivedByName. A number FedEx
does not know comes back as trackResults[].error; a refused request as a
top-level errors[].

Scan dates are ISO 8601 local times, normally with an offset; some carry none
("2024-08-15T00:00:00", wall-clock time at the scan's place) and some put a
space before it ("2024-08-12T15:18:10 -0500"). `derivedStatusCode` is FedEx's
coarse grouping of the event type and only decides when the type is unknown.
"""
from __future__ import annotations

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import dicts, dig, location, text
from ..timeparse import iso_date, parse_datetime
from .fedex_common import describe, error_text, keep_latest, lookup_keys

_ESTIMATE_TYPES = ("ESTIMATED_DELIVERY", "COMMITMENT")


def _place(loc: object):
    if not isinstance(loc, dict):
        return None
    return location(loc.get("city"), loc.get("stateOrProvinceCode"), loc.get("postalCode"),
                    loc.get("countryCode") or loc.get("countryName"))


def _event(scan: dict, signed_by: str | None) -> CarrierEvent | None:
    when = parse_datetime(scan.get("date"))
    if when is None:
        return None
    kind = text(scan.get("eventType")).upper()
    return CarrierEvent(
        when=when,
        description=describe(text(scan.get("eventDescription")), text(scan.get("exceptionDescription"))),
        codes=lookup_keys(kind, text(scan.get("exceptionCode")).upper()),
        carrier_code=kind or None,
        coarse=text(scan.get("derivedStatusCode")).upper() or None,
        location=_place(scan.get("scanLocation")),
        signed_by=signed_by if kind == "DL" else None,
    )


def _estimated(result: dict) -> str | None:
    stamps = {text(d.get("type")).upper(): d.get("dateTime") for d in dicts(result.get("dateAndTimes"))}
    window = dig(result, "estimatedDeliveryTimeWindow", "window", default={})
    window = window if isinstance(window, dict) else {}
    for value in (stamps.get("ESTIMATED_DELIVERY"), window.get("ends"), window.get("begins"),
                  stamps.get("COMMITMENT")):
        estimate = iso_date(value) if isinstance(value, str) else None
        if estimate:
            return estimate
    return None


def _status_text(latest: dict) -> str:
    reasons = [text(d.get("reasonDescription")) for d in dicts(latest.get("ancillaryDetails"))]
    return describe(text(latest.get("description")) or text(latest.get("statusByLocale")),
                    next((r for r in reasons if r), ""))


def _shipment(result: dict, number: str) -> CarrierShipment:
    signed = text(dig(result, "deliveryDetails", "receivedByName")) \
        or text(dig(result, "deliveryDetails", "signedByName")) or None
    events = [e for e in (_event(s, signed) for s in dicts(result.get("scanEvents"))) if e is not None]
    latest = result.get("latestStatusDetail") if isinstance(result.get("latestStatusDetail"), dict) else {}
    code = text(latest.get("code")).upper()
    return CarrierShipment(
        tracking_number=number, carrier="fedex", events=events, estimated_delivery=_estimated(result),
        signed_by=signed, status_codes=(code,) if code else (), status_text=_status_text(latest),
        coarse=text(latest.get("derivedCode")).upper() or None)


class FedexTrackJson(ParserPlugin):
    name = "fedex.track_json"
    family = "fedex"
    table = "fedex"
    media = "json"
    json_keys = ("transactionId", "output")

    def sniff(self, doc: Document) -> float:
        data = doc.json
        if not isinstance(data, dict):
            return 0.0
        if isinstance(dig(data, "output", "completeTrackResults"), list):
            return 1.0
        if "transactionId" in data and isinstance(data.get("errors"), list):
            return 0.5
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        if not isinstance(data, dict):
            raise ParseError("not a JSON object")
        out = ParseOutput()
        for err in dicts(data.get("errors")):
            message = error_text(text(err.get("code")), text(err.get("message")))
            if message:
                out.carrier_errors.append(message)
        complete = dig(data, "output", "completeTrackResults")
        if not isinstance(complete, list):
            if out.carrier_errors:
                return out
            raise ParseError("no output.completeTrackResults")
        found: list[tuple[CarrierShipment, str]] = []
        for entry in dicts(complete):
            for result in dicts(entry.get("trackResults")):
                number = text(dig(result, "trackingNumberInfo", "trackingNumber")) \
                    or text(entry.get("trackingNumber"))
                error = result.get("error")
                if isinstance(error, dict) and not result.get("scanEvents"):
                    message = error_text(text(error.get("code")), text(error.get("message")))
                    out.carrier_errors.append(message or f"TRACKING.ERROR: no detail for {number}")
                    continue
                if not number:
                    out.skipped.append("a track result without a tracking number")
                    continue
                unique_id = text(dig(result, "trackingNumberInfo", "trackingNumberUniqueId"))
                found.append((_shipment(result, number), unique_id))
        out.shipments, skipped = keep_latest(found)
        out.skipped.extend(skipped)
        return out


PLUGINS = [FedexTrackJson()]
