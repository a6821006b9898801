"""DHL eCommerce (formerly DHL Global Mail) legacy tracking XML (`api.dhlglobalmail.com/api.cfm`).

Shapes handled:
- <track><shipment>...</shipment>...</track>: per shipment trackingnumber,
  deliveryconfirm (the delivery partner's number, e.g. USPS), customerconfirm,
  address fields, shipped, signedby, and event[] {code, date "M/D/YYYY",
  time "12:26 PM ET", city, state, postalcode, country, description}, newest
  first.
- <track><error><code/><description/></error></track> ("No results for your
  tracking number."): a carrier error.

The time carries the zone DHL printed: ET/CT/MT/PT are the US zones with
their daylight-saving rule, EST/CDT/... fixed offsets; a time without one is
read in the zone of the scan's place. Descriptions are DHL's upper-case text,
kept verbatim; events map by their numeric code.
"""
from __future__ import annotations

import re

from lxml import etree

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import code_message, location, xtext
from ..timeparse import parse_datetime

# US zone letters DHL prints after the time, with their daylight-saving rule.
_US_ZONES = {"ET": "America/New_York", "CT": "America/Chicago", "MT": "America/Denver",
             "PT": "America/Los_Angeles", "AKT": "America/Anchorage", "HT": "Pacific/Honolulu"}
_CLOCK = re.compile(r"^\s*(\d{1,2}:\d{2}(?::\d{2})?\s*[AaPp][Mm]?)\s*([A-Za-z]{1,5})?\s*$")
_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*$")


def _fields(el: etree._Element) -> dict[str, str]:
    return {c.tag: (c.text or "").strip() for c in el if isinstance(c.tag, str)}


def _when(day: str, clock: str):
    """('1/17/2017', '12:26 PM ET') -> (naive datetime, zone name or abbreviation) or (None, None)."""
    d = _DATE.match(day)
    if d is None:
        return None, None
    iso_day = f"{d.group(3)}-{int(d.group(1)):02d}-{int(d.group(2)):02d}"
    c = _CLOCK.match(clock or "")
    if clock and c is None:
        return None, None
    if c is None:
        return parse_datetime(iso_day), None
    when = parse_datetime(f"{iso_day} {c.group(1).upper()}")
    if when is None or when.tzinfo is not None:
        return None, None
    zone = (c.group(2) or "").upper()
    return when, _US_ZONES.get(zone, zone or None)


def _event(el: etree._Element) -> CarrierEvent | None:
    f = _fields(el)
    when, zone = _when(f.get("date", ""), f.get("time", ""))
    if when is None:
        return None
    code = f.get("code", "")
    place = location(f.get("city"), f.get("state"), f.get("postalcode"), f.get("country"))
    return CarrierEvent(when=when, zone=zone, description=" ".join(f.get("description", "").split()),
                        codes=(code,) if code else (), carrier_code=code or None, location=place)


def _shipment(el: etree._Element, out: ParseOutput) -> None:
    number = xtext(el, "trackingnumber")
    if not number:
        out.skipped.append("shipment without trackingnumber")
        return
    events = [e for e in (_event(ev) for ev in el.iterchildren("event")) if e is not None]
    signed = xtext(el, "signedby") or None
    out.shipments.append(CarrierShipment(tracking_number=number, carrier="dhl_ecommerce", events=events,
                                         signed_by=signed))


class DhlEcommerceGlobalmailXml(ParserPlugin):
    name = "dhl_ecommerce.globalmail_xml"
    family = "dhl_ecommerce"
    table = "dhl_ecommerce"
    media = "xml"
    xml_roots = ("track",)
    slugs = ("dhl_globalmail", "dhl_global_mail", "dhlgm")

    def sniff(self, doc: Document) -> float:
        root = doc.xml
        if root is None or root.tag != "track":
            return 0.0
        if root.find("shipment/trackingnumber") is not None or root.find("error/description") is not None:
            return 1.0
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        root = doc.xml
        if root is None or root.tag != "track":
            raise ParseError("not a <track> document")
        out = ParseOutput()
        for error in root.iterchildren("error"):
            code, message = xtext(error, "code"), " ".join(xtext(error, "description").split())
            out.carrier_errors.append(code_message(code, message) or "error")
        for shipment in root.iterchildren("shipment"):
            _shipment(shipment, out)
        if out.empty():
            raise ParseError("no shipment or error in <track>")
        return out


PLUGINS = [DhlEcommerceGlobalmailXml()]
