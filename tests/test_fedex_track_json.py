"""FedEx Track API JSON: detection, carrier errors, times, duplicate results, mapping decisions."""
from __future__ import annotations

import json

import pytest

from parsers import normalize_document
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "fedex_track_json"
LOC = {"city": "TULSA", "stateOrProvinceCode": "OK", "postalCode": "74103", "countryCode": "US"}


def scan(kind="AR", when="2025-04-02T09:15:00-05:00", text="Arrived at FedEx location", exc_code="",
         exc_text="", derived="IT", loc=None):
    return {"date": when, "eventType": kind, "eventDescription": text, "exceptionCode": exc_code,
            "exceptionDescription": exc_text, "derivedStatusCode": derived,
            "scanLocation": LOC if loc is None else loc}


def result(*scans, number="794612378800", uid="1~794612378800~FX", **extra):
    return {"trackingNumberInfo": {"trackingNumber": number, "trackingNumberUniqueId": uid},
            "scanEvents": list(scans), **extra}


def reply(*results):
    return {"transactionId": "t-1", "output": {"completeTrackResults": [
        {"trackingNumber": r["trackingNumberInfo"]["trackingNumber"], "trackResults": [r]} for r in results]}}


def run(doc: object, carrier: str = "auto"):
    return normalize_document(json.dumps(doc).encode(), carrier=carrier)


