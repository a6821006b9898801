"""UPS Track Alert webhook body (UPSTrackAlert.yaml, webhooks.TrackingEvent).

One POST per package event: trackingNumber, localActivityDate/Time
(YYYYMMDD / HHMMSS, local wall clock), gmtActivityDate/Time (the same instant
in UTC), activityLocation {city, stateProvince, postalCode, country},
activityStatus {type, code, description, descriptionCode},
scheduledDeliveryDate, actualDeliveryDate/Time, delivery window fields and,
in some examples, receivedBy. A list of such bodies (a batch replay) is read
the same way.

`description` in Track Alert is the simplified text of `descriptionCode`, and
UPS's own examples put codes in it that contradict UPS's code list (9 for
"Delivered", 17 for "Out for Delivery"). So the type:code key comes first and
the descriptionCode is used only when its listed text is the description.

The subscription API's answers (validTrackingNumbers / invalidTrackingNumbers,
response.errors) are read too: invalid numbers and errors become carrier errors.
"""
from __future__ import annotations

from functools import cache

from taxonomy.mapping import load_table

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import as_list, dicts, dig, location, text
from ..timeparse import UTC, combine, iso_date
from .ups_common import error_text, sc_key, status_keys

_KEYS = ("trackingNumber", "localActivityDate", "localActivityTime", "activityStatus", "activityLocation",
         "gmtActivityDate", "gmtActivityTime")
_SUBSCRIPTION_KEYS = ("validTrackingNumbers", "invalidTrackingNumbers")


@cache
def _listed_texts() -> dict[str, str]:
    """'SC:011' -> 'delivered': UPS's text for each Status/Description code, casefolded."""
    table = load_table("ups")
    return {k: e.text.casefold() for k, e in table.codes.items() if k.startswith("SC:")}


def _codes(status: dict) -> tuple[tuple[str, ...], str | None, str | None]:
    keys, kind, printed = status_keys(status.get("type"), status.get("code"))
    sc = sc_key(status.get("descriptionCode"))
    description = text(status.get("description")).casefold()
    if sc is not None and (not description or _listed_texts().get(sc) == description):
        keys += (sc,)
    return keys, kind, printed


def _event(body: dict) -> CarrierEvent | None:
    status = body.get("activityStatus") if isinstance(body.get("activityStatus"), dict) else {}
    codes, kind, printed = _codes(status)
    when = combine(text(body.get("localActivityDate")), text(body.get("localActivityTime")))
    utc = combine(text(body.get("gmtActivityDate")), text(body.get("gmtActivityTime")))
    if when is None and kind == "D":  # a delivery also carries its local time as actualDeliveryDate/Time
        when = combine(text(body.get("actualDeliveryDate")), text(body.get("actualDeliveryTime")))
    if when is None:
        if utc is None:
            return None
        when, utc = utc.replace(tzinfo=UTC), None
    loc = body.get("activityLocation") if isinstance(body.get("activityLocation"), dict) else {}
    return CarrierEvent(
        when=when, utc=utc, description=text(status.get("description")), codes=codes,
        carrier_code=printed, coarse=kind,
        location=location(loc.get("city"), loc.get("stateProvince"), loc.get("postalCode"), loc.get("country")),
        signed_by=(text(body.get("receivedBy")) or None) if kind == "D" else None)


def _add(found: dict[str, CarrierShipment], body: dict) -> bool:
    """Add one event body to its shipment; a later body's scheduled date replaces an earlier one."""
    tn = text(body.get("trackingNumber"))
    if not tn:
        return False
    shipment = found.get(tn)
    if shipment is None:
        shipment = found[tn] = CarrierShipment(tracking_number=tn, carrier="ups")
    event = _event(body)
    if event is not None:
        shipment.events.append(event)
        shipment.signed_by = shipment.signed_by or event.signed_by
    shipment.estimated_delivery = iso_date(text(body.get("scheduledDeliveryDate"))) or shipment.estimated_delivery
    return True


class UpsTrackAlertJson(ParserPlugin):
    name = "ups.track_alert_json"
    family = "ups"
    table = "ups_alert"
    media = "json"
    json_keys = _KEYS
    slugs = ("ups_alert", "ups_trackalert")

    def sniff(self, doc: Document) -> float:
        data = doc.json
        first = data[0] if isinstance(data, list) and data else data
        if not isinstance(first, dict):
            return 0.0
        if isinstance(first.get("activityStatus"), dict) and "trackingNumber" in first:
            return 1.0
        if any(isinstance(first.get(k), list) for k in _SUBSCRIPTION_KEYS):
            return 1.0
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        bodies = dicts(data) if isinstance(data, list) else [data] if isinstance(data, dict) else []
        if not bodies:
            raise ParseError("not a JSON object or list of objects")
        out = ParseOutput()
        found: dict[str, CarrierShipment] = {}
        for body in bodies:
            for err in dicts(dig(body, "response", "errors")) + dicts(body.get("errors")):
                out.carrier_errors.append(error_text(err.get("code"), err.get("message")))
            for number in as_list(body.get("invalidTrackingNumbers")):
                if text(number):
                    out.carrier_errors.append(f"invalid tracking number: {text(number)}")
            if ("activityStatus" in body or "localActivityDate" in body or "gmtActivityDate" in body) \
                    and not _add(found, body):
                out.skipped.append("an event without a trackingNumber")
        out.shipments.extend(found.values())
        if out.empty():
            raise ParseError("no Track Alert event (activityStatus with a trackingNumber)")
        return out


PLUGINS = [UpsTrackAlertJson()]
