"""DHL Unified tracking JSON: the status text beats the coarse statusCode, tokens, zones, errors."""
from __future__ import annotations

import json

import pytest

from parsers import normalize_document
from taxonomy.mapping import classify
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "dhl_unified_json"


def event(description="Shipment picked up", status_code="transit", status=None, ts="2025-04-02T14:10:00+02:00",
          locality="LEIPZIG - GERMANY", **extra):
    ev = {"timestamp": ts, "statusCode": status_code, "description": description,
          "location": {"address": {"addressLocality": locality}}, **extra}
    if status is not None:
        ev["status"] = status
    return ev


def doc(*events, service="express", **shipment):
    return {"shipments": [{"id": "3482610950", "service": service, "events": list(events), **shipment}]}


def run(data, carrier="auto"):
    return normalize_document(json.dumps(data).encode(), carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_unified(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "dhl.unified_json" and out.carrier == "dhl"


def test_docs_sample_trap_status_text_beats_pre_transit():
    out = run(doc(event("JESSICA", "pre-transit", "DELIVERED", remark="pending completion of customs inspection")))
    shipment = out.shipments[0]
    assert shipment.status.value == "delivered" and shipment.exception_class is None
    assert shipment.events[0].carrier_code == "DELIVERED"


def test_description_keywords_beat_the_coarse_status():
    ev = run(doc(event("The shipment could not be delivered", "transit"))).shipments[0].events[0]
    assert ev.status.value == "delivery_attempted" and ev.provenance.mapped_by.value == "keyword"
    ev = run(doc(event("Something only DHL understands", "transit"))).shipments[0].events[0]
    assert ev.status.value == "in_transit" and ev.provenance.mapped_by.value == "coarse"


def test_express_codes_in_status_use_the_express_table():
    ev = run(doc(event("Clearance event", status="IC"))).shipments[0].events[0]
    assert (ev.status.value, ev.exception_class.value, ev.carrier_code) == ("exception", "customs_hold", "IC")


def test_sentence_status_is_not_a_code():
    ev = run(doc(event("", status="The shipment has been delivered"))).shipments[0].events[0]
    assert ev.description == "The shipment has been delivered" and ev.status.value == "delivered"


def test_german_not_delivered_is_an_attempt():
    ev = run(doc(event("Die Sendung konnte nicht zugestellt werden.", "failure", ts="2025-03-27T14:55:00",
                       locality="Bonn"), service="parcel-de")).shipments[0].events[0]
    assert ev.status.value == "delivery_attempted"


def test_national_service_zone_for_a_scan_without_place():
    ev = run(doc({"timestamp": "2025-07-01T09:00:00", "statusCode": "pre-transit",
                  "description": "Die Auftragsdaten zu dieser Sendung wurden elektronisch an DHL übermittelt."},
                 service="parcel-de")).shipments[0].events[0]
    assert ev.time_basis.value == "zone" and ev.occurred_at.isoformat() == "2025-07-01T07:00:00+00:00"
    assert ev.status.value == "label_created"


def test_status_object_is_the_event_when_events_are_missing():
    out = run({"shipments": [{"id": 123, "status": event("Shipment picked up")}]})
    assert out.shipments[0].tracking_number == "123" and len(out.shipments[0].events) == 1


def test_signed_and_estimate():
    out = run(doc(event("Delivered", "delivered"), estimatedTimeOfDelivery="2025-04-04T00:00:00Z",
                  details={"proofOfDelivery": {"signed": {"givenName": "Ada", "familyName": "Berg"}}}))
    assert out.shipments[0].signed_by == "Ada Berg" and out.shipments[0].estimated_delivery == "2025-04-04"


@pytest.mark.parametrize("bad", [
    {"shipments": [{"id": "1", "events": "nope", "status": "x"}]},
    {"shipments": [{"id": "1", "events": [{"timestamp": 5, "location": "Leipzig"}]}]},
    {"shipments": [{"id": "1", "events": [{"timestamp": "2025-01-01T10:00:00", "location": {"address": "x"}}],
                    "details": {"proofOfDelivery": {"signed": ["x"]}}}]},
])
def test_odd_shapes_never_raise(bad):
    assert run(bad, carrier="dhl") is not None


@pytest.mark.parametrize("text, status", [
    ("Die Sendung wurde erfolgreich zugestellt.", "delivered"),
    ("Die Sendung wurde in der Filiale abgeholt.", "delivered"),
    ("The shipment has been picked up from the PACKSTATION", "delivered"),
    ("Die Sendung wurde vom Zoll freigegeben.", "in_transit"),
    ("Die Sendung wird heute zugestellt.", "out_for_delivery"),
    ("Die Sendung wird an den Absender zurückgeschickt.", "returned_to_sender"),
])
def test_german_and_parcel_phrasings(text, status):
    assert classify("dhl_unified", (), text, "transit").status.value == status
