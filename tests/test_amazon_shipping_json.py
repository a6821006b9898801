"""Amazon Shipping tracking JSON: detection, detail codes, return leg, UTC times, errors, odd shapes."""
from __future__ import annotations

import json

import pytest

from parsers import normalize_document
from parsers.formats.amazon_shipping_json import describe
from taxonomy.mapping import classify, load_table
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "amazon_shipping_json"


def event(code="Departed", when="2025-06-09T23:18:02Z", country="GB", region="Bristol", leg="FORWARD"):
    loc = {"city": "Bristol", "stateOrRegion": region, "postalCode": "BS11 0YB", "countryCode": country} \
        if country else None
    return {"eventCode": code, "location": loc, "eventTime": when, "shipmentType": leg}


def result(*events, status="InTransit", forward=(), wrap=True):
    body = {"trackingId": "QA7120459831", "alternateLegTrackingId": None, "eventHistory": list(events),
            "promisedDeliveryDate": "2025-06-10T21:00:00Z",
            "summary": {"status": status, "trackingDetailCodes": {"forward": list(forward), "returns": []}}}
    return {"payload": body} if wrap else body


def run(doc, carrier="auto"):
    return normalize_document(json.dumps(doc).encode(), carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_amazon_shipping(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "amazon_shipping.json" and out.carrier == "amazon_shipping"


def test_bare_result_and_amazon_hint_are_read():
    out = run(result(event(), wrap=False), carrier="amazon")
    assert out.parser == "amazon_shipping.json" and out.shipments[0].tracking_number == "QA7120459831"


def test_event_time_is_utc_shown_in_the_place_zone():
    ev = run(result(event(when="2025-06-10T12:09:48Z"))).shipments[0].events[0]
    assert ev.occurred_at.isoformat() == "2025-06-10T12:09:48+00:00"
    assert ev.occurred_at_local.isoformat() == "2025-06-10T13:09:48+01:00" and ev.time_basis.value == "offset"
    unplaced = run(result(event(country=None))).shipments[0].events[0]
    assert unplaced.occurred_at_local.utcoffset().total_seconds() == 0 and unplaced.time_basis.value == "offset"


def test_time_without_offset_is_read_as_utc():
    ev = run(result(event(when="2025-06-10T12:09:48"))).shipments[0].events[0]
    assert ev.occurred_at.isoformat() == "2025-06-10T12:09:48+00:00" and ev.time_basis.value == "zone"


def test_detail_codes_refine_only_the_latest_event_of_the_summary_status():
    out = run(result(event("DeliveryAttempted", "2025-01-14T23:48:31Z"),
                     event("OutForDelivery", "2025-01-15T15:00:00Z"),
                     event("DeliveryAttempted", "2025-01-15T19:26:03Z"),
                     status="DeliveryAttempted", forward=["UnableToAccess"]))
    latest, _, first = out.shipments[0].events
    assert (latest.status.value, latest.exception_class.value) == ("delivery_attempted", "access_issue")
    assert first.status.value == "delivery_attempted" and first.exception_class is None
    assert latest.carrier_code == first.carrier_code == "DeliveryAttempted"  # ids do not depend on the summary


def test_undeliverable_returns_to_the_seller_with_the_stated_reason():
    out = run(result(event("Undeliverable"), status="Undeliverable", forward=["AddressNotFound"]))
    shipment = out.shipments[0]
    assert (shipment.status.value, shipment.exception_class.value) == ("returned_to_sender", "address_issue")


def test_return_leg_events_are_returned_to_sender():
    out = run(result(event("Rejected", "2025-03-04T10:41:09Z"),
                     event("Delivered", "2025-03-06T09:04:51Z", leg="RETURNS"), status="Rejected"))
    returned, rejected = out.shipments[0].events
    assert returned.status.value == "returned_to_sender"
    assert (rejected.status.value, rejected.exception_class.value) == ("exception", "refused")


def test_status_value_in_place_of_an_event_code():
    ev = run(result(event("InTransit"))).shipments[0].events[0]
    assert ev.status.value == "in_transit" and ev.provenance.mapped_by.value == "code"


def test_unknown_event_code_is_counted_unmapped():
    out = run(result(event("SomethingNew")))
    assert out.shipments[0].events[0].status.value == "unknown" and out.unmapped


def test_summary_status_decides_without_events():
    out = run(result(status="AwaitingCustomerPickup"))
    assert out.shipments[0].status.value == "available_for_pickup" and not out.shipments[0].events


def test_proof_of_delivery_names_the_signer():
    doc = result(event("Delivered"), status="Delivered")
    doc["payload"]["summary"]["proofOfDelivery"] = {"receivedBy": "J. Doe"}
    assert run(doc).shipments[0].signed_by == "J. Doe"


def test_error_bodies_are_carrier_errors():
    out = run({"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied.",
                           "details": "The access token is invalid"}]}, carrier="amazon_shipping")
    assert out.ok and not out.shipments
    assert out.errors[0].message == \
        "Unauthorized: Access to requested resource is denied. (The access token is invalid)"


def test_descriptions_are_amazons_meaning_of_the_code():
    assert describe("PickupDone") == "Package has been picked up by the service provider."
    assert describe("Whatever") == "Whatever"


@pytest.mark.parametrize("code, status, cls", [
    ("ReadyForReceive", "label_created", None), ("PickupDone", "picked_up", None),
    ("PackageReceivedByCarrier", "picked_up", None), ("ArrivedAtCarrierFacility", "in_transit", None),
    ("OutForDelivery", "out_for_delivery", None), ("AvailableForPickup", "available_for_pickup", None),
    ("Delivered", "delivered", None), ("Lost", "exception", "lost"), ("Rejected", "exception", "refused"),
    ("PickupCancelled", "cancelled", None), ("ReturnInitiated", "returned_to_sender", None),
    ("DeliveryAttempted:PaymentNotReady", "delivery_attempted", "payment_due"),
    ("Undeliverable:HazmatShipment", "returned_to_sender", "prohibited_item"),
])
def test_table_decisions(code, status, cls):
    mapped = classify("amazon_shipping", (code,), "", None)
    assert mapped.status.value == status
    assert (mapped.exception_class.value if mapped.exception_class else None) == cls


def test_table_covers_amazons_event_codes():
    codes = load_table("amazon_shipping").codes
    published = ("ReadyForReceive PickupDone Delivered Departed DeliveryAttempted Lost OutForDelivery "
                 "ArrivedAtCarrierFacility Rejected Undeliverable PickupCancelled ReturnInitiated AvailableForPickup "
                 "RecipientRequestedAlternateDeliveryTiming PackageReceivedByCarrier").split()
    assert all(c.upper() in codes for c in published)


@pytest.mark.parametrize("bad", [
    {"payload": {"trackingId": "X1", "eventHistory": "nope", "summary": []}},
    {"payload": {"trackingId": "X1", "eventHistory": [{"eventCode": 5, "eventTime": {}, "location": "x"}, 3]}},
    {"payload": {"trackingId": {}, "eventHistory": []}},
    {"payload": {"trackingId": "X1", "eventHistory": [], "summary": {"status": "Delivered",
                                                                      "trackingDetailCodes": {"forward": "x"}}}},
    {"errors": [{"code": None, "message": None}]},
])
def test_odd_shapes_never_raise(bad):
    out = run(bad, carrier="amazon_shipping")
    assert out is not None and (out.ok or out.errors)
