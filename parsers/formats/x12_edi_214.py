"""X12 214 Transportation Carrier Shipment Status Message (versions 003050..008050 alike).

One interchange holds any number of ST*214 sets, one shipment each:
B10 (B1001 the carrier's PRO / reference, B1002 the shipper's shipment id,
B1003 SCAC), L11 references, N1/N3/N4 parties, then LX loops, each with AT7
statuses (AT701 status 1650, AT702 reason 1651, AT703/AT704 appointment
status/reason, AT705 CCYYMMDD, AT706 HHMM[SS], AT707 time code 623) followed
by MS1 (the status's city, state, country) and MS2 (SCAC, equipment).

Decisions:
- Tracking number = B1001: X12 defines it as "the carrier's PRO (invoice
  number) that identifies the shipment", the number a carrier tracks by;
  B1002 (the shipper's own id) when B1001 is empty. Parcel carriers such as
  Canada Post send the same number in both.
- Carrier = the registry carrier whose `scac` lists B1003, else the SCAC
  lower-cased (MS201 when B1003 is missing).
- Table keys: "<status>:<reason>" first (reasons refine the class: AH:A2 is an
  attempt for an incorrect address), then "<status>". Reason NS (normal
  status) adds nothing. X12 has no free text, so the description is the X12
  dictionary's name for the status and, when not NS, the reason.
- AT7 AG (estimated delivery) and X2 (estimated arrival at consignee) carry a
  forecast, not a scan: they set estimated_delivery, as do delivery
  appointments (AT703 AB/AC). C1/B6 (estimated departure/arrival at a
  terminal) are forecasts too and are left out. Other appointment rows are
  not scans either.
- Location: MS1; a status at the delivery site (D1, X1, AH, ...) without MS1
  takes the ship-to / consignee N4 address.
- Time codes: see x12_time.
Structure is checked enough to refuse what is not a 214 (see x12_envelope);
a set without B10 or without one valid AT7 is refused with the reason, and a
document with no usable set raises ParseError listing them.
"""
from __future__ import annotations

import tomllib
from datetime import datetime
from functools import cache, lru_cache
from importlib import resources

from taxonomy.carriers import registry
from taxonomy.places import regions, states

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import location
from ..safe import MAX_DOCUMENT_BYTES
from . import x12_time
from .x12_envelope import Transaction, element, read

TABLE = "x12_214"
ESTIMATE_STATUSES = frozenset(("AG", "X2"))
FORECAST_STATUSES = frozenset(("C1", "B6"))
ESTIMATE_APPOINTMENTS = frozenset(("AB", "AC"))
AT_DELIVERY_SITE = frozenset(("D1", "X1", "X5", "S1", "AH", "AP", "CD", "A7", "CB", "PA", "AJ"))
CONSIGNEE_PARTIES = ("ST", "CN")
_PAD = [""] * 8


@cache
def _data() -> tuple[dict[str, str], dict[str, str]]:
    """(status texts, reason texts) from the mapping table's data file."""
    raw = tomllib.loads(resources.files("taxonomy").joinpath(f"maps/{TABLE}.toml").read_text("utf-8"))
    statuses = {k: str(v.get("text", "")) for k, v in raw.get("codes", {}).items() if ":" not in k}
    return statuses, dict(raw.get("reasons", {}))


def carrier_slug(scac: str) -> str:
    s = scac.strip().upper()
    if not s:
        return ""
    return registry().scac().get(s) or "".join(c for c in s.lower() if c.isalnum())


def _country(country: str, region: str) -> str:
    if country:
        return country
    r = region.upper()
    return "CA" if r in regions("CA") else "US" if r in states("US") or r == "PR" else ""


def _place(city: str, region: str, postal: str, country: str):
    return location(city, region, postal, _country(country, region))


@lru_cache(maxsize=4096)
def describe(status: str, reason: str) -> str:
    statuses, reasons = _data()
    parts = [statuses.get(status, "")]
    if reason and reason != "NS":
        parts.append(reasons.get(reason, ""))
    return " - ".join(p for p in parts if p)


def _valid_code(code: str) -> bool:
    return len(code) == 2 and code.isalnum() and code.isupper()


class _Scan:
    """An AT7 status waiting for its MS1."""

    __slots__ = ("status", "reason", "when", "code", "place")

    def __init__(self, status: str, reason: str, when: datetime, code: str) -> None:
        self.status, self.reason, self.when, self.code, self.place = status, reason, when, code, None


def _estimate(when: datetime, clock: str, code: str) -> str:
    stamp, _ = x12_time.apply(when, code, None, None)
    return stamp.date().isoformat() if not clock else stamp.isoformat()


