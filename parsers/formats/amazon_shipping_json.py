"""Amazon Shipping tracking JSON (Shipping API v2 getTracking, v1 getTrackingInformation).

Shapes read:
- {"payload": GetTrackingResult} (v2 response, also the v1 response, which may
  carry "errors" beside the payload) and the bare GetTrackingResult as client
  libraries and push notifications hand it over.
- GetTrackingResult: trackingId, alternateLegTrackingId, promisedDeliveryDate,
  summary {status, trackingDetailCodes {forward[], returns[]},
  proofOfDelivery {receivedBy}}, eventHistory[] {eventCode, eventTime,
  shipmentType FORWARD|RETURNS, location {city, stateOrRegion, postalCode,
  countryCode}}.
- Errors: {"errors": [{code, message, details}]} -> carrier errors.

Mapping: eventCode is the code (Amazon's published EventCode values). Amazon
prints no text, so the description is Amazon's documented meaning of the code.
summary.trackingDetailCodes qualify the current status only: they refine the
latest event of that status ("DeliveryAttempted:BusinessClosed"), never the
older ones. An eventCode that is one of Amazon's summary Status values
("InTransit") is read with that value's meaning. Events of the return leg (shipmentType RETURNS) are looked up as
"RETURNS:<code>" first. With no events, summary.status decides.

Times: eventTime is ISO 8601 in UTC ("Z"). It is the instant; the local time
is shown in the zone of the scan's place when that can be inferred (time_basis
"offset"), else in UTC. A value written without an offset is read as UTC too
(time_basis "zone"), as Amazon documents its times in UTC.
"""
from __future__ import annotations

from datetime import datetime
from functools import cache

from taxonomy.mapping import load_table
from taxonomy.places import country_code, zone_for

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import dicts, location, text
from ..timeparse import iso_date, parse_datetime

TABLE = "amazon_shipping"
CARRIER = "amazon_shipping"
_RESULT_KEYS = ("trackingId", "eventHistory")
# Summary statuses whose detail codes describe the latest event of the same code.
_DETAILED = frozenset(("Delivered", "DeliveryAttempted", "Rejected", "Undeliverable"))
_ERROR_KEYS = frozenset({"code", "message", "details"})


@cache
def _texts() -> dict[str, str]:
    return {code: entry.text for code, entry in load_table(TABLE).codes.items()}


def describe(code: str) -> str:
    return _texts().get(code.upper(), "") or code


def scan_time(value: object, loc: dict) -> tuple[datetime | None, str | None]:
    """(when, zone): the UTC instant shown in the place's zone when known; no offset -> UTC by zone."""
    when = parse_datetime(value)
    if when is None:
        return None, None
    if when.tzinfo is None:
        return when, "UTC"
    cc = country_code(text(loc.get("countryCode"))) if loc else None
    tz = zone_for(cc, text(loc.get("stateOrRegion")) or None) if cc else None
    return (when.astimezone(tz) if tz is not None else when), None


def _place(loc: dict):
    return location(loc.get("city"), loc.get("stateOrRegion"), loc.get("postalCode"), loc.get("countryCode"))


def _event(ev: dict, details: tuple[str, ...]) -> CarrierEvent | None:
    code = text(ev.get("eventCode"))
    raw_time = ev.get("eventTime")
    if not code and raw_time is None:
        return None
    loc = ev.get("location") if isinstance(ev.get("location"), dict) else {}
    when, zone = scan_time(raw_time, loc)
    returns = text(ev.get("shipmentType")).upper() == "RETURNS"
    keys = [f"{code}:{d}" for d in details] if code else []
    if returns and code:
        keys += [f"RETURNS:{code}", "RETURNS"]
    if code:
        keys += [code, f"S:{code}"]  # a Status value ("InTransit") written where an EventCode belongs
    return CarrierEvent(when=when, zone=zone, description=describe(code) if code else "",
                        codes=tuple(keys), carrier_code=code or None, location=_place(loc) if loc else None)


