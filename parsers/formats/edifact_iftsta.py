"""UN/EDIFACT IFTSTA, the international multimodal status report (directories D.96A .. D.21A alike).

The interchange is read by edifact_envelope (UNA, UNB/UNZ, UNG/UNE, UNH/UNT,
release character, counts). In each IFTSTA message: BGM (1004 document
number), then per consignment CNI (C503 1004: the consignment number) with its
RFF references and DTM dates, and STS status groups: STS (C601 category, C555
status: 4405 code, 1131, 3055 agency, 4404 text; C556 reasons: 9013, 1131,
3055, 9012 text) followed by the DTM, LOC, RFF, GIN and FTX of that status,
up to the next STS or CNI.

Decisions:
- Tracking number: the CNI consignment number; else an RFF of the consignment
  naming the carrier's reference (CN), waybill (AAM) or bill of lading (BM);
  else the BGM document number when the message reports one consignment; else
  the first GIN identity number (package label).
- Status codes: a 4405 code from the UN list (agency 3055 empty or 6) is looked
  up as itself; a code the carrier assigned itself (3055 87, ZZZ, ...) as
  "<carrier>:<code>", since its meaning is the carrier's. Either way the
  carrier's text (4404, else the UN name of the code) is the description, with
  the reasons' texts (9012, else the UN 9013 name) after it, so the keyword
  rules read the carrier's words when no code decides.
- Time: the status group's DTM, preferring 334 (status change), 78 (event,
  actual), 7 (effective), 35 (delivery, actual), 178/186 (arrival/departure,
  actual), 200 (pick-up), 11, 9, 1; never 137 (the message date). 17, 69, 132
  and 191 (estimated, promised, expected delivery or arrival) set the
  estimated delivery instead. Formats (2379) 102, 203, 204, 201, 202, 101, 2,
  3, 4, 5 and 10 are wall-clock times (zone from the LOC country); 205
  (CCYYMMDDHHMM+HHMM) carries its offset; 301-304 name a zone after the time
  ("...1728UTC"). Without a format code, 8, 12 and 14 digits are read as 102,
  203 and 204.
- Place: the status group's first LOC: C517 place name (3224) as city and its
  identifier (3225) as postal code when it holds digits (the carriers'
  "postcode:code list::town" usage), or a UN/LOCODE (3055 6, 1131 139) for the
  country; the country from C519 (3223) or C553 (3233) when two letters.
- Carrier: IFTSTA carries statuses from many senders, and a status code is
  only meaningful with the carrier that assigned it, so the shipment's carrier
  is the interchange sender when it is a known carrier: listed in the table's
  [senders], or an id that is itself the slug of a carrier in the carrier
  registry ("POSTNL"; aggregators and channels are not carriers). Otherwise it is the neutral slug "edifact": guessing a carrier
  from a GLN or mailbox id would file shipments under the wrong carrier, while
  "edifact" says plainly that the carrier is not known.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources

from taxonomy.carriers import registry
from taxonomy.places import named_zone

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import location
from ..safe import MAX_DOCUMENT_BYTES
from ..timeparse import parse_offset
from .edifact_envelope import Interchange, Message, Segment, component, decode, read

TABLE = "edifact_iftsta"
NEUTRAL = "edifact"
UN_AGENCIES = frozenset(("", "6"))
EVENT_QUALIFIERS = ("334", "78", "7", "35", "178", "186", "200", "11", "9", "1")
ESTIMATE_QUALIFIERS = frozenset(("17", "69", "132", "191"))
REFERENCE_QUALIFIERS = ("CN", "AAM", "BM")
# 2379 format -> (digits layout, has zone suffix); layouts use Python strptime directives.
_FORMATS = {
    "102": "%Y%m%d", "203": "%Y%m%d%H%M", "204": "%Y%m%d%H%M%S", "201": "%y%m%d%H%M", "202": "%y%m%d%H%M%S",
    "101": "%y%m%d", "2": "%d%m%y", "3": "%m%d%y", "4": "%d%m%Y", "5": "%d%m%Y%H%M", "10": "%Y%m%dT%H%M",
    "301": "%y%m%d%H%M", "302": "%y%m%d%H%M%S", "303": "%Y%m%d%H%M", "304": "%Y%m%d%H%M%S",
}
_WIDTH = {"%Y": 4, "%y": 2, "%m": 2, "%d": 2, "%H": 2, "%M": 2, "%S": 2, "T": 1}
_BY_LENGTH = {8: "102", 12: "203", 14: "204"}


@cache
def _data() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(4405 names, 9013 names, senders) from the mapping table's data file."""
    raw = tomllib.loads(resources.files("taxonomy").joinpath(f"maps/{TABLE}.toml").read_text("utf-8"))
    names = {k: str(v.get("text", "")) for k, v in raw.get("codes", {}).items() if ":" not in k}
    return names, dict(raw.get("reasons", {})), {k.upper(): v for k, v in raw.get("senders", {}).items()}


@cache
def _carrier_slugs() -> frozenset[str]:
    """Slugs of the registry's carriers (not its aggregators or channels such as x12 and edifact)."""
    return frozenset(c.slug for c in registry() if c.kind == "carrier")