def _transaction(tx: Transaction) -> tuple[CarrierShipment | None, list[str]]:
    """The shipment of one 214 set, or None with the reasons it cannot be used."""
    problems = list(tx.problems)
    notes: list[str] = []
    b10: list[str] | None = None
    ms2_scac = ""
    party = ""
    parties: dict[str, object] = {}
    scans: list[_Scan] = []
    last: _Scan | None = None
    estimate: str | None = None
    for els in tx.segments:
        sid = els[0]
        if sid == "AT7":
            last = None
            status, reason, appointment, _, day, clock, code = (e.strip() for e in (els + _PAD)[1:8])
            if status and not _valid_code(status):
                notes.append(f"AT701 {status!r} is not an X12 shipment status code")
                continue
            when = x12_time.stamp(day, clock)
            if when is None:
                notes.append(f"AT7 {status or appointment!r}: date/time {day!r} {clock!r} is not CCYYMMDD HHMM[SS]")
                continue
            if status:
                if status in ESTIMATE_STATUSES:
                    estimate = _estimate(when, clock, code)
                elif status not in FORECAST_STATUSES:
                    last = _Scan(status, reason if _valid_code(reason) else "", when, code)
                    scans.append(last)
            elif appointment in ESTIMATE_APPOINTMENTS:
                estimate = _estimate(when, clock, code)
            elif not appointment:
                notes.append("AT7 without a status (AT701) or appointment (AT703) code")
        elif sid == "MS1":
            if last is not None and last.place is None:
                last.place = _place(element(els, 1), element(els, 2), "", element(els, 3))
        elif sid == "MS2":
            ms2_scac = ms2_scac or element(els, 1)
        elif sid == "LX":
            last = None
        elif sid == "B10":
            b10 = b10 or els
        elif sid == "N1":
            party = element(els, 1)
        elif sid == "N4":
            if party and party not in parties:
                parties[party] = _place(element(els, 1), element(els, 2), element(els, 3), element(els, 4))
    tn = (element(b10, 1) or element(b10, 2)) if b10 else ""
    if b10 is None:
        first = tx.segments[0][0] if tx.segments else "nothing"
        problems.append(f"no B10 segment (a 214 begins with B10: PRO number, shipment id, SCAC; this set "
                        f"begins with {first})")
    elif not tn:
        problems.append("B10 names no PRO (B1001) or shipment id (B1002)")
    if not scans and estimate is None:
        problems.append("no AT7 with a valid status code and date" + (f" ({'; '.join(notes[:3])})" if notes else ""))
    if problems and tx.group and tx.group != "QM":
        problems.append(f"functional group GS01 {tx.group!r} is not QM (status messages)")
    if problems:
        return None, problems
    site = next((parties[p] for p in CONSIGNEE_PARTIES if parties.get(p) is not None), None)
    events = []
    for s in scans:
        place = s.place if s.place is not None else (site if s.status in AT_DELIVERY_SITE else None)
        when, zone = x12_time.apply(s.when, s.code, place.country if place else None,
                                    place.region if place else None)
        events.append(CarrierEvent(
            when=when, zone=zone, description=describe(s.status, s.reason),
            codes=(f"{s.status}:{s.reason}", s.status) if s.reason and s.reason != "NS" else (s.status,),
            carrier_code=f"{s.status}/{s.reason}" if s.reason else s.status, location=place))
    shipment = CarrierShipment(
        tracking_number=tn, carrier=carrier_slug(element(b10, 3) or ms2_scac), events=events,
        estimated_delivery=estimate, status_codes=("AG",) if not events else ())
    return shipment, [f"ST {tx.control}: {n}" for n in notes]


class X12Edi214(ParserPlugin):
    name = "x12.edi_214"
    family = "x12"
    table = TABLE
    media = "edi"
    content_types = ("application/edi-x12", "application/x12", "application/edi")
    slugs = ("x12",)

    def sniff(self, doc: Document) -> float:
        """1 when an ST segment names set 214, a little for any other X12 (so the reason is ours), 0 for EDIFACT."""
        text = doc.text
        head = text[:200].lstrip("\ufeff \t\r\n")
        if head.startswith(("UNA", "UNB")):
            return 0.0  # UN/EDIFACT, not X12
        sep = head[3:4] if head.startswith("ISA") else head[2:3]
        if sep and f"ST{sep}214{sep}" in text:
            return 1.0
        return 0.25

    def parse(self, doc: Document) -> ParseOutput:
        if len(doc.data) > MAX_DOCUMENT_BYTES:
            raise ParseError(f"document of {len(doc.data)} bytes exceeds the {MAX_DOCUMENT_BYTES}-byte limit")
        interchange = read(doc.text)
        out = ParseOutput()
        refused: list[str] = []
        others: set[str] = set()
        for tx in interchange.transactions:
            if tx.kind != "214":
                others.add(tx.kind or "?")
                continue
            shipment, reasons = _transaction(tx)
            if shipment is None:
                refused.append(f"ST*214 {tx.control or '?'}: " + "; ".join(reasons))
            else:
                out.shipments.append(shipment)
                out.skipped.extend(reasons)
        out.skipped.extend(refused)
        out.skipped.extend(f"transaction set {k} is not a 214" for k in sorted(others))
        if not out.shipments:
            if refused:
                raise ParseError("malformed 214: " + " | ".join(refused[:5]))
            found = ", ".join(sorted(others)) if others else "none"
            raise ParseError(f"no ST*214 transaction set (sets found: {found})")
        return out


PLUGINS = [X12Edi214()]
