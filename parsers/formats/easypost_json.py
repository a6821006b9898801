"""EasyPost tracking JSON: Tracker objects, tracker Event webhooks, tracker lists, error bodies.

Shapes read:
- Tracker (`GET /v2/trackers/{id}`): object "Tracker", tracking_code, carrier,
  status, status_detail, est_delivery_date, signed_by, carrier_detail,
  tracking_details[] {message, description, status, status_detail, datetime,
  source, carrier_code, tracking_location {city, state, country, zip}}.
- Event (webhook body or `GET /v2/events/{id}`): object "Event", description
  "tracker.created" / "tracker.updated", result = Tracker. Events about other
  objects (batch.updated, ...) and events listed without their result carry no
  tracking data; they are reported, not parsed.
- Lists: {"trackers": [...]}, {"events": [...]}; a Shipment carrying `tracker`.
- Errors: {"error": {"code", "message", "errors": [...]}} -> carrier errors.

The shipment's carrier is the carrier EasyPost names ("USPS" -> usps); the
EasyPost vocabulary (status / status_detail) is the coarse status and a code.

Timestamps: `datetime` is always printed with "Z". EasyPost documents that it
applies the scan's local time zone when the location is complete enough and
"defaults to UTC" otherwise, i.e. the carrier's wall-clock time is then labelled
UTC. Production data agrees: in a FedEx tracker.updated webhook created at
19:26:52Z the last scan (Edison, NJ, US) reads 18:50Z, which can only be a true
UTC instant (18:50 EDT would be 22:50Z, after the webhook was sent). So:
- the scan's location names its country and that gives a zone -> "Z" is the
  true instant; the local time is shown in that zone (time_basis "offset");
- no country (USPS via EasyPost leaves it empty: "HOUSTON", "TX", "77063") ->
  the value is the carrier's wall clock; the zone is inferred from a US state
  and ZIP when present (time_basis "location"), else the time stays as written
  (time_basis "assumed_utc").
A non-zero offset, if EasyPost ever writes one, is honoured as given.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from functools import cache

from taxonomy.carriers import registry
from taxonomy.places import country_code, regions, zone_for

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import dicts, dig, location, text
from ..timeparse import iso_date, parse_datetime

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|[^A-Za-z0-9]+")

# status_detail values that say nothing beyond the status (or only where the scan was):
# they are not lookup codes, so the carrier's text (keywords) and then the status decide.
# failure/delivery_exception, for one, covers failed attempts and refusals alike.
VAGUE_DETAILS = frozenset({"", "unknown", "status_update", "in_transit", "failure", "delivery_exception",
                           "transit_exception", "received_at_origin_facility", "expired", "error"})

US_REGIONS = regions("US")  # states, territories and military codes
_US_ZIP = re.compile(r"^\d{5}(-?\d{4})?$")
_US_CARRIERS = frozenset({"usps"})


def _key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", name).upper()


@cache
def _carriers() -> dict[str, str]:
    """EasyPost carrier names (the registry's `easypost` aliases, spelling-blind) -> the project's slugs."""
    return {_key(alias): slug for alias, slug in registry().aliases("easypost").items()}


def carrier_slug(name: str, aliases: dict[str, str] | None = None) -> str:
    """'FedEx' -> fedex, 'DHLExpress' -> dhl; carriers the registry does not know: 'LaserShipV2' -> laser_ship_v2."""
    key = _key(name)
    known = _carriers() if aliases is None else aliases
    if key in known:
        return known[key]
    return "_".join(p for p in _CAMEL.split(name) if p).lower()


def place(city: object, state: object, zip_code: object, country: object, carrier: str):
    """A Location; a missing country is taken as US when the state and ZIP can only be US ones.

    US carriers reached through aggregators often leave `country` empty
    ("HOUSTON", "TX", "77063"); without it no zone could be inferred.
    """
    if not country:
        region = text(state).upper()
        if region in US_REGIONS and (_US_ZIP.match(text(zip_code)) or carrier in _US_CARRIERS):
            country = "US"
    return location(city, state, zip_code, country)


def wall_clock(value: object) -> datetime | None:
    """An EasyPost timestamp with a zero offset ('Z') as naive wall-clock time; other offsets kept."""
    if type(value) is str and value.endswith("Z"):
        try:
            return datetime.fromisoformat(value[:-1])
        except ValueError:
            pass
    when = parse_datetime(value)
    if when is not None and when.tzinfo is not None and not when.utcoffset():
        when = when.replace(tzinfo=None)
    return when


def scan_time(value: object, country: object, region: object) -> datetime | None:
    """A tracking detail's `datetime` by the rule in the module docstring."""
    when = wall_clock(value)
    if when is None or when.tzinfo is not None or not country or type(country) is not str:
        return when
    code = country_code(country.strip())
    tz = zone_for(code, text(region) or None) if code else None
    if tz is None:
        return when
    return when.replace(tzinfo=timezone.utc).astimezone(tz)


def estimated(tracker: dict) -> str | None:
    detail = tracker.get("carrier_detail")
    if isinstance(detail, dict):
        day = text(detail.get("est_delivery_date_local"))
        if day:
            clock = text(detail.get("est_delivery_time_local"))
            return iso_date(f"{day}T{clock}" if clock else day) or day
    when = wall_clock(tracker.get("est_delivery_date"))
    if when is None:
        return None
    if when.tzinfo is None and when.hour == when.minute == when.second == 0:
        return when.date().isoformat()  # EasyPost writes estimated dates as midnight "Z"
    return iso_date(when)


def _event(detail: dict, carrier: str) -> CarrierEvent:
    status = text(detail.get("status")).lower()
    sub = text(detail.get("status_detail")).lower()
    raw = text(detail.get("carrier_code"))
    codes = []
    if raw:
        codes.append(f"{carrier}:{raw}")
    if sub not in VAGUE_DETAILS:
        codes += (f"{status}:{sub}", f"{status}:*", sub) if status else (sub,)
    loc = detail.get("tracking_location")
    if not isinstance(loc, dict):
        loc = {}
    return CarrierEvent(
        # None is reported by the core as a skipped event.
        when=scan_time(detail.get("datetime"), loc.get("country"), loc.get("state")),
        description=text(detail.get("message")) or text(detail.get("description")),
        codes=tuple(codes),
        carrier_code=raw or sub or None,
        coarse=status or None,
        location=place(loc.get("city"), loc.get("state"), loc.get("zip"), loc.get("country"), carrier)
        if loc else None,
    )


def tracker_shipment(tracker: dict) -> CarrierShipment | None:
    tn = text(tracker.get("tracking_code"))
    if not tn:
        return None
    carrier = carrier_slug(text(tracker.get("carrier"))) or "easypost"
    status = text(tracker.get("status")).lower()
    sub = text(tracker.get("status_detail")).lower()
    codes = () if sub in VAGUE_DETAILS else (f"{status}:{sub}", f"{status}:*", sub)
    return CarrierShipment(
        tracking_number=tn, carrier=carrier,
        events=[_event(d, carrier) for d in dicts(tracker.get("tracking_details"))],
        estimated_delivery=estimated(tracker), signed_by=text(tracker.get("signed_by")) or None,
        status_codes=codes, status_text="", coarse=status or None)


def _error(err: dict) -> str:
    head = ": ".join(p for p in (text(err.get("code")), text(err.get("message"))) if p)
    details = []
    for item in err.get("errors") if isinstance(err.get("errors"), list) else ():
        if isinstance(item, dict):
            field, msg = text(item.get("field")), text(item.get("message"))
            details.append(f"{field}: {msg}" if field else msg)
        elif text(item):
            details.append(text(item))
    details = [d for d in details if d]
    return f"{head} ({'; '.join(details)})" if details else head or "EasyPost error"


def _is_error(data: dict) -> bool:
    err = data.get("error")
    return isinstance(err, dict) and ("message" in err or "code" in err)


class EasyPostJson(ParserPlugin):
    name = "easypost.json"
    family = "easypost"
    table = "easypost"
    media = "json"
    json_keys = ("object", "tracking_code", "tracking_details")

    def sniff(self, doc: Document) -> float:
        data = doc.json
        if not isinstance(data, dict):
            return 0.0
        kind = data.get("object")
        if kind in ("Tracker", "Event"):
            return 1.0
        for key in ("trackers", "events"):
            first = dig(data, key, 0)
            if isinstance(first, dict) and first.get("object") in ("Tracker", "Event"):
                return 1.0
        if kind == "Shipment" and isinstance(data.get("tracker"), dict):
            return 1.0
        if _is_error(data) and "apiVersion" not in data:
            code = text(data["error"].get("code"))
            # EasyPost codes are upper-case words ("NOT_FOUND", "TRACKER.NOT_FOUND"), never numbers.
            return 0.5 if code and not code.isdigit() and code.upper() == code else 0.1
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        if not isinstance(data, dict):
            raise ParseError("not a JSON object")
        out = ParseOutput()
        if _is_error(data):
            out.carrier_errors.append(_error(data["error"]))
            return out
        found = self._collect(data, out)
        if not found and not out.carrier_errors:
            raise ParseError("no EasyPost Tracker, Event or error in the document")
        return out

    def _collect(self, data: dict, out: ParseOutput) -> bool:
        """Add every tracker the document holds; False when it is no EasyPost tracking document at all."""
        kind = data.get("object")
        if kind == "Tracker" or (kind is None and "tracking_code" in data and "tracking_details" in data):
            self._add(data, out)
            return True
        if kind == "Event":
            self._event(data, out)
            self._nothing_to_track(out, "event")
            return True
        if kind == "Shipment" and isinstance(data.get("tracker"), dict):
            self._add(data["tracker"], out)
            return True
        # An empty page ({"trackers": [], "has_more": false}) is a valid answer too.
        listed = "has_more" in data and isinstance(data.get("trackers", data.get("events")), list)
        for tracker in dicts(data.get("trackers")):
            if tracker.get("object", "Tracker") == "Tracker":
                listed = True
                self._add(tracker, out)
        for event in dicts(data.get("events")):
            if event.get("object") == "Event":
                listed = True
                self._event(event, out)
        if listed:
            self._nothing_to_track(out, "list")
        return listed

    @staticmethod
    def _nothing_to_track(out: ParseOutput, what: str) -> None:
        """A valid EasyPost answer without tracker data (an event listed without its result,
        an event about another object) is reported as the provider's answer, not
        quarantined as unreadable: replaying it after a parser fix would change nothing."""
        if not out.shipments and not out.carrier_errors:
            out.carrier_errors.append(f"NO_TRACKING_DATA: EasyPost {what} without tracker data ("
                                      + "; ".join(out.skipped[:5]) + ")")

    def _add(self, tracker: dict, out: ParseOutput) -> None:
        shipment = tracker_shipment(tracker)
        if shipment is None:
            out.skipped.append(f"tracker {text(tracker.get('id')) or '?'} without tracking_code")
        else:
            out.shipments.append(shipment)

    def _event(self, event: dict, out: ParseOutput) -> None:
        what = text(event.get("description")) or "event"
        result = event.get("result")
        ident = text(event.get("id")) or "?"
        if isinstance(result, dict) and result.get("object", "Tracker") == "Tracker" and "tracking_code" in result:
            self._add(result, out)
        elif what.startswith("tracker.") and not isinstance(result, dict):
            out.skipped.append(f"{what} {ident}: no result")
        else:
            out.skipped.append(f"{what} {ident}: not a tracker")


PLUGINS = [EasyPostJson()]
