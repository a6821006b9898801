"""PostNL Shippingstatus JSON: Dutch wall-clock times, codes, same-second status codes, errors."""
from __future__ import annotations

import json
from datetime import datetime

import pytest

from parsers import normalize_document
from parsers.formats.postnl_shippingstatus_json import stamp
from taxonomy.mapping import classify, load_table
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "postnl_shippingstatus_json"


def event(code="J01", description="Zending is gesorteerd", ts="15-07-2025 04:51:07"):
    return {"Code": code, "Description": description, "LocationCode": "171402", "TimeStamp": ts}


def status(code, ts, description="", phase="3"):
    return {"TimeStamp": ts, "StatusCode": code, "StatusDescription": description, "PhaseCode": phase}


def doc(*events, root="CompleteStatus", old=(), current=None):
    shipment = {"Barcode": "3SKLMN0456123", "MainBarcode": "3SKLMN0456123", "Event": list(events),
                "OldStatus": list(old)}
    if current is not None:
        shipment["Status"] = current
    return {root: {"Shipment": shipment}}


def run(data, carrier="auto"):
    return normalize_document(json.dumps(data).encode(), carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_shippingstatus(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "postnl.shippingstatus_json" and out.carrier == "postnl"


def test_timestamps():
    assert stamp("26-03-2021 15:06:53") == datetime(2021, 3, 26, 15, 6, 53)
    assert stamp("26-03-2021 01:10:21.943") == datetime(2021, 3, 26, 1, 10, 21, 943000)
    assert stamp("2021-02-26T12:57:15") == datetime(2021, 2, 26, 12, 57, 15)
    assert stamp("31-02-2021 10:00:00") is None and stamp("") is None and stamp(None) is None


def test_times_are_amsterdam_wall_clock():
    summer, winter = run(doc(event(ts="15-07-2025 04:51:07"), event(ts="15-01-2025 04:51:07"))).shipments[0].events
    assert summer.time_basis.value == "zone" and summer.occurred_at.isoformat() == "2025-07-15T02:51:07+00:00"
    assert winter.occurred_at.isoformat() == "2025-01-15T03:51:07+00:00"


def test_dutch_not_delivered_is_not_delivered():
    ev = run(doc(event("Z77", "Zending niet afgeleverd, onbekende reden"))).shipments[0].events[0]
    assert ev.status.value == "delivery_attempted"


def test_same_second_status_code_is_the_coarse_status():
    ts = "04-12-2024 11:02:38"
    out = run(doc(event("Q77", "Iets nieuws", ts), old=[status("12", ts), status("99", ts)]))
    ev = out.shipments[0].events[0]
    assert ev.status.value == "available_for_pickup" and ev.provenance.mapped_by.value == "coarse"
    assert out.unmapped  # the unknown event code is still counted


def test_two_status_codes_in_one_second_decide_nothing():
    ts = "04-12-2024 11:02:38"
    ev = run(doc(event("Q77", "Iets nieuws", ts), old=[status("12", ts), status("7", ts)])).shipments[0].events[0]
    assert ev.status.value == "unknown"


def test_01B_is_left_to_text_and_status_code():
    """PostNL's samples print 01B for 'Zending is bij PostNL' and for 'Zending is bezorgd'."""
    received = run(doc(event("01B", "Zending is bij PostNL"))).shipments[0].events[0]
    delivered = run(doc(event("01B", "Zending is bezorgd"))).shipments[0].events[0]
    assert received.status.value == "picked_up" and delivered.status.value == "delivered"


def test_current_status_without_events_sets_the_shipment_status():
    out = run(doc(root="CurrentStatus", current=status("12", "19-02-2025 08:57:30", "Zending beschikbaar op afhaallocatie")))
    assert out.shipments[0].status.value == "available_for_pickup" and not out.shipments[0].events


def test_warnings_errors_and_faults_are_carrier_errors():
    out = run({"CurrentStatus": {}, "Warnings": [{"Message": "No shipment found", "Code": "2"}]})
    assert out.ok and not out.shipments and out.errors[0].message == "2: No shipment found"
    out = run({"fault": {"faultstring": "Invalid ApiKey", "detail": {"errorcode": "oauth.v2.InvalidApiKey"}}},
              carrier="postnl")
    assert out.ok and out.errors[0].message == "oauth.v2.InvalidApiKey: Invalid ApiKey"


def test_updated_shipments_list():
    data = [{"Barcode": "3SKLMN0456123", "CreationDate": "2025-02-24T00:00:00",
             "Status": {"Timestamp": "2025-02-26T12:57:15", "StatusCode": "22", "PhaseCode": "4",
                        "StatusDescription": "Zending afgehaald van Postkantoor"}}]
    out = run(data)
    assert out.parser == "postnl.shippingstatus_json" and out.shipments[0].status.value == "delivered"


@pytest.mark.parametrize("bad", [
    {"CompleteStatus": {"Shipment": "x"}},
    {"CompleteStatus": {"Shipment": {"Barcode": "3S1", "Event": [{"TimeStamp": 5}, "x"], "OldStatus": "y"}}},
    {"CompleteStatus": {"Shipment": {"Barcode": {}, "Event": {"Code": "J01", "TimeStamp": "1-1-2025"}}}},
])
def test_odd_shapes_never_raise(bad):
    assert run(bad, carrier="postnl") is not None


@pytest.mark.parametrize("code, status, cls", [
    ("A01", "label_created", None), ("B01", "picked_up", None), ("J05", "out_for_delivery", None),
    ("J55", "in_transit", None), ("I10", "delivered", None), ("J02", "available_for_pickup", None),
    ("J23", "available_for_pickup", None), ("Y10", "delivery_attempted", "recipient_unavailable"),
    ("H01", "returned_to_sender", "refused"), ("Y71", "exception", "lost"), ("X67", "exception", "payment_due"),
    ("J09", "exception", "carrier_delay"), ("Y65", "exception", "weather_delay"), ("H31", "cancelled", None),
    ("D03", "exception", "recipient_unavailable"), ("S:11", "delivered", None), ("S:12", "available_for_pickup", None),
])
def test_table_decisions(code, status, cls):
    mapped = classify("postnl", (code,), "", None)
    assert mapped.status.value == status
    assert (mapped.exception_class.value if mapped.exception_class else None) == cls


def test_table_covers_postnl_event_list():
    table = load_table("postnl")
    assert len([c for c in table.codes if not c.startswith("S:")]) >= 230
    assert "01B" not in table.codes
