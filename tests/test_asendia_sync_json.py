"""Asendia Sync tracking JSON: detection beside USPS v3, codes and descriptions, problems, odd shapes."""
from __future__ import annotations

import json

import pytest

from parsers import normalize_document
from taxonomy.mapping import classify
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "asendia_sync_json"


def event(code="IT", time="2025-03-04T06:45:00Z", desc="In transit to destination", name="Frankfurt", country="DE"):
    return {"id": 1, "code": code, "time": time, "locationName": name, "carrierEventDescription": desc,
            "locationCountry": country}


def doc(*events, number="LX402118735CH"):
    return {"trackingNumber": number, "trackingEvents": list(events)}


def run(data, carrier="auto"):
    return normalize_document(json.dumps(data).encode(), carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_asendia_sync(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "asendia.sync_json" and out.carrier == "asendia"


def test_usps_documents_stay_with_usps():
    for payload in payloads(FIXTURES / "usps_v3_json"):
        assert normalize_document(payload.read_bytes()).parser == "usps.v3_json"


def test_usps_shaped_object_is_not_read_as_asendia():
    usps = {"trackingNumber": "9400100000000000000000", "trackingEvents": [
        {"eventType": "Delivered", "eventTimestamp": "2025-03-04T10:00:00", "eventCode": "01"}]}
    assert run(usps, carrier="asendia").ok is False


def test_utc_instants_and_places():
    ev = run(doc(event())).shipments[0].events[0]
    assert ev.time_basis.value == "offset" and ev.occurred_at.isoformat() == "2025-03-04T06:45:00+00:00"
    assert (ev.location.city, ev.location.country) == ("Frankfurt", "DE")


def test_codes_then_descriptions():
    out = run(doc(event("DL", desc="Delivered", time="2025-03-07T19:12:00Z"),
                  event("XX", desc="Delivery attempted - recipient not available", time="2025-03-06T19:12:00Z")))
    shipment = out.shipments[0]
    assert shipment.status.value == "delivered"
    attempt = shipment.events[1]
    assert (attempt.status.value, attempt.exception_class.value) == ("delivery_attempted", "recipient_unavailable")
    assert out.unmapped and out.unmapped[0][1] == "XX"


def test_array_and_empty_events():
    out = run([doc(event()), doc(number="LX402118752CH")])
    assert len(out.shipments) == 1
    assert out.errors[0].message == "LX402118752CH: no tracking events (unknown number or not yet scanned)"


def test_problems_are_carrier_errors():
    problem = {"type": "https://www.asendia-sync.com/problem/problem-with-message", "title": "Not Found",
               "status": 404, "detail": "Tracking not found", "path": "/api/customers/1/tracking/X"}
    out = run(problem)
    assert out.ok and out.parser == "asendia.sync_json"
    assert out.errors[0].message == "404: Not Found - Tracking not found"


def test_bare_event_array_names_no_shipment():
    out = run([event()], carrier="asendia")
    assert out.ok is False


@pytest.mark.parametrize("bad", [
    {"trackingNumber": "X", "trackingEvents": "none"},
    {"trackingNumber": {}, "trackingEvents": [event(time="yesterday"), "x", None]},
    {"trackingNumber": "X", "trackingEvents": [{"time": 3, "carrierEventDescription": []}]},
    [{"trackingNumber": None}, 4],
    {"title": "x", "status": 500, "type": "asendia", "fieldErrors": "nope"},
])
def test_odd_shapes_never_raise(bad):
    assert run(bad, carrier="asendia") is not None
    assert run(bad) is not None


@pytest.mark.parametrize("code, status", [("PU", "picked_up"), ("IT", "in_transit"), ("DL", "delivered")])
def test_table_decisions(code, status):
    assert classify("asendia", (code,), "", None).status.value == status
