"""Sendle tracking JSON: detection, event types, UTC and local times, the missing reference, errors."""
from __future__ import annotations

import json

import pytest

from parsers import normalize_document
from parsers.base import ParseError
from parsers.document import Document
from parsers.formats.sendle_tracking_json import PLUGINS
from parsers.timeparse import resolve
from taxonomy.mapping import classify
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "sendle_tracking_json"
PLUGIN = PLUGINS[0]


def event(kind="In Transit", description="Your package is in transit with the carrier.", **more):
    return {"event_type": kind, "scan_time": "2023-04-04T20:55:00Z", "description": description, **more}


def tracking(*events, state="Transit", **more):
    return {"state": state, "status": {"description": "", "last_changed_at": ""}, "origin": {"country": "AU"},
            "destination": {"country": "AU"}, "tracking_events": list(events), **more}


def parse(data):
    return PLUGIN.parse(Document(json.dumps(data).encode()))


def classified(ev):
    return classify("sendle", ev.codes, ev.description, ev.coarse)


def run(data, carrier="auto"):
    return normalize_document(json.dumps(data).encode(), carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_sendle(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto", keep_unnumbered=True)
    assert out.ok and out.parser == "sendle.tracking_json" and out.carrier == "sendle"


def test_the_tracking_response_takes_the_number_it_was_asked_for():
    data = (FOLDER / "tracking_left_with_agent.json").read_bytes()
    given = normalize_document(data, tracking_number="SNK4R8W")
    shipment, = given.shipments
    assert given.ok and shipment.tracking_number == "SNK4R8W" and shipment.status.value == "available_for_pickup"
    assert {e.tracking_number for e in shipment.events} == {"SNK4R8W"}
    kept = normalize_document(data, keep_unnumbered=True).shipments[0]
    assert kept.tracking_number == "" and len(kept.events) == len(shipment.events) == 4
    assert {e.event_id for e in kept.events}.isdisjoint(e.event_id for e in shipment.events)
    dropped = normalize_document(data)
    assert not dropped.ok and not dropped.shipments and "without a tracking number" in dropped.errors[0].message


def test_tracking_response_has_no_reference_so_the_shipment_number_is_empty():
    out = parse(tracking(event("Pickup", "Parcel picked up"), event("Delivered", "Parcel delivered")))
    shipment, = out.shipments
    assert shipment.tracking_number == "" and shipment.carrier == "sendle" and len(shipment.events) == 2
    assert [classified(e).status.value for e in shipment.events] == ["picked_up", "delivered"]


def test_webhook_carries_its_reference():
    out = parse({"sendle_reference": "SNV7QK2", "event_id": "e1", "event_type": "Delivered",
                 "description": "Parcel delivered", "scan_time": "2025-09-22T18:07:41Z"})
    assert out.shipments[0].tracking_number == "SNV7QK2"
    assert run({"sendle_reference": "SNV7QK2", "event_type": "Delivered", "scan_time": "2025-09-22T18:07:41Z"}
               ).shipments[0].status.value == "delivered"


def test_local_scan_time_with_the_utc_instant_gives_the_offset():
    ev, = parse(tracking(event(scan_time="2023-04-04T20:55:00Z", local_scan_time="2023-04-04T16:55:00",
                               display_time="2023-04-04T16:55:00-04:00"))).shipments[0].events
    occurred, local, basis = resolve(ev.when, ev.zone, ev.utc, ev.location)
    assert basis.value == "offset" and occurred.isoformat() == "2023-04-04T20:55:00+00:00"
    assert local.isoformat() == "2023-04-04T16:55:00-04:00"


def test_display_time_or_bare_utc():
    shown, = parse(tracking({"event_type": "Pickup", "display_time": "2025-05-12T15:40:00+10:00"})).shipments[0].events
    assert shown.when.isoformat() == "2025-05-12T15:40:00+10:00" and shown.utc is None
    bare, = parse(tracking(event(scan_time="2015-11-23T01:04:00Z"))).shipments[0].events
    occurred, local, basis = resolve(bare.when, bare.zone, bare.utc, bare.location)
    assert basis.value == "offset" and local.isoformat() == "2015-11-23T01:04:00+00:00"


@pytest.mark.parametrize("kind, description, status, cls, mapped_by", [
    ("Pickup", "Parcel picked up", "picked_up", None, "code"),
    ("Dropped off", "Parcel has been dropped off", "picked_up", None, "code"),
    ("Out for Delivery", "Your package is on board for delivery!", "out_for_delivery", None, "code"),
    ("Card Left", "Card left", "delivery_attempted", "recipient_unavailable", "code"),
    ("Left with Agent", "Your parcel is waiting at the agent", "available_for_pickup", None, "code"),
    ("Local Delivery", "Handed to the local delivery partner", "in_transit", None, "code"),
    ("Damaged", "Parcel damaged", "exception", "damaged", "code"),
    ("Expired", "Booking expired", "cancelled", None, "code"),
    ("Info", "Your parcel was signed for by JIMMY", "delivered", None, "keyword"),
    ("Info", "Parcel is loaded for delivery", "out_for_delivery", None, "keyword"),
    ("Info", "Something else", "in_transit", None, "coarse"),
])
def test_event_types(kind, description, status, cls, mapped_by):
    mapped = classified(parse(tracking(event(kind, description))).shipments[0].events[0])
    assert mapped.status.value == status and mapped.mapped_by.value == mapped_by
    assert (mapped.exception_class.value if mapped.exception_class else None) == cls


def test_pickup_attempt_is_an_exception_with_the_reason_appended():
    ev, = parse(tracking(event("Pickup Attempted", "We attempted to pick up the parcel but were unsuccessful",
                               reason="Parcel not ready"))).shipments[0].events
    assert ev.description == "We attempted to pick up the parcel but were unsuccessful: Parcel not ready"
    assert classified(ev).status.value == "exception"


def test_places():
    located, = parse(tracking(event(location="TEANECK, NJ"))).shipments[0].events
    assert (located.location.city, located.location.region) == ("TEANECK", "NJ")
    data, = parse(tracking(event(location_data={"suburb": "West End", "state": "QLD", "postcode": "4101",
                                                "country": "AU"}))).shipments[0].events
    assert (data.location.city, data.location.country) == ("West End", "AU")


def test_state_and_estimate_without_events():
    shipment, = parse(tracking(state="Left with Agent", scheduling={"estimated_delivery_date_minimum": "2025-05-14",
                                                                     "estimated_delivery_date_maximum": ""})).shipments
    assert classify("sendle", shipment.status_codes, "", None).status.value == "available_for_pickup"
    assert shipment.estimated_delivery == "2025-05-14"
    assert classify("sendle", ("S:Pickup",), "", None).status.value == "label_created"


def test_error_bodies_are_carrier_errors():
    out = run({"error": "unauthorised", "error_description": "The authorisation details are not valid."})
    assert out.ok and out.parser == "sendle.tracking_json" and not out.shipments
    assert out.errors[0].message == "unauthorised: The authorisation details are not valid."


def test_an_unrelated_error_body_is_not_claimed():
    assert PLUGIN.sniff(Document(b'{"error": "invalid_grant", "error_description": "expired"}')) == 0.0


@pytest.mark.parametrize("bad", [
    {"state": "Transit", "tracking_events": "x"},
    {"tracking_events": [5, {"scan_time": 7}, {"event_type": [], "scan_time": "2025-01-01T00:00:00Z",
                                               "location_data": "y", "reason": {}}]},
    {"state": {}, "scheduling": "z", "status": []},
    {"sendle_reference": "S1", "event_type": "Pickup", "scan_time": None},
])
def test_odd_shapes_never_raise(bad):
    assert run(bad, carrier="sendle") is not None
    try:
        parse(bad)
    except ParseError:
        pass
