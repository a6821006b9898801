"""ShipEngine tracking JSON: response and webhook, carrier aliases, time rule, detail codes, errors, odd shapes."""
from __future__ import annotations

import json

import pytest

from parsers import normalize_document
from parsers.formats.shipengine_json import carrier_slug
from taxonomy.carriers import registry
from taxonomy.mapping import classify, load_table
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "shipengine_json"


def event(detail="IN_TRANSIT", status="IT", when="2025-03-11T06:55:00Z", local="2025-03-11T01:55:00",
          description="Arrived at USPS Regional Facility", country="US", state="TX", city="AUSTIN"):
    ev = {"occurred_at": when, "description": description, "city_locality": city, "state_province": state,
          "postal_code": "78756", "country_code": country, "event_code": "10", "status_code": status,
          "status_detail_code": detail, "carrier_status_code": "10"}
    if local is not None:
        ev["carrier_occurred_at"] = local
    return ev


def info(*events, carrier="stamps_com", status="IT", detail="IN_TRANSIT"):
    return {"tracking_number": "9405511899223197428490", "status_code": status, "status_detail_code": detail,
            "carrier_code": carrier, "carrier_status_code": "10", "carrier_status_description": "",
            "estimated_delivery_date": None, "events": list(events)}


def run(doc, carrier="auto"):
    return normalize_document(json.dumps(doc).encode(), carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_shipengine(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "shipengine.json" and out.carrier == "shipengine"


def test_carrier_codes_become_the_moving_carriers_slugs():
    assert [carrier_slug(c) for c in ("stamps_com", "usps", "ups", "fedex_uk", "dhl_express_uk", "canada_post",
                                      "dhl_global_mail", "royal_mail", "ontrac")] == \
        ["usps", "usps", "ups", "fedex", "dhl", "canadapost", "dhl_ecommerce", "royalmail", "ontrac"]


def test_carrier_codes_come_from_the_registry():
    """Every ShipEngine code the registry lists names its entry; a carrier added there is read here."""
    aliases = registry().aliases("shipengine")
    assert aliases and all(carrier_slug(code) == slug for code, slug in aliases.items())
    assert carrier_slug("Colissimo") == "laposte" and carrier_slug("tnt_express") == "tnt"
    assert carrier_slug(" DHL_DE ") == "dhl_parcel_de"


def test_webhook_takes_the_carrier_from_the_resource_url():
    body = info(event())
    del body["carrier_code"]
    out = run({"resource_url": "https://api.shipengine.com/v1/tracking?carrier_code=fedex&tracking_number=794646211650",
               "resource_type": "API_TRACK", "data": body})
    assert out.shipments[0].carrier == "fedex"


def test_other_webhooks_carry_no_tracking_data():
    out = run({"resource_url": "https://api.shipengine.com/v1/batches/se-28529731", "resource_type": "API_BATCH"})
    assert out.ok and not out.shipments and "NO_TRACKING_DATA" in out.errors[0].message


def test_local_and_utc_times_give_the_offset():
    ev = run(info(event())).shipments[0].events[0]
    assert ev.occurred_at.isoformat() == "2025-03-11T06:55:00+00:00"
    assert ev.occurred_at_local.isoformat() == "2025-03-11T01:55:00-05:00" and ev.time_basis.value == "offset"


def test_a_z_on_the_carrier_time_is_not_taken_for_utc():
    ev = run(info(event(when="2025-05-05T21:14:00Z", local="2025-05-05T16:14:00Z"))).shipments[0].events[0]
    assert ev.occurred_at_local.isoformat() == "2025-05-05T16:14:00-05:00"


def test_utc_alone_is_shown_in_the_place_zone():
    ev = run(info(event(local=None, when="2025-10-23T09:17:00Z", country="DE", state=""))).shipments[0].events[0]
    assert ev.occurred_at_local.isoformat() == "2025-10-23T11:17:00+02:00" and ev.time_basis.value == "offset"


def test_equal_local_and_utc_times_carry_no_offset():
    ev = run(info(event(when="2025-03-11T06:55:00Z", local="2025-03-11T06:55:00Z"))).shipments[0].events[0]
    assert ev.occurred_at.isoformat() == "2025-03-11T06:55:00+00:00"
    assert ev.occurred_at_local.isoformat() == "2025-03-11T01:55:00-05:00"


def test_local_time_alone_takes_the_zone_of_the_place():
    ev = run(info(event(when=None, local="2025-03-11T01:55:00"))).shipments[0].events[0]
    assert ev.time_basis.value == "location" and ev.occurred_at.isoformat() == "2025-03-11T06:55:00+00:00"


def test_vague_detail_leaves_the_text_then_the_status_code_to_decide():
    by_text = run(info(event("CARRIER_STATUS_NOT_MAPPED", "AT", description="Delivery attempted; recipient not home")))
    ev = by_text.shipments[0].events[0]
    assert (ev.status.value, ev.exception_class.value, ev.provenance.mapped_by.value) == \
        ("delivery_attempted", "recipient_unavailable", "keyword")
    by_status = run(info(event("INFORMATION", "EX", description="Notice 12B")))
    ev = by_status.shipments[0].events[0]
    assert (ev.status.value, ev.provenance.mapped_by.value) == ("exception", "coarse")
    assert not by_status.unmapped


def test_delivered_status_code_is_delivered():
    out = run(info(event("DELIVERED", "DE", description="Delivered to front door"), status="DE", detail="DELIVERED"))
    assert out.shipments[0].status.value == "delivered"


def test_shipment_level_codes_decide_without_events():
    out = run(info(status="NY", detail="SHIPMENT_CREATED"))
    assert out.shipments[0].status.value == "label_created"


def test_signer_is_kept():
    ev = event("DELIVERED", "DE")
    ev["signer"] = "M SMITH"
    assert run(info(ev)).shipments[0].signed_by == "M SMITH"


def test_error_body_is_a_carrier_error():
    out = run({"request_id": "9a3dbd5c", "errors": [
        {"error_source": "carrier", "error_type": "business_rules", "error_code": "unspecified",
         "message": "Tracking number not found."}]})
    assert out.ok and not out.shipments and out.errors[0].message == "unspecified: Tracking number not found."


@pytest.mark.parametrize("code, status, cls", [
    ("SHIPMENT_CREATED", "label_created", None), ("DROPPED_OFF", "picked_up", None),
    ("HUB_SCAN_IN", "in_transit", None), ("OUT_FOR_DELIVERY", "out_for_delivery", None),
    ("DELIVERED_TO_PICKUP_POINT", "available_for_pickup", None), ("DELIVERED_TO_NEIGHBOUR", "delivered", None),
    ("CUSTOMER_CARDED", "delivery_attempted", "recipient_unavailable"),
    ("NO_ACCESS_TO_RECIPIENTS_ADDRESS", "delivery_attempted", "access_issue"),
    ("HELD_BY_CUSTOMS", "exception", "customs_hold"), ("DUTY_NOT_PAID", "exception", "payment_due"),
    ("PARCEL_LOST", "exception", "lost"), ("REFUSED_BY_CUSTOMER", "returned_to_sender", "refused"),
    ("NOT_COLLECTED_FROM_PICKUP_POINT", "returned_to_sender", "unclaimed"), ("CANCELLED", "cancelled", None),
    ("DELIVERED_IN_PART", "exception", "other"), ("COLLECTION_MADE", "picked_up", None),
])
def test_table_decisions(code, status, cls):
    mapped = classify("shipengine", (code,), "", None)
    assert mapped.status.value == status
    assert (mapped.exception_class.value if mapped.exception_class else None) == cls


def test_status_codes_are_the_coarse_statuses():
    assert {k: v.value for k, v in load_table("shipengine").coarse.items()} == {
        "AC": "picked_up", "IT": "in_transit", "DE": "delivered", "EX": "exception", "AT": "delivery_attempted",
        "NY": "label_created", "SP": "available_for_pickup"}


@pytest.mark.parametrize("bad", [
    {"tracking_number": "1Z1", "status_code": "IT", "events": "x", "carrier_status_code": 5},
    {"tracking_number": "1Z1", "status_code": "IT", "carrier_status_code": "",
     "events": [3, {"occurred_at": 7, "carrier_occurred_at": [], "status_detail_code": {}}]},
    {"resource_url": 12, "resource_type": "API_TRACK", "data": {"events": []}},
    {"resource_url": "http://[::1", "resource_type": "API_TRACK", "data": {"tracking_number": "1Z1"}},
    {"errors": [{"error_code": None}], "request_id": None},
])
def test_odd_shapes_never_raise(bad):
    out = run(bad, carrier="shipengine")
    assert out is not None and (out.ok or out.errors)
