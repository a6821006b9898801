"""The generic heuristic parser: the last step of the fallback chain, for JSON or XML never seen before.

It reads a document by principles, not by any carrier's layout:
- events are any list of records (or repeated XML elements) carrying a time
  and a text, named in any of several languages or recognised by value,
  wherever they sit (SOAP envelopes, `data.items[]`, maps keyed by number);
- the tracking number is a tracking-ish key in the objects around them (in
  those languages too), or the key of a map entry that reads as a number,
  else the one number the document names by such a key, else a value shaped
  like a number of the carrier registry (its patterns and check digits).
  With none, the shipment is returned without a number (the request had it:
  `normalize --tracking-number`, the service's poll);
- the carrier is a carrier/slug/courier field, else the number's shape;
- dates written a/b/yyyy are read day first or month first as the other
  dates of the same list (or the places: outside the US, day first) say.
Events are mapped by the `generic` table, which has no codes: keyword rules
in English, French, German, Dutch, Spanish and Polish on the description do
the work, then the carrier's coarse status or short status label, read as
words (`ready_to_pickup`, `OutForDelivery`).

Several shipments in one document give several shipments. A document with no
events but an error/fault/message at its top is the carrier's error response.
Work is bounded (see generic_walk.MAX_NODES and MAX_RECORDS) whatever the size.
"""
from __future__ import annotations

import re
import re._parser
from functools import cache
from itertools import islice
from typing import Any

from taxonomy.carriers import compact, registry
from taxonomy.places import country_code

from ..base import CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import text
from ..timeparse import iso_date
from ..tracking_numbers import candidates as shape_candidates
from ..tracking_numbers import guess as guess_carrier
from .generic_keys import (fold, is_carrier_key, is_error_key, is_estimate_key, is_signer_key,
                           may_hold_tracking_number, place_role, time_rank, tracking_score)
from .generic_record import Extracted, extract, slashed_order, tn_value
from .generic_walk import MAX_KEYS, Group, Walk, ancestors, ancestry, walk, xml_tree

MAX_RECORDS = 20_000  # event records read per document
_S10_SHAPE = re.compile(r"[A-Z]{2}\d{9}[A-Z]{2}")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_OPAQUE_ID = re.compile(r"^[0-9a-f]{24}$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_ERROR_TEXT = ("message", "description", "detail", "details", "text", "reason", "title", "faultstring",
               "errormessage", "errordescription", "msg")
_ERROR_CODE = ("code", "errorcode", "number", "faultcode", "status", "statuscode", "type", "id")


@cache
def _shapes(length: int) -> tuple[re.Pattern[str], ...]:
    """The registry's distinctive number patterns (those that name a carrier) a number of this length can fit."""
    found = []
    for carrier in registry():
        for form in carrier.numbers:
            if form.detect and form.pattern not in found and _fits_length(form.pattern, length):
                found.append(form.pattern)
    return tuple(found)


def _fits_length(pattern: re.Pattern[str], length: int) -> bool:
    try:
        low, high = re._parser.parse(pattern.pattern).getwidth()  # type: ignore[attr-defined]
    except Exception:  # an interpreter without the parser: try the pattern on every length
        return True
    return low <= length <= high


def shape_score(value: str) -> int:
    """5 for a number of the registry with a valid check digit, 2 for a registry shape alone, else 0."""
    number = compact(value)
    if not number or len(number) > 40:
        return 0
    if shape_candidates(number):
        return 5
    if _S10_SHAPE.fullmatch(number) or any(p.fullmatch(number) for p in _shapes(len(number))):
        return 2
    return 0


def carrier_slug(value: Any) -> str | None:
    if type(value) is dict:
        value = value.get("slug") or value.get("code") or value.get("name")
    raw = text(value).lower()
    if not raw or len(raw) > 40 or not any(c.isalpha() for c in raw):
        return None
    slug = _NOT_SLUG.sub("_", raw).strip("_")
    return _known_names().get(slug, slug) or None


@cache
def _known_names() -> dict[str, str]:
    """Every spelling of every registry carrier (name, other names, aggregator codes), folded -> its slug."""
    return registry().names()


