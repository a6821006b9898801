"""TNT ExpressConnect Tracking XML (`TrackResponse`, tracking v3.1).

`TrackResponse/Consignment[@access]`: ConsignmentNumber, OriginDepot,
OriginDepotName, CustomerReference, CollectionDate, DeliveryTown,
DeliveryDate + DeliveryTime, Signatory, SummaryCode (DEL delivered, INT in
transit, EXC exception, CNF consignment not found), OriginCountry and
DestinationCountry {CountryCode, CountryName}, PieceQuantity, and (complete
requests) StatusData[] {StatusCode, StatusDescription, LocalEventDate
(YYYYMMDD), LocalEventTime (HHMM), Depot, DepotName}. TNT reuses consignment
numbers, so one answer can hold two consignments under the same number; they
become one shipment. A CNF consignment is a carrier error ("not found"), as is
`TrackResponse/Error {Code, Message}` (9000 unauthorised, ...).

Event times are the depot's local wall time without a zone. The document
places two depots: the origin depot (OriginDepot) in the origin country, and
the depot of the delivery scan (the scan at DeliveryDate/DeliveryTime) in the
destination country; their scans take that country's zone. Other depots are
not placed, and their times are taken as printed (time_basis `assumed_utc`).

Same XML root as UPS's legacy tracking reply: told apart by content
(Consignment or Error/Code children), never by the root name alone.
"""
from __future__ import annotations

from datetime import datetime

from lxml import etree

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import code_message, location, xtext
from ..timeparse import combine

Element = etree._Element
_NOT_FOUND = "CNF"


def _clean(value: str) -> str:
    return " ".join(value.split())


def _status(el: Element, countries: dict[str, str]) -> CarrierEvent | None:
    when = combine(xtext(el, "LocalEventDate"), xtext(el, "LocalEventTime"))
    if when is None:
        return None
    code, depot = xtext(el, "StatusCode"), xtext(el, "Depot")
    return CarrierEvent(when=when, description=_clean(xtext(el, "StatusDescription")), codes=(code,) if code else (),
                        carrier_code=code or None,
                        location=location(_clean(xtext(el, "DepotName")) or depot or None, None, None,
                                          countries.get(depot)))


def _consignment(con: Element, out: ParseOutput) -> None:
    number = xtext(con, "ConsignmentNumber")
    summary = xtext(con, "SummaryCode").upper()
    if summary == _NOT_FOUND:
        out.carrier_errors.append(f"CNF: consignment not found ({number})" if number else "CNF: consignment not found")
        return
    if not number:
        out.skipped.append("Consignment without ConsignmentNumber")
        return
    delivered_at = combine(xtext(con, "DeliveryDate"), xtext(con, "DeliveryTime"))
    statuses = list(con.iterfind("StatusData"))
    countries: dict[str, str] = {}
    origin, destination = xtext(con, "OriginCountry/CountryCode"), xtext(con, "DestinationCountry/CountryCode")
    if origin and xtext(con, "OriginDepot"):
        countries[xtext(con, "OriginDepot")] = origin
    if destination and delivered_at is not None:
        for el in statuses:
            if combine(xtext(el, "LocalEventDate"), xtext(el, "LocalEventTime")) == delivered_at and xtext(el, "Depot"):
                countries[xtext(el, "Depot")] = destination
    events = [e for e in (_status(el, countries) for el in statuses) if e is not None]
    if len(events) < len(statuses):
        out.skipped.append(f"{number}: {len(statuses) - len(events)} status(es) without a readable date")
    signatory = _clean(xtext(con, "Signatory")) or None
    if events and summary:
        latest: datetime = max(e.when for e in events)
        for ev in events:
            if ev.when == latest:
                ev.coarse = f"S:{summary}"
    if signatory and delivered_at is not None:
        for ev in events:
            if ev.when == delivered_at:
                ev.signed_by = signatory
    out.shipments.append(CarrierShipment(tracking_number=number, carrier="tnt", events=events, signed_by=signatory,
                                         status_codes=(f"S:{summary}",) if summary and not events else ()))


def _is_tnt(root: Element) -> bool:
    return root.tag == "TrackResponse" and (
        root.find("Consignment/ConsignmentNumber") is not None or root.find("Error/Code") is not None)


class TntTrackXml(ParserPlugin):
    name = "tnt.track_xml"
    family = "tnt"
    table = "tnt"
    media = "xml"

    def sniff(self, doc: Document) -> float:
        root = doc.xml
        return 1.0 if root is not None and _is_tnt(root) else 0.0

    def parse(self, doc: Document) -> ParseOutput:
        root = doc.xml
        if root is None:
            raise ParseError("not XML")
        if root.tag != "TrackResponse":
            raise ParseError(f"root {root.tag!r} is not TrackResponse")
        out = ParseOutput()
        for err in root.iterfind("Error"):
            code, message = xtext(err, "Code"), _clean(xtext(err, "Message"))
            if code or message:
                out.carrier_errors.append(code_message(code, message))
        for con in root.iterfind("Consignment"):
            _consignment(con, out)
        if out.empty():
            raise ParseError("TrackResponse without a consignment or an error")
        return out


PLUGINS = [TntTrackXml()]
