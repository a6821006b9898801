"""Australia Post Shipping and Tracking API JSON (`GET /shipping/v1/track?tracking_ids=`).

Shapes handled:
- {"tracking_results": [{tracking_id, status, trackable_items[] | errors[]}]}:
  a trackable item is an article {article_id, product_type, events[], status}
  or a consignment {consignment_id, number_of_items, items[] (articles)}.
  Events are {date, description, location}.
- A tracking result with `errors` [{code, name}] (ESB-10001 "Invalid tracking
  ID", ESB-10002 "Product not trackable") is a carrier error for that id.
- A request-level error body {"errors": [{code, name, message}]} (51100 to
  51104: no or too many ids, mixed Australia Post and StarTrack ids) is a
  carrier error.

One shipment per tracking_id (the number that was asked for): the events of all
its articles. Events carry no code; they map by Australia Post's description
text. The article (or result) status, one of the statuses Australia Post
publishes, sets the shipment status when there are no events.

Times normally carry an offset ("2021-01-21T11:04:27+11:00"); Australia Post
prints them in Australian time even for scans abroad. A time without one is
read in the zone of the Australian state in the location ("KEW VIC"), else in
Australia Post's home zone (Melbourne).
"""
from __future__ import annotations

import re

from taxonomy import Location

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import code_message, dicts, location, text
from ..timeparse import parse_datetime

ZONE = "Australia/Melbourne"
_STATES = "ACT|NSW|NT|QLD|SA|TAS|VIC|WA"
_AU_PLACE = re.compile(rf"^(.*?)[\s,]+({_STATES})(?:\s+(\d{{4}}))?$", re.IGNORECASE)
_COUNTRY_SUFFIX = re.compile(r"^(.*?)\s*\(([A-Za-z]{2})\)$")  # "CHICAGO (US)"
_POSTCODE_PREFIX = re.compile(r"^[A-Za-z]{2}-(\w+)$")  # "US-60199"
_ERROR_CODE = re.compile(r"^(ESB-\d+|5\d{4})$")
# Texts Australia Post prints in the location field that name no place.
_NOT_PLACES = {"TRANSIT SCAN"}


def place(raw: object) -> Location | None:
    """Australia Post's free-text location -> Location ('KEW VIC', 'CHICAGO (US)', 'US-60199, UNITED STATES')."""
    s = " ".join(text(raw).split())
    if not s or s.upper() in _NOT_PLACES:
        return None
    m = _AU_PLACE.match(s)
    if m and m.group(1):
        return location(m.group(1).strip(" ,"), m.group(2).upper(), m.group(3), "AU")
    m = _COUNTRY_SUFFIX.match(s)
    if m:
        return location(m.group(1) or None, None, None, m.group(2).upper())
    head, sep, tail = s.rpartition(",")
    if sep:
        loc = location(None, None, None, tail.strip()) if len(tail.strip()) > 2 else None
        if loc is not None and loc.country:
            prefix = _POSTCODE_PREFIX.match(head.strip())
            if prefix:
                return location(None, None, prefix.group(1), loc.country)
            return location(head.strip(), None, None, loc.country)
    if len(s) == 2 and s.isalpha():
        return location(None, None, None, s.upper())
    loc = location(None, None, None, s) if len(s) > 2 else None
    if loc is not None and loc.country:
        return loc
    return location(s)


def _event(ev: dict) -> CarrierEvent | None:
    when = parse_datetime(text(ev.get("date")))
    if when is None:
        return None
    loc = place(ev.get("location"))
    in_state = loc is not None and loc.country == "AU" and loc.region is not None
    return CarrierEvent(when=when, description=text(ev.get("description")), location=loc,
                        zone=None if in_state else ZONE)


def _articles(item: dict) -> list[dict]:
    """An article, or the articles of a consignment."""
    nested = dicts(item.get("items"))
    return nested if nested else [item]


def _shipment(result: dict) -> CarrierShipment | None:
    articles = [a for item in dicts(result.get("trackable_items")) for a in _articles(item)]
    tn = text(result.get("tracking_id"))
    if not tn and len(articles) == 1:
        tn = text(articles[0].get("article_id")) or text(articles[0].get("consignment_id"))
    if not tn:
        return None
    events = [e for a in articles for e in (_event(ev) for ev in dicts(a.get("events"))) if e is not None]
    status = next((text(a.get("status")) for a in articles if text(a.get("status"))), "") \
        or text(result.get("status"))
    return CarrierShipment(tracking_number=tn, carrier="australiapost", events=events,
                           status_codes=(f"S:{status}",) if status else ())


def _error_text(err: dict, tracking_id: str = "") -> str:
    code = text(err.get("code")) or text(err.get("error_code"))
    message = " ".join((text(err.get("message")) or text(err.get("name")) or text(err.get("error_name"))
                        or text(err.get("error_description"))).split())
    body = code_message(code, message)
    return f"{body} ({tracking_id})" if body and tracking_id else body


def _is_error_body(data: object) -> bool:
    if not isinstance(data, dict) or set(data) != {"errors"}:
        return False
    errors = dicts(data.get("errors"))
    return bool(errors) and all(_ERROR_CODE.match(text(e.get("code"))) for e in errors)


class AustraliapostJson(ParserPlugin):
    name = "australiapost.tracking_json"
    family = "australiapost"
    table = "australiapost"
    media = "json"
    json_keys = ("tracking_results",)
    slugs = ("auspost", "australia_post")

    def sniff(self, doc: Document) -> float:
        return 0.6 if _is_error_body(doc.json) else 0.0

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        if not isinstance(data, dict):
            raise ParseError("not a JSON object")
        out = ParseOutput()
        results = data.get("tracking_results")
        if not isinstance(results, list):
            if not _is_error_body(data):
                raise ParseError("no tracking_results")
            out.carrier_errors.extend(m for m in (_error_text(e) for e in dicts(data.get("errors"))) if m)
            return out
        for result in dicts(results):
            errors = dicts(result.get("errors"))
            if errors:
                tid = text(result.get("tracking_id"))
                out.carrier_errors.extend(m for m in (_error_text(e, tid) for e in errors) if m)
                continue
            shipment = _shipment(result)
            if shipment is None:
                out.skipped.append("tracking result without tracking_id")
            else:
                out.shipments.append(shipment)
        out.carrier_errors.extend(m for m in (_error_text(e) for e in dicts(data.get("errors"))) if m)
        if out.empty():
            raise ParseError("no tracking result with items or errors")
        return out


PLUGINS = [AustraliapostJson()]