def _tn_here(obj: dict) -> tuple[int, str | None]:
    """The best tracking-number candidate among one object's own fields (and `tracking: {number}`)."""
    best: tuple[int, str | None] = (0, None)
    for key, value in islice(obj.items(), MAX_KEYS):
        k = fold(key)
        score = tracking_score(k)
        if type(value) is dict and (score or "track" in k):
            inner = next((v for ik, v in islice(value.items(), 50) if fold(ik) in ("number", "id", "code", "value")
                          and tn_value(v)), None)
            value, score = inner, max(score, 6)
        found = tn_value(value) if (score or may_hold_tracking_number(k)) else None
        if found is None:
            continue
        bonus = shape_score(found)
        if score == 0 and bonus < 5:
            continue  # an unnamed field counts only when it is a valid carrier number
        total = score + bonus if score else 6
        if score == 1 and _OPAQUE_ID.match(found):
            total = 0  # a database id, not a parcel's number
        if total > best[0]:
            best = (total, found)
    return best


def _number_like(key: str) -> bool:
    """Reads as a parcel number, not a word: mostly digits, no lower case, long enough not to be an index."""
    found = tn_value(key)
    if found is None or any(c.islower() for c in found):
        return False
    digits = sum(c.isdigit() for c in found)
    return digits >= 6 and digits * 2 >= len(found)


def _number_key(key: str, holder: dict | None) -> str | None:
    """A map key that is a tracking number: {"<number>": {...events...}} or {"<number>": [...events...]}."""
    found = tn_value(key) if key else None
    if found is None or any(c.islower() for c in found):
        return None
    if shape_score(found) == 5:
        return found
    keys = list(islice(holder, 50)) if holder else []
    return found if keys and all(_number_like(k) for k in keys) else None  # every key of the map reads as one


def tracking_number_near(chain: Any, key: str = "") -> tuple[str | None, str | None]:
    """(a strong candidate from the nearest object holding one, the nearest weak candidate).

    `key` is the key the events themselves sit under; a map keyed by number
    names the shipment by that key.
    """
    weak = None
    holder = chain[0] if chain is not None else None
    if _number_key(key, holder):
        return _number_key(key, holder), None
    for obj, own_key, parent in ancestry(chain):
        score, found = _tn_here(obj)
        if score >= 6:
            return found, weak
        if found and weak is None and score > 0:
            weak = found
        by_key = _number_key(own_key, parent)
        if by_key:
            return by_key, weak
    return None, weak


def _document_tracking_number(w: Walk) -> str | None:
    """The one number the document names by a tracking key, else a value shaped like a registry number."""
    named: dict[str, None] = {}
    shaped = checked = None
    for k, v in w.scalars:
        if not may_hold_tracking_number(k):
            continue
        found = tn_value(v)
        if found is None:
            continue
        if tracking_score(k) >= 6:
            named[found] = None
        score = shape_score(found)
        if score == 5 and checked is None:
            checked = found
        elif score and shaped is None:
            shaped = found
    if len(named) == 1:
        return next(iter(named))
    return checked or shaped


def _near(chain: Any, test, levels: int = 8) -> Any:
    for obj in ancestors(chain, levels):
        for key, value in islice(obj.items(), MAX_KEYS):
            if test(fold(key)) and value not in (None, "", [], {}):
                return value
    return None


def _estimate(chain: Any) -> str | None:
    value = _near(chain, is_estimate_key, 3)
    if type(value) is dict:
        value = next((v for k, v in islice(value.items(), 50) if any(w in fold(k) for w in ("date", "time", "value"))
                      and type(v) is str), None)
    return iso_date(text(value)) if type(value) in (str, int) else None


_QUIET = ("SUCCESS", "INFO", "INFORMATION", "NOTE", "OK", "NONE")


def _first(folded: dict[str, Any], exact: tuple[str, ...], suffixes: tuple[str, ...]) -> str:
    """The first non-empty scalar among the named keys, then among keys ending with a suffix."""
    for k in exact:
        value = folded.get(k)
        if type(value) is not dict and type(value) is not list and text(value):
            return text(value)
    return next((text(v) for k, v in folded.items()
                 if k.endswith(suffixes) and type(v) is not dict and type(v) is not list and text(v)), "")


def _folded(obj: dict) -> dict[str, Any]:
    return {fold(k): v for k, v in islice(obj.items(), 200)}


def _entry(code: str, message: str) -> list[str]:
    message = " ".join(message.split())
    return [f"{code}: {message}".strip(": ")[:300]] if code or message else []


