"""DHL Shipment Tracking - Unified API JSON (`GET /track/shipments?trackingNumber=`).

shipments[]: id, service (express, parcel-de, parcel-nl, freight, dgf ...),
origin/destination {address}, status and events[] of the same shape
{timestamp, location.address {addressLocality, postalCode, countryCode},
statusCode, status, description, remark, nextSteps}, estimatedTimeOfDelivery,
estimatedDeliveryTimeFrame, details.proofOfDelivery.signed.

Mapping keys: `status` when it is a bare token ("DELIVERED", an Express
checkpoint code such as "DF") rather than a sentence; then the description's
keywords; then `statusCode`, DHL's coarse status, which lags the text (the
docs sample has statusCode "pre-transit" with status "DELIVERED"). `remark`
and `nextSteps` are advice, not the scan, and are not mapped.

Timestamps carry an offset for most services; those without one (parcel-de,
the docs sample's events) are wall-clock time at the scan's place, or, for a
national parcel service's scan without a place, in that service's country.

Errors are RFC 7807 problem documents {type, title, status, detail,
instance}: a carrier error.
"""
from __future__ import annotations

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import dicts, dig, text
from ..timeparse import iso_date, parse_datetime
from .dhl_common import is_problem, place, problem_text

# National parcel services scan inside one country; a scan they print without a
# place (the electronic pre-advice, for one) is that country's wall-clock time.
_SERVICE_ZONES = {"parcel-de": "Europe/Berlin", "post-de": "Europe/Berlin", "parcel-nl": "Europe/Amsterdam",
                  "parcel-pl": "Europe/Warsaw", "parcel-uk": "Europe/London"}


def _token(status: str, coarse: str) -> str | None:
    """`status` as a lookup key when it is a code-like token, not a sentence or a copy of statusCode."""
    if not status or len(status) > 32 or " " in status or status.lower() == coarse.lower():
        return None
    return status.upper()


def _event(ev: dict, service_zone: str | None = None) -> CarrierEvent | None:
    when = parse_datetime(ev.get("timestamp"))
    if when is None:
        return None
    coarse, status = text(ev.get("statusCode")), text(ev.get("status"))
    token = _token(status, coarse)
    addr = dig(ev, "location", "address")
    loc = place(addr.get("addressLocality"), addr.get("countryCode"), addr.get("postalCode")) \
        if isinstance(addr, dict) else None
    return CarrierEvent(
        when=when, description=text(ev.get("description")) or status,
        codes=(token,) if token else (), carrier_code=(status if token else coarse) or None,
        coarse=coarse or None, location=loc,
        zone=service_zone if loc is None or loc.country is None else None)


def _signed(shipment: dict) -> str | None:
    signed = dig(shipment, "details", "proofOfDelivery", "signed")
    if isinstance(signed, str):
        return signed.strip() or None
    if not isinstance(signed, dict):
        return None
    full = " ".join(p for p in (text(signed.get("givenName")), text(signed.get("familyName"))) if p)
    return full or text(signed.get("name")) or text(signed.get("organizationName")) or None


def _estimated(shipment: dict) -> str | None:
    raw = text(shipment.get("estimatedTimeOfDelivery")) or \
        text(dig(shipment, "estimatedDeliveryTimeFrame", "estimatedThrough"))
    when = parse_datetime(raw)
    if when is not None and when.hour == when.minute == when.second == 0:
        return when.date().isoformat()  # a day, however DHL spells it ("2018-08-03T00:00:00Z")
    return when.isoformat() if when is not None else iso_date(raw)


def _shipment(shipment: dict) -> CarrierShipment | None:
    tn = text(shipment.get("id"))
    if not tn:
        return None
    zone = _SERVICE_ZONES.get(text(shipment.get("service")).lower())
    events = [e for e in (_event(ev, zone) for ev in dicts(shipment.get("events"))) if e is not None]
    current = shipment.get("status") if isinstance(shipment.get("status"), dict) else {}
    if not events and current:  # some services send only the latest status; it is a dated scan too
        latest = _event(current, zone)
        if latest is not None:
            events.append(latest)
    coarse, status = text(current.get("statusCode")), text(current.get("status"))
    token = _token(status, coarse)
    return CarrierShipment(
        tracking_number=tn, carrier="dhl", events=events, estimated_delivery=_estimated(shipment),
        signed_by=_signed(shipment), status_codes=(token,) if token else (),
        status_text=text(current.get("description")) or status, coarse=coarse or None)


class DhlUnifiedJson(ParserPlugin):
    name = "dhl.unified_json"
    family = "dhl"
    table = "dhl_unified"
    media = "json"
    json_keys = ("shipments",)
    slugs = ("dhl_unified", "dhl_universal")

    def sniff(self, doc: Document) -> float:
        data = doc.json
        if not isinstance(data, dict):
            return 0.0
        first = dig(data, "shipments", 0)
        if isinstance(first, dict):
            if "shipmentTrackingNumber" in first:
                return 0.0
            return 1.0 if "id" in first and ("status" in first or "events" in first or "service" in first) else 0.0
        if is_problem(data):
            instance = text(data.get("instance")).lower()
            return 0.0 if ("mydhlapi" in instance or "expressapi" in instance) else 0.3
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        if not isinstance(data, dict):
            raise ParseError("not a JSON object")
        out = ParseOutput()
        if is_problem(data):
            out.carrier_errors.append(problem_text(data))
            return out
        shipments = dicts(data.get("shipments"))
        if not shipments or not any("id" in s for s in shipments):
            raise ParseError("no shipments[].id")
        for raw in shipments:
            shipment = _shipment(raw)
            if shipment is None:
                out.skipped.append("shipment without id")
            else:
                out.shipments.append(shipment)
        return out


PLUGINS = [DhlUnifiedJson()]
