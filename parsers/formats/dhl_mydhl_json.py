"""DHL Express MyDHL API tracking JSON (`GET /shipments/{number}/tracking`).

shipments[]: shipmentTrackingNumber, status (the lookup's result, e.g.
"Success", or a coarse status such as "delivered"), estimatedTimeOfDelivery /
estimatedDeliveryDate, events[] {date, time, GMTOffset, typeCode,
description, serviceArea[{code, description}], signedBy}, pieces[] with
their own events (copies of the shipment's checkpoints, read only when the
shipment has none). typeCode values are the Express checkpoint codes, so the
dhl_express table maps them.

Errors are RFC 7807 problem documents {instance, detail, title, status,
additionalDetails}: a carrier error.
"""
from __future__ import annotations

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import dicts, dig, text
from ..timeparse import combine, iso_date, parse_offset
from .dhl_common import is_problem, place, problem_text

_DELIVERY_CODES = frozenset({"OK", "DD"})


def _event(ev: dict) -> CarrierEvent | None:
    when = combine(text(ev.get("date")), text(ev.get("time")))
    if when is None:
        return None
    if when.tzinfo is None:
        tz = parse_offset(ev.get("GMTOffset"))
        if tz is not None:
            when = when.replace(tzinfo=tz)
    code = text(ev.get("typeCode")).upper()
    area = next(iter(dicts(ev.get("serviceArea"))), {})
    signed = text(ev.get("signedBy"))
    return CarrierEvent(
        when=when, description=text(ev.get("description")),
        codes=(code,) if code else (), carrier_code=code or None,
        location=place(area.get("description")),
        signed_by=signed or None if code in _DELIVERY_CODES else None,
    )


def _events(raw: list[dict]) -> list[CarrierEvent]:
    return [e for e in (_event(ev) for ev in raw) if e is not None]


def _shipment(shipment: dict) -> CarrierShipment | None:
    tn = text(shipment.get("shipmentTrackingNumber"))
    if not tn:
        return None
    events = _events(dicts(shipment.get("events")))
    if not events:  # piece checkpoints repeat the shipment's; use them only when it has none
        events = _events([ev for piece in dicts(shipment.get("pieces")) for ev in dicts(piece.get("events"))])
    status = text(shipment.get("status"))
    estimated = iso_date(text(shipment.get("estimatedTimeOfDelivery"))) or \
        iso_date(text(shipment.get("estimatedDeliveryDate")))
    signed = next((e.signed_by for e in events if e.signed_by), None)
    return CarrierShipment(tracking_number=tn, carrier="dhl", events=events, estimated_delivery=estimated,
                           signed_by=signed, status_text=status, coarse=status or None)


class DhlMydhlJson(ParserPlugin):
    name = "dhl.mydhl_json"
    family = "dhl"
    table = "dhl_express"
    media = "json"
    json_keys = ("shipments",)
    slugs = ("dhl_express", "dhlexpress", "mydhl")

    def sniff(self, doc: Document) -> float:
        data = doc.json
        if not isinstance(data, dict):
            return 0.0
        first = dig(data, "shipments", 0)
        if isinstance(first, dict):
            return 1.0 if "shipmentTrackingNumber" in first else 0.0
        if is_problem(data):  # the same problem shape as the Unified API; MyDHL's instance names its path
            instance = text(data.get("instance")).lower()
            return 0.6 if ("mydhlapi" in instance or "expressapi" in instance) else 0.2
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
        if not shipments or not any("shipmentTrackingNumber" in s for s in shipments):
            raise ParseError("no shipments[].shipmentTrackingNumber")
        for raw in shipments:
            shipment = _shipment(raw)
            if shipment is None:
                out.skipped.append("shipment without shipmentTrackingNumber")
            else:
                out.shipments.append(shipment)
        return out


PLUGINS = [DhlMydhlJson()]