def _error_texts(value: Any, parent: dict | None, depth: int = 0) -> list[str]:
    """'CODE: message' entries from an error value: text, an object, or a list of them.

    Nested error details win over the wrapper's own text (a SOAP fault's
    faultstring is generic; its detail names the actual problem).
    """
    if depth > 5:
        return []
    if type(value) is list:
        return [m for item in value[:20] for m in _error_texts(item, parent, depth + 1)]
    if type(value) is not dict:
        code = _first(_folded(parent), _ERROR_CODE, ("code",)) if parent else ""
        return _entry(code, text(value))
    folded = _folded(value)
    severity = text(folded.get("severity") or folded.get("level")).upper()
    if severity in _QUIET or text(folded.get("actionstatus")).upper() in ("SUCCESS", "OK"):
        return []
    nested = [m for k, v in folded.items() if type(v) in (dict, list)
              and (is_error_key(k) or k in ("detail", "details", "messages", "message"))
              for m in _error_texts(v, value, depth + 1)]
    if nested:
        return nested
    message = _first(folded, _ERROR_TEXT, ("message", "description", "detail", "data", "text", "reason"))
    if message:
        return _entry(_first(folded, _ERROR_CODE, ("code", "number")), message)
    return [m for v in folded.values() if type(v) in (dict, list) for m in _error_texts(v, value, depth + 1)]


_TOP_MESSAGES = ("message", "messages", "faultstring", "detail", "title", "errordescription")


def carrier_errors(root: Any) -> list[str]:
    """Error entries in a document that has no events (error/fault/warning objects, a top-level message)."""
    found: list[str] = []
    queue: list[tuple[Any, int]] = [(root, 0)]
    seen = 0
    while queue and len(found) < 20 and seen < 2000:
        obj, depth = queue.pop(0)
        seen += 1
        if type(obj) is list:
            queue.extend((x, depth) for x in obj[:20])
            continue
        if type(obj) is not dict:
            continue
        for key, value in islice(obj.items(), MAX_KEYS):
            k = fold(key)
            if is_error_key(k) or (depth <= 1 and k in _TOP_MESSAGES):
                found.extend(_error_texts(value, obj))
            elif depth < 5 and type(value) in (dict, list):
                queue.append((value, depth + 1))
    return list(dict.fromkeys(found))


class _Candidate:
    __slots__ = ("group", "events", "container")

    def __init__(self, group: Group, events: list[Extracted]) -> None:
        self.group, self.events = group, events
        self.container = id(group.chain[0]) if group.chain is not None else None

    def rank(self) -> tuple[bool, int]:
        return self.group.is_list, len(self.events)


def day_first(records: list[dict]) -> bool | None:
    """How a/b/yyyy dates of these records read: as the unambiguous ones say, else by the places.

    One carrier writes all the dates of a list the same way, so 13/03/2026
    settles 09/03/2026 beside it. When no date settles it, places outside the
    US say day first (as the rest of the world writes dates), and so do date
    fields named in another language (fecha, Datum, heure, czas); otherwise None.
    """
    sample = records[:200]
    if not any(type(v) is str and "/" in v for r in sample for v in _values(r)):
        return None  # no a/b/yyyy date to settle
    votes: set[bool] = set()
    countries: set[str] = set()
    foreign = [False]
    for record in sample:
        for key, value in islice(record.items(), 100):
            if type(value) is dict:
                for inner_key, inner in islice(value.items(), 50):
                    _vote(fold(inner_key), inner, votes, countries, foreign)
            else:
                _vote(fold(key), value, votes, countries, foreign)
    if len(votes) == 1:
        return votes.pop()
    if votes:
        return None
    if countries:
        return "US" not in countries
    return True if foreign[0] else None  # dates named in another language than English: not US-style


def _values(record: dict):
    """A record's values and those of the objects directly inside it (bounded)."""
    for value in islice(record.values(), 100):
        if type(value) is dict:
            yield from islice(value.values(), 50)
        else:
            yield value


_FOREIGN_TIME = ("datum", "zeit", "fecha", "hora", "heure", "czas", "godzina", "data")


def _vote(k: str, value: Any, votes: set[bool], countries: set[str], foreign: list[bool]) -> None:
    if type(value) is not str:
        return
    if time_rank(k) >= 0:
        foreign[0] = foreign[0] or k.startswith(_FOREIGN_TIME) or k.endswith(_FOREIGN_TIME[:-1])
        order = slashed_order(value)
        if order is not None:
            votes.add(order)
    elif place_role(k) == "country":
        cc = country_code(value)
        if cc:
            countries.add(cc)


def _read_groups(w: Walk, out: ParseOutput) -> list[_Candidate]:
    found: list[_Candidate] = []
    left = MAX_RECORDS
    for group in w.groups:
        records = [r for r in group.records if id(r) not in w.containers]
        if not records:
            continue
        if len(records) > left:
            out.skipped.append(f"{len(records) - left} records past the {MAX_RECORDS}-record limit were not read")
            records = records[:left]
        left -= len(records)
        order = day_first(records)
        events = [e for e in (extract(r, order) for r in records) if e is not None]
        if events and len(events) * 3 >= len(records):
            found.append(_Candidate(group, events))
        if left <= 0:
            break
    return found


