"""USPS Web Tools Track/Confirm XML (`TrackResponse`, API=TrackV2).

TrackResponse/TrackInfo[@ID] per tracking number (batch requests carry up to
35 of them). TrackSummary is the latest event and TrackDetail the earlier
ones, newest first. Two shapes:

- with TrackFieldRequest ("Fields"): each event is structured, EventTime
  ("9:01 am"), EventDate ("April 28, 2015"), Event, EventCity, EventState,
  EventZIPCode, EventCountry (empty at home), FirmName, Name, EventCode;
  plus shipment-level Status, StatusCategory, StatusSummary,
  ExpectedDeliveryDate / PredictedDeliveryDate;
- without it: each event is one line of text, "Your item was delivered at
  8:10 am on June 1 in WOBURN MA 01801." or "February 6, 2019, 9:03 am, Out
  for Delivery, BARTOW, FL 33830". The whole line is the description; date,
  time and place are read out of it.

Times are local wall-clock with no zone: the core infers the zone from the
scan's state. Errors: TrackInfo/Error {Number, Description} per number, and a
bare <Error> root for request-level failures (authorization, test server).
"""
from __future__ import annotations

import re
from datetime import datetime

from lxml import etree

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import xtext
from .usps_common import (MONTHS, US_STATES, error_text, estimate, facility_state, parse_clock, usps_location,
                          wall_clock, year_less)

Element = etree._Element

_TIME = re.compile(r"\b(\d{1,2}:\d{2})\s*([ap])\.?\s?m\b\.?", re.IGNORECASE)
_DATE = re.compile(r"\b(January|February|March|April|May|June|July|August|September|October|November|December|"
                   r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?\s+(\d{1,2})\b(?:,?\s+(\d{4})\b)?",
                   re.IGNORECASE)
_IN_PLACE = re.compile(r"\bin ([A-Z][A-Z .'-]*?),? ([A-Z]{2})(?: (\d{5})(?:-\d{4})?)?\b")
_TAIL_PLACE = re.compile(r"(?:,\s*([A-Z][A-Z0-9 .'/&-]*?))?,?\s+([A-Z]{2})(?:\s+(\d{5})(?:-\d{4})?)?\.?\s*$")
_NOT_FOUND = re.compile(r"could not locate|no record of|not (yet )?available|status not available", re.IGNORECASE)


