"""DHL Paket Germany Sendungsverfolgung XML (Parcel DE Tracking, Post & Parcel Germany).

The XML-over-HTTP API (`/parcel/de/tracking/v0/shipments?xml=<data request=...>`)
answers with nested `<data name="...">` elements whose facts are attributes:
- `piece-shipment-list` (d-get-piece, d-get-piece-detail): one `piece-shipment`
  per parcel {piece-code, status-timestamp, status, ice, ric,
  standard-event-code, event-country, event-location, dest-country,
  ruecksendung ...} holding an optional `piece-event-list` of `piece-event`
  {event-timestamp, event-status, event-text, event-short-status, ice, ric,
  standard-event-code, event-location, event-country, ruecksendung};
- `piece-event-list` on its own (d-get-piece-events);
- `piece-status-public-list` (get-status-for-public-user), possibly inside an
  unnamed `<data request-id=...>`, with `piece-status-public` items shaped
  like piece-shipment and their `piece-event`s directly inside.
- A list with `code` other than 0 ("100" No data found ...) and a piece with a
  non-zero `piece-status` / `error-status` and no events are carrier errors.

Timestamps are "dd.MM.yyyy HH:mm" German wall-clock time with no zone: the
zone follows the scan's country when DHL names one ("Deutschland", "Germany",
"Netherlands"), else DHL Paket's home zone (Europe/Berlin). Texts are German
or English per `language-code`, kept verbatim. A scan maps by DHL's standard
event code (ES, AA, EE, PO, ZU ...; "S:" keys) first, because the ICE code
alone does not tell loading onto the delivery vehicle (SRTED + PO) from a sort
(SRTED + NB); then by ICE/RIC and ICE.
"""
from __future__ import annotations

from datetime import datetime

from lxml import etree

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import location
from .dhl_common import country

ZONE = "Europe/Berlin"
_LISTS = frozenset({"piece-shipment-list", "piece-event-list", "piece-status-public-list"})
_PIECES = frozenset({"piece-shipment", "piece-status-public"})


def stamp(value: str | None) -> datetime | None:
    """'18.03.2016 10:02' (or with seconds) -> naive datetime, else None."""
    s = (value or "").strip()
    if len(s) < 16 or s[2] != "." or s[5] != "." or s[10] != " ":
        return None
    try:
        return datetime(int(s[6:10]), int(s[3:5]), int(s[0:2]), int(s[11:13]), int(s[14:16]),
                        int(s[17:19]) if len(s) >= 19 and s[16] == ":" else 0)
    except ValueError:
        return None


def _codes(el: etree._Element) -> tuple[tuple[str, ...], str | None]:
    ice, ric = (el.get("ice") or "").strip().upper(), (el.get("ric") or "").strip().upper()
    standard = (el.get("standard-event-code") or "").strip().upper()
    keys = tuple(k for k in (f"S:{standard}" if standard else "", f"{ice}/{ric}" if ice and ric else "", ice) if k)
    printed = "/".join(p for p in (ice, ric, standard) if p)
    return keys, printed or None


def _event(el: etree._Element, prefix: str = "event-") -> CarrierEvent | None:
    when = stamp(el.get(f"{prefix}timestamp") if prefix else el.get("status-timestamp"))
    if when is None:
        return None
    if prefix:
        text = el.get("event-status") or el.get("event-text") or ""
    else:
        text = el.get("status") or el.get("short-status") or ""
    cc = country(el.get("event-country") or "")
    city = (el.get("event-location") or "").strip()
    keys, printed = _codes(el)
    return CarrierEvent(when=when, zone=None if cc else ZONE, description=" ".join(text.split()),
                        codes=keys, carrier_code=printed,
                        location=location(city, None, None, cc) if (city or cc) else None)


def _error(el: etree._Element) -> str | None:
    code = (el.get("code") or "").strip()
    message = " ".join((el.get("error") or "").split())
    if code and code != "0":
        return f"{code}: {message}" if message else f"code {code}"
    return None


def _piece(el: etree._Element, out: ParseOutput) -> None:
    number = (el.get("piece-code") or el.get("searched-piece-code") or el.get("piece-identifier") or "").strip()
    events = [e for e in (_event(ev) for ev in el.iter("data") if ev.get("name") == "piece-event") if e is not None]
    status_code = (el.get("piece-status") or el.get("error-status") or "0").strip()
    if not events and status_code not in ("", "0"):
        message = " ".join((el.get("piece-status-desc") or el.get("status") or "").split())
        error = f"{status_code}: {message}" if message else f"piece status {status_code}"
        out.carrier_errors.append(f"{error} ({number})" if number else error)
        return
    if not events:  # no history asked for: the current status is the latest scan
        latest = _event(el, prefix="")
        events = [latest] if latest is not None else []
    if not number:
        out.skipped.append("piece without piece-code")
        return
    out.shipments.append(CarrierShipment(tracking_number=number, carrier="dhl_parcel_de", events=events))


def _lists(root: etree._Element) -> list[etree._Element]:
    if root.get("name") in _LISTS:
        return [root]
    return [child for child in root.iterchildren("data") if child.get("name") in _LISTS]


class DhlParcelDeTrackingXml(ParserPlugin):
    name = "dhl_parcel_de.tracking_xml"
    family = "dhl_parcel_de"
    table = "dhl_parcel_de"
    media = "xml"
    slugs = ("dhl_paket", "dhl_germany", "dhl_de")

    def sniff(self, doc: Document) -> float:
        root = doc.xml
        if root is None or root.tag != "data":
            return 0.0
        return 1.0 if _lists(root) else 0.0

    def parse(self, doc: Document) -> ParseOutput:
        root = doc.xml
        if root is None or root.tag != "data":
            raise ParseError("not a DHL Paket <data> document")
        lists = _lists(root)
        if not lists:
            raise ParseError("no piece-shipment-list / piece-event-list / piece-status-public-list")
        out = ParseOutput()
        for found in lists:
            if found.get("name") == "piece-event-list":
                pieces = [found] if any(c.get("name") == "piece-event" for c in found.iterchildren("data")) else []
            else:
                pieces = [c for c in found.iterchildren("data") if c.get("name") in _PIECES]
            error = _error(found)
            if error and not pieces:
                out.carrier_errors.append(error)
            for piece in pieces:
                _piece(piece, out)
        if out.empty():
            raise ParseError("no pieces or errors in the DHL Paket answer")
        return out


PLUGINS = [DhlParcelDeTrackingXml()]
