"""DHL Express XML-PI tracking (KnownTrackingRequest -> TrackingResponse).

Shapes handled (namespaces stripped):
- TrackingResponse/AWBInfo[]: AWBNumber, Status/ActionStatus, ShipmentInfo
  {OriginServiceArea, DestinationServiceArea, EstDlvyDate, ShipmentEvent[]
  {Date, Time, ServiceEvent {EventCode, Description}, Signatory, ServiceArea
  {ServiceAreaCode, Description "CITY - COUNTRY"}}}. Newer schema versions
  wrap repeated items (AWBInfo/ArrayOfAWBInfoItem,
  ShipmentEvent/ArrayOfShipmentEventItem); both spellings are read. Piece
  events (Pieces/PieceInfo/.../PieceEvent) are read only when the shipment
  has no events of its own: they repeat the shipment's checkpoints.
- An AWBInfo whose ActionStatus is not "success" ("No Shipments Found",
  "Invalid AWB Number" ...) and that has no events is a carrier error.
- ShipmentTrackingErrorResponse / ErrorResponse with Response/Status
  {ActionStatus, Condition[] {ConditionCode, ConditionData}}: carrier errors.

Date/Time are the service area's wall-clock time; the zone comes from the
service area's country (and state in the US). Signatory carries the
receiver's name on a delivery checkpoint and unrelated data on others, so it
is read as signed_by only for delivery codes.
"""
from __future__ import annotations

from lxml import etree

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import xtext
from ..timeparse import combine, iso_date, parse_datetime, parse_offset
from .dhl_common import error_text, place

_ERROR_ROOTS = ("ShipmentTrackingErrorResponse", "ErrorResponse")
_DELIVERY_CODES = frozenset({"OK", "DD"})


def _items(parent: etree._Element, tag: str, wrapped: str) -> list[etree._Element]:
    """Children named `tag`, unwrapping `<tag><wrapped>...</wrapped></tag>` lists of newer schemas."""
    out: list[etree._Element] = []
    for el in parent.iterchildren(tag):
        inner = list(el.iterchildren(wrapped))
        out.extend(inner or [el])
    return out


def _conditions(status: etree._Element | None) -> list[str]:
    if status is None:
        return []
    return [error_text(xtext(c, "ConditionCode"), xtext(c, "ConditionData"))
            for c in status.iterchildren("Condition")]


def _children(el: etree._Element | None) -> dict[str, str]:
    """Text of each direct child by tag, stripped (one pass, instead of a path search per field)."""
    return {} if el is None else {c.tag: (c.text or "").strip() for c in el}


def _event(ev: etree._Element) -> CarrierEvent | None:
    fields: dict[str, str] = {}
    service: dict[str, str] = {}
    area: dict[str, str] = {}
    for child in ev:
        tag = child.tag
        if tag == "ServiceEvent":
            service = _children(child)
        elif tag == "ServiceArea":
            area = _children(child)
        else:
            fields[tag] = (child.text or "").strip()
    when = combine(fields.get("Date", ""), fields.get("Time", ""))
    if when is None:
        return None
    offset = fields.get("GMTOffset")
    if offset and when.tzinfo is None:
        tz = parse_offset(offset)
        if tz is not None:
            when = when.replace(tzinfo=tz)
    code = service.get("EventCode", "").upper()
    signatory = fields.get("Signatory", "") if code in _DELIVERY_CODES else ""
    return CarrierEvent(
        when=when, description=service.get("Description", ""),
        codes=(code,) if code else (), carrier_code=code or None,
        location=place(area.get("Description", "")),
        signed_by=signatory or None,
    )


def _piece_events(info: etree._Element) -> list[etree._Element]:
    found: list[etree._Element] = []
    for pieces in info.iterchildren("Pieces"):
        for piece in _items(pieces, "PieceInfo", "ArrayOfPieceInfoItem"):
            for ev in _items(piece, "PieceEvent", "ArrayOfPieceEventItem"):
                found.append(ev)
    return found


def _estimated(info: etree._Element | None) -> str | None:
    """EstDlvyDate '2021-05-07 23:59:00 GMT-04:00' -> '2021-05-07T23:59:00-04:00'."""
    raw = xtext(info, "EstDlvyDate")
    if not raw:
        return None
    head, _, zone = raw.partition(" GMT")
    tz = parse_offset(zone) if zone else None
    when = parse_datetime(head)
    if when is not None and tz is not None and when.tzinfo is None:
        return when.replace(tzinfo=tz).isoformat()
    return iso_date(head)


def _awb(awb: etree._Element, out: ParseOutput) -> None:
    number = xtext(awb, "AWBNumber")
    status = awb.find("Status")
    action = xtext(status, "ActionStatus")
    info = awb.find("ShipmentInfo")
    events_el: list[etree._Element] = []
    if info is not None:
        events_el = _items(info, "ShipmentEvent", "ArrayOfShipmentEventItem")
    if not events_el:
        events_el = _piece_events(awb) or (_piece_events(info) if info is not None else [])
    events = [e for e in (_event(ev) for ev in events_el) if e is not None]
    if action and action.lower() != "success" and not events:
        problems = _conditions(status) or [action]
        out.carrier_errors.extend(f"{p} ({number})" if number else p for p in problems)
        return
    if not number:
        out.skipped.append("AWBInfo without AWBNumber")
        return
    signed = next((e.signed_by for e in reversed(events) if e.signed_by), None)
    out.shipments.append(CarrierShipment(
        tracking_number=number, carrier="dhl", events=events, estimated_delivery=_estimated(info),
        signed_by=signed))


class DhlExpressXml(ParserPlugin):
    name = "dhl.express_xml"
    family = "dhl"
    table = "dhl_express"
    media = "xml"
    xml_roots = ("TrackingResponse", "ShipmentTrackingErrorResponse")
    slugs = ("dhl_express", "dhlexpress")

    def sniff(self, doc: Document) -> float:
        """XML-PI's generic <ErrorResponse>: Response/Status/Condition with a ConditionCode."""
        root = doc.xml
        if root is not None and root.tag == "ErrorResponse" and root.find("Response/Status/Condition") is not None:
            return 1.0
        if root is not None and root.tag == "TrackingResponse" and root.find("AWBInfo") is not None:
            return 0.5
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        root = doc.xml
        if root is None:
            raise ParseError("not XML")
        out = ParseOutput()
        if root.tag in _ERROR_ROOTS:
            status = root.find("Response/Status")
            out.carrier_errors.extend(_conditions(status) or
                                      ([xtext(status, "ActionStatus")] if xtext(status, "ActionStatus") else []))
            if not out.carrier_errors:
                out.carrier_errors.append(f"{root.tag} without a condition")
            return out
        if root.tag != "TrackingResponse":
            raise ParseError(f"unexpected root {root.tag}")
        for awb in _items(root, "AWBInfo", "ArrayOfAWBInfoItem"):
            _awb(awb, out)
        if out.empty():
            out.carrier_errors.extend(_conditions(root.find("Response/Status")))
        if out.empty():
            raise ParseError("TrackingResponse without AWBInfo")
        return out


PLUGINS = [DhlExpressXml()]