def _detail_codes(summary: dict) -> tuple[str, ...]:
    codes = summary.get("trackingDetailCodes")
    if not isinstance(codes, dict):
        return ()
    forward = codes.get("forward")
    return tuple(text(c) for c in forward if text(c)) if isinstance(forward, list) else ()


def _latest(history: list[dict], code: str) -> int | None:
    """Index of the newest forward event with this code (eventTime compared as written)."""
    best: tuple[str, int] | None = None
    for i, ev in enumerate(history):
        if text(ev.get("eventCode")) == code and text(ev.get("shipmentType")).upper() != "RETURNS":
            stamp = text(ev.get("eventTime"))
            if best is None or stamp >= best[0]:
                best = (stamp, i)
    return best[1] if best else None


def _signer(summary: dict) -> str | None:
    pod = summary.get("proofOfDelivery")
    return (text(pod.get("receivedBy")) or None) if isinstance(pod, dict) else None


def tracking_shipment(result: dict) -> CarrierShipment | None:
    tn = text(result.get("trackingId"))
    if not tn:
        return None
    summary = result.get("summary") if isinstance(result.get("summary"), dict) else {}
    status = text(summary.get("status"))
    history = dicts(result.get("eventHistory"))
    detailed = _latest(history, status) if status in _DETAILED else None
    details = _detail_codes(summary)
    events = [e for i, ev in enumerate(history)
              if (e := _event(ev, details if i == detailed else ())) is not None]
    return CarrierShipment(
        tracking_number=tn, carrier=CARRIER, events=events,
        estimated_delivery=iso_date(text(result.get("promisedDeliveryDate"))),
        signed_by=_signer(summary), status_codes=(f"S:{status}",) if status else (), status_text="")


def _errors(data: dict) -> list[str]:
    out = []
    for err in dicts(data.get("errors")):
        head = ": ".join(p for p in (text(err.get("code")), text(err.get("message"))) if p)
        details = text(err.get("details"))
        out.append(f"{head} ({details})" if head and details else head or details)
    return [e for e in out if e]


def _result(data: dict) -> dict | None:
    payload = data.get("payload")
    if isinstance(payload, dict) and any(k in payload for k in _RESULT_KEYS):
        return payload
    if "trackingId" in data and ("eventHistory" in data or "summary" in data):
        return data
    return None


def _is_error(data: dict) -> bool:
    errors = data.get("errors")
    return (isinstance(errors, list) and bool(errors) and set(data) <= {"errors", "payload"}
            and all(isinstance(e, dict) and "code" in e and "message" in e and set(e) <= _ERROR_KEYS
                    for e in errors))


class AmazonShippingJson(ParserPlugin):
    name = "amazon_shipping.json"
    family = "amazon_shipping"
    table = TABLE
    media = "json"
    json_keys = ("trackingId", "eventHistory", "promisedDeliveryDate", "summary")
    slugs = ("amazon",)

    def sniff(self, doc: Document) -> float:
        data = doc.json
        if not isinstance(data, dict):
            return 0.0
        payload = data.get("payload")
        if isinstance(payload, dict) and "trackingId" in payload and "eventHistory" in payload:
            return 1.0
        if _is_error(data):
            # The Selling Partner API error shape: {code, message, details}. {code, message} alone is common
            # to many APIs, so it is only a faint hint.
            return 0.3 if all("details" in e for e in data["errors"]) else 0.1
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        if not isinstance(data, dict):
            raise ParseError("not a JSON object")
        out = ParseOutput()
        if isinstance(data.get("errors"), list):
            out.carrier_errors.extend(_errors(data))
        result = _result(data)
        if result is not None:
            shipment = tracking_shipment(result)
            if shipment is None:
                out.skipped.append("tracking result without trackingId")
            else:
                out.shipments.append(shipment)
        if out.empty():
            raise ParseError("no Amazon Shipping tracking result or error in the document")
        return out


PLUGINS = [AmazonShippingJson()]
