"""Purolator E-Ship Web Services Tracking Service SOAP XML (TrackPackagesByPin / ByReference).

The response comes in a SOAP envelope (or bare); namespaces are stripped
before parsing. Shapes handled:
- TrackPackagesByPinResponse | TrackPackagesByReferenceResponse:
  ResponseInformation/Errors/Error {Code, Description, AdditionalInformation}
  (a carrier error), TrackingInformationList/TrackingInformation {PIN/Value,
  Scans/Scan[], ResponseInformation (errors for that PIN)}.
- Scan {ScanType, Depot/Name, ScanDate "YYYY-MM-DD", ScanTime "HHMMSS" (the
  leading zero may be missing: "83704" is 08:37:04), Description,
  ScanDetails}: Delivery scans carry ScanDetails/DeliverySignature, pick-up
  scans ScanDetails/CommitedDeliveryDate (the estimated delivery).
- soap:Fault (the service's validation faults): a carrier error.

ScanType is the code: Delivery, OnDelivery, ProofOfPickUp and
InternationalOutbound map by it; Undeliverable and Other are coarse, so the
description ("Attempted delivery - Receiver not available", "Arrived at sort
facility") decides first.

Times are the depot's wall-clock time with no zone. The depot name ends with
its province ("MONTREAL SORT CTR/CTR TRIE, PQ"; Purolator still prints the old
PQ for Quebec and NF for Newfoundland, read as QC and NL), which gives the
zone; a scan without one is read in Purolator's home zone (Toronto).
"""
from __future__ import annotations

import re
from datetime import datetime

from lxml import etree

from taxonomy import Location

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import code_message, location, xtext
from ..timeparse import iso_date
from .usps_common import US_STATES

ZONE = "America/Toronto"
_RESPONSES = ("TrackPackagesByPinResponse", "TrackPackagesByReferenceResponse")
_PROVINCES = {"AB": "AB", "BC": "BC", "MB": "MB", "NB": "NB", "NL": "NL", "NF": "NL", "NS": "NS", "NT": "NT",
              "NU": "NU", "ON": "ON", "PE": "PE", "QC": "QC", "PQ": "QC", "SK": "SK", "YT": "YT"}
_TAIL = re.compile(r"^(.*?)[\s,]+([A-Za-z]{2})$")
_COARSE = {"UNDELIVERABLE", "OTHER"}


def depot(name: str) -> Location | None:
    """'MONTREAL SORT CTR/CTR TRIE, PQ' -> city + province (QC) + CA; a name without a province -> city only."""
    s = " ".join(name.split())
    if not s:
        return None
    m = _TAIL.match(s)
    if m and m.group(1):
        code = m.group(2).upper()
        if code in _PROVINCES:
            return location(m.group(1).strip(" ,"), _PROVINCES[code], None, "CA")
        if code in US_STATES:
            return location(m.group(1).strip(" ,"), code, None, "US")
    return location(s)


def scan_time(day: str, clock: str) -> datetime | None:
    """'2022-01-28' + '83704' -> 2022-01-28 08:37:04; None when unreadable."""
    digits = clock.strip()
    if not digits.isdigit() or len(digits) > 6:
        return None
    digits = digits.zfill(6)
    try:
        return datetime.fromisoformat(f"{day.strip()}T{digits[:2]}:{digits[2:4]}:{digits[4:]}")
    except ValueError:
        return None


def _event(scan: etree._Element) -> CarrierEvent | None:
    when = scan_time(xtext(scan, "ScanDate"), xtext(scan, "ScanTime"))
    if when is None:
        return None
    kind = xtext(scan, "ScanType")
    description = " ".join(xtext(scan, "Description").split())
    loc = depot(xtext(scan, "Depot/Name"))
    coarse = kind.upper() in _COARSE
    signed = xtext(scan, "ScanDetails/DeliverySignature") if kind.upper() == "DELIVERY" else ""
    return CarrierEvent(
        when=when, description=description, codes=(kind,) if kind and not coarse else (),
        carrier_code=kind or None, coarse=kind if coarse else None, location=loc,
        zone=None if loc is not None and loc.region else ZONE, signed_by=signed or None)


def _committed(info: etree._Element) -> str | None:
    """The committed delivery date of the latest pick-up scan that gives one."""
    for value in info.iterfind("Scans/Scan/ScanDetails/CommitedDeliveryDate"):
        found = iso_date((value.text or "").strip())
        if found:
            return found
    return None


def _errors(info: etree._Element | None, pin: str = "") -> list[str]:
    out = []
    if info is None:
        return out
    for err in info.iterfind("Errors/Error"):
        code = xtext(err, "Code")
        message = " ".join(" ".join(p for p in (xtext(err, "Description"), xtext(err, "AdditionalInformation"))
                                    if p).split())
        body = code_message(code, message)
        if body:
            out.append(f"{body} ({pin})" if pin else body)
    return out


def _fault_text(fault: etree._Element) -> str:
    details = [" ".join(xtext(d, "Message").split()) for d in fault.iter("ValidationDetail")]
    message = "; ".join(d for d in details if d) or " ".join(xtext(fault, "faultstring").split())
    code = xtext(fault, "faultcode")
    return code_message(code, message) or "SOAP fault"


def _response(root: etree._Element) -> etree._Element | None:
    if root.tag in _RESPONSES:
        return root
    for name in _RESPONSES:
        found = root.find(f"Body/{name}")
        if found is not None:
            return found
    return None


class PurolatorSoapXml(ParserPlugin):
    name = "purolator.tracking_soap_xml"
    family = "purolator"
    table = "purolator"
    media = "xml"
    xml_roots = _RESPONSES

    def sniff(self, doc: Document) -> float:
        root = doc.xml
        if root is None or root.tag != "Envelope":
            return 0.0
        if _response(root) is not None:
            return 1.0
        if root.find("Body/Fault") is not None and b"purolator.com" in doc.data[:8192]:
            return 0.75
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        root = doc.xml
        if root is None:
            raise ParseError("not XML")
        response = _response(root)
        if response is None:
            fault = root if root.tag == "Fault" else root.find("Body/Fault")
            if fault is None:
                raise ParseError("no TrackPackagesByPinResponse")
            return ParseOutput(carrier_errors=[_fault_text(fault)])
        out = ParseOutput(carrier_errors=_errors(response.find("ResponseInformation")))
        for info in response.iterfind("TrackingInformationList/TrackingInformation"):
            pin = xtext(info, "PIN/Value")
            events = [e for e in (_event(s) for s in info.iterfind("Scans/Scan")) if e is not None]
            errors = _errors(info.find("ResponseInformation"), pin)
            if errors and not events:
                out.carrier_errors.extend(errors)
            elif not pin:
                out.skipped.append("TrackingInformation without PIN")
            else:
                out.shipments.append(CarrierShipment(tracking_number=pin, carrier="purolator", events=events,
                                                     estimated_delivery=_committed(info)))
        if out.empty():
            raise ParseError("no tracking information or errors")
        return out


PLUGINS = [PurolatorSoapXml()]
