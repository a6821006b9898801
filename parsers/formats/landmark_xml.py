"""Landmark Global TrackResponse XML (Track.php of Landmark's v2 XML API).

<TrackResponse> [<Test>] <Result> <Success> [<ResultMessage>]
[<ShipmentDetails><EndDeliveryCarrier>] <Packages><Package>*: TrackingNumber,
LandmarkTrackingNumber, PackageReference, Events/Event* {Status, DateTime,
Location, EventCode}. Errors: <Errors><Error>{ErrorCode, ErrorMessage}, with
Result/Success false -> carrier errors (e.g. "Lookup: Could not find
shipment ..."; the HTML Landmark embeds in the message is reduced to its text).

Tracking number: LandmarkTrackingNumber, Landmark's own number for the parcel
(the number its tracking site and the Track API know it by), else
TrackingNumber, which otherwise holds the last-mile carrier's number.

Times: DateTime has no zone ("09/25/2025 09:10 AM" or "2014-07-01 19:48:02")
and Landmark documents none. Its events come from many parties (Landmark's
facilities in the US, UK and Belgium, then the last-mile post or courier), so
no single home zone fits: the time is read as the wall clock of the event's
place. Location is free text: "City, ST, CC" (region and ISO country), "City,
CC" (Landmark's own examples: "Anytown, US"), "City, ST" with a US state
("Columbus, OH"), or a bare site name. A two-letter last part that is both a
country code and a US state ("DE", "CA") is read as the country, as Landmark's
examples write it; "UK" is Great Britain. When no country can be read from the
place, the zone is unknown and the time is kept as written, labelled UTC
(time_basis "assumed_utc").
"""
from __future__ import annotations

import html
import re
import tomllib
from datetime import datetime
from functools import cache, lru_cache
from importlib import resources

from lxml import etree

from taxonomy.places import country_code

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import code_message, location, xtext
from ..timeparse import parse_datetime
from .easypost_json import US_REGIONS

Element = etree._Element
_FORMATS = ("%m/%d/%Y %I:%M %p", "%m/%d/%Y %I:%M:%S %p", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M")
_TAGS = re.compile(r"<[^>]*>")
_ALIASES = {"UK": "GB"}


@cache
def _countries() -> frozenset[str]:
    raw = tomllib.loads(resources.files("taxonomy").joinpath("data/countries.toml").read_text("utf-8"))
    return frozenset(raw.get("names", {}).values())


def stamp(value: str) -> datetime | None:
    """Landmark's DateTime (either spelling) -> naive wall-clock time, else None."""
    s = " ".join(value.split())
    for fmt in _FORMATS:
        try:
            return datetime.strptime(s, fmt)
        except ValueError:
            continue
    when = parse_datetime(s)
    return when.replace(tzinfo=None) if when is not None and when.tzinfo is not None and not when.utcoffset() else when


def _country(part: str) -> str | None:
    key = part.strip().upper()
    if key in _ALIASES:
        return _ALIASES[key]
    if len(key) == 2:
        return key if key.isalpha() and key in _countries() else None
    return country_code(key) if len(key) > 3 else None  # "Canada"; not a county code such as "WMID"


@lru_cache(maxsize=2048)
def place(text: str):
    """A Location from Landmark's free-text Location, by the rule in the module docstring."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        return None
    if len(parts) == 1:
        return location(parts[0], None, None, None)
    last = parts[-1]
    if len(parts) >= 3:
        return location(", ".join(parts[:-2]), parts[-2], None, _country(last) or last)
    country = _country(last)
    if country is not None:
        return location(parts[0], None, None, country)
    if last.upper() in US_REGIONS:
        return location(parts[0], last, None, "US")
    return location(parts[0], last, None, None)


def _message(raw: str) -> str:
    """Landmark escapes HTML twice inside ErrorMessage; keep the readable text."""
    s = html.unescape(html.unescape(raw))
    return " ".join(_TAGS.sub(" ", s).split())


def _event(ev: Element) -> CarrierEvent | None:
    code = xtext(ev, "EventCode")
    raw = xtext(ev, "DateTime")
    description = " ".join(xtext(ev, "Status").split())
    if not (code or raw or description):
        return None
    return CarrierEvent(when=stamp(raw) if raw else None, description=description, codes=(code,) if code else (),
                        carrier_code=code or None, location=place(xtext(ev, "Location")))


def _package(pkg: Element) -> CarrierShipment | None:
    tn = xtext(pkg, "LandmarkTrackingNumber") or xtext(pkg, "TrackingNumber")
    if not tn:
        return None
    events = [e for e in (_event(ev) for ev in pkg.iterfind("Events/Event")) if e is not None]
    return CarrierShipment(tracking_number=tn, carrier="landmark", events=events)


def _errors(root: Element) -> list[str]:
    out = []
    for err in root.iterfind("Errors/Error"):
        code, message = xtext(err, "ErrorCode"), _message(xtext(err, "ErrorMessage"))
        if code or message:
            out.append(code_message(code, message))
    if not out and xtext(root, "Result/Success").lower() == "false":
        out.append(_message(xtext(root, "Result/ResultMessage")) or "Landmark Global: request not successful")
    return out


def _is_landmark(root: Element) -> bool:
    return root.tag == "TrackResponse" and (
        root.find("Result/Success") is not None or root.find("Result/Packages") is not None
        or root.find("Errors/Error/ErrorCode") is not None)


class LandmarkXml(ParserPlugin):
    name = "landmark.xml"
    family = "landmark"
    table = "landmark"
    media = "xml"
    slugs = ("landmark_global",)

    def sniff(self, doc: Document) -> float:
        root = doc.xml
        return 1.0 if root is not None and _is_landmark(root) else 0.0

    def parse(self, doc: Document) -> ParseOutput:
        root = doc.xml
        if root is None or not _is_landmark(root):
            raise ParseError("not a Landmark Global TrackResponse")
        out = ParseOutput(carrier_errors=_errors(root))
        for pkg in root.iterfind("Result/Packages/Package"):
            shipment = _package(pkg)
            if shipment is None:
                out.skipped.append("Package without LandmarkTrackingNumber or TrackingNumber")
            else:
                out.shipments.append(shipment)
        if out.empty():
            raise ParseError("TrackResponse without packages or errors")
        return out


PLUGINS = [LandmarkXml()]
