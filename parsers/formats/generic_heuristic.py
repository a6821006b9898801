"""The generic heuristic parser: the last step of the fallback chain, for JSON or XML never seen before.

It finds event-like records (lists of objects, or repeated XML elements, each
with a time-ish and a text-ish field), the tracking number they belong to
(a tracking-ish key in the objects around them, else a value shaped like a
known carrier's number), and the carrier (a carrier/slug/courier field, else
the number's shape). Events are mapped by the `generic` table, which has no
codes: the global keyword rules on the description do the work, then the
carrier's coarse status when it is a common word (delivered, in_transit...).

Several shipments in one document give several shipments. A document with no
events but an error/fault/message at its top is the carrier's error response.
Work is bounded (see generic_walk.MAX_NODES and MAX_RECORDS) whatever the size.
"""
from __future__ import annotations

import re
from functools import cache
from itertools import islice
from typing import Any

from taxonomy.carriers import registry

from ..base import CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import text
from ..timeparse import iso_date
from ..tracking_numbers import candidates as shape_candidates
from ..tracking_numbers import guess as guess_carrier
from .generic_keys import (fold, is_carrier_key, is_error_key, is_estimate_key, is_signer_key,
                           may_hold_tracking_number, tracking_score)
from .generic_record import Extracted, extract, tn_value
from .generic_walk import MAX_KEYS, Group, Walk, ancestors, walk, xml_tree

MAX_RECORDS = 20_000  # event records read per document
_SHAPES = re.compile(r"^(1Z[0-9A-Z]{16}|\d{12}|\d{15}|\d{20}|\d{22}|[A-Z]{2}\d{9}[A-Z]{2})$")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_OPAQUE_ID = re.compile(r"^[0-9a-f]{24}$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_ERROR_TEXT = ("message", "description", "detail", "details", "text", "reason", "title", "faultstring",
               "errormessage", "errordescription", "msg")
_ERROR_CODE = ("code", "errorcode", "number", "faultcode", "status", "statuscode", "type", "id")


def shape_score(value: str) -> int:
    """5 for a known carrier's number with a valid check digit, 2 for the shape alone, else 0."""
    compact = value.replace(" ", "").replace("-", "").upper()
    if shape_candidates(compact):
        return 5
    return 2 if _SHAPES.match(compact) else 0


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


def tracking_number_near(chain: Any) -> tuple[str | None, str | None]:
    """(a strong candidate from the nearest object holding one, the nearest weak candidate)."""
    weak = None
    for obj in ancestors(chain):
        score, found = _tn_here(obj)
        if score >= 6:
            return found, weak
        if found and weak is None and score > 0:
            weak = found
    return None, weak


def _document_tracking_number(w: Walk) -> str | None:
    """A value anywhere in the document shaped like a known carrier's number, check digit first."""
    shaped = None
    for k, v in w.scalars:
        if not may_hold_tracking_number(k):
            continue
        found = tn_value(v)
        if found is None:
            continue
        score = shape_score(found)
        if score == 5:
            return found
        if score and shaped is None:
            shaped = found
    return shaped


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
        events = [e for e in map(extract, records) if e is not None]
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
        if not out.shipments:
            raise ParseError("event-like records found, but no tracking number for them")
        return out


def _shipments(found: list[_Candidate], w: Walk, root: Any) -> list[CarrierShipment]:
    by_tn: dict[str, list[tuple[_Candidate, list[Extracted]]]] = {}
    orphans: list[tuple[_Candidate, list[Extracted]]] = []
    for cand in found:
        near, weak = tracking_number_near(cand.group.chain)
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
    if orphans:  # no number around these events: one shaped like a known carrier's anywhere in the document
        fallback = _document_tracking_number(w)
        if fallback:
            by_tn.setdefault(fallback, []).extend(orphans)
    top_carrier = carrier_slug(_near((root, None), is_carrier_key, 1)) if type(root) is dict else None
    shipments = []
    for tn, cands in by_tn.items():
        best = max(cands, key=lambda c: (c[0].rank(), len(c[1])))
        sig = best[1][0].signature
        # lists of the same kind for this number (a repeated shipment answer, summary + detail elements)
        chosen = [best] + [c for c in cands if c is not best and c[1][0].signature == sig
                           and (c[0].group.is_list or c[0].container == best[0].container)]
        events = _without_summaries(chosen)
        chain = best[0].group.chain
        carrier = (carrier_slug(_near(chain, is_carrier_key)) or carrier_slug(events[0].carrier)
                   or top_carrier or guess_carrier(tn) or "unknown")
        signer = _near(chain, is_signer_key, 2)
        shipments.append(CarrierShipment(
            tracking_number=tn, carrier=carrier, events=[e.event for e in events],
            estimated_delivery=_estimate(chain), signed_by=text(signer) or None if type(signer) is str else None))
    return shipments


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
