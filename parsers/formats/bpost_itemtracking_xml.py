"""bpost item tracking XML (`itemTracking`, namespace http://schema.post.be/tracking/v1/).

`itemTracking`: itemCode (the barcode), sender, addressee,
cityOrCountryOfdeparture, cityOrCountryOfDestination, deliveryTime (the
actual delivery), deliveryTimeWindow {plannedDeliveryDateWindowStart,
plannedDeliveryDateWindowEnd}, itemDetail, stateInfo[] {time (ISO 8601 with
offset), location, stateCode ("T00", "L00", "U01"), stateDescription ("Sorted -
sorted_out": bpost's state name and its reason)}, trackingId, pickupPoint.
A document holding several `itemTracking` elements gives one shipment each.

bpost's error bodies, businessException {code, message} and systemException
{message, timestamp} (namespaces under schema.post.be), are carrier errors.
"""
from __future__ import annotations

from lxml import etree

from taxonomy.places import country_code

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import code_message, location, xtext
from ..timeparse import iso_date, parse_datetime

Element = etree._Element
HOME_ZONE = "Europe/Brussels"
_ERRORS = ("businessException", "systemException")


def _state(el: Element) -> CarrierEvent | None:
    when = parse_datetime(xtext(el, "time"))
    if when is None:
        return None
    code = xtext(el, "stateCode")
    place = " ".join(xtext(el, "location").split())
    where = location(None, None, None, place) if place and len(place) > 2 and country_code(place) else \
        location(place or None)  # bpost writes a country's name for scans abroad
    return CarrierEvent(when=when, description=" ".join(xtext(el, "stateDescription").split()),
                        codes=(code,) if code else (), carrier_code=code or None,
                        location=where, zone=HOME_ZONE if when.tzinfo is None else None)


def _item(item: Element, out: ParseOutput) -> None:
    number = xtext(item, "itemCode")
    states = list(item.iterfind("stateInfo"))
    events = [e for e in map(_state, states) if e is not None]
    if len(events) < len(states):
        out.skipped.append(f"{number or 'item'}: {len(states) - len(events)} state(s) without a readable time")
    if not number:
        out.skipped.append("itemTracking without itemCode")
        return
    window = item.find("deliveryTimeWindow")
    estimated = None
    if window is not None:
        estimated = iso_date(xtext(window, "plannedDeliveryDateWindowEnd")) or iso_date(
            xtext(window, "plannedDeliveryDateWindowStart"))
    out.shipments.append(CarrierShipment(tracking_number=number, carrier="bpost", events=events,
                                         estimated_delivery=estimated))


def _exception(el: Element) -> str:
    code, message = xtext(el, "code"), " ".join(xtext(el, "message").split())
    return code_message(code, message) or el.tag


class BpostItemTrackingXml(ParserPlugin):
    name = "bpost.itemtracking_xml"
    family = "bpost"
    table = "bpost"
    media = "xml"
    xml_roots = ("itemTracking",)

    def sniff(self, doc: Document) -> float:
        root = doc.xml
        if root is None or root.tag == "itemTracking":
            return 0.0
        if root.tag in _ERRORS and b"schema.post.be" in doc.data[:4096]:
            return 0.75
        return 0.75 if root.find("itemTracking/itemCode") is not None else 0.0

    def parse(self, doc: Document) -> ParseOutput:
        root = doc.xml
        if root is None:
            raise ParseError("not XML")
        out = ParseOutput()
        if root.tag in _ERRORS:
            out.carrier_errors.append(_exception(root))
            return out
        items = [root] if root.tag == "itemTracking" else list(root.iterfind("itemTracking"))
        for item in items:
            _item(item, out)
        for el in root.iterfind("businessException"):
            out.carrier_errors.append(_exception(el))
        if out.empty():
            raise ParseError(f"no itemTracking with an itemCode in {root.tag!r}")
        return out


PLUGINS = [BpostItemTrackingXml()]
