"""Hermes Germany HSI shipment info JSON: codes, offsets and German time, result codes, older shapes."""
from __future__ import annotations

import json

import pytest

from parsers import normalize_document
from taxonomy.mapping import classify, load_table
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "hermes_shipmentinfo_json"


def status(code="2000", description="The shipment has arrived at the Hermes distribution center.",
           ts="2025-06-13T03:55:27+02:00", cc="DEU"):
    return {"timestamp": ts, "code": code, "description": description,
            "scanningUnit": {"name": "Hermes Germany", "city": "Leipzig", "countryCode": cc}}


def info(*statuses, result=None, sid="H1000700012345678901"):
    body = {"shipmentID": sid, "status": list(statuses)}
    if result is not None:
        body["result"] = result
    return {"shipmentinfo": [body]}


def run(data, carrier="auto"):
    return normalize_document(json.dumps(data).encode(), carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_shipmentinfo(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "hermes.shipmentinfo_json" and out.carrier == "hermes"


def test_offsets_and_alpha3_country():
    ev = run(info(status())).shipments[0].events[0]
    assert ev.time_basis.value == "offset" and ev.occurred_at.isoformat() == "2025-06-13T01:55:27+00:00"
    assert ev.location.city == "Leipzig" and ev.location.country == "DE"


def test_older_history_is_german_wall_clock_time():
    data = {"listOfShipmentHistoryStatus": [{"shipmentID": "H1", "listOfStatus": [
        {"statusDate": "2025-01-10", "statusTime": "10:00:00", "statusCode": "3500", "description": "Zugestellt"},
        {"statusDate": "2025-07-10", "statusTime": "10:00:00", "statusCode": "2000", "description": "Eingetroffen"}]}]}
    summer, winter = run(data).shipments[0].events
    assert winter.time_basis.value == "zone" and winter.occurred_at.isoformat() == "2025-01-10T09:00:00+00:00"
    assert summer.occurred_at.isoformat() == "2025-07-10T08:00:00+00:00"


def test_current_status_operation():
    data = {"listOfCurrentShipmentStatus": [{"shipmentID": "H2", "statusInformation": {
        "statusDate": "2025-07-10", "statusTime": "07:30:00", "statusCode": "3000",
        "description": "Die Sendung ist auf Zustelltour gegangen.",
        "expectedDelivery": {"expectedDate": "2025-07-10"}}}]}
    shipment = run(data).shipments[0]
    assert shipment.status.value == "out_for_delivery" and shipment.estimated_delivery == "2025-07-10"


def test_result_codes():
    out = run(info(result={"code": "e001", "message": "There is no information for the entered value."}))
    assert out.ok and not out.shipments
    assert out.errors[0].message == "e001: There is no information for the entered value. (H1000700012345678901)"
    ok = run(info(status(), result={"code": "i001", "message": "Success"}))
    assert ok.shipments and not ok.errors
    assert run({"listOfResultCodes": [{"code": "e902", "message": "Token is invalid."}]}).errors[0].message == \
        "e902: Token is invalid."


def test_an_unknown_code_falls_to_the_description():
    out = run(info(status("8888", "The shipment has been delivered to the neighbour.")))
    assert out.shipments[0].events[0].status.value == "delivered"
    assert out.unmapped == [("hermes", "8888", "The shipment has been delivered to the neighbour.")]


@pytest.mark.parametrize("code, status_, cls", [
    ("0000", "label_created", None), ("0800", "label_created", None), ("1000", "picked_up", None),
    ("2400", "picked_up", None), ("2000", "in_transit", None), ("3000", "out_for_delivery", None),
    ("3410", "available_for_pickup", None), ("3500", "delivered", None), ("3530", "delivered", None),
    ("3731", "delivery_attempted", "recipient_unavailable"), ("3720", "delivery_attempted", "address_issue"),
    ("3710", "exception", "refused"), ("3715", "exception", "payment_due"), ("4040", "exception", "damaged"),
    ("3780", "exception", "carrier_delay"), ("4035", "exception", "unclaimed"), ("4630", "exception", "lost"),
    ("1730", "exception", "customs_hold"), ("6081", "returned_to_sender", "refused"),
    ("6093", "returned_to_sender", "unclaimed"), ("6080", "returned_to_sender", None), ("9340", "cancelled", None),
    ("9322", "unknown", None),
])
def test_table_decisions(code, status_, cls):
    mapped = classify("hermes", (code,), "", None)
    assert mapped.status.value == status_
    assert (mapped.exception_class.value if mapped.exception_class else None) == cls


def test_table_covers_the_code_list():
    assert len(load_table("hermes").codes) == 128


@pytest.mark.parametrize("bad", [
    {"shipmentinfo": "x"},
    {"shipmentinfo": [None, {"shipmentID": {"a": 1}, "status": "x"}, {"shipmentID": "H1", "status": [5, {}]}]},
    {"shipmentinfo": [{"shipmentID": "H1", "result": "e001", "status": [{"timestamp": 3, "scanningUnit": "x"}]}]},
    {"listOfShipmentHistoryStatus": [{"shipmentID": "H1", "listOfStatus": [{"statusDate": "2025-99-99",
                                                                            "statusCode": "3500"}]}]},
    {"listOfCurrentShipmentStatus": [{"shipmentID": "H1", "statusInformation": "x"}], "listOfResultCodes": [1]},
])
def test_odd_shapes_never_raise(bad):
    assert run(bad, carrier="hermes") is not None
