"""Australia Post tracking JSON: detection, scan texts, Australian time zones, statuses, errors."""
from __future__ import annotations

import json

import pytest

from parsers import normalize_document
from parsers.document import Document
from parsers.formats.australiapost_tracking_json import PLUGINS, place
from taxonomy.mapping import classify
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "australiapost_tracking_json"
PLUGIN = PLUGINS[0]


def doc(*events, status="In transit", tracking_id="33LKN5028470"):
    return {"tracking_results": [{"tracking_id": tracking_id, "status": status, "trackable_items": [
        {"article_id": tracking_id + "01000935100", "product_type": "Parcel Post", "events": list(events),
         "status": status}]}]}


def event(description="Item processed at facility", date="2025-07-16T18:03:47+10:00", where="SUNSHINE WEST VIC"):
    ev = {"description": description, "date": date}
    if where is not None:
        ev["location"] = where
    return ev


def run(data, carrier="auto"):
    return normalize_document(json.dumps(data).encode(), carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_australiapost(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "australiapost.tracking_json" and out.carrier == "australiapost"


@pytest.mark.parametrize("raw, expected", [
    ("KEW VIC", ("KEW", "VIC", None, "AU")),
    ("Sydney,NSW", ("Sydney", "NSW", None, "AU")),
    ("PERTH WA 6000", ("PERTH", "WA", "6000", "AU")),
    ("CHICAGO (US)", ("CHICAGO", None, None, "US")),
    ("US-60199, UNITED STATES", (None, None, "60199", "US")),
    ("NZ", (None, None, None, "NZ")),
    ("NEW ZEALAND", (None, None, None, "NZ")),
    ("Transit Scan", None),
    ("", None),
])
def test_places(raw, expected):
    loc = place(raw)
    assert (None if loc is None else (loc.city, loc.region, loc.postal_code, loc.country)) == expected


def test_printed_offset_wins():
    ev = run(doc(event(date="2021-01-07T08:49:00+11:00", where="CHICAGO (US)"))).shipments[0].events[0]
    assert ev.time_basis.value == "offset" and ev.occurred_at.isoformat() == "2021-01-06T21:49:00+00:00"


def test_time_without_offset_uses_the_state_zone():
    ev = run(doc(event(date="2025-01-15T10:00:00", where="PERTH AIRPORT WA"))).shipments[0].events[0]
    assert ev.time_basis.value == "location" and ev.occurred_at_local.utcoffset().total_seconds() == 8 * 3600


def test_time_without_offset_or_state_uses_the_home_zone():
    ev = run(doc(event(date="2025-01-15T10:00:00", where=None))).shipments[0].events[0]
    assert ev.time_basis.value == "zone" and ev.occurred_at_local.utcoffset().total_seconds() == 11 * 3600


@pytest.mark.parametrize("description, status, cls", [
    ("Delivered", "delivered", None),
    ("Delivered - Left in a safe place", "delivered", None),
    ("Onboard for delivery", "out_for_delivery", None),
    ("With Australia Post for delivery today", "out_for_delivery", None),
    ("Awaiting collection", "available_for_pickup", None),
    ("Attempted delivery - Card left", "delivery_attempted", "recipient_unavailable"),
    ("Shipping information approved by Australia Post", "label_created", None),
    ("Received by Australia Post", "picked_up", None),
    ("Cleared and awaiting international departure", "in_transit", None),
    ("Arrived awaiting clearance (Inbound)", "exception", "customs_hold"),
    ("Item cleared by Customs", "in_transit", None),
    ("Possible delay", "exception", "carrier_delay"),
    ("Contact sender", "returned_to_sender", None),
    ("In transit to next facility in OAKLEIGH SOUTH VIC", "in_transit", None),
])
def test_scan_texts(description, status, cls):
    ev = run(doc(event(description))).shipments[0].events[0]
    assert ev.status.value == status and ev.provenance.mapped_by.value == "keyword"
    assert (ev.exception_class.value if ev.exception_class else None) == cls


@pytest.mark.parametrize("status, expected", [
    ("Awaiting collection", "available_for_pickup"), ("Delivered", "delivered"), ("Cancelled", "cancelled"),
    ("Cannot be delivered", "exception"), ("Delivered in Full", "delivered"), ("Ready for Pickup", "label_created"),
    ("Unsuccessful Delivery", "delivery_attempted"), ("Initiated", "label_created"),
])
def test_status_without_events_sets_the_shipment_status(status, expected):
    assert run(doc(status=status)).shipments[0].status.value == expected


def test_ready_for_pickup_is_startracks_pickup_from_the_sender_not_a_pickup_point():
    assert classify("australiapost", ("S:Ready for Pickup",), "", None).status.value == "label_created"
    assert classify("australiapost", ("S:Awaiting collection",), "", None).status.value == "available_for_pickup"


def test_per_id_and_request_errors_are_carrier_errors():
    out = run({"tracking_results": [{"tracking_id": "2AB000000", "errors": [
        {"code": "ESB-10002", "name": "Product not trackable"}]}]})
    assert out.ok and not out.shipments and out.errors[0].message == "ESB-10002: Product not trackable (2AB000000)"
    out = run({"errors": [{"code": "51103", "name": "TRACKING_IDS_MIX_OF_AP_AND_ST",
                           "message": "The request must only contain tracking ids for either StarTrack consignment "
                                      "ids or Australia Post ids."}]})
    assert out.ok and out.parser == "australiapost.tracking_json" and out.errors[0].kind == "carrier_error"


def test_an_unrelated_errors_body_is_not_claimed():
    assert PLUGIN.sniff(Document(b'{"errors": [{"code": "E1", "message": "bad"}]}')) == 0.0


@pytest.mark.parametrize("bad", [
    {"tracking_results": "x"},
    {"tracking_results": [5, {"tracking_id": {}}, {"trackable_items": "x"}]},
    {"tracking_results": [{"tracking_id": "A1", "trackable_items": [{"items": "y", "events": [{"date": 7}, "z"]}]}]},
    {"tracking_results": [{"tracking_id": "A1", "errors": [None, {"code": []}]}]},
    {"errors": "x"},
])
def test_odd_shapes_never_raise(bad):
    assert run(bad, carrier="australiapost") is not None
