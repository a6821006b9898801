"""Yanwen tracking JSON: detection, codes and stage prefixes, printed offsets and zones, errors."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from parsers import normalize_document
from parsers.formats.yanwen_tracking_json import offset
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "yanwen_tracking_json"


def checkpoint(code="PU10", message="Yanwen Acceptance", when="2025-06-03T21:40:07", zone="+8", last_mile=0,
               where=""):
    cp = {"time_stamp": when, "tracking_status": code, "message": message, "location": where,
          "is_last_mile_checkpoint": last_mile}
    if zone is not None:
        cp["time_zone"] = zone
    return cp


def doc(*checkpoints, status="LH20", destination="DE", number="UG418273650YP"):
    return {"code": 0, "message": "success", "result": [
        {"tracking_number": number, "checkpoints": list(checkpoints), "tracking_status": status,
         "origin_country": "CN", "destination_country": destination}], "elapsedMilliseconds": {"total": 5}}


def run(data, carrier="auto"):
    return normalize_document(json.dumps(data).encode(), carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_yanwen(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "yanwen.tracking_json" and out.carrier == "yanwen"


@pytest.mark.parametrize("raw, hours", [("+8", 8), ("+08", 8), ("-05:00", -5), ("+0530", 5.5), ("UTC+2", 2)])
def test_offsets(raw, hours):
    assert offset(raw).utcoffset(None) == timedelta(hours=hours)


@pytest.mark.parametrize("raw", ["", None, "8", "+15", "+05:75", "Asia/Shanghai"])
def test_not_offsets(raw):
    assert offset(raw) is None


def test_printed_offset_wins():
    ev = run(doc(checkpoint(zone="+02", last_mile=1, when="2025-06-09T14:03:19"))).shipments[0].events[0]
    assert ev.time_basis.value == "offset" and ev.occurred_at.isoformat() == "2025-06-09T12:03:19+00:00"


def test_origin_scan_without_offset_is_china_time():
    ev = run(doc(checkpoint(zone=None, when="2025-01-20T16:22:08"))).shipments[0].events[0]
    assert ev.time_basis.value == "zone" and ev.occurred_at.isoformat() == "2025-01-20T08:22:08+00:00"


def test_last_mile_scan_without_offset_is_destination_time():
    ev = run(doc(checkpoint("LM40", "Delivered", zone=None, last_mile=1, when="2025-07-01T12:00:00",
                            where="Paris"), destination="FR")).shipments[0].events[0]
    assert ev.time_basis.value == "location" and ev.location.country == "FR"
    assert ev.occurred_at.isoformat() == "2025-07-01T10:00:00+00:00"


@pytest.mark.parametrize("code, message, status, mapped_by", [
    ("OR10", "Order processed by shipper", "label_created", "code"),
    ("PU10", "Yanwen Acceptance", "picked_up", "code"),
    ("LM40", "Delivered+Other / Delivery to an other person", "delivered", "code"),
    ("LM54", "Return shipment inbound confirmation", "returned_to_sender", "code"),
    ("LM25", "Out for delivery", "out_for_delivery", "keyword"),
    ("SC11", "Xyz", "in_transit", "coarse"),
    ("OR20", "Xyz", "label_created", "coarse"),
    ("ZZ", "Xyz", "unknown", "unknown"),
])
def test_codes_messages_and_stages(code, message, status, mapped_by):
    ev = run(doc(checkpoint(code, message))).shipments[0].events[0]
    assert ev.status.value == status and ev.provenance.mapped_by.value == mapped_by and ev.carrier_code == code


def test_shipment_status_without_checkpoints():
    assert run(doc(status="LM40")).shipments[0].status.value == "delivered"
    assert run(doc(status="SC20")).shipments[0].status.value == "in_transit"


def test_not_found_and_failed_requests_are_carrier_errors():
    data = doc(status="NOTFOUND", number="UG000000000YP")
    out = run(data)
    assert out.ok and not out.shipments
    assert out.errors[0].message == "NOTFOUND: no tracking information for UG000000000YP"
    out = run({"code": 1, "message": "Authorization is invalid", "result": None})
    assert out.ok and out.parser == "yanwen.tracking_json" and out.errors[0].message == "1: Authorization is invalid"


def test_a_bare_code_message_body_is_not_claimed():
    out = run({"code": 500, "message": "internal error"})
    assert out.parser != "yanwen.tracking_json"


@pytest.mark.parametrize("bad", [
    {"code": 0, "result": "x"},
    {"code": 0, "result": [5, {"tracking_number": {}}, {"tracking_number": "U1", "checkpoints": [
        {"time_stamp": 5}, "y", {"time_stamp": "2025-01-01T00:00:00", "time_zone": [], "tracking_status": 7}]}]},
    {"code": {}, "message": [], "result": []},
])
def test_odd_shapes_never_raise(bad):
    assert run(bad, carrier="yanwen") is not None
