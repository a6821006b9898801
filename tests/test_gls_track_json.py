"""GLS Track And Trace V1 JSON: detection, codes, the parcel status, offsets, parcel and request errors."""
from __future__ import annotations

import json

import pytest

from parsers import normalize_document
from taxonomy.mapping import classify
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "gls_track_json"


def event(code="INTIAL.NORMAL", description="The parcel was handed over to GLS.", at="2025-07-02T18:20:03+0200",
          country="DE"):
    return {"code": code, "city": "", "postalCode": "", "country": country, "description": description,
            "eventDateTime": at}


def parcel(*events, status="INTRANSIT", at="2025-07-02T18:20:03+0200", unitno="93835330711"):
    return {"requested": unitno, "unitno": unitno, "status": status, "statusDateTime": at, "events": list(events)}


def run(data, carrier="auto"):
    return normalize_document(json.dumps(data).encode(), carrier=carrier)


@pytest.mark.parametrize("payload", [p for p in payloads(FOLDER) if "@" not in p.stem], ids=lambda p: p.name)
def test_auto_detection_picks_track_json(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "gls.track_json" and out.carrier == "gls"


def test_offset_without_colon_is_an_offset():
    ev = run({"parcels": [parcel(event(at="2024-10-07T10:46:14+0200"))]}).shipments[0].events[0]
    assert ev.time_basis.value == "offset" and ev.occurred_at.isoformat() == "2024-10-07T08:46:14+00:00"


def test_parcel_status_is_the_coarse_status_of_the_event_at_the_status_time():
    unknown = event("NEWEVT.X", "Unusual occurrence", "2025-07-03T09:00:00+0200")
    out = run({"parcels": [parcel(unknown, event(), status="INDELIVERY", at="2025-07-03T09:00:30+0200")]})
    latest, earlier = out.shipments[0].events
    assert latest.status.value == "out_for_delivery" and latest.provenance.mapped_by.value == "coarse"
    assert earlier.status.value == "picked_up"
    assert out.unmapped == [("gls", "NEWEVT.X", "Unusual occurrence")]


def test_status_far_from_every_event_decides_nothing():
    unknown = event("NEWEVT.X", "Unusual occurrence", "2025-07-03T09:00:00+0200")
    out = run({"parcels": [parcel(unknown, status="DELIVERED", at="2025-07-07T09:00:00+0200")]})
    assert out.shipments[0].events[0].status.value == "unknown"


def test_without_events_the_parcel_status_is_the_shipment_status():
    out = run({"parcels": [parcel(status="DELIVEREDPS")]})
    assert out.shipments[0].status.value == "available_for_pickup" and not out.shipments[0].events


def test_parcelshop_is_not_delivered():
    ev = run({"parcels": [parcel(event("DELIVD.PARCELSHOP", "The parcel has been delivered at the ParcelShop "
                                                            "(see ParcelShop information)."))]}).shipments[0].events[0]
    assert ev.status.value == "available_for_pickup"


def test_parcel_error_is_a_carrier_error_beside_found_parcels():
    out = run({"parcels": [{"requested": "42249018928", "errorCode": "E_404_01", "errorMessage": "Resource Not Found"},
                           parcel(event())]})
    assert out.ok and [s.tracking_number for s in out.shipments] == ["93835330711"]
    assert [(e.kind, e.message) for e in out.errors] == [("carrier_error", "E_404_01: Resource Not Found (42249018928)")]


def test_only_errors_is_ok_without_shipments():
    out = run({"parcels": [{"requested": "42249018928", "errorCode": "E_404_01", "errorMessage": "Resource Not Found"}]})
    assert out.ok and not out.shipments and out.errors[0].kind == "carrier_error"


def test_gateway_fault_and_problem_json_when_read_as_gls():
    fault = {"fault": {"faultstring": "The Token has expired: policy(Verify-JWT)",
                       "detail": {"errorcode": "steps.jwt.TokenExpired"}}}
    out = run(fault, carrier="gls")
    assert out.ok and out.errors[0].message == "steps.jwt.TokenExpired: The Token has expired: policy(Verify-JWT)"
    problem = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "No static resource ...",
               "instance": "/tracking/..."}
    assert run(problem, carrier="gls").errors[0].message == "404 Not Found: No static resource ..."
    assert run(problem).parser != "gls.track_json"  # the shape alone does not say GLS


@pytest.mark.parametrize("code, status", [
    ("INTIAL.PREADVICE", "label_created"), ("INTIAL.E48_DATA", "label_created"), ("INTIAL.NORMAL", "picked_up"),
    ("DELIVD.PARCELSHOP", "available_for_pickup"), ("S:INDELIVERY", "out_for_delivery"),
    ("S:DELIVERED", "delivered"), ("S:NOTDELIVERED", "delivery_attempted"), ("S:CANCELED", "cancelled"),
    ("S:NOTPICKEDUP", "exception"),
])
def test_table_decisions(code, status):
    assert classify("gls", (code,), "", None).status.value == status


def test_final_says_nothing_about_the_outcome():
    assert classify("gls", ("S:FINAL",), "", None).status.value == "unknown"


@pytest.mark.parametrize("bad", [
    {"parcels": "x"},
    {"parcels": [None, 5, {"requested": None}, {"unitno": "1", "events": "x"}]},
    {"parcels": [{"unitno": "1", "events": [{"eventDateTime": 5}, {"eventDateTime": "soon"}, "x"],
                  "statusDateTime": "2025-01-01T00:00:00"}]},
    {"parcels": [{"unitno": {"a": 1}, "status": ["x"], "events": [event(at="2025-07-02T18:20:03")]}]},
    {"parcels": [], "fault": "x"},
])
def test_odd_shapes_never_raise(bad):
    assert run(bad, carrier="gls") is not None
