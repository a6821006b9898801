"""Aramex tracking (SOAP XML and JSON): detection, .NET dates, location zones, descriptions, errors."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from parsers import normalize_document
from parsers.formats.aramex_tracking import place, update_time
from tests.goldens import FIXTURES, payloads


def result(code="SH005", description="Delivered", when="2025-04-16T13:22:00", where="Amman, Jordan",
           comments="", problem="", waybill="47281930215"):
    return {"WaybillNumber": waybill, "UpdateCode": code, "UpdateDescription": description, "UpdateDateTime": when,
            "UpdateLocation": where, "Comments": comments, "ProblemCode": problem}


def as_json(*results, missing=(), notes=(), has_errors=False, key="47281930215"):
    return {"Transaction": None, "Notifications": list(notes), "HasErrors": has_errors,
            "TrackingResults": [{"Key": key, "Value": list(results)}] if results else [],
            "NonExistingWaybills": list(missing)}


def as_xml(*results, missing="", notes="", has_errors="false", key="47281930215"):
    values = "".join("<TrackingResult>" + "".join(f"<{k}>{v}</{k}>" for k, v in r.items()) + "</TrackingResult>"
                     for r in results)
    pairs = f"<a:KeyValueOfstringArrayOfTrackingResultmFAkxlpY><a:Key>{key}</a:Key><a:Value>{values}</a:Value>" \
            f"</a:KeyValueOfstringArrayOfTrackingResultmFAkxlpY>" if results else ""
    missing_xml = f"<a:string>{missing}</a:string>" if missing else ""
    return (f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
            f'<ShipmentTrackingResponse xmlns="http://ws.aramex.net/ShippingAPI/v1/">'
            f'<Notifications>{notes}</Notifications><HasErrors>{has_errors}</HasErrors>'
            f'<TrackingResults xmlns:a="http://schemas.microsoft.com/2003/10/Serialization/Arrays">{pairs}'
            f'</TrackingResults><NonExistingWaybills xmlns:a="http://schemas.microsoft.com/2003/10/Serialization/'
            f'Arrays">{missing_xml}</NonExistingWaybills></ShipmentTrackingResponse></s:Body></s:Envelope>').encode()


def run_json(data, carrier="auto"):
    return normalize_document(json.dumps(data).encode(), carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FIXTURES / "aramex_tracking_soap_xml"), ids=lambda p: p.name)
def test_auto_detection_picks_aramex_xml(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "aramex.tracking_soap_xml" and out.carrier == "aramex"


@pytest.mark.parametrize("payload", payloads(FIXTURES / "aramex_tracking_json"), ids=lambda p: p.name)
def test_auto_detection_picks_aramex_json(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "aramex.tracking_json" and out.carrier == "aramex"


def test_dotnet_dates():
    assert update_time("/Date(1739263680000+0400)/") == datetime(2025, 2, 11, 12, 48,
                                                                 tzinfo=timezone(timedelta(hours=4)))
    assert update_time("/Date(1739263680000-0330)/").utcoffset() == timedelta(hours=-3, minutes=-30)
    assert update_time("/Date(1739263680000)/") == datetime(2025, 2, 11, 8, 48, tzinfo=timezone.utc)
    assert update_time("2025-04-16T13:22:00") == datetime(2025, 4, 16, 13, 22)
    assert update_time("/Date(99999999999999999)/") is None and update_time("/Date(x)/") is None


@pytest.mark.parametrize("raw, expected", [
    ("Amman, Jordan", ("Amman", "JO")), ("Dubai, United Arab Emirates", ("Dubai", "AE")),
    ("JOHANNESBURG, South Africa", ("JOHANNESBURG", "ZA")), ("Jeddah", ("Jeddah", None)),
    ("Unit 4, Block B", ("Unit 4, Block B", None)),
])
def test_places(raw, expected):
    loc = place(raw)
    assert (loc.city, loc.country) == expected


def test_bare_time_is_read_in_the_country_of_the_location_in_both_forms():
    for out in (run_json(as_json(result())), normalize_document(as_xml(result()))):
        ev = out.shipments[0].events[0]
        assert ev.time_basis.value == "location" and ev.occurred_at.isoformat() == "2025-04-16T10:22:00+00:00"


def test_dotnet_date_is_an_exact_instant():
    ev = run_json(as_json(result(when="/Date(1739263680000+0400)/"))).shipments[0].events[0]
    assert ev.time_basis.value == "offset" and ev.occurred_at.isoformat() == "2025-02-11T08:48:00+00:00"
    assert ev.occurred_at_local.isoformat() == "2025-02-11T12:48:00+04:00"


@pytest.mark.parametrize("description, comments, problem, status, cls", [
    ("Record created", "", "", "label_created", None),
    ("Shipment picked up", "", "", "picked_up", None),
    ("Received at Operations Facility", "", "", "in_transit", None),
    ("Out for Delivery", "", "", "out_for_delivery", None),
    ("Delivered", "", "", "delivered", None),
    ("Collected by Consignee", "", "", "delivered", None),
    ("Ready for collection at Aramex office", "", "", "available_for_pickup", None),
    ("Attempted Delivery", "Consignee not available", "A02", "delivery_attempted", "recipient_unavailable"),
    ("Shipment on hold", "Awaiting consignee ID", "H12", "exception", "held_by_carrier"),
    ("Shipment on hold", "Supporting documents required", "H05", "exception", "customs_hold"),
    ("Returned to Shipper", "", "", "returned_to_sender", None),
])
def test_descriptions(description, comments, problem, status, cls):
    ev = run_json(as_json(result("SH999", description, comments=comments, problem=problem))).shipments[0].events[0]
    assert ev.status.value == status and ev.carrier_code == "SH999"
    assert (ev.exception_class.value if ev.exception_class else None) == cls


def test_comments_without_a_problem_code_are_not_appended():
    ev = run_json(as_json(result(comments="Received by AHMAD"))).shipments[0].events[0]
    assert ev.description == "Delivered"


def test_notifications_and_missing_waybills_are_carrier_errors():
    note = {"Code": "ERR01", "Message": "ClientInfo - Invalid username or password"}
    out = run_json(as_json(notes=[note], has_errors=True))
    assert out.ok and not out.shipments and out.errors[0].message == "ERR01: ClientInfo - Invalid username or password"
    out = normalize_document(as_xml(result(), missing="47281939999"))
    assert [e.message for e in out.errors] == ["47281939999: waybill not found"] and len(out.shipments) == 1


@pytest.mark.parametrize("bad", [
    {"TrackingResults": "x", "HasErrors": False},
    {"TrackingResults": [5, {"Key": {}, "Value": [1, {"UpdateDateTime": 3}]}], "NonExistingWaybills": "y"},
    {"HasErrors": True, "Notifications": [None, {"Code": []}]},
])
def test_odd_json_shapes_never_raise(bad):
    assert run_json(bad, carrier="aramex") is not None


@pytest.mark.parametrize("bad", [
    as_xml(result(when="nonsense")),
    b"<ShipmentTrackingResponse><TrackingResults>text<x/></TrackingResults></ShipmentTrackingResponse>",
    b"<ShipmentTrackingResponse/>",
])
def test_odd_xml_shapes_never_raise(bad):
    assert normalize_document(bad, carrier="aramex") is not None