def _t(el: Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def _fields(el: Element) -> dict[str, str]:
    """Child element texts by local name (first occurrence), read in one pass."""
    found: dict[str, str] = {}
    for child in el:
        tag = child.tag
        if isinstance(tag, str) and tag not in found:
            found[tag] = (child.text or "").strip()
    return found


def _structured(el: Element) -> CarrierEvent | None:
    f = _fields(el)
    when = wall_clock(f.get("EventDate", ""), f.get("EventTime", ""))
    if when is None:
        return None
    code = f.get("EventCode", "")
    return CarrierEvent(
        when=when, description=f.get("Event", ""), codes=(code,) if code else (), carrier_code=code or None,
        location=usps_location(f.get("EventCity"), f.get("EventState"), f.get("EventZIPCode"),
                               f.get("EventCountry")),
        signed_by=f.get("Name") or None)


def _text_place(line: str):
    m = _IN_PLACE.search(line)
    if m and m.group(2) in US_STATES:
        return usps_location(m.group(1), m.group(2), m.group(3), None)
    m = _TAIL_PLACE.search(line)
    if m and m.group(2) in US_STATES:
        return usps_location(m.group(1), m.group(2), m.group(3), None)
    tail = line.rstrip(" .").rpartition(",")[2].strip()
    if tail and tail.upper() == tail and facility_state(tail):
        return usps_location(tail, None, None, None)
    return None


def text_event(line: str) -> CarrierEvent | None:
    """One TrackSummary / TrackDetail written as a line of text; None when it has no date."""
    d = _DATE.search(line)
    if d is None:
        return None
    month, day = MONTHS[d.group(1).lower()], int(d.group(2))
    if d.group(3):
        try:
            when = datetime(int(d.group(3)), month, day)
        except ValueError:
            return None
    else:  # the old form prints no year
        found = year_less(month, day)
        if found is None:
            return None
        when = datetime(found.year, found.month, found.day)
    t = _TIME.search(line)
    if t:
        hm = parse_clock(f"{t.group(1)} {t.group(2)}m")
        if hm:
            when = when.replace(hour=hm[0], minute=hm[1])
    return CarrierEvent(when=when, description=line, location=_text_place(line))


def _track_info(info: Element, out: ParseOutput) -> None:
    tn = (info.get("ID") or "").strip()
    events: list[CarrierEvent] = []
    scalars: dict[str, str] = {}
    undated = 0
    summary_text = ""
    for child in info:
        tag = child.tag
        if tag in ("TrackSummary", "TrackDetail"):
            if len(child):
                ev = _structured(child)
            else:
                line = " ".join((child.text or "").split())
                if not line:
                    continue
                ev = text_event(line)
                if ev is None and tag == "TrackSummary":
                    summary_text = line
                    continue
            if ev is None:
                undated += 1
            else:
                events.append(ev)
        elif tag == "Error":
            message = error_text(xtext(child, "Number"), xtext(child, "Description"))
            out.carrier_errors.append(f"{message} ({tn})" if tn and message else message or f"error ({tn})")
            return
        elif isinstance(tag, str) and tag not in scalars:
            scalars[tag] = (child.text or "").strip()
    if undated:
        out.skipped.append(f"{tn}: {undated} event(s) without a date")
    if not events and summary_text and _NOT_FOUND.search(summary_text):
        out.carrier_errors.append(f"{summary_text} ({tn})" if tn else summary_text)
        return
    out.shipments.append(CarrierShipment(
        tracking_number=tn, carrier="usps", events=events,
        estimated_delivery=estimate(scalars.get("PredictedDeliveryDate"), scalars.get("ExpectedDeliveryDate"),
                                    scalars.get("GuaranteedDeliveryDate")),
        signed_by=next((e.signed_by for e in events if e.signed_by), None),
        status_text=scalars.get("Status") or summary_text or scalars.get("StatusSummary", ""),
        coarse=scalars.get("StatusCategory") or None))


class UspsWebToolsXml(ParserPlugin):
    name = "usps.webtools_xml"
    family = "usps"
    table = "usps"
    media = "xml"
    # TrackResponse is also UPS's legacy root: claimed by sniff, when it holds TrackInfo.
    xml_roots = ()

    def sniff(self, doc: Document) -> float:
        root = doc.xml
        if root is None:
            return 0.0
        if root.tag == "TrackResponse":
            return 1.0 if root.find("TrackInfo") is not None else 0.0
        if root.tag == "Error" and root.find("Number") is not None and root.find("Description") is not None:
            return 0.75  # the Web Tools request-level error (its Source names the USPS server)
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        root = doc.xml
        if root is None:
            raise ParseError("not XML")
        out = ParseOutput()
        if root.tag == "Error":
            message = error_text(xtext(root, "Number"), xtext(root, "Description"))
            if not message:
                raise ParseError("Error element without Number or Description")
            out.carrier_errors.append(message)
            return out
        if root.tag != "TrackResponse":
            raise ParseError(f"root {root.tag!r} is not a USPS TrackResponse")
        for err in root.iterfind("Error"):
            out.carrier_errors.append(error_text(xtext(err, "Number"), xtext(err, "Description")))
        infos = root.findall("TrackInfo")
        if not infos and not out.carrier_errors:
            raise ParseError("TrackResponse without TrackInfo (not USPS)")
        for info in infos:
            _track_info(info, out)
        return out


PLUGINS = [UspsWebToolsXml()]
