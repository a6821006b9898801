"""ShipEngine tracking JSON: the tracking API response and the `track` webhook body.

Shapes read:
- GET /v1/tracking?carrier_code=..&tracking_number=.. (and /v1/labels/{id}/track):
  tracking_number, tracking_url, status_code, status_detail_code,
  status_description, carrier_code, carrier_status_code,
  carrier_status_description, estimated_delivery_date, actual_delivery_date,
  exception_description, events[] {occurred_at, carrier_occurred_at,
  description, city_locality, state_province, postal_code, country_code,
  signer, event_code, status_code, status_detail_code, carrier_status_code,
  carrier_status_description}.
- The `track` webhook: {"resource_url": ".../v1/tracking?carrier_code=usps&
  tracking_number=...", "resource_type": "API_TRACK", "data": {<the same
  fields>}}. Its data may leave carrier_code out; the resource_url names it.
- Errors: {"request_id", "errors": [{error_source, error_type, error_code,
  message, field_name}]} -> carrier errors.

ShipEngine relays other carriers: the shipment's carrier is the carrier that
moves the parcel, from ShipEngine's carrier_code through the carrier
registry's `shipengine` aliases (stamps_com and endicia print USPS labels),
else the code itself.

Mapping: status_detail_code is the code (ShipEngine's published vocabulary);
status_code the coarse status, consulted after the keyword rules on the
carrier's description. Without events, the shipment-level codes decide.

Times: occurred_at is the instant ("Z"); carrier_occurred_at is, per
ShipEngine, "assumed to be the local time of where the event occurred", and is
often printed with a "Z" it does not mean. When both are given the local wall
clock and the instant together give the offset (time_basis "offset"). With
occurred_at alone, the local time is shown in the place's zone when that can be
inferred; with carrier_occurred_at alone, the zone comes from the place.
"""
from __future__ import annotations

from datetime import datetime, timezone
from functools import cache
from urllib.parse import parse_qs, urlsplit

from taxonomy.carriers import registry
from taxonomy.places import country_code, zone_for

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import dicts, location, text
from ..timeparse import iso_date, parse_datetime

TABLE = "shipengine"
STATUS_CODES = frozenset(("UN", "AC", "IT", "DE", "EX", "AT", "NY", "SP"))
# Detail codes that do not say where the parcel is: not lookup keys (see the table's header).
VAGUE_DETAILS = frozenset(("", "CARRIER_STATUS_NOT_MAPPED", "INFORMATION", "PARCEL_UPDATE_NOTIFICATION",
                           "PARCEL_UPDATE_NOTIFICATION_VIA_EMAIL", "PARCEL_UPDATE_NOTIFICATION_VIA_SMS",
                           "SUB_CONTRACTOR_EVENT", "POST_TRANSIT_STATUS", "COD_AMOUNT_PAID", "TRACKING_EXPIRED"))
_UTC = timezone.utc


@cache
def _aliases() -> dict[str, str]:
    """ShipEngine's carrier codes (its `carrier_code` vocabulary), lower case -> our slugs, from the registry."""
    return {alias.lower(): slug for alias, slug in registry().aliases("shipengine").items()}


def carrier_slug(code: str) -> str:
    """Our slug for a ShipEngine carrier code; a code the registry does not know is kept as ShipEngine writes it."""
    key = code.strip().lower()
    return _aliases().get(key) or "".join(c if c.isalnum() else "_" for c in key).strip("_")


def _wall_clock(value: object) -> datetime | None:
    """carrier_occurred_at as naive local time; a zero offset ("Z") is not a real one, another offset is kept."""
    when = parse_datetime(value)
    if when is not None and when.tzinfo is not None and not when.utcoffset():
        return when.replace(tzinfo=None)
    return when


def _in_zone(instant: datetime, country: str, region: str) -> datetime:
    cc = country_code(country) if country else None
    tz = zone_for(cc, region or None) if cc else None
    return instant.astimezone(tz) if tz is not None else instant


def scan_time(ev: dict) -> tuple[datetime | None, datetime | None, str | None]:
    """(when, utc, zone) for one event, by the rule in the module docstring."""
    instant = parse_datetime(ev.get("occurred_at"))
    if instant is not None and instant.tzinfo is None:
        instant = instant.replace(tzinfo=_UTC)  # ShipEngine's date_time always carries an offset; none = UTC
    local = _wall_clock(ev.get("carrier_occurred_at"))
    if local is not None and local.tzinfo is not None:
        return local, None, None
    if local is not None and (instant is None or local != instant.astimezone(_UTC).replace(tzinfo=None)):
        return local, instant, None
    if instant is None:
        return None, None, None
    return _in_zone(instant, text(ev.get("country_code")), text(ev.get("state_province"))), None, None


