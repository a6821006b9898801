"""Canpar Express web services tracking SOAP XML (CanparAddonsService trackByBarcode and friends).

The response comes in a SOAP 1.2 envelope; namespaces are stripped before
parsing. Shapes handled:
- trackByBarcodeResponse | trackByBarcodeV2Response | trackByBarcodeLoomisResponse
  | trackByReferenceLoomisResponse, each with return {error, result[]}: a
  non-empty `error` is a carrier error.
- result {barcode, delivered, estimated_delivery_date "YYYYMMDD", events[],
  signed_by, consignee_address}: event {code, code_description_en,
  code_description_fr, local_date_time "YYYYMMDD HHMMSS", time_shift,
  address {city, province, postal_code, country}}.
- soap:Fault (SOAP 1.1 faultstring or 1.2 Reason/Text): a carrier error.

Events map by Canpar's code; the English description (French when English is
missing) is kept verbatim and decides for codes the table does not know. A
result without events takes its status from the `delivered` flag.

local_date_time is the wall-clock time at the scan's address; its province
gives the zone (a scan without one is read in Canpar's home zone, Toronto).
time_shift is not used: its meaning is not documented.
"""
from __future__ import annotations

from datetime import datetime

from lxml import etree

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import code_message, location, xtext
from ..timeparse import iso_date

ZONE = "America/Toronto"
_RESPONSES = ("trackByBarcodeResponse", "trackByBarcodeV2Response", "trackByBarcodeLoomisResponse",
              "trackByReferenceLoomisResponse")


def local_time(value: str) -> datetime | None:
    """'20110308 091442' -> datetime(2011, 3, 8, 9, 14, 42); None when unreadable."""
    day, _, clock = value.strip().partition(" ")
    clock = clock.strip()
    if len(day) != 8 or not day.isdigit() or not clock.isdigit() or len(clock) not in (4, 6):
        return None
    clock = clock.ljust(6, "0")
    try:
        return datetime(int(day[:4]), int(day[4:6]), int(day[6:]), int(clock[:2]), int(clock[2:4]), int(clock[4:]))
    except ValueError:
        return None


def _event(ev: etree._Element) -> CarrierEvent | None:
    when = local_time(xtext(ev, "local_date_time"))
    if when is None:
        return None
    code = xtext(ev, "code").upper()
    description = " ".join((xtext(ev, "code_description_en") or xtext(ev, "code_description_fr")).split())
    addr = ev.find("address")
    loc = None if addr is None else location(xtext(addr, "city"), xtext(addr, "province"),
                                             xtext(addr, "postal_code"), xtext(addr, "country"))
    return CarrierEvent(when=when, description=description, codes=(code,) if code else (),
                        carrier_code=code or None, location=loc,
                        zone=None if loc is not None and loc.region else ZONE)


def _shipment(result: etree._Element) -> CarrierShipment | None:
    barcode = xtext(result, "barcode")
    if not barcode:
        return None
    events = [e for e in (_event(ev) for ev in result.iterfind("events")) if e is not None]
    delivered = xtext(result, "delivered").lower()
    return CarrierShipment(
        tracking_number=barcode, carrier="canpar", events=events,
        estimated_delivery=iso_date(xtext(result, "estimated_delivery_date")) or None,
        signed_by=xtext(result, "signed_by") or None,
        coarse="DELIVERED" if delivered == "true" else None)


def _fault_text(fault: etree._Element) -> str:
    code = xtext(fault, "faultcode") or xtext(fault, "Code/Value")
    message = " ".join((xtext(fault, "faultstring") or xtext(fault, "Reason/Text")).split())
    return code_message(code, message) or "SOAP fault"


def _responses(root: etree._Element) -> list[etree._Element]:
    """The track responses: bare, in a Body, or in envelopes gathered under one wrapper element."""
    if root.tag in _RESPONSES:
        return [root]
    bodies = [root.find("Body")] if root.tag == "Envelope" else list(root.iterfind("Envelope/Body"))
    return [child for body in bodies if body is not None for child in body if child.tag in _RESPONSES]


def _fault(root: etree._Element) -> etree._Element | None:
    for path in ("Body/Fault", "Envelope/Body/Fault"):
        found = root.find(path)
        if found is not None:
            return found
    return root if root.tag == "Fault" else None


class CanparSoapXml(ParserPlugin):
    name = "canpar.tracking_soap_xml"
    family = "canpar"
    table = "canpar"
    media = "xml"
    xml_roots = _RESPONSES

    def sniff(self, doc: Document) -> float:
        root = doc.xml
        if root is None or root.tag in _RESPONSES:
            return 0.0
        if _responses(root):
            return 1.0
        if _fault(root) is not None and b"canpar.com" in doc.data[:8192]:
            return 0.75
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        root = doc.xml
        if root is None:
            raise ParseError("not XML")
        responses = _responses(root)
        if not responses:
            fault = _fault(root)
            if fault is None:
                raise ParseError("no trackByBarcode response")
            return ParseOutput(carrier_errors=[_fault_text(fault)])
        out = ParseOutput()
        for ret in (r for response in responses for r in response.iterfind("return")):
            error = " ".join(xtext(ret, "error").split())
            if error:
                out.carrier_errors.append(error)
            for result in ret.iterfind("result"):
                shipment = _shipment(result)
                if shipment is None:
                    out.skipped.append("result without barcode")
                else:
                    out.shipments.append(shipment)
        if out.empty():
            raise ParseError("no result or error in the track response")
        return out


PLUGINS = [CanparSoapXml()]
