"""EasyPost tracking JSON: detection, carrier errors, time rule, mapping decisions."""
from __future__ import annotations

import json

import pytest

from parsers import normalize_document
from parsers.formats.easypost_json import carrier_slug
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "easypost_json"


def run(doc: object, carrier: str = "auto"):
    return normalize_document(json.dumps(doc).encode(), carrier=carrier)


def detail(status="in_transit", sub="arrived_at_facility", code="", when="2024-05-02T14:30:00Z",
           message="Arrived at facility", loc=None):
    return {"object": "TrackingDetail", "message": message, "description": "", "status": status,
            "status_detail": sub, "datetime": when, "source": "X", "carrier_code": code,
            "tracking_location": loc if loc is not None else {"city": None, "state": None, "country": None,
                                                              "zip": None}}


def tracker(*details, carrier="FedEx", status="in_transit", sub="arrived_at_facility"):
    return {"object": "Tracker", "tracking_code": "EZ4000000004", "carrier": carrier, "status": status,
            "status_detail": sub, "tracking_details": list(details)}


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_easypost(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "easypost.json" and out.carrier == "easypost"


def test_carrier_is_the_underlying_carrier():
    assert [carrier_slug(n) for n in ("USPS", "UPS", "FedEx", "DHLExpress", "CanadaPost", "LaserShipV2")] == \
        ["usps", "ups", "fedex", "dhl", "canadapost", "laser_ship_v2"]
    out = run(tracker(detail(), carrier="CanadaPost"))
    assert out.shipments[0].carrier == "canadapost"


def test_error_body_is_a_carrier_error():
    out = run({"error": {"code": "NOT_FOUND", "message": "The requested resource could not be found.",
                         "errors": []}})
    assert out.ok and not out.shipments
    assert [(e.kind, e.message) for e in out.errors] == [
        ("carrier_error", "NOT_FOUND: The requested resource could not be found.")]


def test_event_without_tracker_is_reported_not_quarantined():
    out = run({"object": "Event", "description": "batch.updated", "id": "evt_1", "result": {"object": "Batch"}})
    assert out.ok and out.errors[0].kind == "carrier_error" and "NO_TRACKING_DATA" in out.errors[0].message


def test_event_webhook_result_is_parsed():
    out = run({"object": "Event", "description": "tracker.updated", "result": tracker(detail())})
    assert [s.tracking_number for s in out.shipments] == ["EZ4000000004"]


def test_z_with_a_country_is_the_instant_shown_in_local_time():
    loc = {"city": "RENO", "state": "NV", "country": "US", "zip": "89502"}
    ev = run(tracker(detail(loc=loc))).shipments[0].events[0]
    assert ev.occurred_at.isoformat() == "2024-05-02T14:30:00+00:00"
    assert ev.occurred_at_local.isoformat() == "2024-05-02T07:30:00-07:00"
    assert ev.time_basis.value == "offset"


def test_z_without_country_is_wall_clock_time_inferred_from_us_state_and_zip():
    loc = {"city": "RENO", "state": "NV", "country": None, "zip": "89502"}
    ev = run(tracker(detail(loc=loc), carrier="USPS")).shipments[0].events[0]
    assert ev.occurred_at_local.isoformat() == "2024-05-02T14:30:00-07:00"
    assert ev.time_basis.value == "location" and ev.location.country == "US"


def test_z_without_any_location_stays_utc_as_assumed():
    ev = run(tracker(detail())).shipments[0].events[0]
    assert ev.occurred_at_local.isoformat() == "2024-05-02T14:30:00+00:00"
    assert ev.time_basis.value == "assumed_utc" and ev.location is None


def test_raw_carrier_code_beats_easypost_detail():
    # EasyPost files FedEx "Picked up" (PU) under in_transit/arrived_at_facility.
    ev = run(tracker(detail(code="PU", message="Picked up"))).shipments[0].events[0]
    assert ev.status.value == "picked_up" and ev.carrier_code == "PU"


def test_decisive_status_beats_detail():
    ev = run(tracker(detail("delivered", "arrived_at_destination", message="Delivered"))).shipments[0].events[0]
    assert ev.status.value == "delivered"


@pytest.mark.parametrize("message, status, cls", [
    ("Customer not available or business closed", "delivery_attempted", "recipient_unavailable"),
    ("Refused by recipient", "exception", "refused"),
    ("Exception", "exception", "other"),
])
def test_vague_failure_detail_is_decided_by_the_text(message, status, cls):
    ev = run(tracker(detail("failure", "delivery_exception", message=message))).shipments[0].events[0]
    assert (ev.status.value, ev.exception_class.value) == (status, cls)


def test_detail_classes():
    out = run(tracker(detail("in_transit", "weather_delay", message="Delayed", when="2024-05-01T10:00:00Z"),
                      detail("failure", "address_correction", message="Address corrected")))
    by_code = {e.carrier_code: (e.status.value, e.exception_class.value) for e in out.shipments[0].events}
    assert by_code == {"weather_delay": ("exception", "weather_delay"),
                       "address_correction": ("exception", "address_issue")}


def test_unknown_detail_is_counted_as_unmapped():
    out = run(tracker(detail("in_transit", "brand_new_detail", message="Arrived at sort facility")))
    assert out.shipments[0].events[0].status.value == "in_transit"
    assert out.unmapped and out.unmapped[0][0] == "easypost"


def test_tracker_without_events_uses_its_own_status():
    s = run(tracker(status="return_to_sender", sub="return")).shipments[0]
    assert s.status.value == "returned_to_sender" and s.events == []


def test_estimated_delivery_midnight_is_a_date():
    doc = tracker(detail())
    doc["est_delivery_date"] = "2024-05-06T00:00:00Z"
    assert run(doc).shipments[0].estimated_delivery == "2024-05-06"


@pytest.mark.parametrize("doc", [
    {"object": "Tracker", "tracking_code": "EZ1", "tracking_details": "nope"},
    {"object": "Tracker", "tracking_code": "EZ1", "tracking_details": [{"datetime": 5, "tracking_location": []}]},
    {"object": "Tracker", "tracking_code": "EZ1", "carrier": None, "tracking_details": [None, 1, {}]},
    {"trackers": [], "has_more": False},
    {"object": "Event", "result": "x"},
    {"error": {"code": None, "message": None, "errors": "x"}},
])
def test_odd_but_valid_input_never_raises(doc):
    out = run(doc)
    assert out.ok or out.errors


def test_other_json_is_not_claimed():
    out = normalize_document(b'{"events": [{"when": "x"}], "trackers": 3}', carrier="easypost")
    assert not out.ok