def carrier_slug(ix: Interchange) -> str:
    """The sender as a carrier slug by the rule in the module docstring, else "edifact"."""
    senders = _data()[2]
    sender = ix.sender.upper()
    found = senders.get(f"{sender}:{ix.sender_qualifier.upper()}") or senders.get(sender)
    if found:
        return found
    plain = "".join(c for c in ix.sender.lower() if c.isalnum())
    return plain if plain in _carrier_slugs() else NEUTRAL


def _fields(value: str, layout: str) -> tuple[datetime | None, str]:
    """The digits at the start of `value` laid out as `layout` (%Y %y %m %d %H %M %S, literal T)
    -> (datetime or None, the rest of `value`)."""
    parts = {"%Y": 0, "%m": 1, "%d": 1, "%H": 0, "%M": 0, "%S": 0}
    pos, i = 0, 0
    while i < len(layout):
        token = layout[i:i + 2] if layout[i] == "%" else layout[i]
        width = _WIDTH[token]
        chunk = value[pos:pos + width]
        if token == "T":
            if chunk != "T":
                return None, ""
        elif len(chunk) != width or not chunk.isdigit() or not chunk.isascii():
            return None, ""
        elif token == "%y":
            parts["%Y"] = int(chunk) + (2000 if int(chunk) < 70 else 1900)
        else:
            parts[token] = int(chunk)
        pos, i = pos + width, i + len(token)
    try:
        return datetime(parts["%Y"], parts["%m"], parts["%d"], parts["%H"], parts["%M"], parts["%S"]), value[pos:]
    except ValueError:
        return None, ""


def edi_datetime(value: str, fmt: str) -> tuple[datetime | None, str | None]:
    """DTM 2380 by its 2379 format -> (naive or aware datetime, zone name), (None, None) when unreadable."""
    value = value.strip()
    fmt = fmt.strip() or _BY_LENGTH.get(len(value), "")
    if fmt == "205":
        head, tail = value[:12], value[12:]
        offset = parse_offset(tail)
        when, _ = edi_datetime(head, "203")
        return (when.replace(tzinfo=offset) if when is not None and offset is not None else None), None
    layout = _FORMATS.get(fmt)
    if layout is None:
        return None, None
    when, suffix = _fields(value, layout)
    suffix = suffix.strip()
    if when is None:
        return None, None
    if fmt.startswith("3") and suffix:
        offset = parse_offset(suffix)
        if offset is not None:
            return when.replace(tzinfo=offset), None
        return when, suffix if named_zone(suffix) is not None else None
    return (when, None) if not suffix else (None, None)


@dataclass(slots=True)
class _Status:
    code: str
    agency: str
    text: str
    reasons: list[tuple[str, str, str]]
    dates: list[tuple[str, str, str]] = field(default_factory=list)  # (qualifier, value, format)
    place: Segment | None = None


@dataclass(slots=True)
class _Consignment:
    number: str
    refs: list[tuple[str, str]] = field(default_factory=list)
    dates: list[tuple[str, str, str]] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)
    statuses: list[_Status] = field(default_factory=list)


def _status(seg: Segment) -> _Status:
    reasons = [(component(seg, i, 0), component(seg, i, 2), component(seg, i, 3)) for i in range(3, len(seg))]
    return _Status(component(seg, 2, 0), component(seg, 2, 2), component(seg, 2, 3),
                   [r for r in reasons if r[0] or r[2]])


def _consignments(msg: Message) -> tuple[str, list[_Consignment]]:
    """(BGM document number, consignments with their statuses) of one message."""
    document = ""
    found: list[_Consignment] = []
    cons: _Consignment | None = None
    status: _Status | None = None
    for seg in msg.segments:
        tag = seg[0][0]
        if tag == "BGM":
            document = document or component(seg, 2, 0)
        elif tag == "CNI":
            cons, status = _Consignment(component(seg, 2, 0)), None
            found.append(cons)
        elif tag == "STS":
            if cons is None:  # a status before any CNI belongs to the message's document
                cons = _Consignment("")
                found.append(cons)
            status = _status(seg)
            cons.statuses.append(status)
        elif cons is None:
            continue
        elif tag == "DTM":
            (status.dates if status is not None else cons.dates).append(
                (component(seg, 1, 0), component(seg, 1, 1), component(seg, 1, 2)))
        elif tag == "RFF":
            cons.refs.append((component(seg, 1, 0).upper(), component(seg, 1, 1)))
        elif tag == "LOC":
            if status is not None and status.place is None:
                status.place = seg
        elif tag == "GIN":
            cons.packages.extend(c.strip() for el in seg[2:] for c in el[:1] if c.strip())
    return document, found


