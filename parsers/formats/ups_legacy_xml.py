"""UPS legacy XML: the Tracking XML API, the Track SOAP web service and Quantum View.

- XML `TrackResponse` (Tracking XML API 1.0): Shipment/Package/Activity with
  Status/StatusType/{Code,Description} + Status/StatusCode/Code; errors in
  Response/Error/{ErrorCode,ErrorDescription} with ResponseStatusCode 0.
- SOAP `trk:TrackResponse` (XOLTWS Track v2.0) in an Envelope:
  Shipment/InquiryNumber/Value, Package/Activity/Status/{Type,Code,Description};
  errors come as a SOAP Fault with detail/Errors/ErrorDetail/PrimaryErrorCode.
- Both: ActivityLocation/Address/{City,StateProvinceCode,PostalCode,CountryCode},
  ActivityLocation/SignedForByName, Date (YYYYMMDD) and Time (HHMMSS) on the
  local wall clock; GMTDate/GMTTime/GMTOffset when the service adds them.
- `QuantumViewResponse` (Quantum View subscription feed): SubscriptionFile
  events Origin, Delivery, Exception, Manifest and Generic, each with its own
  TrackingNumber, Date, Time and ActivityLocation/AddressArtifactFormat.
  UPS gives these events no text, so the event kind (the element name) is
  both the description and the lookup key "QV:<KIND>".
"""
from __future__ import annotations

from lxml import etree

from taxonomy import Location

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import location, xtext
from ..timeparse import UTC, combine, iso_date, parse_offset
from .ups_common import error_text, status_keys

Element = etree._Element
_QV_KINDS = ("Origin", "Delivery", "Exception", "Manifest", "Generic")


def _kids(el: Element | None) -> dict[str, Element]:
    """Child elements by local name, read once: cheaper than one find() per field."""
    if el is None:
        return {}
    return {c.tag: c for c in el if isinstance(c.tag, str)}