class GenericHeuristic(ParserPlugin):
    name = "generic.heuristic"
    family = "generic"
    table = "generic"
    media = "any"  # never detected; the chain tries generic plugins last for JSON and XML alike
    generic = True

    def parse(self, doc: Document) -> ParseOutput:
        if doc.media == "json":
            root = doc.json
            if root is None:
                raise ParseError(doc.error or "empty JSON document")
        elif doc.media == "xml":
            element = doc.xml
            if element is None:
                raise ParseError(doc.error or "unreadable XML document")
            root = xml_tree(element)
        else:
            raise ParseError(f"the generic parser reads JSON or XML, not {doc.media}")
        w = walk(root)
        out = ParseOutput()
        if w.truncated:
            out.skipped.append(f"only the first {w.nodes} nodes of the document were searched")
        found = _read_groups(w, out)
        if not found:
            out.carrier_errors.extend(carrier_errors(root))
            if out.carrier_errors:
                return out
            raise ParseError("no event-like records (a time and a description) found")
        out.shipments = _shipments(found, w, root)
        return out


def _shipments(found: list[_Candidate], w: Walk, root: Any) -> list[CarrierShipment]:
    by_tn: dict[str, list[tuple[_Candidate, list[Extracted]]]] = {}
    orphans: list[tuple[_Candidate, list[Extracted]]] = []
    for cand in found:
        near, weak = tracking_number_near(cand.group.chain, cand.group.key)
        near = near or weak  # a named number up the tree, else the nearest bare id
        own = [e for e in cand.events if e.tracking_number]
        if len(own) * 2 >= len(cand.events):  # the records name their shipments themselves
            parts: dict[str | None, list[Extracted]] = {}
            for e in cand.events:
                parts.setdefault(e.tracking_number or near, []).append(e)
        else:
            parts = {near: cand.events}
        for tn, events in parts.items():
            (by_tn.setdefault(tn, []) if tn else orphans).append((cand, events))
    if orphans:  # no number around these events: the document's one named number, else a registry-shaped one
        fallback = _document_tracking_number(w)
        # without any, the shipment keeps no number: the request that fetched the document had it
        by_tn.setdefault(fallback or "", []).extend(orphans)
    top_carrier = carrier_slug(_near((root, None), is_carrier_key, 1)) if type(root) is dict else None
    shipments = []
    for tn, cands in by_tn.items():
        if not tn and len(by_tn) > 1:
            continue  # events without a number beside numbered shipments: nothing says which they belong to
        best = max(cands, key=lambda c: (c[0].rank(), len(c[1])))
        sig = best[1][0].signature
        # lists of the same kind for this number (a repeated shipment answer, summary + detail elements)
        chosen = [best] + [c for c in cands if c is not best and c[1][0].signature == sig
                           and (c[0].group.is_list or c[0].container == best[0].container)]
        events = _without_summaries(chosen)
        chain = best[0].group.chain
        carrier = (carrier_slug(_near(chain, is_carrier_key)) or carrier_slug(events[0].carrier)
                   or top_carrier or _carrier_by_number(tn) or "unknown")
        signer = _near(chain, is_signer_key, 2)
        shipments.append(CarrierShipment(
            tracking_number=tn, carrier=carrier, events=[e.event for e in events],
            estimated_delivery=_estimate(chain), signed_by=text(signer) or None if type(signer) is str else None))
    return shipments


def _carrier_by_number(tn: str) -> str | None:
    """The carrier a number names by its registry format, when the number is distinctive enough to.

    Digits alone are not: a 20- or 22-digit number passes a GS1 mod-10 check
    one time in ten whoever printed it, and an unknown carrier's parcel filed
    under a known carrier is worse than "unknown". A format with letters
    (1Z..., an S10 code, JJD..., TBA...) does name its carrier.
    """
    return guess_carrier(tn) if any(c.isalpha() for c in tn) else None


def _without_summaries(chosen: list[tuple[_Candidate, list[Extracted]]]) -> list[Extracted]:
    """Events of the chosen groups, less single 'current status' objects repeating a listed scan.

    A shipment's `status` object often restates its latest event with the
    time spelled differently (UTC vs local), which would not dedupe by id.
    """
    listed = {(e.event.description, e.event.when.replace(tzinfo=None))
              for c, evs in chosen if c.group.is_list for e in evs}
    return [e for c, evs in chosen for e in evs
            if c.group.is_list or (e.event.description, e.event.when.replace(tzinfo=None)) not in listed]


PLUGINS = [GenericHeuristic()]
