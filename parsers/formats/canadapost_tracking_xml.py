"""Canada Post tracking web service XML (Get Tracking Details, track-v2).

`tracking-detail` (namespace http://www.canadapost.ca/ws/track): pin,
expected-delivery-date, changed-expected-date (the revised estimate),
signature-image-exists, significant-events/occurrence[] {event-identifier,
event-date (YYYY-MM-DD), event-time (HH:MM:SS), event-time-zone (EST, EDT,
...), event-description (English or French, per the request's
Accept-language), event-site, event-province, event-retail-location-id,
event-retail-name, signatory-name}, newest first.

Errors come as `messages/message {code, description}` (e.g. 004 "No Pin
History"), in either namespace. Client libraries often store either document
inside an envelope of their own, so both are also found one level down.

The event-time-zone is the zone Canada Post names; when it is empty or not a
zone (international scans carry a country name there), the zone comes from
the place: the province at home, or the country written after the site
("02650,Israel").
"""
from __future__ import annotations

from lxml import etree

from taxonomy.places import country_code, regions

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import code_message, location, xtext
from ..timeparse import combine, iso_date

Element = etree._Element

_PROVINCES = regions("CA")
_DOCS = ("tracking-detail", "messages")


def _fields(el: Element) -> dict[str, str]:
    found: dict[str, str] = {}
    for child in el:
        tag = child.tag
        if isinstance(tag, str) and tag not in found:
            found[tag] = (child.text or "").strip()
    return found


def _place(site: str, province: str):
    if province:
        return location(site, province, None, "CA" if province.upper() in _PROVINCES else None)
    if "," in site:  # international scans: "ILTLVA,Israel", "02650,Israel"
        head, _, tail = site.rpartition(",")
        cc = country_code(tail.strip())
        if cc:
            return location(head.strip(), None, None, cc)
    return location(site, None, None, None)


def _codes(identifier: str) -> tuple[str, ...]:
    """The identifier as printed, then zero-padded to Canada Post's four digits ('174' -> '0174')."""
    if not identifier:
        return ()
    if identifier.isdigit() and 2 < len(identifier) < 4:
        return identifier, identifier.zfill(4)
    return (identifier,)


def _occurrence(el: Element) -> CarrierEvent | None:
    f = _fields(el)
    when = combine(f.get("event-date", ""), f.get("event-time", ""))
    if when is None:
        return None
    identifier = f.get("event-identifier", "")
    return CarrierEvent(
        when=when, zone=f.get("event-time-zone") or None, description=f.get("event-description", ""),
        codes=_codes(identifier), carrier_code=identifier or None,
        location=_place(f.get("event-site", ""), f.get("event-province", "")),
        signed_by=f.get("signatory-name") or None)


def _detail(detail: Element, out: ParseOutput) -> None:
    f = _fields(detail)
    pin = f.get("pin", "")
    events: list[CarrierEvent] = []
    undated = 0
    for occ in detail.iterfind("significant-events/occurrence"):
        ev = _occurrence(occ)
        if ev is None:
            undated += 1
        else:
            events.append(ev)
    if undated:
        out.skipped.append(f"{pin}: {undated} event(s) without a readable date")
    out.shipments.append(CarrierShipment(
        tracking_number=pin, carrier="canadapost", events=events,
        estimated_delivery=iso_date(f.get("changed-expected-date")) or iso_date(f.get("expected-delivery-date")),
        signed_by=next((e.signed_by for e in events if e.signed_by), None)))


def _messages(messages: Element, out: ParseOutput) -> None:
    for message in messages.iterfind("message"):
        code, description = xtext(message, "code"), " ".join(xtext(message, "description").split())
        if code or description:
            out.carrier_errors.append(code_message(code, description))


def _documents(root: Element) -> list[Element]:
    if root.tag in _DOCS:
        return [root]
    return [child for child in root if child.tag in _DOCS]


class CanadaPostTrackingXml(ParserPlugin):
    name = "canadapost.tracking_xml"
    family = "canadapost"
    table = "canadapost"
    media = "xml"
    xml_roots = ("tracking-detail",)
    slugs = ("canada_post",)

    def sniff(self, doc: Document) -> float:
        root = doc.xml
        if root is None:
            return 0.0
        if root.tag == "messages":
            return 1.0 if root.find("message/code") is not None else 0.0
        if root.tag not in _DOCS and (root.find("tracking-detail/pin") is not None
                                      or root.find("messages/message/code") is not None):
            return 0.75
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        root = doc.xml
        if root is None:
            raise ParseError("not XML")
        found = _documents(root)
        if not found:
            raise ParseError(f"no tracking-detail or messages in {root.tag!r}")
        out = ParseOutput()
        for el in found:
            if el.tag == "messages":
                _messages(el, out)
            elif el.find("pin") is not None:
                _detail(el, out)
        if out.empty():
            raise ParseError("no tracking-detail with a pin, and no message with a code")
        return out


PLUGINS = [CanadaPostTrackingXml()]