def _t(el: Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def _status(status: Element | None) -> tuple[tuple[str, ...], str | None, str | None, str]:
    """(keys, coarse, carrier code, description) from either Status layout."""
    if status is None:
        return (), None, None, ""
    kids = _kids(status)
    kind_el = kids.get("StatusType")
    kind = xtext(kind_el, "Code") if kind_el is not None else _t(kids.get("Type"))
    description = (xtext(kind_el, "Description") if kind_el is not None else "") or _t(kids.get("Description"))
    code_el = kids.get("StatusCode")
    if code_el is not None and len(code_el):  # XML API: StatusCode/Code is the two-letter code
        code, sc = xtext(code_el, "Code"), None
    else:  # SOAP: Code is the two-letter code; a bare StatusCode is the 3-digit one
        code, sc = _t(kids.get("Code")), _t(code_el) or None
    keys, coarse, printed = status_keys(kind, code, sc)
    return keys, coarse, printed, description


def _when(kids: dict[str, Element]):
    """(local time, UTC instant) from Date/Time and the optional GMTDate/GMTTime/GMTOffset."""
    when = combine(_t(kids.get("Date")), _t(kids.get("Time")))
    utc = combine(_t(kids.get("GMTDate")), _t(kids.get("GMTTime"))) if "GMTDate" in kids else None
    if when is None and utc is not None:
        return utc.replace(tzinfo=UTC), None
    if when is not None and utc is None and "GMTOffset" in kids:
        tz = parse_offset(_t(kids["GMTOffset"]))
        if tz is not None:
            when = when.replace(tzinfo=tz)
    return when, utc


def _activity(act: Element) -> CarrierEvent | None:
    kids = _kids(act)
    when, utc = _when(kids)
    if when is None:
        return None
    keys, coarse, printed, description = _status(kids.get("Status"))
    place = _kids(kids.get("ActivityLocation"))
    addr = _kids(place.get("Address"))
    return CarrierEvent(
        when=when, utc=utc, description=description, codes=keys, carrier_code=printed, coarse=coarse,
        location=location(_t(addr.get("City")), _t(addr.get("StateProvinceCode")), _t(addr.get("PostalCode")),
                          _t(addr.get("CountryCode"))) if addr else None,
        signed_by=_t(place.get("SignedForByName")) or None)


def _estimate(*nodes: Element | None) -> str | None:
    """Rescheduled before scheduled; SOAP DeliveryDetail entries other than the actual delivery."""
    for node in nodes:
        if node is None:
            continue
        for path in ("RescheduledDeliveryDate", "ScheduledDeliveryDate"):
            value = iso_date(xtext(node, path))
            if value:
                return value
        for detail in node.iterfind("DeliveryDetail"):
            kind = (xtext(detail, "Type/Description") or "").lower()
            if xtext(detail, "Type/Code") in ("02", "03") or "schedul" in kind or "estimat" in kind:
                value = iso_date(xtext(detail, "Date"))
                if value:
                    return value
    return None


def _track(resp: Element, out: ParseOutput) -> None:
    for err in resp.iterfind("Response/Error"):
        out.carrier_errors.append(error_text(xtext(err, "ErrorCode"), xtext(err, "ErrorDescription")))
    for shipment in resp.iterfind("Shipment"):
        shipment_tn = xtext(shipment, "InquiryNumber/Value") or xtext(shipment, "ShipmentIdentificationNumber")
        for package in shipment.findall("Package") or [shipment]:  # freight puts Activity on the shipment
            tn = xtext(package, "TrackingNumber") or shipment_tn
            events = [e for e in map(_activity, package.iterfind("Activity")) if e is not None]
            out.shipments.append(CarrierShipment(
                tracking_number=tn, carrier="ups", events=events,
                estimated_delivery=_estimate(package, shipment),
                signed_by=next((e.signed_by for e in events if e.signed_by), None)))


def _fault(fault: Element, out: ParseOutput) -> None:
    details = fault.findall("detail/Errors/ErrorDetail")
    for detail in details:
        out.carrier_errors.append(error_text(xtext(detail, "PrimaryErrorCode/Code"),
                                             xtext(detail, "PrimaryErrorCode/Description")))
    if not details:
        out.carrier_errors.append(error_text(xtext(fault, "faultcode"), xtext(fault, "faultstring"))
                                  or "SOAP fault without detail")


def _qv_location(node: Element) -> Location | None:
    addr = node.find("ActivityLocation/AddressArtifactFormat")
    if addr is None:
        return None
    return location(xtext(addr, "PoliticalDivision2"), xtext(addr, "PoliticalDivision1"),
                    xtext(addr, "PostcodePrimaryLow"), xtext(addr, "CountryCode"))


def _qv_event(kind: str, node: Element) -> CarrierEvent | None:
    kids = _kids(node)
    if "Date" not in kids:  # Manifest packages and Generic events date their Activity
        kids = _kids(kids.get("Activity"))
    when, utc = _when(kids)
    if when is None:
        return None
    key, description, printed, signed = f"QV:{kind.upper()}", kind, kind, None
    if kind == "Delivery":
        signed = xtext(node, "DeliveryLocation/SignedForByName") or None
        if xtext(node, "AccessPointLocationID"):
            key = "QV:DELIVERY_ACCESS_POINT"
    elif kind == "Exception":
        texts = [t for t in (xtext(node, "StatusDescription"), xtext(node, "ReasonDescription")) if t]
        description = "; ".join(dict.fromkeys(texts)) or kind
        printed = xtext(node, "ReasonCode") or xtext(node, "StatusCode") or kind
    elif kind == "Generic":
        printed = xtext(node, "ActivityType") or kind
        key = f"QV:GENERIC:{printed.upper()}"
    return CarrierEvent(when=when, utc=utc, description=description, codes=(key,), carrier_code=printed,
                        location=_qv_location(node), signed_by=signed)


def _quantum(root: Element, out: ParseOutput) -> None:
    for err in root.iterfind("Response/Error"):
        out.carrier_errors.append(error_text(xtext(err, "ErrorCode"), xtext(err, "ErrorDescription")))
    found: dict[str, CarrierShipment] = {}
    for sub in root.iterfind("QuantumViewEvents/SubscriptionEvents/SubscriptionFile"):
        for node in sub:
            kind = node.tag
            if kind not in _QV_KINDS:
                continue
            if kind == "Manifest":  # one manifest lists its packages, each with an Activity date/time
                for package in node.iterfind("Package"):
                    _qv_add(found, xtext(package, "TrackingNumber"), _qv_event(kind, package),
                            xtext(node, "ScheduledDeliveryDate"))
                continue
            _qv_add(found, xtext(node, "TrackingNumber"), _qv_event(kind, node),
                    xtext(node, "RescheduledDeliveryDate") or xtext(node, "ScheduledDeliveryDate"))
    out.shipments.extend(found.values())


def _qv_add(found: dict[str, CarrierShipment], tn: str, event: CarrierEvent | None, estimate: str) -> None:
    if not tn:
        return
    shipment = found.get(tn)
    if shipment is None:
        shipment = found[tn] = CarrierShipment(tracking_number=tn, carrier="ups")
    if event is not None:
        shipment.events.append(event)
        shipment.signed_by = shipment.signed_by or event.signed_by
    shipment.estimated_delivery = iso_date(estimate) or shipment.estimated_delivery


def _soap_body(root: Element) -> Element | None:
    return root.find("Body") if root.tag == "Envelope" else None


class UpsLegacyXml(ParserPlugin):
    name = "ups.legacy_xml"
    family = "ups"
    table = "ups"
    media = "xml"
    # TrackResponse is also USPS Web Tools' root: claimed by sniff only, when the content is UPS's.
    xml_roots = ("QuantumViewResponse",)

    def sniff(self, doc: Document) -> float:
        root = doc.xml
        if root is None:
            return 0.0
        if root.tag == "TrackResponse":
            return 1.0 if root.find("Shipment") is not None or root.find("Response") is not None else 0.0
        body = _soap_body(root)
        if body is not None:
            if body.find("TrackResponse") is not None:
                return 1.0
            if body.find("Fault/detail/Errors/ErrorDetail") is not None or (
                    body.find("Fault") is not None and b"ups.com/XMLSchema" in doc.data[:8192]):
                return 0.75
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        root = doc.xml
        if root is None:
            raise ParseError("not XML")
        out = ParseOutput()
        body = _soap_body(root)
        if body is not None:
            resp, fault = body.find("TrackResponse"), body.find("Fault")
            if resp is not None:
                _track(resp, out)
            elif fault is not None:
                _fault(fault, out)
            else:
                raise ParseError("SOAP body without TrackResponse or Fault")
        elif root.tag == "TrackResponse":
            if root.find("Shipment") is None and root.find("Response") is None:
                raise ParseError("TrackResponse without Response or Shipment (not UPS)")
            _track(root, out)
        elif root.tag == "QuantumViewResponse":
            _quantum(root, out)
        else:
            raise ParseError(f"root {root.tag!r} is not a UPS tracking document")
        return out


PLUGINS = [UpsLegacyXml()]