def estimate(value: object) -> str | None:
    """estimated_delivery_date; ShipEngine writes estimated days as midnight UTC: keep the date."""
    when = parse_datetime(value)
    if when is None:
        return None
    if when.hour == when.minute == when.second == 0 and (when.tzinfo is None or not when.utcoffset()):
        return when.date().isoformat()
    return iso_date(when)


def _codes(detail: str) -> tuple[str, ...]:
    return () if detail.upper() in VAGUE_DETAILS else (detail,)


def _event(ev: dict) -> CarrierEvent:
    detail = text(ev.get("status_detail_code"))
    status = text(ev.get("status_code")).upper()
    when, utc, zone = scan_time(ev)
    return CarrierEvent(
        when=when, utc=utc, zone=zone,
        description=text(ev.get("description")) or text(ev.get("carrier_status_description"))
        or text(ev.get("status_detail_description")),
        codes=_codes(detail), coarse=status if status in STATUS_CODES else None,
        carrier_code=text(ev.get("event_code")) or text(ev.get("carrier_status_code")) or detail or status or None,
        location=location(ev.get("city_locality"), ev.get("state_province"), ev.get("postal_code"),
                          ev.get("country_code")),
        signed_by=text(ev.get("signer")) or None)


def _query(url: str) -> dict[str, str]:
    try:
        return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items() if v}
    except ValueError:
        return {}


def tracking_shipment(info: dict, url: str = "") -> CarrierShipment | None:
    query = _query(url) if url else {}
    tn = text(info.get("tracking_number")) or text(query.get("tracking_number"))
    if not tn:
        return None
    code = text(info.get("carrier_code")) or text(query.get("carrier_code"))
    status = text(info.get("status_code")).upper()
    detail = text(info.get("status_detail_code"))
    return CarrierShipment(
        tracking_number=tn, carrier=carrier_slug(code) or "shipengine",
        events=[_event(ev) for ev in dicts(info.get("events"))],
        estimated_delivery=estimate(info.get("estimated_delivery_date")),
        status_codes=_codes(detail), coarse=status if status in STATUS_CODES else None,
        status_text=text(info.get("carrier_status_description")) or text(info.get("exception_description"))
        or text(info.get("status_description")))


def _error(err: dict) -> str:
    head = ": ".join(p for p in (text(err.get("error_code")), text(err.get("message"))) if p)
    field = text(err.get("field_name"))
    return f"{head} ({field})" if head and field else head or field


def _is_error(data: dict) -> bool:
    errors = data.get("errors")
    return (isinstance(errors, list) and bool(errors) and set(data) <= {"request_id", "errors"}
            and all(isinstance(e, dict) and ("error_code" in e or "error_source" in e) for e in errors))


def _is_tracking(data: dict) -> bool:
    return "tracking_number" in data and text(data.get("status_code")).upper() in STATUS_CODES and (
        "carrier_status_code" in data or "status_detail_code" in data or isinstance(data.get("events"), list))


def _is_webhook(data: dict) -> bool:
    return data.get("resource_type") == "API_TRACK" and isinstance(data.get("data"), dict)


def _is_other_webhook(data: dict) -> bool:
    """A ShipEngine webhook about something else (API_BATCH, API_RATE, ...): no tracking data in it."""
    kind = data.get("resource_type")
    return isinstance(kind, str) and kind.startswith("API_") and "shipengine" in text(data.get("resource_url"))


class ShipEngineJson(ParserPlugin):
    name = "shipengine.json"
    family = "shipengine"
    table = TABLE
    media = "json"
    json_keys = ("carrier_status_code", "status_detail_code", "resource_type")

    def sniff(self, doc: Document) -> float:
        data = doc.json
        if not isinstance(data, dict):
            return 0.0
        if _is_webhook(data) or _is_tracking(data):
            return 1.0
        if _is_other_webhook(data):
            return 0.5
        if _is_error(data):
            return 0.6 if "request_id" in data or any("error_source" in e for e in data["errors"]) else 0.3
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        if not isinstance(data, dict):
            raise ParseError("not a JSON object")
        out = ParseOutput()
        url = ""
        if _is_webhook(data) or _is_other_webhook(data):
            if not _is_webhook(data):
                kind = text(data.get("resource_type")) or "?"
                out.carrier_errors.append(f"NO_TRACKING_DATA: ShipEngine {kind} webhook carries no tracking data")
                return out
            url, data = text(data.get("resource_url")), data["data"]
        if _is_error(data):
            out.carrier_errors.extend(e for e in map(_error, dicts(data.get("errors"))) if e)
        elif "tracking_number" in data or url:
            shipment = tracking_shipment(data, url)
            if shipment is None:
                out.skipped.append("tracking information without tracking_number")
            else:
                out.shipments.append(shipment)
        if out.empty():
            raise ParseError("no ShipEngine tracking information or error in the document")
        return out


PLUGINS = [ShipEngineJson()]