def _place(seg: Segment | None):
    if seg is None:
        return None
    ident, list_id, agency, name = (component(seg, 2, i) for i in range(4))
    related, other = component(seg, 3, 0), component(seg, 4, 0)
    country = next((c.upper() for c in (related, other) if len(c) == 2 and c.isalpha()), None)
    postal = None
    if ident and (agency == "6" or list_id == "139") and len(ident) == 5 and ident[:2].isalpha():
        country = country or ident[:2].upper()  # a UN/LOCODE
    elif ident and any(ch.isdigit() for ch in ident):
        postal = ident
    return location(name or component(seg, 3, 3) or None, None, postal, country)


def _event_time(dates: list[tuple[str, str, str]]) -> tuple[datetime | None, str | None]:
    usable = [d for d in dates if d[0] not in ESTIMATE_QUALIFIERS and d[0] != "137"]
    usable.sort(key=lambda d: EVENT_QUALIFIERS.index(d[0]) if d[0] in EVENT_QUALIFIERS else len(EVENT_QUALIFIERS))
    for _, value, fmt in usable:
        when, zone = edi_datetime(value, fmt)
        if when is not None:
            return when, zone
    return None, None


def _estimate(dates: list[tuple[str, str, str]]) -> str | None:
    for qualifier, value, fmt in reversed(dates):
        if qualifier in ESTIMATE_QUALIFIERS:
            when, _ = edi_datetime(value, fmt)
            if when is not None:
                date_only = (fmt.strip() or _BY_LENGTH.get(len(value.strip()), "")) in ("102", "101", "2", "3", "4")
                return when.date().isoformat() if date_only else when.isoformat()
    return None


def _event(st: _Status, carrier: str) -> CarrierEvent:
    names, reason_names, _ = _data()
    standard = st.agency in UN_AGENCIES
    words = [st.text or (names.get(st.code, "") if standard else "")]
    for code, agency, text in st.reasons:
        words.append(text or (reason_names.get(code, "") if agency in UN_AGENCIES else ""))
    codes = () if not st.code else (st.code,) if standard else (f"{carrier}:{st.code}",)
    printed = "/".join(c for c in [st.code] + [r[0] for r in st.reasons] if c)
    when, zone = _event_time(st.dates)
    return CarrierEvent(when=when, zone=zone, description=" - ".join(w for w in words if w) or st.code,
                        codes=codes, carrier_code=printed or None, location=_place(st.place))


def _tracking_number(cons: _Consignment, document: str, single: bool) -> str:
    if cons.number:
        return cons.number
    for qualifier in REFERENCE_QUALIFIERS:
        value = next((v for q, v in cons.refs if q == qualifier and v), "")
        if value:
            return value
    if single and document:
        return document
    return cons.packages[0] if cons.packages else ""


def _message(msg: Message, carrier: str, out: ParseOutput) -> list[str]:
    """Add the message's shipments; the reasons it yields nothing, if so."""
    document, consignments = _consignments(msg)
    if not consignments:
        return ["no CNI consignment or STS status"]
    problems = []
    for cons in consignments:
        tn = _tracking_number(cons, document, len(consignments) == 1)
        if not tn:
            problems.append("a consignment without a consignment number or reference")
            continue
        if not cons.statuses:
            out.skipped.append(f"consignment {tn}: no STS status")
            continue
        dates = cons.dates + [d for st in cons.statuses for d in st.dates]
        out.shipments.append(CarrierShipment(tracking_number=tn, carrier=carrier, estimated_delivery=_estimate(dates),
                                             events=[_event(st, carrier) for st in cons.statuses]))
    return problems


class EdifactIftsta(ParserPlugin):
    name = "edifact.iftsta"
    family = "edifact"
    table = TABLE
    media = "edi"
    content_types = ("application/edifact",)
    slugs = ("iftsta",)

    def sniff(self, doc: Document) -> float:
        """1 when an EDIFACT interchange holds an IFTSTA message, a little for any other EDIFACT."""
        head = doc.data[:16].lstrip(b"\xef\xbb\xbf \t\r\n")
        if head[:3] not in (b"UNA", b"UNB"):
            return 0.0
        return 1.0 if b"IFTSTA" in doc.data else 0.25

    def parse(self, doc: Document) -> ParseOutput:
        if len(doc.data) > MAX_DOCUMENT_BYTES:
            raise ParseError(f"document of {len(doc.data)} bytes exceeds the {MAX_DOCUMENT_BYTES}-byte limit")
        interchange = read(decode(doc.data))
        carrier = carrier_slug(interchange)
        out = ParseOutput()
        refused: list[str] = []
        others: set[str] = set()
        for msg in interchange.messages:
            if msg.kind != "IFTSTA":
                others.add(msg.kind or "?")
                continue
            problems = msg.problems or _message(msg, carrier, out)
            if problems:
                refused.append(f"UNH {msg.reference or '?'}: " + "; ".join(problems))
        out.skipped.extend(refused)
        out.skipped.extend(f"message type {k} is not IFTSTA" for k in sorted(others))
        if not out.shipments:
            if refused:
                raise ParseError("malformed IFTSTA: " + " | ".join(refused[:5]))
            found = ", ".join(sorted(others)) if others else "none"
            raise ParseError(f"no IFTSTA message in the interchange (messages found: {found})")
        return out


PLUGINS = [EdifactIftsta()]
