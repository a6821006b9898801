"""Shippo Track JSON: detection, webhook, carrier errors, time rule, substatus mapping."""
from __future__ import annotations

import json

import pytest

from parsers import normalize_document
from parsers.formats.shippo_track_json import carrier_slug
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "shippo_track_json"


def run(doc: object, carrier: str = "auto"):
    return normalize_document(json.dumps(doc).encode(), carrier=carrier)


def entry(status="TRANSIT", code=None, details="Departed facility", when="2024-03-04T15:00:00Z",
          loc=None):
    return {"status": status, "status_details": details, "status_date": when,
            "substatus": {"code": code, "text": "", "action_required": False} if code else None,
            "location": loc}


def track(*history, carrier="usps", current=None):
    return {"carrier": carrier, "tracking_number": "9400136895239900012345",
            "tracking_status": current if current is not None else (history[-1] if history else None),
            "tracking_history": list(history)}


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_shippo(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "shippo.track_json" and out.carrier == "shippo"


def test_carrier_tokens_become_project_slugs():
    assert [carrier_slug(t) for t in ("usps", "dhl_express", "canada_post", "DHL eCommerce")] == \
        ["usps", "dhl", "canadapost", "dhl_ecommerce"]


def test_webhook_body_is_unwrapped():
    out = run({"event": "track_updated", "test": False, "data": track(entry(code="package_departed"))})
    assert out.shipments[0].carrier == "usps" and out.shipments[0].status.value == "in_transit"


def test_other_webhooks_carry_no_track():
    out = run({"event": "transaction_created", "test": False, "data": {"object_id": "x"}})
    assert out.ok and "NO_TRACKING_DATA" in out.errors[0].message


@pytest.mark.parametrize("body, message", [
    ({"detail": "Not found."}, "Not found."),
    ({"tracking_number": ["This field is required."]}, "tracking_number: This field is required."),
])
def test_error_bodies_are_carrier_errors(body, message):
    out = run(body)
    assert out.ok and not out.shipments and [e.message for e in out.errors] == [message]


def test_track_without_status_but_with_messages_is_a_carrier_error():
    doc = track()
    doc["messages"] = [{"source": "USPS", "code": "", "text": "Tracking number not found"}]
    out = run(doc)
    assert [e.message for e in out.errors] == ["USPS: Tracking number not found"]


def test_status_date_is_utc_and_shown_in_the_local_zone():
    loc = {"city": "Tucson", "state": "AZ", "zip": "85701", "country": "US"}
    ev = run(track(entry(code="package_arrived", loc=loc))).shipments[0].events[0]
    assert ev.occurred_at.isoformat() == "2024-03-04T15:00:00+00:00"
    assert ev.occurred_at_local.isoformat() == "2024-03-04T08:00:00-07:00"
    assert ev.time_basis.value == "offset"


def test_status_date_without_offset_is_read_as_utc():
    ev = run(track(entry(when="2024-03-04T15:00:00"))).shipments[0].events[0]
    assert ev.occurred_at.isoformat() == "2024-03-04T15:00:00+00:00" and ev.time_basis.value == "zone"


def test_current_status_repeating_history_is_one_event():
    e = entry(code="delivered", status="DELIVERED", details="Delivered")
    assert len(run(track(entry(code="package_accepted", when="2024-03-01T10:00:00Z"), e)).shipments[0].events) == 2


@pytest.mark.parametrize("code, status, cls", [
    ("information_received", "label_created", None),
    ("package_accepted", "picked_up", None),
    ("notice_left", "delivery_attempted", "recipient_unavailable"),
    ("location_inaccessible", "delivery_attempted", "access_issue"),
    ("pickup_available", "available_for_pickup", None),
    ("package_unclaimed", "exception", "unclaimed"),
    ("return_to_sender", "returned_to_sender", None),
    ("package_disposed", "exception", "disposed"),
    ("package_lost", "exception", "lost"),
    ("address_issue", "exception", "address_issue"),
])
def test_substatus_codes(code, status, cls):
    ev = run(track(entry(code=code, details=""))).shipments[0].events[0]
    assert (ev.status.value, ev.exception_class.value if ev.exception_class else None) == (status, cls)


def test_unknown_status_is_decided_by_the_text_then_the_status():
    ev = run(track(entry("UNKNOWN", details="The shipping label has been created."))).shipments[0].events[0]
    assert ev.status.value == "label_created" and ev.provenance.mapped_by.value == "keyword"
    ev = run(track(entry("FAILURE", code="other", details="See carrier"))).shipments[0].events[0]
    assert ev.status.value == "exception" and ev.provenance.mapped_by.value == "coarse"


def test_eta_midnight_utc_is_a_date():
    doc = track(entry())
    doc["eta"] = "2024-03-07T00:00:00Z"
    assert run(doc).shipments[0].estimated_delivery == "2024-03-07"


@pytest.mark.parametrize("doc", [
    {"carrier": 5, "tracking_number": "X1", "tracking_status": "DELIVERED", "tracking_history": "x"},
    {"carrier": "usps", "tracking_number": "X1", "tracking_status": {"substatus": "x", "location": []},
     "tracking_history": [None, {"status_date": None}]},
    {"event": "track_updated", "data": {"tracking_number": None, "tracking_status": None}},
    {"detail": ["a", 1]},
])
def test_odd_but_valid_input_never_raises(doc):
    out = run(doc)
    assert out.ok or out.errors
