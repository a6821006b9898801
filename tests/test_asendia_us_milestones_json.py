"""Asendia USA milestones JSON: detection beside AfterShip, milestone codes, places, errors, odd shapes."""
from __future__ import annotations

import json

import pytest

from parsers import normalize_document
from taxonomy.mapping import classify
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "asendia_us_milestones_json"


def event(code="s2a", desc="Processed By Asendia", where="Folcroft, PA 19032", on="2025-06-03T09:14:00-04:00"):
    return {"eventCode": code, "eventDescription": desc, "eventLocation": where, "eventOn": on}


def doc(*events, number="LX551203351US", status=200, message=""):
    return {"data": [{"trackingNumberVendor": number, "customerReferenceNumber": "A-1",
                      "trackingMilestoneEvents": list(events)}],
            "responseStatus": {"responseStatusCode": status, "responseStatusMessage": message}}


def run(data, carrier="auto"):
    return normalize_document(json.dumps(data).encode(), carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_milestones(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "asendia.us_milestones_json" and out.carrier == "asendia"


def test_aftership_documents_stay_with_aftership():
    for payload in payloads(FIXTURES / "aftership_json"):
        assert normalize_document(payload.read_bytes()).parser == "aftership.json"


def test_asendia_us_slug_selects_it():
    assert run(doc(event()), carrier="asendia_us").parser == "asendia.us_milestones_json"


def test_latest_milestone_decides():
    out = run(doc(event("s10", "Delivered", "", "2021-08-09T11:13:00+00:00"),
                  event("s8", "Arrived at Destination Delivery Office", "", "2021-08-09T09:07:00+00:00")))
    assert out.shipments[0].status.value == "delivered"


def test_offsets_and_us_places():
    ev = run(doc(event())).shipments[0].events[0]
    assert ev.time_basis.value == "offset" and ev.occurred_at.isoformat() == "2025-06-03T13:14:00+00:00"
    assert (ev.location.city, ev.location.region, ev.location.postal_code, ev.location.country) == \
        ("Folcroft", "PA", "19032", "US")
    named = run(doc(event(where="Asendia US (Philadelphia)"))).shipments[0].events[0]
    assert named.location.city == "Asendia US (Philadelphia)" and named.location.country is None


def test_errors():
    out = run({"responseStatusCode": 401, "responseStatusMessage": "Authentication to the resource has been denied."})
    assert out.ok and not out.shipments and out.errors[0].message.startswith("401: Authentication")
    empty = run({"data": [], "responseStatus": {"responseStatusCode": 200, "responseStatusMessage": ""}})
    assert empty.ok and empty.errors[0].message == "200: no tracking milestones"


@pytest.mark.parametrize("bad", [
    {"data": "x", "responseStatus": {}},
    {"data": [{"trackingNumberVendor": "X", "trackingMilestoneEvents": [{"eventOn": 5}, None, "s"]}]},
    {"data": [{"trackingNumberVendor": [], "trackingMilestoneEvents": {}}], "responseStatus": []},
    {"responseStatusCode": None},
    {"data": [None, 1], "responseStatus": {"responseStatusCode": {"a": 1}}},
])
def test_odd_shapes_never_raise(bad):
    assert run(bad, carrier="asendia") is not None
    assert run(bad) is not None


@pytest.mark.parametrize("code, status", [
    ("s1", "label_created"), ("s2a", "picked_up"), ("s2b", "in_transit"), ("s2d", "in_transit"),
    ("s4", "in_transit"), ("s5", "in_transit"), ("s7", "in_transit"), ("s8", "in_transit"), ("s10", "delivered"),
])
def test_table_decisions(code, status):
    assert classify("asendia_us", (code,), "", None).status.value == status
