"""DHL Express MyDHL API JSON: detection against the Unified API, offsets, pieces, errors."""
from __future__ import annotations

import json

import pytest

from parsers import normalize_document
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "dhl_mydhl_json"


def event(code="PU", description="Shipment picked up", date="2025-04-02", time="14:10:00", **extra):
    return {"date": date, "time": time, "typeCode": code, "description": description,
            "serviceArea": [{"code": "LEJ", "description": "LEIPZIG - GERMANY"}], **extra}


def doc(*events, **shipment):
    return {"shipments": [{"shipmentTrackingNumber": "9152736482", "status": "Success", "events": list(events),
                           **shipment}]}


def run(data, carrier="auto"):
    return normalize_document(json.dumps(data).encode(), carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_mydhl(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "dhl.mydhl_json" and out.carrier == "dhl"


def test_gmt_offset_pins_the_instant_and_location_is_the_fallback():
    with_offset, without = run(doc(event(GMTOffset="+09:00"), event(time="16:00:00"))).shipments[0].events[::-1]
    assert with_offset.time_basis.value == "offset" and with_offset.occurred_at.isoformat() == "2025-04-02T05:10:00+00:00"
    assert without.time_basis.value == "location" and without.occurred_at_local.utcoffset().total_seconds() == 2 * 3600


def test_signed_by_only_on_delivery():
    out = run(doc(event(signedBy="SHOULD NOT SIGN"), event("OK", "Delivered", time="18:00:00", signedBy="B.KRAUSE")))
    assert out.shipments[0].signed_by == "B.KRAUSE"
    assert [e.signed_by for e in out.shipments[0].events] == ["B.KRAUSE", None]


def test_pickup_code_is_picked_up_not_pending():
    """The peer maps PU to 'pending'; PU is DHL's 'Shipment pick up' checkpoint."""
    ev = run(doc(event())).shipments[0].events[0]
    assert ev.status.value == "picked_up" and ev.provenance.mapped_by.value == "code"


def test_placeholder_piece_events_are_ignored_when_the_shipment_has_events():
    out = run(doc(event(), pieces=[{"events": [{"date": "string", "time": "string", "typeCode": "string"}]}]))
    assert len(out.shipments[0].events) == 1 and not out.errors


def test_shipment_status_is_used_only_without_events():
    out = run(doc(status="delivered"))
    assert out.shipments[0].status.value == "delivered"
    out = run(doc())
    assert out.shipments[0].status.value == "unknown"  # "Success" is the lookup's result, not a status


def test_problem_documents_go_to_mydhl_or_unified_by_instance():
    mydhl = run({"instance": "/mydhlapi/shipments/1/tracking", "detail": "Invalid credentials", "title": "Unauthorized",
                 "status": "401"})
    assert mydhl.parser == "dhl.mydhl_json" and mydhl.errors[0].message == "401: Unauthorized - Invalid credentials"
    unified = run({"title": "Unauthorized", "status": 401, "detail": "Unauthorized for given resource."})
    assert unified.parser == "dhl.unified_json" and unified.errors[0].kind == "carrier_error"


@pytest.mark.parametrize("bad", [
    {"shipments": [{"shipmentTrackingNumber": "1", "events": "nope"}]},
    {"shipments": [{"shipmentTrackingNumber": "1", "events": [{"date": 5, "serviceArea": "x"}]}]},
    {"shipments": [{"shipmentTrackingNumber": "1", "events": {"date": "2025-01-01", "time": "10:00:00",
                                                              "typeCode": "PU", "serviceArea": {"description": 1}}}]},
])
def test_odd_shapes_never_raise(bad):
    assert run(bad, carrier="dhl") is not None
