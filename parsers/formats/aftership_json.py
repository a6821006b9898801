"""AfterShip tracking JSON: API responses (v4 and newer) and tracking_update webhooks.

Shapes read:
- v4 `GET /trackings/{slug}/{number}`: {meta {code, message, type}, data {tracking {...}}}
- lists: {meta, data {trackings [...]}}
- `GET /last_checkpoint/...`: {meta, data {slug, tracking_number, tag, subtag, checkpoint {...}}}
- newer API versions: the tracking object directly under `data` (with or without meta)
- webhook: {event: "tracking_update", msg: <tracking>, ts}
- errors: meta.code other than 200/201 (4004 "Tracking does not exist", ...) -> carrier errors

Tracking: slug (the courier: the shipment's carrier), tracking_number, tag,
subtag, subtag_message, expected_delivery (newer: *_estimated_delivery_date),
signed_by, checkpoints[] {checkpoint_time, message, tag, subtag,
subtag_message, city, state, zip, country_iso3 | country_region |
country_name, location, raw_tag}.

Mapping: the subtag (InTransit_002, Exception_010, ...) is the code, the tag
the coarse status consulted after the keyword rules on the message.
checkpoint_time is the courier's local time, usually with its offset
(time_basis "offset"); without one the zone is inferred from the checkpoint's
country and state.
"""
from __future__ import annotations

from functools import cache

from taxonomy.carriers import registry

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import dicts, dig, location, text
from ..timeparse import iso_date, parse_datetime

_OK_CODES = (200, 201, "200", "201")
_TRACKING_KEYS = ("tracking", "trackings", "checkpoint", "checkpoints", "tracking_number")


@cache
def _carriers() -> dict[str, str]:
    """AfterShip courier slugs (the registry's `aftership` aliases) -> the project's slugs."""
    return {alias.lower(): slug for alias, slug in registry().aliases("aftership").items()}


def carrier_slug(slug: str) -> str:
    """'canada-post' -> canadapost; couriers the registry does not know: '-' -> '_'."""
    key = slug.strip().lower()
    return _carriers().get(key) or "".join(c if c.isalnum() else "_" for c in key).strip("_")


def _country(cp: dict) -> object:
    return cp.get("country_iso3") or cp.get("country_region") or cp.get("country_name")


def _event(cp: dict) -> CarrierEvent | None:
    raw_time = cp.get("checkpoint_time")
    message = text(cp.get("message")) or text(cp.get("subtag_message"))
    subtag, tag = text(cp.get("subtag")), text(cp.get("tag"))
    if raw_time is None and not message and not subtag:
        return None  # the empty placeholder of a last_checkpoint answer
    return CarrierEvent(
        when=parse_datetime(raw_time),  # None is reported by the core as a skipped event
        description=message,
        codes=(subtag,) if subtag else (),
        carrier_code=subtag or tag or None,
        coarse=tag or None,
        location=location(cp.get("city"), cp.get("state"), cp.get("zip"), _country(cp)))


def _estimated(tracking: dict) -> str | None:
    """expected_delivery (v4), else the newer estimate objects, latest first."""
    found = iso_date(text(tracking.get("expected_delivery")))
    for key in ("latest_estimated_delivery", "courier_estimated_delivery_date",
                "aftership_estimated_delivery_date", "custom_estimated_delivery_date"):
        if found:
            break
        estimate = tracking.get(key)
        if isinstance(estimate, dict):
            found = iso_date(text(estimate.get("datetime") or estimate.get("estimated_delivery_date")))
    return found


def _signer(value: object) -> str | None:
    """Couriers put 'Signature not required' where the signer's name belongs: that is nobody."""
    name = text(value)
    return None if not name or name.lower().startswith("signature not") else name


def tracking_shipment(tracking: dict) -> CarrierShipment:
    events = [e for e in map(_event, dicts(tracking.get("checkpoints"))) if e is not None]
    last = tracking.get("checkpoint")  # last_checkpoint answers
    if isinstance(last, dict):
        event = _event(last)
        if event is not None:
            events.append(event)
    subtag, tag = text(tracking.get("subtag")), text(tracking.get("tag"))
    return CarrierShipment(
        tracking_number=text(tracking.get("tracking_number")),
        carrier=carrier_slug(text(tracking.get("slug"))) or "aftership",
        events=events, estimated_delivery=_estimated(tracking), signed_by=_signer(tracking.get("signed_by")),
        status_codes=(subtag,) if subtag else (), status_text=text(tracking.get("subtag_message")),
        coarse=tag or None)


def _trackings(body: dict) -> list[dict]:
    """The tracking objects in a response `data` or webhook `msg`."""
    if isinstance(body.get("tracking"), dict):
        return [body["tracking"]]
    if isinstance(body.get("trackings"), list):
        return dicts(body["trackings"])
    if "tracking_number" in body:
        return [body]
    return []


def _looks_like(data: dict) -> bool:
    meta = data.get("meta")
    if isinstance(meta, dict) and "code" in meta and ("data" in data or "message" in meta):
        return True
    if data.get("event") == "tracking_update" or (isinstance(data.get("msg"), dict) and "ts" in data):
        return True
    body = data.get("data")
    return isinstance(body, dict) and any(k in body for k in _TRACKING_KEYS) and (
        "slug" in body or "tracking" in body or "trackings" in body)


class AfterShipJson(ParserPlugin):
    name = "aftership.json"
    family = "aftership"
    table = "aftership"
    media = "json"
    json_keys = ("meta", "data")

    def sniff(self, doc: Document) -> float:
        data = doc.json
        if not isinstance(data, dict) or not _looks_like(data):
            return 0.0
        body = data.get("msg") if isinstance(data.get("msg"), dict) else data.get("data")
        if isinstance(body, dict) and (_trackings(body) or "checkpoint" in body):
            first = (_trackings(body) or [body])[0]
            return 1.0 if "slug" in first or "checkpoints" in first or "checkpoint" in first else 0.6
        code = dig(data, "meta", "code")
        return 0.6 if isinstance(code, int) and 4000 <= code < 5000 else 0.2

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        if not isinstance(data, dict) or not _looks_like(data):
            raise ParseError("not an AfterShip response or webhook")
        out = ParseOutput()
        meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
        code = meta.get("code")
        if code is not None and code not in _OK_CODES:
            head = ": ".join(p for p in (text(code), text(meta.get("message"))) if p)
            kind = text(meta.get("type"))
            out.carrier_errors.append(f"{head} ({kind})" if kind and kind not in head else head)
            return out
        body = data.get("msg") if isinstance(data.get("msg"), dict) else data.get("data")
        for tracking in _trackings(body) if isinstance(body, dict) else ():
            if text(tracking.get("tracking_number")):
                out.shipments.append(tracking_shipment(tracking))
            else:
                out.skipped.append(f"tracking {text(tracking.get('id')) or '?'} without tracking_number")
        if out.empty() and isinstance(body, dict) and isinstance(body.get("trackings"), list):
            out.carrier_errors.append("NO_TRACKING_DATA: the AfterShip tracking list is empty")
        if out.empty():
            raise ParseError("no AfterShip tracking or error in the document")
        return out


PLUGINS = [AfterShipJson()]
