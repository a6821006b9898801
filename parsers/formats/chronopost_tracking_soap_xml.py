"""Chronopost TrackingServiceWS SOAP (`ws.chronopost.fr/tracking-cxf/TrackingServiceWS`).

Shapes handled (namespaces stripped), in a SOAP Envelope or bare:
- trackSkybillV2Response/return {errorCode, errorMessage, listEventInfoComp
  {skybillNumber, events[] {code, eventDate, eventLabel, highPriority, NPC,
  officeLabel, zipCode, infoCompList[] {name, value}}}};
- the older trackSkybillResponse/return {errorCode, listEvents {skybillNumber,
  events[] {code, eventDate, eventLabel, officeLabel, zipCode}}}.
- errorCode other than 0 (1 "System Error", 2 the parcel does not belong to
  the account ...) and SOAP faults are carrier errors; a successful answer
  with no events is Chronopost's answer for a number it does not know.

eventDate is ISO 8601 with the offset ("2022-06-19T13:47:53+02:00"); a date
without one is Chronopost's home time (Europe/Paris). Labels are in the
requested language (fr_FR or en_GB) and kept verbatim; events map by code
(DC, DB, SC, TS, SD, TA, D ...). officeLabel names the Chronopost agency or
relay and is kept as the place with its postcode; an office without a
postcode ("Web Services") is not a place. On a delivery (D) the
"Consignee's name" / "Nom du destinataire" entry is who received the parcel.
"""
from __future__ import annotations

from lxml import etree

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import code_message, location, xtext
from ..timeparse import parse_datetime

ZONE = "Europe/Paris"
_RESPONSES = ("trackSkybillV2Response", "trackSkybillResponse")
_LISTS = ("listEventInfoComp", "listEvents")
_DELIVERED = frozenset({"D", "D1", "D2", "RI"})
_RECEIVER_NAMES = ("consignee's name", "nom du destinataire", "nom du réceptionnaire", "receiver's name")


def _fields(el: etree._Element) -> dict[str, str]:
    found: dict[str, str] = {}
    for child in el:
        if isinstance(child.tag, str) and child.tag not in found:
            found[child.tag] = (child.text or "").strip()
    return found


def _receiver(ev: etree._Element) -> str | None:
    for info in ev.iterchildren("infoCompList"):
        if xtext(info, "name").lower() in _RECEIVER_NAMES:
            return xtext(info, "value") or None
    return None


def _event(ev: etree._Element) -> CarrierEvent | None:
    f = _fields(ev)
    when = parse_datetime(f.get("eventDate", ""))
    if when is None:
        return None
    code = f.get("code", "").upper()
    office, postcode = f.get("officeLabel", ""), f.get("zipCode", "")
    return CarrierEvent(
        when=when, zone=ZONE, description=" ".join(f.get("eventLabel", "").split()),
        codes=(code,) if code else (), carrier_code=code or None,
        location=location(office, None, postcode, None) if postcode else None,
        signed_by=_receiver(ev) if code in _DELIVERED else None)


def _response(root: etree._Element) -> etree._Element | None:
    if root.tag in _RESPONSES:
        return root
    body = root.find("Body") if root.tag == "Envelope" else None
    if body is None:
        return None
    return next((el for name in _RESPONSES if (el := body.find(name)) is not None), None)


def _fault(root: etree._Element) -> str | None:
    fault = root.find("Body/Fault") if root.tag == "Envelope" else None
    if fault is None:
        return None
    code, message = xtext(fault, "faultcode"), " ".join(xtext(fault, "faultstring").split())
    return code_message(code, message) or "SOAP fault"


def _result(ret: etree._Element, out: ParseOutput) -> None:
    code = xtext(ret, "errorCode")
    message = " ".join(xtext(ret, "errorMessage").split())
    lists = [el for name in _LISTS for el in ret.iterchildren(name)]
    if code not in ("", "0"):
        out.carrier_errors.append(f"{code}: {message}" if message else f"errorCode {code}")
        return
    for found in lists:
        number = xtext(found, "skybillNumber")
        events = [e for e in (_event(ev) for ev in found.iterchildren("events")) if e is not None]
        if not number:
            out.skipped.append("event list without skybillNumber")
        elif events:
            signed = next((e.signed_by for e in events if e.signed_by), None)
            out.shipments.append(CarrierShipment(tracking_number=number, carrier="chronopost", events=events,
                                                 signed_by=signed))
        else:
            out.carrier_errors.append(f"{number}: no tracking events (unknown number or not yet scanned)")
    if not lists and message:
        out.carrier_errors.append(message)


class ChronopostTrackingSoapXml(ParserPlugin):
    name = "chronopost.tracking_soap_xml"
    family = "chronopost"
    table = "chronopost"
    media = "xml"
    xml_roots = _RESPONSES

    def sniff(self, doc: Document) -> float:
        root = doc.xml
        if root is None or root.tag != "Envelope":
            return 0.0
        if _response(root) is not None:
            return 1.0
        if root.find("Body/Fault") is not None and b"chronopost" in doc.data[:8192].lower():
            return 0.75
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        root = doc.xml
        if root is None:
            raise ParseError("not XML")
        response = _response(root)
        if response is None:
            fault = _fault(root)
            if fault is None:
                raise ParseError("no trackSkybillV2Response")
            return ParseOutput(carrier_errors=[fault])
        out = ParseOutput()
        for ret in response.iterchildren("return"):
            _result(ret, out)
        if out.empty():
            raise ParseError("trackSkybillV2Response without a result")
        return out


PLUGINS = [ChronopostTrackingSoapXml()]
