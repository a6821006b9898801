"""Aggregator relays of a carrier's own document, composed the way EasyPost, Shippo and AfterShip rewrite scans.

Each relay takes the scans a direct carrier document yields (normalized by
the real parsers) and writes them in the aggregator's format: its own codes
and texts, the place formatted its way (title case, ISO 3166 alpha-3, ZIP+4),
and the time rounded to the minute. The cross-route match must see the same
physical scans in both.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from parsers.normalize import normalize_document
from taxonomy import NormalizedEvent

FIXTURES = Path(__file__).parent.parent / "fixtures"

AFTERSHIP = {"label_created": ("InfoReceived", "InfoReceived_001", "Shipment information received"),
             "picked_up": ("InTransit", "InTransit_002", "Shipment picked up"),
             "in_transit": ("InTransit", "InTransit_001", "In transit"),
             "out_for_delivery": ("OutForDelivery", "OutForDelivery_001", "Out for delivery"),
             "delivered": ("Delivered", "Delivered_001", "Delivered")}
EASYPOST = {"label_created": ("pre_transit", "label_created"), "picked_up": ("in_transit", "received_at_origin_facility"),
            "in_transit": ("in_transit", "arrived_at_facility"), "out_for_delivery": ("out_for_delivery", "out_for_delivery"),
            "delivered": ("delivered", "arrived_at_destination"), "delivery_attempted": ("failure", "delivery_exception")}
SHIPPO = {"label_created": ("PRE_TRANSIT", "information_received"), "picked_up": ("TRANSIT", "package_accepted"),
          "in_transit": ("TRANSIT", "package_processed"), "out_for_delivery": ("TRANSIT", "out_for_delivery"),
          "delivered": ("DELIVERED", "delivered"), "delivery_attempted": ("FAILURE", "location_inaccessible"),
          "exception": ("TRANSIT", "delayed")}
ISO3 = {"US": "USA", "CA": "CAN", "GB": "GBR", "DE": "DEU"}


def direct(name: str) -> tuple[bytes, list[NormalizedEvent]]:
    """A carrier's own fixture document and the scans it yields."""
    body = (FIXTURES / name).read_bytes()
    outcome = normalize_document(body)
    [shipment] = outcome.shipments
    return body, sorted(shipment.events, key=lambda e: e.occurred_at)


def minute(at: datetime) -> datetime:
    """Rounded to the nearest minute, as aggregators publish times."""
    return (at + timedelta(seconds=30)).replace(second=0, microsecond=0)


def _city(e: NormalizedEvent) -> str | None:
    return e.location.city.title() if e.location and e.location.city else None


def _zip(e: NormalizedEvent) -> str | None:
    postal = e.location.postal_code if e.location else None
    return f"{postal}-0001" if postal and postal.isdigit() and len(postal) == 5 else postal


def aftership(slug: str, tn: str, scans: list[NormalizedEvent]) -> bytes:
    checkpoints = []
    for e in scans:
        tag, subtag, text = AFTERSHIP[e.status.value]
        local = minute(e.occurred_at_local)  # the carrier's wall time with its offset
        checkpoints.append({
            "slug": slug, "city": _city(e), "location": None, "country_name": None,
            "country_iso3": ISO3.get(e.location.country) if e.location and e.location.country else None,
            "message": f"{text} - {e.description.capitalize()}", "tag": tag, "subtag": subtag, "subtag_message": text,
            "checkpoint_time": local.isoformat(), "state": e.location.region if e.location else None,
            "zip": e.location.postal_code if e.location else None, "raw_tag": None})
    last = AFTERSHIP[scans[-1].status.value]
    return json.dumps({"event": "tracking_update", "msg": {
        "id": "a" * 24, "tracking_number": tn, "slug": slug, "active": True, "tag": last[0], "subtag": last[1],
        "subtag_message": last[2], "checkpoints": checkpoints}}).encode()


def easypost(carrier: str, tn: str, scans: list[NormalizedEvent]) -> bytes:
    details = []
    for e in scans:
        status, detail = EASYPOST[e.status.value]
        details.append({
            "object": "TrackingDetail", "message": e.description.upper(), "description": "", "status": status,
            "status_detail": detail, "datetime": minute(e.occurred_at).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "source": carrier.upper(), "carrier_code": None,
            "tracking_location": {"object": "TrackingLocation", "city": _city(e),
                                  "state": e.location.region if e.location else None,
                                  "country": e.location.country if e.location else None, "zip": _zip(e)}})
    return json.dumps({"object": "Event", "description": "tracker.updated", "result": {
        "id": "trk_" + "0" * 32, "object": "Tracker", "mode": "production", "tracking_code": tn,
        "status": details[-1]["status"], "status_detail": details[-1]["status_detail"], "carrier": carrier.upper(),
        "tracking_details": details}}).encode()


def shippo(carrier: str, tn: str, scans: list[NormalizedEvent]) -> bytes:
    history = []
    for e in scans:
        status, code = SHIPPO[e.status.value]
        history.append({
            "object_created": datetime.now(timezone.utc).isoformat(), "object_id": f"{len(history):032x}",
            "status": status, "status_details": e.description.title(),
            "status_date": minute(e.occurred_at).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "substatus": {"code": code, "text": code, "action_required": False},
            "location": {"city": _city(e), "state": e.location.region if e.location else None, "zip": _zip(e),
                         "country": e.location.country if e.location else None} if e.location else None})
    return json.dumps({"event": "track_updated", "test": False, "data": {
        "carrier": carrier, "tracking_number": tn, "tracking_status": history[-1],
        "tracking_history": history}}).encode()