def only_event(*scans):
    out = run(reply(result(*scans)))
    assert out.ok, out.errors
    return out.shipments[0].events[0]


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_fedex_track_json(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "fedex.track_json" and out.carrier == "fedex"


def test_carrier_hint_fedex_selects_the_plugin():
    out = run(reply(result(scan())), carrier="fedex")
    assert out.parser == "fedex.track_json"


def test_top_level_errors_are_carrier_errors():
    out = run({"transactionId": "t", "errors": [{"code": "FORBIDDEN.ERROR", "message": "Not allowed."}]})
    assert out.ok and not out.shipments
    assert [(e.kind, e.message) for e in out.errors] == [("carrier_error", "FORBIDDEN.ERROR: Not allowed.")]


def test_track_result_error_is_a_carrier_error_and_others_still_parse():
    missing = {"trackingNumberInfo": {"trackingNumber": "612909833771"},
               "error": {"code": "TRACKING.TRACKINGNUMBER.NOTFOUND", "message": "Not found."}}
    out = run(reply(result(scan()), missing))
    assert [s.tracking_number for s in out.shipments] == ["794612378800"]
    assert [e.message for e in out.errors] == ["TRACKING.TRACKINGNUMBER.NOTFOUND: Not found."]


def test_date_with_space_before_offset():
    ev = only_event(scan(when="2024-08-12T15:18:10 -0500"))
    assert ev.occurred_at.isoformat() == "2024-08-12T20:18:10+00:00" and ev.time_basis.value == "offset"


def test_date_without_offset_takes_the_zone_of_the_scan_place():
    ev = only_event(scan(when="2024-01-15T08:00:00"))
    assert ev.occurred_at_local.isoformat() == "2024-01-15T08:00:00-06:00"
    assert ev.time_basis.value == "location"


def test_unreadable_date_drops_the_scan_not_the_document():
    out = run(reply(result(scan(when="soon"), scan(when=None), scan())))
    assert out.ok and len(out.shipments[0].events) == 1


def test_delivery_exception_text_refines_the_attempt():
    ev = only_event(scan("DE", text="Delivery exception", exc_code="08",
                         exc_text="Customer not available or business closed", derived="DE"))
    assert (ev.status.value, ev.exception_class.value) == ("delivery_attempted", "recipient_unavailable")
    assert ev.description == "Delivery exception: Customer not available or business closed"
    assert ev.carrier_code == "DE"


def test_delivery_exception_no_access_and_refusal():
    ev = only_event(scan("DE", text="Delivery exception", exc_text="Unable to access the building"))
    assert (ev.status.value, ev.exception_class.value) == ("delivery_attempted", "access_issue")
    ev = only_event(scan("DE", text="Delivery exception", exc_text="Recipient refused delivery"))
    assert ev.exception_class.value == "refused"


def test_return_to_shipper_keeps_the_reason():
    ev = only_event(scan("RS", text="Returning package to shipper", exc_text="Recipient refused delivery",
                         derived="RS"))
    assert (ev.status.value, ev.exception_class.value) == ("returned_to_sender", "refused")


def test_key_codes():
    cases = {"OC": "label_created", "PU": "picked_up", "OD": "out_for_delivery", "HP": "available_for_pickup",
             "HL": "available_for_pickup", "DL": "delivered", "CA": "cancelled", "AO": "in_transit",
             "FD": "in_transit", "CC": "in_transit", "RR": "in_transit"}
    for code, status in cases.items():
        assert only_event(scan(code, text="x")).status.value == status, code


def test_clearance_delay_is_a_customs_hold():
    ev = only_event(scan("CD", text="Clearance delay", derived="DY"))
    assert (ev.status.value, ev.exception_class.value) == ("exception", "customs_hold")


def test_event_type_wins_over_an_inconsistent_derived_code():
    ev = only_event(scan("PU", text="Picked up", derived="DL"))
    assert ev.status.value == "picked_up"


def test_unknown_event_type_falls_back_to_text_then_derived_code():
    out = run(reply(result(scan("Q9", text="On FedEx vehicle for delivery", derived="IT"))))
    ev = out.shipments[0].events[0]
    assert ev.status.value == "out_for_delivery" and ev.provenance.mapped_by.value == "keyword"
    assert out.unmapped
    ev = only_event(scan("Q9", text="Package status updated", derived="IT"))
    assert ev.status.value == "in_transit" and ev.provenance.mapped_by.value == "coarse"


def test_reused_number_keeps_the_package_scanned_last():
    old = result(scan("DL", when="2023-02-01T10:00:00-06:00", text="Delivered", derived="DL"), uid="1~A~FX")
    new = result(scan("PU", when="2024-07-01T10:00:00-05:00", text="Picked up", derived="PU"), uid="2~A~FX")
    out = run({"output": {"completeTrackResults": [{"trackResults": [new, old]}]}, "transactionId": "t"})
    (shipment,) = out.shipments
    assert shipment.status.value == "picked_up" and len(shipment.events) == 1


def test_same_unique_id_twice_is_merged():
    a = result(scan("PU", when="2024-07-01T10:00:00-05:00", text="Picked up"))
    b = result(scan("AR", when="2024-07-02T10:00:00-05:00"))
    out = run(reply(a, b))
    assert len(out.shipments) == 1 and len(out.shipments[0].events) == 2


def test_no_scans_uses_the_latest_status_detail():
    r = result(latestStatusDetail={"code": "HL", "derivedCode": "HL", "description": "Hold at location"})
    shipment = run(reply(r)).shipments[0]
    assert shipment.status.value == "available_for_pickup" and not shipment.events


def test_estimate_signature_and_signed_delivery_event():
    r = result(scan("DL", text="Delivered", derived="DL"),
               dateAndTimes=[{"type": "ESTIMATED_DELIVERY", "dateTime": "2025-04-02T00:00:00"}],
               deliveryDetails={"receivedByName": "J.DOE"})
    shipment = run(reply(r)).shipments[0]
    assert shipment.estimated_delivery == "2025-04-02" and shipment.signed_by == "J.DOE"
    assert shipment.events[0].signed_by == "J.DOE"


@pytest.mark.parametrize("doc", [
    {"transactionId": "t", "output": {"completeTrackResults": None}},
    {"transactionId": "t", "output": {"completeTrackResults": [None, 3, {"trackResults": "x"}]}},
    {"transactionId": "t", "output": {"completeTrackResults": [{"trackResults": [
        {"trackingNumberInfo": "x", "scanEvents": [None, {"date": 5, "eventType": []}],
         "latestStatusDetail": [], "dateAndTimes": {}, "estimatedDeliveryTimeWindow": "x"}]}]}},
    {"transactionId": "t", "output": {"completeTrackResults": [{"trackResults": [
        result(scan(loc={"city": ["x"], "countryCode": {}}), number="794612378800")]}]}},
])
def test_odd_shapes_never_crash(doc):
    out = run(doc)
    assert out.errors or out.shipments or not out.ok
