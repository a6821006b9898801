"""USPS Tracking API v3 JSON: detection, GMT data, errors, batches."""
from __future__ import annotations

import json

import pytest

from parsers import normalize_document
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "usps_v3_json"


def event(kind="Arrived at Post Office", ts="2025-05-20T06:40:00", code="07", **extra):
    ev = {"eventType": kind, "eventTimestamp": ts, "eventCountry": None, "eventCity": "ATLANTA",
          "eventState": "GA", "eventZIP": "30303", "firm": None, "name": None, "eventCode": code}
    ev.update(extra)
    return ev


def doc(*events, **extra):
    data = {"trackingNumber": "9200190104832901550612", "statusCategory": "In Transit",
            "status": "Arrived at Post Office", "trackingEvents": list(events)}
    data.update(extra)
    return data


def run(data, carrier="auto"):
    return normalize_document(json.dumps(data).encode(), carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_v3(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "usps.v3_json"


def test_gmt_offset_pins_the_instant():
    ev = run(doc(event(GMTOffset="-04:00"))).shipments[0].events[0]
    assert ev.time_basis.value == "offset" and ev.occurred_at.isoformat() == "2025-05-20T10:40:00+00:00"


def test_gmt_timestamp_alone_rounds_the_offset_to_the_quarter_hour():
    ev = run(doc(event(GMTTimestamp="2025-05-20T10:40:52Z"))).shipments[0].events[0]
    assert ev.occurred_at_local.isoformat() == "2025-05-20T06:40:00-04:00"
    assert ev.occurred_at.isoformat() == "2025-05-20T10:40:00+00:00"


def test_offset_wins_over_a_gmt_timestamp_a_day_off():
    """USPS has sent GMTTimestamp 2024-11-21T05:28Z for 23:28 local at -06:00 (the 22nd in UTC)."""
    ev = run(doc(event(ts="2024-11-21T23:28:00", GMTTimestamp="2024-11-21T05:28:33Z", GMTOffset="-06:00",
                       eventState="IL"))).shipments[0].events[0]
    assert ev.occurred_at.isoformat() == "2024-11-22T05:28:00+00:00"


def test_impossible_gmt_timestamp_falls_back_to_the_place():
    ev = run(doc(event(ts="2024-11-21T23:28:00", GMTTimestamp="2024-11-21T05:28:33Z"))).shipments[0].events[0]
    assert ev.time_basis.value == "location" and ev.occurred_at_local.utcoffset().total_seconds() == -5 * 3600


def test_facility_without_state_and_event_without_place():
    events = run(doc(event(ts="2025-05-18T22:47:00", code="A1", eventCity="ATLANTA GA DISTRIBUTION CENTER",
                           eventState=None, eventZIP=None),
                     event(ts="2025-05-19T09:00:00", code="TL", eventCity=None, eventState=None,
                           eventZIP=None))).shipments[0].events
    assert [e.time_basis.value for e in events] == ["assumed_utc", "location"]
    assert events[1].location.region == "GA"


def test_api_error_and_oauth_error():
    out = run({"apiVersion": "/tracking/v3", "error": {"code": "400", "message": "Bad input - ",
                                                       "errors": [{"code": "150001", "title": "x"}]}})
    assert [e.message for e in out.errors] == ["400: Bad input [150001]"] and not out.shipments
    oauth = run({"error": "invalid_client", "error_description": "Client authentication failed."})
    assert oauth.parser == "usps.v3_json" and oauth.errors[0].message == "invalid_client: Client authentication failed."


def test_batch_list_with_an_error_item():
    out = run([doc(event(GMTOffset="-04:00")),
               {"trackingNumber": "9400109000624511377025", "error": {"code": "404", "message": "Not found"}}])
    assert len(out.shipments) == 1
    assert [e.message for e in out.errors] == ["404: Not found (9400109000624511377025)"]


def test_status_category_without_events_and_estimate():
    out = run(doc(statusCategory="Pre-Shipment", status="Label Created, not yet in system",
                  expectedDeliveryTimeStamp="2025-05-22"))
    shipment = out.shipments[0]
    assert shipment.status.value == "label_created" and shipment.estimated_delivery == "2025-05-22"


def test_parcel_locker_delivery_is_delivered():
    ev = run(doc(event("Delivered, Parcel Locker", code="01", GMTOffset="-05:00"))).shipments[0].events[0]
    assert ev.status.value == "delivered" and ev.provenance.mapped_by.value == "code"


def test_not_a_usps_document():
    out = run({"trackingNumber": "X"}, carrier="usps.v3_json")
    assert out.ok and out.shipments[0].events == []
    assert not run({"hello": "world"}, carrier="usps.v3_json").ok
