"""UPS Track API JSON: detection, carrier errors, time rules, type:code keys and the code table."""
from __future__ import annotations

import json

import pytest

from parsers import normalize_document
from parsers.formats.ups_common import sc_key, status_keys
from parsers.timeparse import parse_offset
from taxonomy.mapping import classify, load_table
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "ups_track_json"


def activity(kind="I", code="AR", description="Arrived at Facility", date="20250304", time="071200", **extra):
    status = {"type": kind, "code": code, "description": description}
    status.update(extra.pop("status", {}))
    return {"location": {"address": extra.pop("address", {"city": "Koeln", "country": "DE"})},
            "status": status, "date": date, "time": time, **extra}


def doc(*activities, package=None, **shipment):
    pkg = {"trackingNumber": "1Z6A91R20375553014", "activity": list(activities)}
    pkg.update(package or {})
    return {"trackResponse": {"shipment": [{"inquiryNumber": "1Z6A91R20375553014", "package": [pkg],
                                            **shipment}]}}


def run(data, carrier="auto"):
    return normalize_document(json.dumps(data).encode(), carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_track_json(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "ups.track_json" and out.carrier == "ups"


def test_gmt_date_time_give_the_utc_instant_and_the_local_offset():
    ev = run(doc(activity(gmtDate="20250304", gmtTime="06:12:00", gmtOffset="+01:00"))).shipments[0].events[0]
    assert ev.occurred_at.isoformat() == "2025-03-04T06:12:00+00:00"
    assert ev.occurred_at_local.isoformat() == "2025-03-04T07:12:00+01:00"
    assert ev.time_basis.value == "offset"


def test_gmt_offset_alone_pins_the_instant():
    ev = run(doc(activity(address={"city": "Shenzhen", "country": "CN"}, gmtOffset="+08:00"))).shipments[0].events[0]
    assert ev.occurred_at.isoformat() == "2025-03-03T23:12:00+00:00" and ev.time_basis.value == "offset"


def test_no_offset_uses_the_scan_location():
    ev = run(doc(activity(address={"city": "Boise", "stateProvince": "ID", "country": "US"}))).shipments[0].events[0]
    assert ev.time_basis.value == "location" and ev.occurred_at_local.utcoffset().total_seconds() == -7 * 3600


def test_codes_are_keyed_by_type():
    """DP is a departure under I, 'commodity cannot be shipped internationally' under X."""
    out = run(doc(activity("X", "DP", "Your package contains a commodity that cannot be shipped internationally.",
                           time="090000"),
                  activity("I", "DP", "Departed from Facility", time="080000")))
    latest, earlier = out.shipments[0].events
    assert (latest.status.value, latest.exception_class.value) == ("exception", "prohibited_item")
    assert earlier.status.value == "in_transit"


def test_status_code_decides_when_the_two_letter_code_is_ambiguous():
    released = activity("X", "RZ", "Your package has been released by the government agency.", time="213000",
                        status={"statusCode": "014"})
    pending = activity("X", "RZ", "Your package is pending release from a Government Agency.", time="180500",
                       status={"statusCode": "012"})
    events = run(doc(released, pending)).shipments[0].events
    assert [(e.status.value, e.exception_class and e.exception_class.value) for e in events] == [
        ("in_transit", None), ("exception", "customs_hold")]


def test_activity_without_code_uses_its_status_code():
    act = activity("X", "", "The package is at the clearing agency awaiting final release.",
                   status={"statusCode": "092"})
    act["status"].pop("code")
    ev = run(doc(act)).shipments[0].events[0]
    assert ev.carrier_code == "092" and ev.exception_class.value == "customs_hold" and ev.provenance.mapped_by.value == "code"


def test_unknown_code_is_counted_and_mapped_by_keyword_or_type():
    out = run(doc(activity("I", "HZ", "Hub Transfer Scan"), activity("X", "QQ", "Something odd", time="060000")))
    first, second = out.shipments[0].events
    assert first.status.value == "in_transit" and first.provenance.mapped_by.value == "keyword"
    assert second.status.value == "exception" and second.provenance.mapped_by.value in ("coarse", "keyword")
    assert {code for _, code, _ in out.unmapped} == {"I:HZ", "X:QQ"}


def test_duplicate_scans_collapse():
    out = run(doc(activity(), activity()))
    assert len(out.shipments[0].events) == 1


def test_received_by_signs_the_delivery():
    out = run(doc(activity("D", "FS", "DELIVERED"), package={"deliveryInformation": {"receivedBy": "KOVACS"}}))
    shipment = out.shipments[0]
    assert shipment.status.value == "delivered" and shipment.signed_by == "KOVACS"
    assert shipment.events[0].signed_by == "KOVACS"


def test_delivered_date_is_not_an_estimate():
    out = run(doc(activity(), package={"deliveryDate": [{"type": "DEL", "date": "20250305"}]}))
    assert out.shipments[0].estimated_delivery is None
    out = run(doc(activity(), package={"deliveryDate": [{"type": "SDD", "date": "20250305"},
                                                        {"type": "RDD", "date": "20250306"}]}))
    assert out.shipments[0].estimated_delivery == "2025-03-06"


def test_warning_without_package_is_a_carrier_error_but_with_package_it_is_not():
    not_found = {"trackResponse": {"shipment": [{"warnings": [{"code": "TW0001",
                                                               "message": "Tracking Information Not Found"}]}]}}
    out = run(not_found)
    assert out.ok and not out.shipments and [e.message for e in out.errors] == ["TW0001: Tracking Information Not Found"]
    out = run(doc(activity(), warnings=[{"code": "250003", "message": "Invalid Access License number"}]))
    assert out.shipments and not out.errors


def test_bare_api_error_body_is_detected():
    out = run({"response": {"errors": [{"code": "250002", "message": "Invalid Authentication Information."}]}})
    assert out.ok and out.parser == "ups.track_json" and out.errors[0].kind == "carrier_error"


@pytest.mark.parametrize("bad", [
    {"trackResponse": {"shipment": "nope"}},
    {"trackResponse": {"shipment": [{"package": [{"activity": [{"status": None, "date": 5}]}]}]}},
    {"trackResponse": {"shipment": [{"package": {"trackingNumber": "1Z6A91R20375553014", "activity": {
        "status": {"type": "I", "code": "AR"}, "date": "20250304", "time": "99"}}}]}},
])
def test_odd_shapes_never_raise(bad):
    out = run(bad, carrier="ups")
    assert out is not None


def test_key_helpers():
    assert status_keys("X", "", "092") == (("SC:092",), "X", "092")
    assert status_keys("", "X", None) == ((), "X", "X")  # old XML: the type letter in the code field
    assert status_keys("i", "ar", "5") == (("I:AR", "SC:005"), "I", "ar")
    assert sc_key(17) == "SC:017" and sc_key("string") is None and sc_key(True) is None
    assert parse_offset("-0500").utcoffset(None).total_seconds() == -5 * 3600
    assert parse_offset("+15:00") is None and parse_offset("08:00") is None


@pytest.mark.parametrize("key, status, cls", [
    ("D:2W", "delivered", None),              # "Package Picked Up At UPS Access Point"
    ("D:2Q", "available_for_pickup", None),   # "Delivered To UPS Access Point"
    ("M:VP", "cancelled", None),              # "Manifest cancelled and shipment voided"
    ("X:7E", "in_transit", None),             # SurePost upgrade, not weather
    ("X:UX", "exception", "other"),           # "Investigation Only"
    ("X:KB", "in_transit", None),             # "UPS INTERNAL ACTIVITY CODE"
    ("D:KB", "delivered", None),
    ("X:OT", "exception", "customs_hold"),    # not out for delivery under X
    ("I:OT", "out_for_delivery", None),
    ("X:48", "delivery_attempted", "recipient_unavailable"),
    ("X:3N", "returned_to_sender", "unclaimed"),
    ("SC:017", "available_for_pickup", None),
])
def test_table_decisions(key, status, cls):
    mapped = classify("ups", (key,), "", None)
    assert mapped.status.value == status
    assert (mapped.exception_class.value if mapped.exception_class else None) == cls


def test_freight_cfs_types_are_not_final_delivery():
    table = load_table("ups")
    assert table.coarse["DO"].value == "in_transit" and table.coarse["DD"].value == "in_transit"
