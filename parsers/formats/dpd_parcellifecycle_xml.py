"""DPD ParcelLifeCycleService 2.0 `getTrackingData` SOAP XML (DPD Germany's web services, also DPD NL/BE/CH).

getTrackingDataResponse/trackingresult holds `shipmentInfo` (the service
booked, no scan) and `statusInfo[]`, each with `status` (DPD's step name: PickedUp, BetweenDepots, Depot, Courier,
Delivered, DeliveryFailure, ParcelShop, ...), `label/content` (the step's
headline), `description/content/content` (the text lines),
`statusHasBeenReached`, `isCurrentStatus`, `location/content` ("Mechelen
(BE)") and `date/content`. Only reached, dated steps are scans: the service
also lists the steps still to come.

The answer does not repeat the parcel label number: it was in the request.
The shipment is returned with an empty tracking number for the caller to
fill in (`normalize --tracking-number`, or the service from the poll that
asked).

Dates are local wall time as the request's messageLanguage prints them:
en_US "8/17/2021 7:11:26 PM" (month first, 12-hour clock), other locales
"17.08.2021 19:11:26" or "17-08-2021 19:11" (day first, 24-hour). The zone is
the one of the country in the location; without one, DPD Germany's
(Europe/Berlin).

soap:Fault bodies (detail/authenticationFault {errorCode, errorMessage} or
detail/faults {faultCode, message}) are carrier errors.
"""
from __future__ import annotations

import re
from datetime import datetime

from lxml import etree

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import code_message, location, xtext

Element = etree._Element
HOME_ZONE = "Europe/Berlin"
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?$")
_DAY_FIRST = re.compile(r"^(\d{1,2})[.-](\d{1,2})[.-](\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_PLACE = re.compile(r"^(.*?)\s*\(([A-Za-z]{2})\)$")


def dpd_time(value: str) -> datetime | None:
    """'8/17/2021 7:11:26 PM' or '17.08.2021 19:11:26' -> naive wall time; None when neither."""
    s = " ".join(value.split())
    try:
        m = _US.match(s)
        if m:
            month, day, year, hour, minute, second, half = m.groups()
            h = int(hour)
            if half:
                if not 1 <= h <= 12:
                    return None
                h = h % 12 + (12 if half.upper() == "PM" else 0)
            return datetime(int(year), int(month), int(day), h, int(minute), int(second or 0))
        m = _DAY_FIRST.match(s)
        if m:
            day, month, year, hour, minute, second = m.groups()
            return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
    except ValueError:
        return None
    return None


def _lines(item: Element | None) -> str:
    """The text of a ContentItem: its content lines (each a ContentLine with its own content), joined."""
    if item is None:
        return ""
    parts = [" ".join((line.findtext("content") or line.text or "").split()) for line in item.iterfind("content")]
    return " ".join(p for p in parts if p)


def _place(text: str):
    m = _PLACE.match(text)
    if m:
        return location(m.group(1), None, None, m.group(2).upper())
    return location(text or None)


def _step(el: Element) -> CarrierEvent | None:
    """One reached, dated step as a scan; None for steps still to come or without a readable date."""
    if xtext(el, "statusHasBeenReached").lower() != "true":
        return None
    when = dpd_time(xtext(el, "date/content"))
    if when is None:
        return None
    status = xtext(el, "status")
    place = _place(" ".join(xtext(el, "location/content").split()))
    description = _lines(el.find("description")) or " ".join(xtext(el, "label/content").split())
    return CarrierEvent(when=when, description=description, codes=(status,) if status else (),
                        carrier_code=status or None, location=place,
                        zone=None if place is not None and place.country else HOME_ZONE)


def _result(result: Element, out: ParseOutput) -> None:
    events: list[CarrierEvent] = []
    undated = 0
    for el in result.iterfind("statusInfo"):
        ev = _step(el)
        if ev is not None:
            events.append(ev)
        elif xtext(el, "statusHasBeenReached").lower() == "true":
            undated += 1
    if undated:
        out.skipped.append(f"{undated} reached step(s) without a readable date")
    out.shipments.append(CarrierShipment(tracking_number="", carrier="dpd", events=events))


def _fault_text(fault: Element) -> str:
    for detail in fault.iterfind("detail/*"):
        code = xtext(detail, "errorCode") or xtext(detail, "faultCode")
        message = " ".join((xtext(detail, "errorMessage") or xtext(detail, "message")).split())
        if code or message:
            return code_message(code, message)
    code, message = xtext(fault, "faultcode"), " ".join(xtext(fault, "faultstring").split())
    return code_message(code, message) or "SOAP fault without detail"


def _response(root: Element) -> Element | None:
    if root.tag == "getTrackingDataResponse":
        return root
    return root.find("Body/getTrackingDataResponse")


class DpdParcelLifeCycleXml(ParserPlugin):
    name = "dpd.parcellifecycle_xml"
    family = "dpd"
    table = "dpd"
    media = "xml"
    xml_roots = ("getTrackingDataResponse",)

    def sniff(self, doc: Document) -> float:
        root = doc.xml
        if root is None or root.tag != "Envelope":
            return 0.0
        if root.find("Body/getTrackingDataResponse/trackingresult") is not None:
            return 1.0
        if root.find("Body/Fault") is not None and b"dpd.com/common/service" in doc.data[:8192]:
            return 0.75
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        root = doc.xml
        if root is None:
            raise ParseError("not XML")
        out = ParseOutput()
        fault = root if root.tag == "Fault" else root.find("Body/Fault")
        if fault is not None:
            out.carrier_errors.append(_fault_text(fault))
            return out
        response = _response(root)
        if response is None:
            raise ParseError(f"no getTrackingDataResponse in {root.tag!r}")
        for result in response.iterfind("trackingresult"):
            _result(result, out)
        if out.empty():
            raise ParseError("getTrackingDataResponse without a trackingresult")
        return out


PLUGINS = [DpdParcelLifeCycleXml()]
