"""FedEx Web Services TrackReply XML (legacy SOAP track service, v4 to v19).

The reply comes bare (<TrackReply>) or in a SOAP envelope; namespaces differ
by version and are stripped before parsing. Shapes handled:
- TrackReply/HighestSeverity + Notifications {Severity, Code, Message}: an
  ERROR or FAILURE reply (authentication, bad request) is a carrier error.
- CompletedTrackDetails/TrackDetails (v6+), or TrackDetails directly under
  the reply (older versions): TrackingNumber, Notification, StatusDetail
  {Code, Description, AncillaryDetails}, Events {Timestamp, EventType,
  EventDescription, StatusExceptionCode, StatusExceptionDescription,
  Address}, EstimatedDeliveryTimestamp or DatesOrTimes (v10+),
  DeliverySignatureName. A TrackDetails whose Notification is ERROR or
  FAILURE and that carries no scan (not found, invalid number, service
  failure) is a carrier error, not a shipment.
- soap:Fault {faultcode, faultstring, detail/desc}: a carrier error.
Event codes are the same as the Track API's, so the "fedex" table maps both.
"""
from __future__ import annotations

from lxml import etree

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import location, xtext
from ..timeparse import iso_date, parse_datetime
from .fedex_common import describe, error_text, keep_latest, lookup_keys

_BAD = ("ERROR", "FAILURE")


def _reply(root: etree._Element) -> etree._Element | None:
    if root.tag == "TrackReply":
        return root
    found = root.find("Body/TrackReply")
    if found is None:
        found = next(root.iter("TrackReply"), None)
    return found


def _fault(root: etree._Element) -> etree._Element | None:
    if root.tag == "Fault":
        return root
    found = root.find("Body/Fault")
    return found


def _fault_text(fault: etree._Element) -> str:
    """'CODE: message' from the fault's detail (FedEx desc/code) or else faultcode/faultstring."""
    code = xtext(fault, "detail/code") or xtext(fault, "faultcode")
    message = xtext(fault, "detail/desc") or xtext(fault, "detail/fault/reason") or xtext(fault, "faultstring")
    return error_text(code, message) or "SOAP fault without detail"


def _notice(el: etree._Element) -> tuple[str, str]:
    """(severity, 'CODE: message') of one Notification(s) element."""
    message = xtext(el, "Message") or xtext(el, "LocalizedMessage")
    return xtext(el, "Severity").upper(), error_text(xtext(el, "Code"), message)


def _texts(el: etree._Element) -> dict[str, str | None]:
    """Child local name -> raw text in one pass over the children (first of repeated names wins)."""
    found: dict[str, str | None] = {}
    for child in el:
        tag = child.tag
        if tag not in found:
            found[tag] = child.text
    return found


def _get(parts: dict[str, str | None], name: str) -> str:
    value = parts.get(name)
    return value.strip() if value else ""


def _place(el: etree._Element | None):
    if el is None:
        return None
    parts = _texts(el)
    return location(_get(parts, "City"), _get(parts, "StateOrProvinceCode"), _get(parts, "PostalCode"),
                    _get(parts, "CountryCode") or _get(parts, "CountryName"))


def _event(el: etree._Element, signed_by: str | None) -> CarrierEvent | None:
    parts = _texts(el)
    when = parse_datetime(_get(parts, "Timestamp"))
    if when is None:
        return None
    kind = _get(parts, "EventType").upper()
    return CarrierEvent(
        when=when,
        description=describe(_get(parts, "EventDescription"), _get(parts, "StatusExceptionDescription")),
        codes=lookup_keys(kind, _get(parts, "StatusExceptionCode").upper()),
        carrier_code=kind or None,
        location=_place(el.find("Address")),
        signed_by=signed_by if kind == "DL" else None,
    )


def _estimated(detail: etree._Element) -> str | None:
    value = xtext(detail, "EstimatedDeliveryTimestamp")
    if not value:
        for stamp in detail.iterfind("DatesOrTimes"):
            if xtext(stamp, "Type").upper() == "ESTIMATED_DELIVERY":
                value = xtext(stamp, "DateOrTimestamp")
                break
    return iso_date(value) if value else None


def _status(detail: etree._Element) -> tuple[tuple[str, ...], str]:
    """Shipment-level status: StatusDetail (v6+) or StatusCode/StatusDescription (v4-v5)."""
    status = detail.find("StatusDetail")
    if status is None:
        code = xtext(detail, "StatusCode").upper()
        return ((code,) if code else ()), xtext(detail, "StatusDescription")
    code = xtext(status, "Code").upper()
    reason = xtext(status, "AncillaryDetails/ReasonDescription")
    return ((code,) if code else ()), describe(xtext(status, "Description"), reason)


def _details(reply: etree._Element) -> list[etree._Element]:
    found = reply.findall("CompletedTrackDetails/TrackDetails")
    return found or reply.findall("TrackDetails")


class FedexSoapXml(ParserPlugin):
    name = "fedex.soap_xml"
    family = "fedex"
    table = "fedex"
    media = "xml"
    xml_roots = ("TrackReply",)

    def sniff(self, doc: Document) -> float:
        root = doc.xml
        if root is None or root.tag == "TrackReply":
            return 0.0
        if root.tag == "Envelope":
            if root.find("Body/TrackReply") is not None:
                return 1.0
            if root.find("Body/Fault") is not None and b"fedex.com/ws" in doc.data[:8192]:
                return 0.75
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        root = doc.xml
        if root is None:
            raise ParseError("not XML")
        reply = _reply(root)
        if reply is None:
            fault = _fault(root)
            if fault is None:
                raise ParseError("no TrackReply")
            return ParseOutput(carrier_errors=[_fault_text(fault)])
        out = ParseOutput()
        notices = [_notice(n) for n in reply.iterfind("Notifications")]
        failed = xtext(reply, "HighestSeverity").upper() in _BAD
        if failed:
            out.carrier_errors.extend(m for s, m in notices if m and (s in _BAD or s == ""))
        found: list[tuple[CarrierShipment, str]] = []
        for detail in _details(reply):
            shipment = self._shipment(detail, out)
            if shipment is not None:
                found.append((shipment, xtext(detail, "TrackingNumberUniqueIdentifier")))
        out.shipments, skipped = keep_latest(found)
        out.skipped.extend(skipped)
        if failed and not out.carrier_errors:
            out.carrier_errors.extend(m for _, m in notices if m)
            if not out.carrier_errors:
                out.carrier_errors.append(f"{xtext(reply, 'HighestSeverity').upper()}: request failed")
        return out

    @staticmethod
    def _shipment(detail: etree._Element, out: ParseOutput) -> CarrierShipment | None:
        number = xtext(detail, "TrackingNumber")
        signed = xtext(detail, "DeliverySignatureName") or None
        events = [e for e in (_event(el, signed) for el in detail.iterfind("Events")) if e is not None]
        codes, status_text = _status(detail)
        problems = []
        for el in detail.iterfind("Notification"):
            severity, message = _notice(el)
            if severity in _BAD and message:
                problems.append(message)
        if problems and not events and not codes:
            out.carrier_errors.extend(problems)
            return None
        if not number:
            out.skipped.append("a TrackDetails without a TrackingNumber")
            return None
        return CarrierShipment(tracking_number=number, carrier="fedex", events=events,
                               estimated_delivery=_estimated(detail), signed_by=signed,
                               status_codes=codes, status_text=status_text)


PLUGINS = [FedexSoapXml()]
